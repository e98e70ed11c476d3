package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.AdamW.BETA1;
import static org.derf4j.kernels.AdamW.BETA2;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION1;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION2;
import static org.derf4j.kernels.AdamW.EPS;
import static org.derf4j.kernels.AdamW.LR;
import static org.derf4j.kernels.AdamW.WEIGHT_DECAY;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * AdamW, and the global gradient norm that feeds its clipping factor. Reference and Vector API versions
 * of each, over {@code [from, to)}.
 */
final class AdamWKernels {
    private AdamWKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;

    // p, m, v updated in place from g · clipFactor; see org.derf4j.kernels.AdamW for the formula.
    static void stepReference(float[] p, float[] g, float[] m, float[] v, float[] hyper, float clipFactor,
                              boolean decay, int from, int to) {
        float lr = hyper[LR];
        float b1 = hyper[BETA1];
        float b2 = hyper[BETA2];
        float eps = hyper[EPS];
        float keep = decay ? 1f - lr * hyper[WEIGHT_DECAY] : 1f;
        float bc1 = hyper[BIAS_CORRECTION1];
        float bc2 = hyper[BIAS_CORRECTION2];
        for (int i = from; i < to; i++) {
            float grad = g[i] * clipFactor;
            float mi = b1 * m[i] + (1f - b1) * grad;
            float vi = b2 * v[i] + (1f - b2) * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * keep - lr * (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps);
        }
    }

    static void step(float[] p, float[] g, float[] m, float[] v, float[] hyper, float clipFactor, boolean decay,
                     int from, int to) {
        float lr = hyper[LR];
        float b1 = hyper[BETA1];
        float b2 = hyper[BETA2];
        float eps = hyper[EPS];
        float keep = decay ? 1f - lr * hyper[WEIGHT_DECAY] : 1f;
        float bc1 = hyper[BIAS_CORRECTION1];
        float bc2 = hyper[BIAS_CORRECTION2];
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector grad = FloatVector.fromArray(S, g, i).mul(clipFactor);
            FloatVector mi = FloatVector.fromArray(S, m, i).mul(b1).add(grad.mul(1f - b1));
            FloatVector vi = FloatVector.fromArray(S, v, i).mul(b2).add(grad.mul(grad).mul(1f - b2));
            mi.intoArray(m, i);
            vi.intoArray(v, i);
            FloatVector update = mi.div(bc1).div(vi.div(bc2).sqrt().add(eps)).mul(lr);
            FloatVector.fromArray(S, p, i).mul(keep).sub(update).intoArray(p, i);
        }
        stepReference(p, g, m, v, hyper, clipFactor, decay, i, to);
    }

    // Σ g[i]² over [from, to), in double so that the norm of millions of small gradients stays exact enough.
    static double sumSquaresReference(float[] g, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += (double) g[i] * g[i];
        }
        return s;
    }

    // Vector lanes accumulate in float over one block, then the block sum goes to double; lanes is a scratch
    // row for Lanes.sum.
    static double sumSquares(float[] g, int from, int to, float[] lanes) {
        double total = 0;
        int i = from;
        int bound = from + S.loopBound(to - from);
        while (i < bound) {
            int blockEnd = Math.min(bound, i + 64 * S.length());
            FloatVector acc = FloatVector.zero(S);
            for (; i < blockEnd; i += S.length()) {
                FloatVector x = FloatVector.fromArray(S, g, i);
                acc = x.fma(x, acc);
            }
            acc.intoArray(lanes, 0);
            total += Lanes.sum(lanes);
        }
        return total + sumSquaresReference(g, i, to);
    }
}
