package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static org.derf4j.kernels.tornadovm.TornadoCompiler.i;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Zero;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * {@link Zero}, device copies (declared inputs), and the kernel that makes a resident graph hold a buffer. One
 * work-item per element.
 */
public final class TornadoMemoryKernels {
    private TornadoMemoryKernels() {
    }

    // a[i] = 0
    public static void zeroFloats(KernelContext k, FloatArray a, int n) {
        int i = k.globalIdx;
        if (i < n) {
            a.set(i, 0f);
        }
    }

    public static void zeroInts(KernelContext k, IntArray a, int n) {
        int i = k.globalIdx;
        if (i < n) {
            a.set(i, 0);
        }
    }

    // dst[i] = src[i]: a declared input, from its streamed alias into its resident buffer
    public static void copyFloats(KernelContext k, FloatArray dst, FloatArray src, int n) {
        int i = k.globalIdx;
        if (i < n) {
            dst.set(i, src.get(i));
        }
    }

    public static void copyInts(KernelContext k, IntArray dst, IntArray src, int n) {
        int i = k.globalIdx;
        if (i < n) {
            dst.set(i, src.get(i));
        }
    }

    /**
     * Does nothing, but reads and writes {@code a} as far as TornadoVM can tell: a task graph allocates and
     * transfers only the buffers its tasks use, and a resident graph uses this to hold every buffer of a
     * plan. Launched on a single work-item, whose index is never negative.
     */
    public static void holdFloats(KernelContext k, FloatArray a) {
        if (k.globalIdx < 0) {
            a.set(0, a.get(0));
        }
    }

    public static void holdInts(KernelContext k, IntArray a) {
        if (k.globalIdx < 0) {
            a.set(0, a.get(0));
        }
    }

    /** {@link Zero}: one launch per tensor. */
    static List<Launch> launches(Zero z, TornadoCompiler c) {
        return z.tensors().stream().map(t -> {
            int n = t.size();
            return new Launch("zero", Grids.elements(n), t.dtype() == DType.F32
                    ? id -> createPackage(id, TornadoMemoryKernels::zeroFloats, c.context(), f(t), n)
                    : id -> createPackage(id, TornadoMemoryKernels::zeroInts, c.context(), i(t), n));
        }).toList();
    }
}
