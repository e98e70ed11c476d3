package org.derf4j.kernels;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The layer that stands where GPT-2's LayerNorms stood (ln_1, ln_2, ln_f): one value, from the command line
 * ({@link #parse}) through the model config and the checkpoint to the op that runs it.
 *
 * <p>Two families, one enum each, so that every switch is exhaustive over exactly the cases it can meet:
 * <ul>
 *   <li>{@link PointwiseNorm.Kind}: {@code γ ⊙ f(α·x + s) + β}, element by element (Derf, DyT); ops
 *       {@link PointwiseNorm.Forward} and {@link PointwiseNorm.Backward}, whose backends switch over the kind.</li>
 *   <li>{@link Statistical}: normalizers over a row's statistics, each with ops of its own
 *       ({@link LayerNorm}, {@link RmsNorm}).</li>
 * </ul>
 * A switch over a {@code Norm} names the point-wise kinds with a type pattern and the statistical ones as
 * constants, so adding a case to either enum fails the build wherever it is not handled.
 */
public sealed interface Norm permits PointwiseNorm.Kind, Norm.Statistical {

    /** Normalizers that divide by a row statistic. */
    enum Statistical implements Norm {
        /** (x − mean)·rstd ⊙ γ + β. */
        LAYERNORM,
        /** x·rstd ⊙ γ, with rstd from the mean square. */
        RMSNORM
    }

    /** The lower-case name used on the command line and in checkpoints, e.g. {@code derf}. */
    default String id() {
        return toString().toLowerCase(Locale.ROOT);
    }

    /** Every norm, point-wise ones first: derf, dyt, layernorm, rmsnorm. */
    static List<Norm> values() {
        return Stream.<Norm>concat(Stream.of(PointwiseNorm.Kind.values()), Stream.of(Statistical.values())).toList();
    }

    /** The norm named {@code id} (any case), or an error that lists the names. */
    static Norm parse(String id) {
        for (Norm n : values()) {
            if (n.id().equalsIgnoreCase(id)) {
                return n;
            }
        }
        throw new IllegalArgumentException("unknown norm '" + id + "'; expected one of "
                + values().stream().map(Norm::id).collect(Collectors.joining(", ")));
    }
}
