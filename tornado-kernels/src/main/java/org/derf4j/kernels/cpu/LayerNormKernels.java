package org.derf4j.kernels.cpu;

/** LayerNorm over the last dimension of x[N,C], rows {@code [from, to)}. */
final class LayerNormKernels {
    private LayerNormKernels() {
    }

    // out = (x − mean)·rstd·gamma + beta; saves mean[N], rstd[N]
    static void forwardReference(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
                                 float eps, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float m = 0f;
            for (int c = 0; c < C; c++) {
                m += x[o + c];
            }
            m /= C;
            float v = 0f;
            for (int c = 0; c < C; c++) {
                float d = x[o + c] - m;
                v += d * d;
            }
            v /= C;
            float s = (float) (1.0 / Math.sqrt(v + eps));
            for (int c = 0; c < C; c++) {
                out[o + c] = (x[o + c] - m) * s * gamma[c] + beta[c];
            }
            mean[row] = m;
            rstd[row] = s;
        }
    }

    // dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)), with norm = (x − mean)·rstd, dnorm = dout·gamma;
    // dgamma += dout·norm; dbeta += dout
    static void backwardReference(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float[] mean,
                                  float[] rstd, float[] gamma, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float m = mean[row];
            float s = rstd[row];
            float dnormMean = 0f;
            float dnormNormMean = 0f;
            for (int c = 0; c < C; c++) {
                float norm = (x[o + c] - m) * s;
                float dnorm = dout[o + c] * gamma[c];
                dnormMean += dnorm;
                dnormNormMean += dnorm * norm;
            }
            dnormMean /= C;
            dnormNormMean /= C;
            for (int c = 0; c < C; c++) {
                float norm = (x[o + c] - m) * s;
                float dnorm = dout[o + c] * gamma[c];
                dx[o + c] += (dnorm - dnormMean - norm * dnormNormMean) * s;
                dgamma[c] += dout[o + c] * norm;
                dbeta[c] += dout[o + c];
            }
        }
    }
}
