package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.PointwiseNorm;

/**
 * Derf, {@code y = γ ⊙ erf(α·x + s) + β}, over rows {@code [from, to)} of x[N,C]. Versions:
 * <ol>
 *   <li>reference: {@link PointwiseNormKernels}'s scalar loops over {@link #FUNCTION}.</li>
 *   <li>{@link #forward}, {@link #backward}: Vector API, one pass over each row, with {@link Erf}'s inline vector
 *       forms (VectorOperators.EXP calls out of line, and rounds differently before and after the JIT compiles
 *       it). The forward takes the rational erf, which needs no exp. The backward computes e = e^(−z²) once
 *       ({@link Erf#gaussian}), takes from it both erf' = 2/√π·e and erf in its exp form
 *       ({@link Erf#erf(FloatVector, FloatVector, FloatVector)}), and fuses all five gradients into that pass. It
 *       leaves 2/√π out of the per-element work: dx takes it in its α, dα and ds in their row sums, which accumulate
 *       in float lanes over a row, then in double. The columns that fill no vector go to the reference's row
 *       code.</li>
 * </ol>
 *
 * <p>What bounds both loops, once their rows come from cache, is their multiplies and, more, the chain of dependent
 * operations they form. Fma, multiply and divide issue on the FPU's two multiply pipes (Zen 2 to 5, Intel since
 * Haswell): per vector the forward issues 13 and a divide, the backward 21 and a divide, LayerNorm's forward and
 * backward together 11. But one element's chain in the backward is about 57 cycles long, and every result holds a
 * physical register until it retires in order, so with 16 vector registers (whose constants are then reloaded for
 * each vector) the backward runs at about twice its multiplies' time. So where memory does not hide them (narrow
 * vectors, tensors in cache) Derf costs two to three LayerNorms; bench/RESULTS.md measures where it does.
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

    /** {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
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
                FloatVector e = Erf.gaussian(a); // e^(−z²)
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
