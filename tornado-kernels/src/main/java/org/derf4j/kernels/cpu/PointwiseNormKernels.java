package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.PointwiseNorm.Kind;

/**
 * Derf and DyT: {@code y = γ ⊙ f(α·x + s) + β}, f = erf or tanh, over rows {@code [from, to)} of x[N,C].
 * Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, one element at a time.</li>
 *   <li>{@code forwardDerf}/{@code forwardDyt}, {@code backwardDerf}/{@code backwardDyt}: Vector API, one
 *       pass over each row; erf, erf' = 2/√π·exp(−z²) and tanh are {@link Erf}'s and {@link Tanh}'s inline
 *       vector forms (VectorOperators.EXP and TANH call out of line, and round differently before and after
 *       the JIT compiles them). The backward fuses all five gradients into that pass: dα and ds accumulate
 *       in float lanes over a row, then in double. The columns that fill no vector go to the scalar row code
 *       of the reference.</li>
 * </ol>
 * The DyT loops copy the Derf loops with the other function, on purpose: C2 builds ~8,000 IR nodes for erf,
 * ~6,600 for tanh and ~8,700 for erf' when it inlines them, and stops inlining our methods once a
 * compilation holds 18,000 (NodeCountInliningCutoff). One loop for both kinds, compiled for a process that
 * runs both, left erf' out of line, and every vector it took or returned was allocated (see {@link Lanes}).
 * Apart, each kernel stays well inside that budget; {@link CpuCompiler} binds each kind to its own kernel.
 */
final class PointwiseNormKernels {
    private PointwiseNormKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;

    static float f(Kind kind, float z) {
        return kind == Kind.DERF ? Erf.erf(z) : (float) Math.tanh(z);
    }

    /** f'(z): 2/√π·exp(−z²) for erf, 1 − tanh² for tanh. */
    static float fPrime(Kind kind, float z) {
        if (kind == Kind.DERF) {
            return Erf.TWO_OVER_SQRT_PI * (float) Math.exp(-z * z);
        }
        float t = (float) Math.tanh(z);
        return 1f - t * t;
    }

    // out[row,c] = gamma[c]·f(alpha·x[row,c] + shift) + beta[c]
    static void forwardReference(Kind kind, float[] out, float[] x, float alpha, float shift, float[] gamma,
                                 float[] beta, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            forwardRow(kind, out, x, alpha, shift, gamma, beta, row * C, 0, C);
        }
    }

    // columns [c0, C) of the row at offset o
    private static void forwardRow(Kind kind, float[] out, float[] x, float alpha, float shift, float[] gamma,
                                   float[] beta, int o, int c0, int C) {
        for (int c = c0; c < C; c++) {
            int i = o + c;
            out[i] = gamma[c] * f(kind, alpha * x[i] + shift) + beta[c];
        }
    }

    /**
     * Adds dx for rows [from, to), and this range's sums into dgamma[C], dbeta[C] and sums[0] (dα),
     * sums[1] (ds).
     */
    static void backwardReference(Kind kind, float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout,
                                  float[] x, float alpha, float shift, float[] gamma, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            backwardRow(kind, dx, dgamma, dbeta, sums, dout, x, alpha, shift, gamma, row * C, 0, C);
        }
    }

    // columns [c0, C) of the row at offset o; dα and ds add element by element in double
    private static void backwardRow(Kind kind, float[] dx, float[] dgamma, float[] dbeta, double[] sums,
                                    float[] dout, float[] x, float alpha, float shift, float[] gamma, int o, int c0,
                                    int C) {
        for (int c = c0; c < C; c++) {
            int i = o + c;
            float z = alpha * x[i] + shift;
            float g = dout[i] * gamma[c] * fPrime(kind, z); // dL/dz
            dx[i] += g * alpha;
            dgamma[c] += dout[i] * f(kind, z);
            dbeta[c] += dout[i];
            sums[0] += g * x[i];
            sums[1] += g;
        }
    }

    /** forwardReference for Derf. */
    static void forwardDerf(float[] out, float[] x, float alpha, float shift, float[] gamma, float[] beta, int C,
                            int from, int to) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector fz = Erf.erf(FloatVector.fromArray(S, x, o + c).fma(alpha, shift));
                fz.fma(FloatVector.fromArray(S, gamma, c), FloatVector.fromArray(S, beta, c)).intoArray(out, o + c);
            }
            forwardRow(Kind.DERF, out, x, alpha, shift, gamma, beta, o, bound, C);
        }
    }

    /** forwardReference for DyT: {@link #forwardDerf} with tanh and no shift. */
    static void forwardDyt(float[] out, float[] x, float alpha, float[] gamma, float[] beta, int C, int from,
                           int to) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector fz = Tanh.tanh(FloatVector.fromArray(S, x, o + c).mul(alpha));
                fz.fma(FloatVector.fromArray(S, gamma, c), FloatVector.fromArray(S, beta, c)).intoArray(out, o + c);
            }
            forwardRow(Kind.DYT, out, x, alpha, 0f, gamma, beta, o, bound, C);
        }
    }

    /** backwardReference for Derf; {@code lanes} is a scratch row for {@link Lanes#sum}. */
    static void backwardDerf(float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout, float[] x,
                             float alpha, float shift, float[] gamma, int C, int from, int to, float[] lanes) {
        int bound = S.loopBound(C);
        FloatVector alphas = FloatVector.broadcast(S, alpha);
        for (int row = from; row < to; row++) {
            int o = row * C;
            FloatVector dalpha = FloatVector.zero(S);
            FloatVector dshift = FloatVector.zero(S);
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, x, o + c);
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector z = xv.fma(alpha, shift);
                FloatVector fz = Erf.erf(z);
                FloatVector g = d.mul(FloatVector.fromArray(S, gamma, c)).mul(Erf.derivative(z)); // dL/dz
                g.fma(alphas, FloatVector.fromArray(S, dx, o + c)).intoArray(dx, o + c);
                d.fma(fz, FloatVector.fromArray(S, dgamma, c)).intoArray(dgamma, c);
                d.add(FloatVector.fromArray(S, dbeta, c)).intoArray(dbeta, c);
                dalpha = g.fma(xv, dalpha);
                dshift = dshift.add(g);
            }
            dalpha.intoArray(lanes, 0);
            sums[0] += Lanes.sum(lanes);
            dshift.intoArray(lanes, 0);
            sums[1] += Lanes.sum(lanes);
            backwardRow(Kind.DERF, dx, dgamma, dbeta, sums, dout, x, alpha, shift, gamma, o, bound, C);
        }
    }

    /** backwardReference for DyT: {@link #backwardDerf} with tanh' = 1 − tanh² and no shift. */
    static void backwardDyt(float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout, float[] x,
                            float alpha, float[] gamma, int C, int from, int to, float[] lanes) {
        int bound = S.loopBound(C);
        FloatVector alphas = FloatVector.broadcast(S, alpha);
        FloatVector ones = FloatVector.broadcast(S, 1f);
        for (int row = from; row < to; row++) {
            int o = row * C;
            FloatVector dalpha = FloatVector.zero(S);
            FloatVector dshift = FloatVector.zero(S);
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, x, o + c);
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector fz = Tanh.tanh(xv.mul(alpha));
                FloatVector g = d.mul(FloatVector.fromArray(S, gamma, c)).mul(fz.neg().fma(fz, ones)); // dL/dz
                g.fma(alphas, FloatVector.fromArray(S, dx, o + c)).intoArray(dx, o + c);
                d.fma(fz, FloatVector.fromArray(S, dgamma, c)).intoArray(dgamma, c);
                d.add(FloatVector.fromArray(S, dbeta, c)).intoArray(dbeta, c);
                dalpha = g.fma(xv, dalpha);
                dshift = dshift.add(g);
            }
            dalpha.intoArray(lanes, 0);
            sums[0] += Lanes.sum(lanes);
            dshift.intoArray(lanes, 0);
            sums[1] += Lanes.sum(lanes);
            backwardRow(Kind.DYT, dx, dgamma, dbeta, sums, dout, x, alpha, 0f, gamma, o, bound, C);
        }
    }
}
