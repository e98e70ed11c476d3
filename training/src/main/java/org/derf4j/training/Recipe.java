package org.derf4j.training;

import com.google.gson.annotations.SerializedName;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A named set of defaults for the optimisation and the norms' α, chosen with {@code --recipe}. A recipe is
 * only the starting point: every option given on the command line overrides it, and the config records both
 * the recipe's name and every value it resolved to, so a checkpoint says where its numbers came from.
 *
 * <ul>
 *   <li>{@link #OURS}: the recipe derf4j trains with at its small scale (the defaults since the start).</li>
 *   <li>{@link #PAPER}: the Derf paper's language-model recipe, as its official code sets it: nanoGPT's
 *       {@code train.py} defaults, patched by the authors' {@code train_derf.patch} and {@code model_derf.patch}
 *       (github.com/zlab-princeton/Derf, folder {@code language model/}).</li>
 * </ul>
 */
public enum Recipe {
    @SerializedName("ours") OURS,
    @SerializedName("paper") PAPER;

    /**
     * nanoGPT's {@code warmup_iters} (2000) over its {@code max_iters} (600,000) for GPT-2: the fraction of the
     * run {@link #PAPER} spends warming up, 1/300.
     */
    static final double PAPER_WARMUP_FRACTION = 2000.0 / 600_000.0;

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The recipe named {@code id} (any case), or an error that lists the names. */
    public static Recipe parse(String id) {
        for (Recipe r : values()) {
            if (r.id().equalsIgnoreCase(id)) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown recipe '" + id + "'; expected one of "
                + Arrays.stream(values()).map(Recipe::id).collect(Collectors.joining(", ")));
    }

    /**
     * The paper's warm-up for a run of {@code steps}: the same fraction of the run as nanoGPT's 2000 of 600,000
     * iterations, rounded, at least 1 step. Keeping the literal 2000 would leave a run of 2000 steps or fewer
     * warming up from start to end, with the learning rate never reaching its peak and the cosine decay never
     * starting; scaling keeps the shape of the schedule (a short ramp, then a cosine down to lr/10).
     */
    static int paperWarmup(int steps) {
        return (int) Math.max(1, Math.round(steps * PAPER_WARMUP_FRACTION));
    }

    /** The fields this recipe sets, on top of a task's defaults ({@code steps} decides the paper's warm-up). */
    TrainConfig apply(TrainConfig taskDefaults, int steps) {
        return switch (this) {
            case OURS -> taskDefaults;
            case PAPER -> taskDefaults.with(Map.ofEntries(
                    Map.entry("recipe", PAPER),
                    // model_derf.patch, GPTConfig: attn_alpha_init_value, ffn_alpha_init_value and
                    // dec_alpha_init_value default to 1.0 (train_derf.patch sets the same in train.py).
                    Map.entry("alphaAttn", 1.0f),
                    Map.entry("alphaMlp", 1.0f),
                    Map.entry("alphaFinal", 1.0f),
                    // nanoGPT train.py: learning_rate 6e-4, min_lr 6e-5, warmup_iters 2000 of max_iters 600000,
                    // weight_decay 1e-1, beta1 0.9, beta2 0.95, grad_clip 1.0 (config/train_gpt2.py keeps them).
                    Map.entry("lr", 6e-4f),
                    Map.entry("minLr", 6e-5f),
                    Map.entry("warmup", paperWarmup(steps)),
                    Map.entry("weightDecay", 0.1f),
                    Map.entry("beta1", 0.9f),
                    Map.entry("beta2", 0.95f),
                    Map.entry("eps", 1e-8f),
                    Map.entry("gradClip", 1.0f)));
        };
    }
}
