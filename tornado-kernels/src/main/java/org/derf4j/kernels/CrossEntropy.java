package org.derf4j.kernels;

import java.util.List;

/**
 * Fused softmax cross-entropy over the vocabulary: the loss and its gradient in one pass over the logits.
 *
 * <p>For the rows {@code i} with a target {@code targets[i] ≥ 0} (a negative target marks a row to ignore,
 * as PyTorch's {@code ignore_index}), with {@code n} such rows and {@code p = softmax(logits[i,:])}:
 * <pre>
 *   loss[0]      += scale · (1/n) Σ_i −log p[targets[i]]
 *   correct[0]   += number of rows i where argmax(logits[i,:]) == targets[i]
 *   dlogits[i,:]  = scale · (p − onehot(targets[i])) / n        (zero on ignored rows)
 * </pre>
 * {@code scale} weighs a micro-batch under gradient accumulation. {@code correct} and {@code dlogits}
 * may be null (an evaluation pass), and {@code dlogits} may be {@code logits} itself, to save memory.
 * Targets must lie below V.
 */
public record CrossEntropy(Tensor loss, Tensor correct, Tensor dlogits, Tensor logits, Tensor targets, float scale)
        implements Op {

    public CrossEntropy {
        Check.f32(CrossEntropy.class, "logits", logits);
        Check.elements(CrossEntropy.class, "targets", targets, DType.I32, logits.rows(), "one per row of logits");
        Check.scalar(CrossEntropy.class, "loss", loss);
        if (correct != null) {
            Check.scalar(CrossEntropy.class, "correct", correct);
            Check.distinct(CrossEntropy.class, "loss", loss, "correct", correct);
        }
        if (dlogits != null) {
            Check.sameShape(CrossEntropy.class, "dlogits", dlogits, "logits", logits);
        }
        if (!Float.isFinite(scale)) {
            throw Check.fail(CrossEntropy.class, "scale must be finite, got " + scale);
        }
    }

    /** The error every backend reports for a target at or above V. */
    public static IllegalArgumentException badTarget(int target, int row, int vocab) {
        return new IllegalArgumentException("CrossEntropy: target " + target + " at row " + row + " is not below V = "
                + vocab + " (use a negative target to ignore a row)");
    }

    /** Loss only, weight 1: for evaluation. */
    public static CrossEntropy loss(Tensor loss, Tensor correct, Tensor logits, Tensor targets) {
        return new CrossEntropy(loss, correct, null, logits, targets, 1f);
    }

    @Override
    public List<Tensor> reads() {
        return List.of(logits, targets);
    }

    @Override
    public List<Tensor> writes() {
        return Op.present(loss, correct, dlogits);
    }
}
