package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch2d;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * The Linear layer ({@code matmul.cl}): the tiled, register-blocked SGEMM in its three layouts, and dbias as column
 * sums. A work-group of TS×TS work-items computes a 64×64 block of the output; TS is 16 (4×4 outputs per
 * work-item), or 8 (8×8) on a device whose work-groups hold fewer than 256 work-items.
 */
final class OpenClMatmulKernels {
    private OpenClMatmulKernels() {
    }

    /** Outputs per side of a work-group's block: BM in matmul.cl. */
    static final int BLOCK = 64;

    static int side(OpenClCompiler c) {
        if (c.group < 64) {
            throw new IllegalStateException("the opencl backend's GEMM needs work-groups of 64 work-items at least; "
                    + c.backend().openClDevice().name + " allows " + c.group);
        }
        return c.group >= 256 ? 16 : 8;
    }

    static Program program(OpenClCompiler c) {
        return new Program("matmul", List.of("matmul.cl"), OpenClCompiler.defines("TS", side(c)),
                List.of("gemm_nt", "gemm_nn", "gemm_tn"));
    }

    /** out[N,OC] = x[N,IC]·w[OC,IC]ᵀ + bias: NT, M = N, N = OC, K = IC. */
    static List<OpenClCompiler.Step> steps(Matmul.Forward m, OpenClCompiler c) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        return List.of(gemm(c, "out", "gemm_nt", m.out(), m.x(), m.w(), m.bias(), n, oc, ic, ic, ic, false));
    }

    /** dx += dout·w (NN), dw += doutᵀ·x (TN), dbias += Σ_rows dout (column sums); each when given. */
    static List<OpenClCompiler.Step> steps(Matmul.Backward m, OpenClCompiler c) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        List<OpenClCompiler.Step> steps = new ArrayList<>();
        if (m.dx() != null) {
            steps.add(gemm(c, "dx", "gemm_nn", m.dx(), m.dout(), m.w(), null, n, ic, oc, oc, ic, true));
        }
        if (m.dw() != null) {
            steps.add(gemm(c, "dw", "gemm_tn", m.dw(), m.dout(), m.x(), null, oc, ic, n, oc, ic, true));
        }
        if (m.dbias() != null) {
            int chunks = OpenClReductions.chunks(n);
            Buffer partial = c.scratchFloats((long) chunks * oc, "dbias partials");
            steps.add(OpenClReductions.columnPartials(c, partial, m.dout(), n, oc));
            steps.add(OpenClReductions.addColumnSums(c, m.dbias(), partial, chunks, oc));
        }
        return steps;
    }

    /** C[M,N] (+)= A·B (+ bias); lda, ldb: the row lengths of a and b as stored (see matmul.cl's table). */
    private static OpenClCompiler.Launch gemm(OpenClCompiler c, String step, String kernel, Tensor out, Tensor a,
                                              Tensor b, Tensor bias, int M, int N, int K, int lda, int ldb,
                                              boolean accumulate) {
        int side = side(c);
        return launch2d(step, program(c), kernel, OpenClCompiler.ceilDiv(N, BLOCK), OpenClCompiler.ceilDiv(M, BLOCK),
                side, side, out, a, b, c.orUnused(bias), M, N, K, lda, ldb, accumulate ? 1 : 0,
                OpenClCompiler.present(bias));
    }
}
