package org.derf4j.kernels.opencl;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;

/**
 * Derf, {@code y = γ ⊙ erf(α·x + s) + β}: {@code derf.cl} gives f = erf and f' = 2/√π·exp(−z²) to the shared
 * skeleton ({@link OpenClPointwiseNormKernels}).
 */
final class OpenClDerfKernels {
    private OpenClDerfKernels() {
    }

    static List<OpenClCompiler.Step> steps(PointwiseNorm.Forward p, OpenClCompiler c) {
        return OpenClPointwiseNormKernels.forward(p, c, "derf.cl");
    }

    static List<OpenClCompiler.Step> steps(PointwiseNorm.Backward p, OpenClCompiler c) {
        return OpenClPointwiseNormKernels.backward(p, c, "derf.cl");
    }
}
