package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.RmsNorm;

/**
 * RMSNorm over the last dimension of x[N,C], rows {@code [from, to)}. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, sequential sums.</li>
 *   <li>{@code forward}/{@code backward}: Vector API, one row at a time while it sits in L1: Σx² then the
 *       scaling pass; the backward's one row sum, then dx and dγ. Row sums run in several vector sums, in a
 *       fixed order ({@link Lanes#sum(float[], int, int, float[])}: see there); the columns that fill no vector
 *       go to the reference's row code.</li>
 * </ol>
 */
final class RmsNormKernels {
    private RmsNormKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    // out = x·rstd·gamma, rstd = 1/sqrt(mean(x²) + eps); saves rstd[N]
    static void forwardReference(float[] out, float[] rstd, float[] x, float[] gamma, float eps, int C, int from,
                                 int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float s = rstd(sumSquares(x, o, C), eps, C);
            scale(out, x, o, s, gamma, 0, C);
            rstd[row] = s;
        }
    }

    private static float rstd(float sumSquares, float eps, int C) {
        return (float) (1.0 / Math.sqrt(sumSquares / C + eps));
    }

    // Σ x² over columns [0, C)
    private static float sumSquares(float[] x, int o, int C) {
        float acc = 0f;
        for (int c = 0; c < C; c++) {
            acc += x[o + c] * x[o + c];
        }
        return acc;
    }

    private static void scale(float[] out, float[] x, int o, float s, float[] gamma, int c0, int C) {
        for (int c = c0; c < C; c++) {
            out[o + c] = x[o + c] * s * gamma[c];
        }
    }

    // dx += rstd·(dnorm − norm·mean(dnorm·norm)), norm = x·rstd, dnorm = dout·gamma; dgamma += dout·norm
    static void backwardReference(float[] dx, float[] dgamma, float[] dout, float[] x, float[] rstd, float[] gamma,
                                  int C, int from, int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float s = rstd[row];
            float dnormNormMean = sumDnormNorm(dout, x, s, gamma, o, 0, C, 0f) / C;
            backwardRow(dx, dgamma, dout, x, s, gamma, dnormNormMean, o, 0, C);
        }
    }

    // acc + Σ dout·gamma·x·s over columns [c0, C)
    private static float sumDnormNorm(float[] dout, float[] x, float s, float[] gamma, int o, int c0, int C,
                                      float acc) {
        for (int c = c0; c < C; c++) {
            acc += dout[o + c] * gamma[c] * x[o + c] * s;
        }
        return acc;
    }

    private static void backwardRow(float[] dx, float[] dgamma, float[] dout, float[] x, float s, float[] gamma,
                                    float dnormNormMean, int o, int c0, int C) {
        for (int c = c0; c < C; c++) {
            float norm = x[o + c] * s;
            dx[o + c] += (dout[o + c] * gamma[c] - norm * dnormNormMean) * s;
            dgamma[c] += dout[o + c] * norm;
        }
    }

    /** forwardReference; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static void forward(float[] out, float[] rstd, float[] x, float[] gamma, float eps, int C, int from, int to,
                        float[] lanes) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            float s = rstd(Lanes.sumSquares(x, o, 0f, C, lanes), eps, C);
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector.fromArray(S, x, o + c).mul(s).mul(FloatVector.fromArray(S, gamma, c))
                        .intoArray(out, o + c);
            }
            scale(out, x, o, s, gamma, bound, C);
            rstd[row] = s;
        }
    }

    /** backwardReference; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static void backward(float[] dx, float[] dgamma, float[] dout, float[] x, float[] rstd, float[] gamma, int C,
                         int from, int to, float[] lanes) {
        int L = S.length();
        int pairs = C / (2 * L) * (2 * L);
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            float s = rstd[row];
            // pass 1: Σ dnorm·norm, with norm = x·s factored out of the sum; two vector sums over pairs of vectors,
            // as LayerNorm's backward
            FloatVector acc = FloatVector.zero(S), acc1 = acc;
            for (int c = 0; c < pairs; c += 2 * L) {
                FloatVector dnorm = FloatVector.fromArray(S, dout, o + c).mul(FloatVector.fromArray(S, gamma, c));
                FloatVector xc = FloatVector.fromArray(S, x, o + c);
                FloatVector dnorm1 = FloatVector.fromArray(S, dout, o + c + L)
                        .mul(FloatVector.fromArray(S, gamma, c + L));
                FloatVector xc1 = FloatVector.fromArray(S, x, o + c + L);
                acc = FMA ? dnorm.fma(xc, acc) : dnorm.mul(xc).add(acc);
                acc1 = FMA ? dnorm1.fma(xc1, acc1) : dnorm1.mul(xc1).add(acc1);
            }
            acc.add(acc1).intoArray(lanes, 0);
            float dnormNormMean = sumDnormNorm(dout, x, s, gamma, o, pairs, C, Lanes.sum(lanes) * s) / C;
            FloatVector ss = FloatVector.broadcast(S, s);
            // pass 2: dx, and this chunk's dγ
            for (int c = 0; c < bound; c += L) {
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector norm = FloatVector.fromArray(S, x, o + c).mul(s);
                FloatVector g = d.mul(FloatVector.fromArray(S, gamma, c)).sub(norm.mul(dnormNormMean));
                FloatVector dxc = FloatVector.fromArray(S, dx, o + c);
                (FMA ? g.fma(ss, dxc) : g.mul(ss).add(dxc)).intoArray(dx, o + c);
                FloatVector dgc = FloatVector.fromArray(S, dgamma, c);
                (FMA ? d.fma(norm, dgc) : d.mul(norm).add(dgc)).intoArray(dgamma, c);
            }
            backwardRow(dx, dgamma, dout, x, s, gamma, dnormNormMean, o, bound, C);
        }
    }

    static Runnable compile(RmsNorm.Forward r, CpuCompiler c) {
        float[] out = f(r.out());
        float[] rstd = f(r.rstd());
        float[] x = f(r.x());
        float[] gamma = f(r.gamma());
        float eps = r.eps();
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        int chunkRows = CpuCompiler.rowsPerChunk(C);
        float[][] lanes = Lanes.scratch(ThreadTeam.chunks(rows, chunkRows));
        return c.parallel(rows, chunkRows,
                (from, to, chunk) -> forwardReference(out, rstd, x, gamma, eps, C, from, to),
                (from, to, chunk) -> forward(out, rstd, x, gamma, eps, C, from, to, lanes[chunk]));
    }

    static Runnable compile(RmsNorm.Backward r, CpuCompiler c) {
        float[] dx = f(r.dx());
        float[] dgamma = f(r.dgamma());
        float[] dout = f(r.dout());
        float[] x = f(r.x());
        float[] rstd = f(r.rstd());
        float[] gamma = f(r.gamma());
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        CpuCompiler.RowSums sums = c.rowSums(rows, C, 1, 0);
        Runnable body = c.parallel(rows, sums.chunkRows(),
                (from, to, chunk) -> backwardReference(dx, sums.columns(0, chunk), dout, x, rstd, gamma, C, from, to),
                (from, to, chunk) -> backward(dx, sums.columns(0, chunk), dout, x, rstd, gamma, C, from, to,
                        sums.lanes(chunk)));
        return () -> {
            body.run();
            sums.addColumns(0, dgamma);
        };
    }
}
