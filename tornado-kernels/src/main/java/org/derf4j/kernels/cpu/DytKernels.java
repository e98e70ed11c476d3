package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.PointwiseNorm;

/**
 * DyT, {@code y = γ ⊙ tanh(α·x) + β} (no shift), over rows {@code [from, to)} of x[N,C]. Versions:
 * <ol>
 *   <li>reference: {@link PointwiseNormKernels}'s scalar loops over {@link #FUNCTION}.</li>
 *   <li>{@link #forward}, {@link #backward}: Vector API, one pass over each row, with {@link Tanh}'s inline
 *       vector tanh (VectorOperators.TANH calls out of line, and rounds differently before and after the
 *       JIT compiles it); the backward reuses it for tanh' = 1 − tanh² and fuses the four gradients into that
 *       pass. The columns that fill no vector go to the reference's row code.</li>
 * </ol>
 */
final class DytKernels {
    private DytKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    /** tanh and tanh' = 1 − tanh², scalar. */
    static final PointwiseNormKernels.Function FUNCTION = new PointwiseNormKernels.Function(
            z -> (float) Math.tanh(z), DytKernels::tanhDerivative);

    private static float tanhDerivative(float z) {
        float t = (float) Math.tanh(z);
        return 1f - t * t;
    }

    static void forward(float[] out, float[] x, float alpha, float[] gamma, float[] beta, int C, int from, int to) {
        int bound = S.loopBound(C);
        for (int row = from; row < to; row++) {
            int o = row * C;
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector fz = Tanh.tanh(FloatVector.fromArray(S, x, o + c).mul(alpha));
                FloatVector gc = FloatVector.fromArray(S, gamma, c);
                FloatVector bc = FloatVector.fromArray(S, beta, c);
                (FMA ? fz.fma(gc, bc) : fz.mul(gc).add(bc)).intoArray(out, o + c);
            }
            PointwiseNormKernels.forwardRow(FUNCTION, out, x, alpha, 0f, gamma, beta, o, bound, C);
        }
    }

    /**
     * {@code lanes} is a scratch row for {@link Lanes#sum(float[])}; sums[1] (ds) gets Σ dL/dz, which nothing reads.
     */
    static void backward(float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout, float[] x,
                         float alpha, float[] gamma, int C, int from, int to, float[] lanes) {
        int bound = S.loopBound(C);
        FloatVector alphas = FloatVector.broadcast(S, alpha);
        FloatVector ones = FloatVector.broadcast(S, 1f);
        for (int row = from; row < to; row++) {
            int o = row * C;
            FloatVector dalpha = FloatVector.zero(S);
            for (int c = 0; c < bound; c += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, x, o + c);
                FloatVector d = FloatVector.fromArray(S, dout, o + c);
                FloatVector fz = Tanh.tanh(xv.mul(alpha));
                FloatVector slope = FMA ? fz.neg().fma(fz, ones) : ones.sub(fz.mul(fz)); // 1 − tanh²
                FloatVector g = d.mul(FloatVector.fromArray(S, gamma, c)).mul(slope); // dL/dz
                FloatVector dxc = FloatVector.fromArray(S, dx, o + c);
                (FMA ? g.fma(alphas, dxc) : g.mul(alphas).add(dxc)).intoArray(dx, o + c);
                FloatVector dgc = FloatVector.fromArray(S, dgamma, c);
                (FMA ? d.fma(fz, dgc) : d.mul(fz).add(dgc)).intoArray(dgamma, c);
                d.add(FloatVector.fromArray(S, dbeta, c)).intoArray(dbeta, c);
                dalpha = FMA ? g.fma(xv, dalpha) : g.mul(xv).add(dalpha);
            }
            dalpha.intoArray(lanes, 0);
            sums[0] += Lanes.sum(lanes);
            PointwiseNormKernels.backwardRow(FUNCTION, dx, dgamma, dbeta, sums, dout, x, alpha, 0f, gamma, o, bound, C);
        }
    }

    static Runnable compile(PointwiseNorm.Forward p, CpuCompiler c) {
        var a = new PointwiseNormKernels.Forward(p);
        return a.bind(c, FUNCTION, (from, to, chunk) -> forward(a.out(), a.x(), a.alpha()[0], a.gamma(), a.beta(),
                a.C(), from, to));
    }

    static Runnable compile(PointwiseNorm.Backward p, CpuCompiler c) {
        var a = new PointwiseNormKernels.Backward(p, c);
        return a.bind(c, FUNCTION, (from, to, chunk) -> backward(a.dx(), a.partialGamma(chunk),
                a.partialBeta(chunk), a.partialScalars(chunk), a.dout(), a.x(), a.alpha()[0], a.gamma(), a.C(), from,
                to, a.lanes(chunk)));
    }
}
