package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.math.TornadoMath;

/** Scalar functions the kernels share, inlined by TornadoVM into each kernel that calls them. */
final class TornadoFunctions {
    private TornadoFunctions() {
    }

    /**
     * The score of a masked (future) key, and the start of a running maximum. TornadoVM compiles OpenCL C with
     * {@code -cl-fast-relaxed-math}, which lets the compiler assume no value is infinite: with
     * {@code Float.NEGATIVE_INFINITY} here, PoCL dropped the whole softmax of a single key tile. exp(MASKED − m)
     * is 0 for any score m a softmax meets.
     */
    static final float MASKED = -1e30f;

    /**
     * 1 − tanh²(u) = 4e/(1+e)² with e = exp(−2|u|). OpenCL's tanh may be a few ULP off near ±1 (PoCL returns
     * −0.99999994 for tanh(−12.5)), and 1 − tanh² then loses every digit: that made GELU's gradient at
     * x = −6 come out as −1.7e-6 instead of −8e-10. This form keeps its relative accuracy for any u.
     */
    static float sech2(float u) {
        float e = TornadoMath.exp(-2f * TornadoMath.abs(u));
        float d = 1f + e;
        return 4f * e / (d * d);
    }
}
