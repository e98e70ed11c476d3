package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.PointwiseNorm;

/**
 * Derf, {@code y = γ ⊙ erf(α·x + s) + β}, over rows {@code [from, to)} of x[N,C]. Versions:
 * <ol>
 *   <li>reference: {@link PointwiseNormKernels}'s scalar loops over {@link #FUNCTION}.</li>
 *   <li>{@link #forward}, {@link #backward}: Vector API, one pass over each row, with {@link Erf}'s and
 *       {@link Exp}'s inline vector forms (VectorOperators.EXP calls out of line, and rounds differently
 *       before and after the JIT compiles it). The forward takes the rational erf, which needs no exp. The
 *       backward computes e = e^(−z²) once and takes from it both erf' = 2/√π·e and erf in its exp form
 *       ({@link Erf#erf(FloatVector, FloatVector, FloatVector)}), and fuses all five gradients into that pass. It leaves
 *       2/√π out of the per-element work: dx takes it in its α, dα and ds in their row sums, which accumulate
 *       in float lanes over a row, then in double. The columns that fill no vector go to the reference's row
 *       code.</li>
 * </ol>
 *
 * <p>On AVX2 every constant of a vector polynomial is one more instruction (a broadcast from memory: 16
 * registers cannot hold them all across the loop), so the count of instructions per element, not of
 * operations, is what the backward costs there. In C2's code at 256 bits (Zen 3) the backward's loop is 88
 * instructions per 8 floats (24 fma, 12 broadcasts, 22 loads of data and of spilled constants); it was 100
 * with its own rational erf (35 broadcasts and a divide). The forward's is 39; LayerNorm's backward, two
 * passes, 29.
 */
final class DerfKernels {
    private DerfKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    /** erf and erf' = 2/√π·exp(−z²), scalar. */
    static final PointwiseNormKernels.Function FUNCTION = new PointwiseNormKernels.Function(Erf::erf,
            z -> Erf.TWO_OVER_SQRT_PI * (float) Math.exp(-z * z));

    static void forward(float[] out, float[] x, float alpha, float shift, float[] gamma, float[] beta, int C,
                        int from, int to) {
        int bound = S.loopBound(C);
        FloatVector alphas = FloatVector.broadcast(S, alpha);
        FloatVector shifts = FloatVector.broadcast(S, shift);
        for (int row = from; row < to; row++) {
            int o = row * C;
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, x, o + c);
                FloatVector fz = Erf.erf(FMA ? xv.fma(alphas, shifts) : xv.mul(alphas).add(shifts));
                FloatVector gc = FloatVector.fromArray(S, gamma, c);
                FloatVector bc = FloatVector.fromArray(S, beta, c);
                (FMA ? fz.fma(gc, bc) : fz.mul(gc).add(bc)).intoArray(out, o + c);
            }
            PointwiseNormKernels.forwardRow(FUNCTION, out, x, alpha, shift, gamma, beta, o, bound, C);
        }
    }

    /** {@code lanes} is a scratch row for {@link Lanes#sum}. */
    static void backward(float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout, float[] x,
                         float alpha, float shift, float[] gamma, int C, int from, int to, float[] lanes) {
        int bound = S.loopBound(C);
        FloatVector alphas = FloatVector.broadcast(S, alpha);
        FloatVector shifts = FloatVector.broadcast(S, shift);
        FloatVector dzToDx = FloatVector.broadcast(S, alpha * Erf.TWO_OVER_SQRT_PI);
        for (int row = from; row < to; row++) {
            int o = row * C;
            FloatVector dalpha = FloatVector.zero(S);
            FloatVector dshift = FloatVector.zero(S);
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, x, o + c);
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector z = FMA ? xv.fma(alphas, shifts) : xv.mul(alphas).add(shifts);
                FloatVector a = Erf.magnitude(z);
                FloatVector e = Exp.negatedBelowXMax(a.mul(a), 1f); // e^(−z²)
                FloatVector fz = Erf.erf(z, a, e);
                FloatVector g = d.mul(FloatVector.fromArray(S, gamma, c)).mul(e); // dL/dz without its 2/√π
                FloatVector dxc = FloatVector.fromArray(S, dx, o + c);
                (FMA ? g.fma(dzToDx, dxc) : g.mul(dzToDx).add(dxc)).intoArray(dx, o + c);
                FloatVector dgc = FloatVector.fromArray(S, dgamma, c);
                (FMA ? d.fma(fz, dgc) : d.mul(fz).add(dgc)).intoArray(dgamma, c);
                d.add(FloatVector.fromArray(S, dbeta, c)).intoArray(dbeta, c);
                dalpha = FMA ? g.fma(xv, dalpha) : g.mul(xv).add(dalpha);
                dshift = dshift.add(g);
            }
            dalpha.intoArray(lanes, 0);
            sums[0] += Erf.TWO_OVER_SQRT_PI * (double) Lanes.sum(lanes);
            dshift.intoArray(lanes, 0);
            sums[1] += Erf.TWO_OVER_SQRT_PI * (double) Lanes.sum(lanes);
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
