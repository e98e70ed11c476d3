package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.AdamW.BETA1;
import static org.derf4j.kernels.AdamW.BETA2;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION1;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION2;
import static org.derf4j.kernels.AdamW.EPS;
import static org.derf4j.kernels.AdamW.LR;
import static org.derf4j.kernels.AdamW.WEIGHT_DECAY;
import static org.derf4j.kernels.cpu.CpuCompiler.f;

import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Tensor;

/**
 * AdamW, and the global gradient norm that feeds its clipping factor. Reference and Vector API versions
 * of each, over {@code [from, to)}.
 */
final class AdamWKernels {
    private AdamWKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    // p, m, v updated in place from g · clipFactor; see org.derf4j.kernels.AdamW for the formula. Arranged as
    // torch.optim.AdamW arranges it, p −= (lr/bc1)·m / (√v/√bc2 + eps), with the two bias corrections folded into
    // scalars once per call: one square root and one divide per element, where lr·(m/bc1)/(√(v/bc2) + eps) took
    // three divides, and a divide or square root of 8 floats occupies Zen's divider for several cycles.
    static void stepReference(float[] p, float[] g, float[] m, float[] v, float[] hyper, float clipFactor,
                              boolean decay, int from, int to) {
        float b1 = hyper[BETA1];
        float b2 = hyper[BETA2];
        float eps = hyper[EPS];
        float keep = keep(hyper, decay);
        float stepSize = stepSize(hyper);
        float bc2RootInverse = bc2RootInverse(hyper);
        for (int i = from; i < to; i++) {
            float grad = g[i] * clipFactor;
            float mi = b1 * m[i] + (1f - b1) * grad;
            float vi = b2 * v[i] + (1f - b2) * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * keep - stepSize * mi / ((float) Math.sqrt(vi) * bc2RootInverse + eps);
        }
    }

    static void step(float[] p, float[] g, float[] m, float[] v, float[] hyper, float clipFactor, boolean decay,
                     int from, int to) {
        float b1 = hyper[BETA1];
        float b2 = hyper[BETA2];
        float eps = hyper[EPS];
        float keep = keep(hyper, decay);
        float stepSize = stepSize(hyper);
        float bc2RootInverse = bc2RootInverse(hyper);
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector grad = FloatVector.fromArray(S, g, i).mul(clipFactor);
            FloatVector mi = FloatVector.fromArray(S, m, i).mul(b1).add(grad.mul(1f - b1));
            FloatVector vi = FloatVector.fromArray(S, v, i).mul(b2).add(grad.mul(grad).mul(1f - b2));
            mi.intoArray(m, i);
            vi.intoArray(v, i);
            FloatVector update = mi.mul(stepSize).div(vi.sqrt().mul(bc2RootInverse).add(eps));
            FloatVector.fromArray(S, p, i).mul(keep).sub(update).intoArray(p, i);
        }
        stepReference(p, g, m, v, hyper, clipFactor, decay, i, to);
    }

    /** 1 − lr·weightDecay, the decoupled weight decay's factor; 1 without decay. */
    private static float keep(float[] hyper, boolean decay) {
        return decay ? 1f - hyper[LR] * hyper[WEIGHT_DECAY] : 1f;
    }

    /** lr / (1 − β1^t). */
    private static float stepSize(float[] hyper) {
        return hyper[LR] / hyper[BIAS_CORRECTION1];
    }

    /** 1 / √(1 − β2^t). */
    private static float bc2RootInverse(float[] hyper) {
        return (float) (1 / Math.sqrt(hyper[BIAS_CORRECTION2]));
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
                acc = FMA ? x.fma(x, acc) : x.mul(x).add(acc);
            }
            acc.intoArray(lanes, 0);
            total += Lanes.sum(lanes);
        }
        return total + sumSquaresReference(g, i, to);
    }

    static Runnable compile(AdamW a, CpuCompiler c) {
        float[] p = f(a.param());
        float[] g = f(a.grad());
        float[] m = f(a.m());
        float[] v = f(a.v());
        float[] hyper = f(a.hyper());
        float[] clip = CpuCompiler.orNull(a.clip());
        boolean decay = a.decay();
        return c.parallel(p.length, CpuCompiler.ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> stepReference(p, g, m, v, hyper, clipFactor(clip), decay, from, to),
                (from, to, chunk) -> step(p, g, m, v, hyper, clipFactor(clip), decay, from, to));
    }

    /** The factor GradClip left for the step (1 without clipping), read when the step runs. */
    private static float clipFactor(float[] clip) {
        return clip == null ? 1f : clip[1];
    }

    /** {@link GradClip}: Σg² over fixed segments of every gradient, added in order, then the norm and factor. */
    static Runnable compile(GradClip g, CpuCompiler c) {
        float[] stats = f(g.stats());
        float maxNorm = g.maxNorm();
        boolean reference = c.reference();
        Segments segments = new Segments(g.grads(), reference ? Integer.MAX_VALUE : CpuCompiler.ELEMENTS_PER_CHUNK);
        double[] partial = new double[segments.count()];
        float[][] lanes = Lanes.scratch(segments.count());
        Runnable sums = c.parallel(segments.count(), 1, (from, to, chunk) -> {
            for (int s = from; s < to; s++) {
                float[] a = segments.arrays[s];
                partial[s] = reference
                        ? sumSquaresReference(a, segments.from[s], segments.to[s])
                        : sumSquares(a, segments.from[s], segments.to[s], lanes[chunk]);
            }
        });
        return () -> {
            sums.run();
            float norm = (float) Math.sqrt(CpuCompiler.sumInOrder(partial, partial.length));
            stats[0] = norm;
            stats[1] = GradClip.clipFactor(norm, maxNorm);
        };
    }

    /** Several float tensors cut into chunks of at most {@code chunkSize} elements, one flat list. */
    private static final class Segments {
        final float[][] arrays;
        final int[] from;
        final int[] to;

        Segments(List<Tensor> tensors, int chunkSize) {
            int count = 0;
            for (Tensor t : tensors) {
                count += ThreadTeam.chunks(t.size(), chunkSize);
            }
            arrays = new float[count][];
            from = new int[count];
            to = new int[count];
            int s = 0;
            for (Tensor t : tensors) {
                float[] a = f(t);
                for (int start = 0; start < a.length; start += chunkSize) {
                    arrays[s] = a;
                    from[s] = start;
                    to[s] = (int) Math.min(a.length, (long) start + chunkSize);
                    s++;
                }
            }
        }

        int count() {
            return arrays.length;
        }
    }
}
