package org.derf4j.kernels.cpu;

import java.util.Arrays;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Zero;

/** {@link Zero}: fills tensors with zeros, float tensors in parallel chunks. */
final class ZeroKernels {
    private ZeroKernels() {
    }

    static Runnable compile(Zero z, CpuCompiler c) {
        Runnable[] fills = z.tensors().stream().map(t -> {
            if (t.dtype() == DType.I32) {
                int[] a = CpuCompiler.i(t);
                return (Runnable) () -> Arrays.fill(a, 0);
            }
            float[] a = CpuCompiler.f(t);
            return c.parallel(a.length, CpuCompiler.ELEMENTS_PER_CHUNK,
                    (from, to, chunk) -> Arrays.fill(a, from, to, 0f));
        }).toArray(Runnable[]::new);
        return () -> {
            for (Runnable fill : fills) {
                fill.run();
            }
        };
    }
}
