package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;
import static org.derf4j.kernels.cpu.CpuCompiler.orNull;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.Matmul;

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

    /** {@code out = x·wᵀ + bias}: {@link Sgemm}'s NT product, then the bias. */
    static Runnable compile(Matmul.Forward m, CpuCompiler c) {
        float[] out = f(m.out());
        float[] x = f(m.x());
        float[] w = f(m.w());
        float[] bias = orNull(m.bias());
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        if (c.reference()) {
            return c.parallel(n, CpuCompiler.rowsPerChunk(oc), (from, to, chunk) -> {
                Sgemm.reference(Sgemm.Layout.NT, to - from, oc, ic, x, from * ic, ic, w, 0, ic, out, from * oc, oc,
                        false);
                if (bias != null) {
                    addBiasReference(out, bias, oc, 0, oc, from, to);
                }
            });
        }
        Runnable product = Sgemm.onTeam(c.team(), Sgemm.Layout.NT, n, oc, ic, x, 0, ic, w, 0, ic, out, 0, oc, false);
        if (bias == null) {
            return product;
        }
        Runnable addBias = c.parallel(n, CpuCompiler.rowsPerChunk(oc), (from, to, chunk) ->
                addBias(out, bias, oc, from, to));
        return () -> {
            product.run();
            addBias.run();
        };
    }

    /** {@code dx += dout·w} (NN), {@code dw += doutᵀ·x} (TN), {@code dbias += Σ_rows dout}; each optional. */
    static Runnable compile(Matmul.Backward m, CpuCompiler c) {
        float[] dx = orNull(m.dx());
        float[] dw = orNull(m.dw());
        float[] dbias = orNull(m.dbias());
        float[] dout = f(m.dout());
        float[] x = f(m.x());
        float[] w = f(m.w());
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        Runnable nothing = () -> { };
        // In the reference, dx rows are independent, and so are dw and dbias rows (one per output feature);
        // the fast GEMM splits its own work.
        Runnable inputGrad = dx == null ? nothing : c.reference()
                ? c.parallel(n, CpuCompiler.rowsPerChunk(ic), (from, to, chunk) -> Sgemm.reference(Sgemm.Layout.NN,
                        to - from, ic, oc, dout, from * oc, oc, w, 0, ic, dx, from * ic, ic, true))
                : Sgemm.onTeam(c.team(), Sgemm.Layout.NN, n, ic, oc, dout, 0, oc, w, 0, ic, dx, 0, ic, true);
        Runnable weightGrad = dw == null ? nothing : c.reference()
                ? c.parallel(oc, CpuCompiler.rowsPerChunk(n), (from, to, chunk) -> Sgemm.reference(Sgemm.Layout.TN,
                        to - from, ic, n, dout, from, oc, x, 0, ic, dw, from * ic, ic, true))
                : Sgemm.onTeam(c.team(), Sgemm.Layout.TN, oc, ic, n, dout, 0, oc, x, 0, ic, dw, 0, ic, true);
        // Each output feature's sum runs over the rows in order on one thread: deterministic.
        Runnable biasGrad = dbias == null ? nothing : c.reference()
                ? c.parallel(oc, CpuCompiler.rowsPerChunk(n), (from, to, chunk) ->
                        biasGradReference(dbias, dout, n, oc, from, to))
                : c.parallel(oc, biasGradChunkWidth(n, CpuCompiler.ELEMENTS_PER_CHUNK), (from, to, chunk) ->
                        biasGrad(dbias, dout, n, oc, from, to));
        return () -> {
            inputGrad.run();
            weightGrad.run();
            biasGrad.run();
        };
    }
}
