package org.derf4j.kernels;

import java.util.List;

/**
 * The global gradient norm and the clipping factor, as PyTorch's {@code clip_grad_norm_} computes them:
 * <pre>
 *   stats[0] = sqrt(Σ over all grads of g²)
 *   stats[1] = min(1, maxNorm / (stats[0] + 1e-6))      (1 when maxNorm is 0: no clipping)
 * </pre>
 * The gradients are not rescaled here: {@link AdamW} multiplies by {@code stats[1]} as it reads them, which
 * saves a pass over every gradient and keeps the factor on the device. The sum is deterministic.
 */
public record GradClip(Tensor stats, float maxNorm, List<Tensor> grads) implements Op {

    /** Added to the norm before dividing, as PyTorch does. */
    public static final float NORM_EPS = 1e-6f;

    public GradClip {
        Check.shape(GradClip.class, "stats", stats, "{norm, clip factor}", 2);
        if (!(maxNorm >= 0) || !Float.isFinite(maxNorm)) {
            throw Check.fail(GradClip.class, "maxNorm must be finite and ≥ 0 (0 disables clipping), got " + maxNorm);
        }
        grads = Check.tensors(GradClip.class, "grads", grads);
        for (int i = 0; i < grads.size(); i++) {
            Check.f32(GradClip.class, "grads[" + i + "]", grads.get(i));
        }
    }

    /** The clip factor for a norm, shared by every backend so they agree to the last bit. */
    public static float clipFactor(float norm, float maxNorm) {
        if (maxNorm == 0f) {
            return 1f;
        }
        return Math.min(1f, maxNorm / (norm + NORM_EPS));
    }

    @Override
    public List<Tensor> reads() {
        return grads;
    }

    @Override
    public List<Tensor> writes() {
        return List.of(stats);
    }
}
