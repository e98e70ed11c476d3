package org.derf4j.transformer;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Which layer stands where GPT-2's LayerNorms stood (ln_1, ln_2, ln_f). */
public enum NormKind {
    /** γ ⊙ erf(αx + s) + β: point-wise, learnable scalars α and s per layer. */
    DERF,
    /** γ ⊙ tanh(αx) + β: point-wise, learnable scalar α per layer. */
    DYT,
    /** Standard LayerNorm with γ and β. */
    LAYERNORM,
    /** RMSNorm with γ. */
    RMSNORM;

    /** Point-wise normalizers have no row statistics, and get the learnable embedding scale. */
    public boolean isPointwise() {
        return this == DERF || this == DYT;
    }

    /** The lower-case name used on the command line and in checkpoints. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static NormKind parse(String s) {
        for (NormKind k : values()) {
            if (k.id().equals(s.toLowerCase(Locale.ROOT))) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown norm '" + s + "'; expected one of "
                + Arrays.stream(values()).map(NormKind::id).collect(Collectors.joining(", ")));
    }
}
