package org.derf4j.kernels.cpu;

/** The bias parts of a Linear layer; the products themselves are {@link Sgemm}'s. */
final class MatmulKernels {
    private MatmulKernels() {
    }

    // out[row, o] += bias[o] for rows [from, to)
    static void addBiasReference(float[] out, float[] bias, int OC, int from, int to) {
        for (int row = from; row < to; row++) {
            for (int o = 0; o < OC; o++) {
                out[row * OC + o] += bias[o];
            }
        }
    }

    // dbias[o] += Σ_row dout[row, o] for outputs [o0, o1)
    static void biasGradReference(float[] dbias, float[] dout, int N, int OC, int o0, int o1) {
        for (int o = o0; o < o1; o++) {
            float sum = 0f;
            for (int row = 0; row < N; row++) {
                sum += dout[row * OC + o];
            }
            dbias[o] += sum;
        }
    }
}
