package org.derf4j.kernels.cpu;

/** RMSNorm over the last dimension of x[N,C], rows {@code [from, to)}. */
final class RmsNormKernels {
    private RmsNormKernels() {
    }

    // out = x·rstd·gamma, rstd = 1/sqrt(mean(x²) + eps); saves rstd[N]
    static void forwardReference(float[] out, float[] rstd, float[] x, float[] gamma, float eps, int C, int from,
                                 int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float ss = 0f;
            for (int c = 0; c < C; c++) {
                ss += x[o + c] * x[o + c];
            }
            float s = (float) (1.0 / Math.sqrt(ss / C + eps));
            for (int c = 0; c < C; c++) {
                out[o + c] = x[o + c] * s * gamma[c];
            }
            rstd[row] = s;
        }
    }

    // dx += rstd·(dnorm − norm·mean(dnorm·norm)), norm = x·rstd, dnorm = dout·gamma; dgamma += dout·norm
    static void backwardReference(float[] dx, float[] dgamma, float[] dout, float[] x, float[] rstd, float[] gamma,
                                  int C, int from, int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float s = rstd[row];
            float dnormNormMean = 0f;
            for (int c = 0; c < C; c++) {
                dnormNormMean += dout[o + c] * gamma[c] * x[o + c] * s;
            }
            dnormNormMean /= C;
            for (int c = 0; c < C; c++) {
                float norm = x[o + c] * s;
                dx[o + c] += (dout[o + c] * gamma[c] - norm * dnormNormMean) * s;
                dgamma[c] += dout[o + c] * norm;
            }
        }
    }
}
