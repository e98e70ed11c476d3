package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The bias parts of a Linear layer; the products themselves are {@link Sgemm}'s. Versions:
 * <ol>
 *   <li>{@code addBiasReference}/{@code biasGradReference}: scalar.</li>
 *   <li>{@code addBias}/{@code biasGrad}: Vector API across output features; the leftover features go to the
 *       reference. {@code biasGrad} sums the rows in the same order as the reference, so it gives the same
 *       bits.</li>
 * </ol>
 */
final class MatmulKernels {
    private MatmulKernels() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    // out[row, o] += bias[o] for rows [from, to), outputs [o0, o1)
    static void addBiasReference(float[] out, float[] bias, int OC, int o0, int o1, int from, int to) {
        for (int row = from; row < to; row++) {
            for (int o = o0; o < o1; o++) {
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

    static void addBias(float[] out, float[] bias, int OC, int from, int to) {
        int bound = S.loopBound(OC);
        for (int row = from; row < to; row++) {
            int r = row * OC;
            for (int o = 0; o < bound; o += S.length()) {
                FloatVector.fromArray(S, out, r + o).add(FloatVector.fromArray(S, bias, o)).intoArray(out, r + o);
            }
        }
        addBiasReference(out, bias, OC, bound, OC, from, to);
    }

    static void biasGrad(float[] dbias, float[] dout, int N, int OC, int o0, int o1) {
        int o = o0;
        for (int bound = o0 + S.loopBound(o1 - o0); o < bound; o += S.length()) {
            FloatVector sum = FloatVector.zero(S);
            for (int row = 0; row < N; row++) {
                sum = sum.add(FloatVector.fromArray(S, dout, row * OC + o));
            }
            sum.add(FloatVector.fromArray(S, dbias, o)).intoArray(dbias, o);
        }
        biasGradReference(dbias, dout, N, OC, o, o1);
    }

    /**
     * Output features per {@link #biasGrad} chunk over {@code N} rows: a whole number of vectors, so only
     * the last chunk has leftovers, and about as many elements as a row-wise chunk of {@code elements}.
     */
    static int biasGradChunkWidth(int N, int elements) {
        int vectors = Math.max(1, elements / Math.max(1, N) / S.length());
        return vectors * S.length();
    }
}
