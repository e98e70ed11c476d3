package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.PointwiseNorm;

/**
 * Derf, {@code y = γ ⊙ erf(α·x + s) + β}, over rows {@code [from, to)} of x[N,C]. Versions:
 * <ol>
 *   <li>reference: {@link PointwiseNormKernels}'s scalar loops over {@link #FUNCTION}.</li>
 *   <li>{@link #forward}, {@link #backward}: Vector API, one pass over each row; erf and
 *       erf' = 2/√π·exp(−z²) are {@link Erf}'s inline vector forms (VectorOperators.EXP calls out of line,
 *       and rounds differently before and after the JIT compiles it). The backward fuses all five gradients
 *       into that pass: dα and ds accumulate in float lanes over a row, then in double. The columns that fill
 *       no vector go to the reference's row code.</li>
 * </ol>
 */
final class DerfKernels {
    private DerfKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;

    /** erf and erf' = 2/√π·exp(−z²), scalar. */
    static final PointwiseNormKernels.Function FUNCTION = new PointwiseNormKernels.Function(Erf::erf,
            z -> Erf.TWO_OVER_SQRT_PI * (float) Math.exp(-z * z));

    static void forward(float[] out, float[] x, float alpha, float shift, float[] gamma, float[] beta, int C,
                        int from, int to) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector fz = Erf.erf(FloatVector.fromArray(S, x, o + c).fma(alpha, shift));
                fz.fma(FloatVector.fromArray(S, gamma, c), FloatVector.fromArray(S, beta, c)).intoArray(out, o + c);
            }
            PointwiseNormKernels.forwardRow(FUNCTION, out, x, alpha, shift, gamma, beta, o, bound, C);
        }
    }

    /** {@code lanes} is a scratch row for {@link Lanes#sum}. */
    static void backward(float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout, float[] x,
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
            PointwiseNormKernels.backwardRow(FUNCTION, dx, dgamma, dbeta, sums, dout, x, alpha, shift, gamma, o, bound,
                    C);
        }
    }

    static Runnable compile(PointwiseNorm.Forward p, CpuCompiler c) {
        var a = new PointwiseNormKernels.Forward(p);
        return a.bind(c, FUNCTION, (from, to, chunk) -> forward(a.out(), a.x(), a.alpha()[0], a.shift()[0],
                a.gamma(), a.beta(), a.C(), from, to));
    }

    static Runnable compile(PointwiseNorm.Backward p, CpuCompiler c) {
        var a = new PointwiseNormKernels.Backward(p, c);
        return a.bind(c, FUNCTION, (from, to, chunk) -> backward(a.dx(), a.partialGamma(chunk),
                a.partialBeta(chunk), a.partialScalars(chunk), a.dout(), a.x(), a.alpha()[0], a.shift()[0],
                a.gamma(), a.C(), from, to, a.lanes(chunk)));
    }
}
