package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GELU, tanh form. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, double-precision tanh.</li>
 *   <li>{@code forward}/{@code backward}: Vector API, with the vector tanh; the leftover elements go to
 *       the reference.</li>
 * </ol>
 */
final class GeluKernels {
    private GeluKernels() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
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

    static void forward(float[] out, float[] x, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector u = v.mul(v).mul(v).mul(CUBIC).add(v).mul(K);
            FloatVector th = u.lanewise(VectorOperators.TANH);
            th.add(1f).mul(v).mul(0.5f).intoArray(out, i);
        }
        forwardReference(out, x, i, to);
    }

    static void backward(float[] dx, float[] dout, float[] x, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector v2 = v.mul(v);
            FloatVector th = v2.mul(v).mul(CUBIC).add(v).mul(K).lanewise(VectorOperators.TANH);
            FloatVector dudx = v2.fma(3f * CUBIC, 1f).mul(K);
            FloatVector sech2 = th.mul(th).neg().add(1f);
            FloatVector grad = th.add(1f).mul(0.5f).add(v.mul(0.5f).mul(sech2).mul(dudx));
            FloatVector.fromArray(S, dout, i).fma(grad, FloatVector.fromArray(S, dx, i)).intoArray(dx, i);
        }
        backwardReference(dx, dout, x, i, to);
    }
}
