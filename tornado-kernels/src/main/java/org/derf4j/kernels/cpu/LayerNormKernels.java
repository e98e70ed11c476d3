package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.LayerNorm;

/**
 * LayerNorm over the last dimension of x[N,C], rows {@code [from, to)}. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, sequential sums.</li>
 *   <li>{@code forward}/{@code backward}: Vector API, one row at a time while it sits in L1 (C = 768 is
 *       3 KB a tensor). The forward is two-pass, mean then Σ(x − mean)², then the normalize pass: the
 *       second and third reads hit L1, so they cost less than Welford's per-element division, and the
 *       variance has no E[x²] − mean² cancellation. The backward takes both row sums in one pass, then
 *       writes dx and adds dγ, dβ in the second. Row sums run in several vector sums, in a fixed order
 *       ({@link Lanes#sum(float[], int, int, float[])}: see there); the columns that fill no vector go to the
 *       reference's row code.</li>
 * </ol>
 */
final class LayerNormKernels {
    private LayerNormKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    // out = (x − mean)·rstd·gamma + beta; saves mean[N], rstd[N]
    static void forwardReference(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
                                 float eps, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            int o = row * C;
            float m = sum(x, o, C) / C;
            float s = rstd(sumSquaredDeviations(x, o, m, C) / C, eps);
            normalize(out, x, o, m, s, gamma, beta, 0, C);
            mean[row] = m;
            rstd[row] = s;
        }
    }

    static float rstd(float variance, float eps) {
        return (float) (1.0 / Math.sqrt(variance + eps));
    }

    // Σ x[o + c] over columns [0, C)
    private static float sum(float[] x, int o, int C) {
        float acc = 0f;
        for (int c = 0; c < C; c++) {
            acc += x[o + c];
        }
        return acc;
    }

    // Σ (x[o + c] − m)² over columns [0, C)
    private static float sumSquaredDeviations(float[] x, int o, float m, int C) {
        float acc = 0f;
        for (int c = 0; c < C; c++) {
            float d = x[o + c] - m;
            acc += d * d;
        }
        return acc;
    }

    private static void normalize(float[] out, float[] x, int o, float m, float s, float[] gamma, float[] beta,
                                  int c0, int C) {
        for (int c = c0; c < C; c++) {
            out[o + c] = (x[o + c] - m) * s * gamma[c] + beta[c];
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
            float dnormMean = sumDnorm(dout, gamma, o, 0, C, 0f) / C;
            float dnormNormMean = sumDnormNorm(dout, x, m, s, gamma, o, 0, C, 0f) / C;
            backwardRow(dx, dgamma, dbeta, dout, x, m, s, gamma, dnormMean, dnormNormMean, o, 0, C);
        }
    }

    // acc + Σ dout·gamma over columns [c0, C)
    private static float sumDnorm(float[] dout, float[] gamma, int o, int c0, int C, float acc) {
        for (int c = c0; c < C; c++) {
            acc += dout[o + c] * gamma[c];
        }
        return acc;
    }

    // acc + Σ dout·gamma·(x − m)·s over columns [c0, C)
    private static float sumDnormNorm(float[] dout, float[] x, float m, float s, float[] gamma, int o, int c0, int C,
                                      float acc) {
        for (int c = c0; c < C; c++) {
            acc += dout[o + c] * gamma[c] * ((x[o + c] - m) * s);
        }
        return acc;
    }

    private static void backwardRow(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float m,
                                    float s, float[] gamma, float dnormMean, float dnormNormMean, int o, int c0,
                                    int C) {
        for (int c = c0; c < C; c++) {
            float norm = (x[o + c] - m) * s;
            float dnorm = dout[o + c] * gamma[c];
            dx[o + c] += (dnorm - dnormMean - norm * dnormNormMean) * s;
            dgamma[c] += dout[o + c] * norm;
            dbeta[c] += dout[o + c];
        }
    }

    /** forwardReference; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static void forward(float[] out, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta, float eps,
                        int C, int from, int to, float[] lanes) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            // pass 1: mean; pass 2: variance about the mean, from L1
            float m = Lanes.sum(x, o, C, lanes) / C;
            float s = rstd(Lanes.sumSquares(x, o, m, C, lanes) / C, eps);
            // pass 3: normalize, scale, shift
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector norm = FloatVector.fromArray(S, x, o + c).sub(m).mul(s);
                FloatVector g = FloatVector.fromArray(S, gamma, c);
                FloatVector b = FloatVector.fromArray(S, beta, c);
                (FMA ? norm.fma(g, b) : norm.mul(g).add(b)).intoArray(out, o + c);
            }
            normalize(out, x, o, m, s, gamma, beta, bound, C);
            mean[row] = m;
            rstd[row] = s;
        }
    }

    /** backwardReference; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static void backward(float[] dx, float[] dgamma, float[] dbeta, float[] dout, float[] x, float[] mean,
                         float[] rstd, float[] gamma, int C, int from, int to, float[] lanes) {
        int L = S.length();
        int pairs = C / (2 * L) * (2 * L);
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            float m = mean[row];
            float s = rstd[row];
            // pass 1: Σ dnorm and Σ dnorm·norm together, each in two vector sums (two chains of adds where one
            // would wait on the add's latency every vector, as Lanes.sum says), over pairs of vectors
            FloatVector sumDnorm = FloatVector.zero(S), sumDnorm1 = sumDnorm;
            FloatVector sumDnormNorm = sumDnorm, sumDnormNorm1 = sumDnorm;
            for (int c = 0; c < pairs; c += 2 * L) {
                FloatVector dnorm = FloatVector.fromArray(S, dout, o + c).mul(FloatVector.fromArray(S, gamma, c));
                FloatVector norm = FloatVector.fromArray(S, x, o + c).sub(m).mul(s);
                FloatVector dnorm1 = FloatVector.fromArray(S, dout, o + c + L)
                        .mul(FloatVector.fromArray(S, gamma, c + L));
                FloatVector norm1 = FloatVector.fromArray(S, x, o + c + L).sub(m).mul(s);
                sumDnorm = sumDnorm.add(dnorm);
                sumDnorm1 = sumDnorm1.add(dnorm1);
                sumDnormNorm = FMA ? dnorm.fma(norm, sumDnormNorm) : dnorm.mul(norm).add(sumDnormNorm);
                sumDnormNorm1 = FMA ? dnorm1.fma(norm1, sumDnormNorm1) : dnorm1.mul(norm1).add(sumDnormNorm1);
            }
            sumDnorm = sumDnorm.add(sumDnorm1);
            sumDnormNorm = sumDnormNorm.add(sumDnormNorm1);
            sumDnorm.intoArray(lanes, 0);
            float dnormMean = sumDnorm(dout, gamma, o, pairs, C, Lanes.sum(lanes)) / C;
            sumDnormNorm.intoArray(lanes, 0);
            float dnormNormMean = sumDnormNorm(dout, x, m, s, gamma, o, pairs, C, Lanes.sum(lanes)) / C;
            FloatVector ss = FloatVector.broadcast(S, s);
            // pass 2: dx, and this chunk's dγ, dβ
            for (int c = 0; c < bound; c += L) {
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector dnorm = d.mul(FloatVector.fromArray(S, gamma, c));
                FloatVector norm = FloatVector.fromArray(S, x, o + c).sub(m).mul(s);
                FloatVector g = dnorm.sub(dnormMean).sub(norm.mul(dnormNormMean));
                FloatVector dxc = FloatVector.fromArray(S, dx, o + c);
                (FMA ? g.fma(ss, dxc) : g.mul(ss).add(dxc)).intoArray(dx, o + c);
                FloatVector dgc = FloatVector.fromArray(S, dgamma, c);
                (FMA ? d.fma(norm, dgc) : d.mul(norm).add(dgc)).intoArray(dgamma, c);
                d.add(FloatVector.fromArray(S, dbeta, c)).intoArray(dbeta, c);
            }
            backwardRow(dx, dgamma, dbeta, dout, x, m, s, gamma, dnormMean, dnormNormMean, o, bound, C);
        }
    }

    static Runnable compile(LayerNorm.Forward l, CpuCompiler c) {
        float[] out = f(l.out());
        float[] mean = f(l.mean());
        float[] rstd = f(l.rstd());
        float[] x = f(l.x());
        float[] gamma = f(l.gamma());
        float[] beta = f(l.beta());
        float eps = l.eps();
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        int chunkRows = CpuCompiler.rowsPerChunk(C);
        float[][] lanes = Lanes.scratch(ThreadTeam.chunks(rows, chunkRows));
        return c.parallel(rows, chunkRows,
                (from, to, chunk) -> forwardReference(out, mean, rstd, x, gamma, beta, eps, C, from, to),
                (from, to, chunk) -> forward(out, mean, rstd, x, gamma, beta, eps, C, from, to, lanes[chunk]));
    }

    static Runnable compile(LayerNorm.Backward l, CpuCompiler c) {
        float[] dx = f(l.dx());
        float[] dgamma = f(l.dgamma());
        float[] dbeta = f(l.dbeta());
        float[] dout = f(l.dout());
        float[] x = f(l.x());
        float[] mean = f(l.mean());
        float[] rstd = f(l.rstd());
        float[] gamma = f(l.gamma());
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        CpuCompiler.RowSums sums = c.rowSums(rows, C, 2, 0);
        Runnable body = c.parallel(rows, sums.chunkRows(),
                (from, to, chunk) -> backwardReference(dx, sums.columns(0, chunk), sums.columns(1, chunk), dout, x,
                        mean, rstd, gamma, C, from, to),
                (from, to, chunk) -> backward(dx, sums.columns(0, chunk), sums.columns(1, chunk), dout, x, mean, rstd,
                        gamma, C, from, to, sums.lanes(chunk)));
        return () -> {
            body.run();
            sums.addColumns(0, dgamma);
            sums.addColumns(1, dbeta);
        };
    }
}
