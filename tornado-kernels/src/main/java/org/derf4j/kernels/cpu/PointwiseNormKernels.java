package org.derf4j.kernels.cpu;

import org.derf4j.kernels.PointwiseNorm.Kind;

/**
 * Derf and DyT: {@code y = γ ⊙ f(α·x + s) + β}, f = erf or tanh, over rows {@code [from, to)} of x[N,C].
 */
final class PointwiseNormKernels {
    private PointwiseNormKernels() {
    }

    /** 2/√π, the slope of erf at 0. */
    static final float TWO_OVER_SQRT_PI = 1.1283791670955126f;

    static float f(Kind kind, float z) {
        return kind == Kind.DERF ? Erf.erf(z) : (float) Math.tanh(z);
    }

    /** f'(z): 2/√π·exp(−z²) for erf, 1 − tanh² for tanh. */
    static float fPrime(Kind kind, float z) {
        if (kind == Kind.DERF) {
            return TWO_OVER_SQRT_PI * (float) Math.exp(-z * z);
        }
        float t = (float) Math.tanh(z);
        return 1f - t * t;
    }

    // out[row,c] = gamma[c]·f(alpha·x[row,c] + shift) + beta[c]
    static void forwardReference(Kind kind, float[] out, float[] x, float alpha, float shift, float[] gamma,
                                 float[] beta, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            for (int c = 0; c < C; c++) {
                int i = row * C + c;
                out[i] = gamma[c] * f(kind, alpha * x[i] + shift) + beta[c];
            }
        }
    }

    /**
     * Adds dx for rows [from, to), and this range's sums into dgamma[C], dbeta[C] and sums[0] (dα),
     * sums[1] (ds).
     */
    static void backwardReference(Kind kind, float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout,
                                  float[] x, float alpha, float shift, float[] gamma, int C, int from, int to) {
        double dalpha = 0;
        double dshift = 0;
        for (int row = from; row < to; row++) {
            for (int c = 0; c < C; c++) {
                int i = row * C + c;
                float z = alpha * x[i] + shift;
                float g = dout[i] * gamma[c] * fPrime(kind, z); // dL/dz
                dx[i] += g * alpha;
                dgamma[c] += dout[i] * f(kind, z);
                dbeta[c] += dout[i];
                dalpha += g * x[i];
                dshift += g;
            }
        }
        sums[0] += dalpha;
        sums[1] += dshift;
    }
}
