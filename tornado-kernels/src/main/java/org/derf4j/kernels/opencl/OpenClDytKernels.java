package org.derf4j.kernels.opencl;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;

/**
 * DyT, {@code y = γ ⊙ tanh(α·x) + β}: {@code dyt.cl} gives f = tanh and f' = 1 − tanh² to the shared skeleton
 * ({@link OpenClPointwiseNormKernels}), which reads the absent shift as 0.
 */
final class OpenClDytKernels {
    private OpenClDytKernels() {
    }

    static List<OpenClCompiler.Step> steps(PointwiseNorm.Forward p, OpenClCompiler c) {
        return OpenClPointwiseNormKernels.forward(p, c, "dyt.cl");
    }

    static List<OpenClCompiler.Step> steps(PointwiseNorm.Backward p, OpenClCompiler c) {
        return OpenClPointwiseNormKernels.backward(p, c, "dyt.cl");
    }
}
