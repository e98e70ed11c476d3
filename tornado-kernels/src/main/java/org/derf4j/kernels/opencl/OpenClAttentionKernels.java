package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.List;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * Causal multi-head attention, flash-style ({@code attention.cl}). The program is built per head size HS, so that a
 * work-item's row of HS floats is an array in registers, and with TILE rows per work-group and staged tile: the
 * largest of 32, 16, 8 whose backward's local memory fits the device.
 * <pre>
 *   forward   attention_forward          one work-group per (b, h) and tile of queries
 *   backward  attention_backward_dq      one work-group per (b, h) and tile of queries; also D_t = dout_t·out_t
 *             attention_backward_dkv     one work-group per (b, h) and tile of keys
 * </pre>
 */
final class OpenClAttentionKernels {
    private OpenClAttentionKernels() {
    }

    /** Rows per tile for head size {@code hs}: what the largest kernel, the dk/dv one, stages must fit. */
    static int tile(OpenClCompiler c, int hs) {
        OpenClDevice device = c.backend().openClDevice();
        for (int tile = 32; tile >= 8; tile /= 2) {
            // two padded rows of its own (k, v), two staged tiles (q, dout), lse and D per row
            long bytes = 4L * tile * (2L * (hs + 1) + 2L * hs + 2);
            if (tile <= c.group && bytes <= device.localMemBytes) {
                return tile;
            }
        }
        throw new IllegalStateException("attention with head size " + hs + " needs more local memory than "
                + device.name + " has (" + device.localMemBytes + " bytes)");
    }

    static Program program(OpenClCompiler c, int hs) {
        return new Program("attention", List.of("attention.cl"), OpenClCompiler.defines("HS", hs, "TILE", tile(c, hs)),
                List.of("attention_forward", "attention_backward_dq", "attention_backward_dkv"));
    }

    static List<OpenClCompiler.Step> steps(Attention.Forward a, OpenClCompiler c) {
        int B = a.qkv().dim(0);
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        int tile = tile(c, hs);
        return List.of(launch("forward", program(c, hs), "attention_forward",
                (long) B * NH * OpenClCompiler.ceilDiv(T, tile), tile, a.out(), a.lse(), a.qkv(), T, C, NH));
    }

    static List<OpenClCompiler.Step> steps(Attention.Backward a, OpenClCompiler c) {
        int B = a.qkv().dim(0);
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        int tile = tile(c, hs);
        long groups = (long) B * NH * OpenClCompiler.ceilDiv(T, tile);
        Buffer rowDots = c.scratchFloats((long) B * NH * T, "attention D = dout·out");
        Program program = program(c, hs);
        return List.of(
                launch("dq", program, "attention_backward_dq", groups, tile, a.dqkv(), rowDots, a.dout(), a.qkv(),
                        a.out(), a.lse(), T, C, NH),
                launch("dkv", program, "attention_backward_dkv", groups, tile, a.dqkv(), a.dout(), a.qkv(), a.lse(),
                        rowDots, T, C, NH));
    }
}
