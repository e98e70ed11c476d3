package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.Gelu;

/**
 * GELU, tanh form. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, double-precision tanh.</li>
 *   <li>{@code forward}/{@code backward}: Vector API, in the equal form x·σ(2u) = x / (1 + exp(−2u)) with
 *       {@link Exp}'s exp, which keeps its relative accuracy in the negative tail, where 1 + tanh(u) cancels
 *       and leaves any float tanh's absolute error (VectorOperators.TANH, which the fast kernels avoid,
 *       rounds differently before and after the JIT compiles it); the leftover elements go to the
 *       reference.</li>
 * </ol>
 */
final class GeluKernels {
    private GeluKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;
    /** √(2/π). */
    private static final float K = 0.7978845608028654f;
    private static final float CUBIC = 0.044715f;

    // out[i] = gelu(x[i]) for i in [from, to)
    static void forwardReference(float[] out, float[] x, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = x[i];
            float u = K * (v + CUBIC * v * v * v);
            out[i] = 0.5f * v * (1f + (float) Math.tanh(u));
        }
    }

    // dx[i] += dout[i] · gelu'(x[i]) for i in [from, to)
    static void backwardReference(float[] dx, float[] dout, float[] x, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = x[i];
            float u = K * (v + CUBIC * v * v * v);
            float th = (float) Math.tanh(u);
            float dudx = K * (1f + 3f * CUBIC * v * v);
            float grad = 0.5f * (1f + th) + 0.5f * v * (1f - th * th) * dudx;
            dx[i] += dout[i] * grad;
        }
    }

    // gelu(x) = x·σ(2u) = x / (1 + e), e = exp(−2u) = exp(−2K·x·(1 + CUBIC·x²))
    static void forward(float[] out, float[] x, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector v2 = v.mul(v);
            FloatVector e = Exp.exp((FMA ? v2.fma(-2 * K * CUBIC, -2 * K) : v2.mul(-2 * K * CUBIC).add(-2 * K)).mul(v));
            v.div(e.add(1f)).intoArray(out, i);
        }
        forwardReference(out, x, i, to);
    }

    // gelu'(x) = σ + 2x·u'·σ(1 − σ), σ = σ(2u) = 1 / (1 + e) and 1 − σ = e·σ, with no cancellation
    static void backward(float[] dx, float[] dout, float[] x, int from, int to) {
        FloatVector ones = FloatVector.broadcast(S, 1f);
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector v2 = v.mul(v);
            FloatVector e = Exp.exp((FMA ? v2.fma(-2 * K * CUBIC, -2 * K) : v2.mul(-2 * K * CUBIC).add(-2 * K)).mul(v));
            FloatVector sigma = ones.div(e.add(1f));
            // 2x·u' = 2K·x·(1 + 3·CUBIC·x²)
            FloatVector twoXDudx = (FMA ? v2.fma(6 * K * CUBIC, 2 * K) : v2.mul(6 * K * CUBIC).add(2 * K)).mul(v);
            FloatVector es = e.mul(sigma);
            FloatVector grad = (FMA ? es.fma(twoXDudx, ones) : es.mul(twoXDudx).add(ones)).mul(sigma);
            FloatVector d = FloatVector.fromArray(S, dout, i);
            FloatVector dxi = FloatVector.fromArray(S, dx, i);
            (FMA ? d.fma(grad, dxi) : d.mul(grad).add(dxi)).intoArray(dx, i);
        }
        backwardReference(dx, dout, x, i, to);
    }

    static Runnable compile(Gelu.Forward g, CpuCompiler c) {
        return c.elementwise(GeluKernels::forwardReference, GeluKernels::forward, g.out(), g.x());
    }

    static Runnable compile(Gelu.Backward g, CpuCompiler c) {
        return c.elementwise(GeluKernels::backwardReference, GeluKernels::backward, g.dx(), g.dout(), g.x());
    }
}
