package org.derf4j.kernels;

import java.util.List;

/**
 * One AdamW step on one parameter tensor, as PyTorch's {@code torch.optim.AdamW} does it:
 * <pre>
 *   g  = grad · clip[1]                       (clip is GradClip's stats; factor 1 when clip is null)
 *   p -= lr · weightDecay · p                  (only when decay is true)
 *   m  = β1·m + (1−β1)·g
 *   v  = β2·v + (1−β2)·g²
 *   p -= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 * </pre>
 * The hyper-parameters live in a small device tensor {@code hyper[HYPER_SIZE]} that the host fills with
 * {@link #hyper} before each step (the schedule changes lr, the step count changes the corrections), so a
 * compiled step graph never needs recompiling. {@code decay} is fixed per tensor: norm parameters, biases,
 * α, s and the embedding scale are not decayed.
 */
public record AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor hyper, Tensor clip, boolean decay)
        implements Op {

    public static final int LR = 0;
    public static final int BETA1 = 1;
    public static final int BETA2 = 2;
    public static final int EPS = 3;
    public static final int WEIGHT_DECAY = 4;
    /** {@code 1 − β1^t}. */
    public static final int BIAS_CORRECTION1 = 5;
    /** {@code 1 − β2^t}. */
    public static final int BIAS_CORRECTION2 = 6;
    public static final int HYPER_SIZE = 7;

    public AdamW {
        Check.f32(AdamW.class, "param", param);
        Check.sameShape(AdamW.class, "grad", grad, "param", param);
        Check.sameShape(AdamW.class, "m", m, "param", param);
        Check.sameShape(AdamW.class, "v", v, "param", param);
        Check.shape(AdamW.class, "hyper", hyper, "AdamW.HYPER_SIZE values", HYPER_SIZE);
        if (clip != null) {
            Check.shape(AdamW.class, "clip", clip, "GradClip's stats", 2);
        }
        Check.distinct(AdamW.class, "param", param, "grad", grad);
        Check.distinct(AdamW.class, "param", param, "m", m);
        Check.distinct(AdamW.class, "param", param, "v", v);
        Check.distinct(AdamW.class, "grad", grad, "m", m);
        Check.distinct(AdamW.class, "grad", grad, "v", v);
        Check.distinct(AdamW.class, "m", m, "v", v);
    }

    /** Fills {@code dst[HYPER_SIZE]} for step {@code t} (counting from 1). */
    public static void hyper(float[] dst, float lr, float beta1, float beta2, float eps, float weightDecay, long t) {
        if (t < 1) {
            throw new IllegalArgumentException("AdamW: step t counts from 1, got " + t);
        }
        dst[LR] = lr;
        dst[BETA1] = beta1;
        dst[BETA2] = beta2;
        dst[EPS] = eps;
        dst[WEIGHT_DECAY] = weightDecay;
        dst[BIAS_CORRECTION1] = (float) (1 - Math.pow(beta1, t));
        dst[BIAS_CORRECTION2] = (float) (1 - Math.pow(beta2, t));
    }

    @Override
    public List<Tensor> reads() {
        return Op.present(grad, hyper, clip);
    }

    @Override
    public List<Tensor> writes() {
        return List.of(param, m, v);
    }
}
