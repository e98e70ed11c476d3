package org.derf4j.kernels;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One kernel launch recorded in a {@link Graph}: which op, on which tensors, at which sizes.
 *
 * <p>Ops are plain data. Each record checks its shapes when it is built, so every backend gets
 * the same clear errors, and each backend turns the record into its own kernel: the switch over this
 * sealed interface is exhaustive, so a backend that misses an op does not compile.
 *
 * <p>Conventions (after llm.c): arguments are outputs, then inputs. A backward op <em>adds</em> into
 * its gradient tensors; zeroing them is the separate {@link Zero} op.
 *
 * <p>An output must not be another argument of the same op, unless the op documents the in-place form
 * ({@link Residual.Forward}'s {@code out = a}, {@link CrossEntropy}'s {@code dlogits = logits}): a backend
 * may read inputs while it writes outputs, in any order. The records reject the aliasing a slip would
 * produce (an output twice, a gradient passed as its own parameter, dx as dout).
 */
public sealed interface Op
        permits Zero,
                Embedding.Forward, Embedding.Backward,
                PointwiseNorm.Forward, PointwiseNorm.Backward,
                LayerNorm.Forward, LayerNorm.Backward,
                RmsNorm.Forward, RmsNorm.Backward,
                Matmul.Forward, Matmul.Backward,
                Gelu.Forward, Gelu.Backward,
                Attention.Forward, Attention.Backward,
                Residual.Forward, Residual.Backward,
                CrossEntropy,
                GradClip, AdamW {

    /** Tensors this op reads. */
    List<Tensor> reads();

    /** Tensors this op writes or accumulates into. */
    List<Tensor> writes();

    /** Display name, e.g. {@code LayerNorm.Backward}. */
    default String name() {
        return opName(getClass());
    }

    static String opName(Class<?> opClass) {
        Class<?> outer = opClass.getEnclosingClass();
        return outer == null ? opClass.getSimpleName() : outer.getSimpleName() + "." + opClass.getSimpleName();
    }

    /** The non-null tensors among {@code tensors}, for {@link #reads()} and {@link #writes()}. */
    static List<Tensor> present(Tensor... tensors) {
        List<Tensor> list = new ArrayList<>(tensors.length);
        for (Tensor t : tensors) {
            if (t != null) {
                list.add(t);
            }
        }
        return Collections.unmodifiableList(list);
    }
}
