package org.derf4j.training;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.derf4j.kernels.Norm;
import picocli.CommandLine.Option;

/**
 * The options that make a {@link TrainConfig}, shared by {@code train} and {@code compare}. Every option is
 * optional: what is not given comes from the defaults of the data kind, or, on resume, from the checkpoint.
 */
public final class ConfigOptions {

    @Option(names = "--data", paramLabel = "FILE",
            description = "UTF-8 text to train on, one token per character (default: the built-in task a∘b mod p)")
    String data;

    @Option(names = "--modulus", paramLabel = "P", description = "built-in task: the prime p (default 97)")
    Integer modulus;

    @Option(names = "--operation", paramLabel = "OP", description = "built-in task: add, sub, mul or div (default add)")
    String operation;

    @Option(names = "--train-fraction", paramLabel = "F",
            description = "built-in task: fraction of the p² equations used for training (default 0.5)")
    Double trainFraction;

    @Option(names = "--layers", description = "Transformer blocks") Integer layers;

    @Option(names = "--heads", description = "attention heads (must divide --width)") Integer heads;

    @Option(names = "--width", description = "channels C") Integer width;

    @Option(names = "--context", description = "sequence length T for text data") Integer context;

    @Option(names = "--norm", description = "derf, dyt, layernorm or rmsnorm (default derf)") Norm norm;

    @Option(names = "--alpha-attn", description = "initial α of the norm before attention (derf, dyt)")
    Float alphaAttn;

    @Option(names = "--alpha-mlp", description = "initial α of the norm before the MLP (derf, dyt)")
    Float alphaMlp;

    @Option(names = "--alpha-final", description = "initial α of the final norm (derf, dyt)") Float alphaFinal;

    @Option(names = "--embedding-scale", paramLabel = "S",
            description = "initial scale on the embedding sum (derf, dyt; default √width, as the paper's code)")
    Float embeddingScale;

    @Option(names = "--steps", description = "optimizer steps") Integer steps;

    @Option(names = "--batch", description = "sequences per micro-batch") Integer batch;

    @Option(names = "--accumulation", description = "micro-batches per step (gradient accumulation)")
    Integer accumulation;

    @Option(names = "--lr", description = "peak learning rate") Float lr;

    @Option(names = "--min-lr", description = "learning rate at the end of the cosine decay") Float minLr;

    @Option(names = "--warmup", description = "linear warm-up steps") Integer warmup;

    @Option(names = "--weight-decay", description = "AdamW weight decay (matrices and embeddings only)")
    Float weightDecay;

    @Option(names = "--beta1", description = "AdamW β1") Float beta1;

    @Option(names = "--beta2", description = "AdamW β2") Float beta2;

    @Option(names = "--grad-clip", description = "clip the global gradient norm to this (0: off)") Float gradClip;

    @Option(names = "--eval-every", description = "steps between validations (0: only at the end)")
    Integer evalEvery;

    @Option(names = "--eval-batches", description = "batches per split in an evaluation of text data")
    Integer evalBatches;

    @Option(names = "--checkpoint-every", description = "steps between checkpoints (0: only at the end)")
    Integer checkpointEvery;

    @Option(names = "--seed", description = "seed of the weights and the data order") Long seed;

    @Option(names = "--recipe", paramLabel = "NAME", description = {
            "defaults for α and the optimiser: ours (default; what trains well at this scale) or paper (the Derf",
            "paper's official nanoGPT code: α 1, lr 6e-4 → 6e-5, β2 0.95, weight decay 0.1, warm-up 1/300 of",
            "--steps); options given beside it override it. See README, 'Recipes'."})
    String recipe;

    @Option(names = "--freeze-alpha", description = "ablation: keep α at its initial value (derf, dyt)")
    Boolean freezeAlpha;

    @Option(names = "--no-shift", description = "ablation: Derf without its shift s (s stays 0)")
    Boolean noShift;

    @Option(names = "--stats-every", paramLabel = "N",
            description = "steps between per-layer statistics in metrics.jsonl (0: none; default "
                    + TrainConfig.DEFAULT_STATS_EVERY + ")")
    Integer statsEvery;

    /** The options given on the command line, by TrainConfig field name. */
    Map<String, Object> given() {
        Map<String, Object> m = new LinkedHashMap<>();
        put(m, "data", data);
        put(m, "modulus", modulus);
        put(m, "operation", operation);
        put(m, "trainFraction", trainFraction);
        put(m, "layers", layers);
        put(m, "heads", heads);
        put(m, "width", width);
        put(m, "context", context);
        put(m, "norm", norm);
        put(m, "alphaAttn", alphaAttn);
        put(m, "alphaMlp", alphaMlp);
        put(m, "alphaFinal", alphaFinal);
        put(m, "steps", steps);
        put(m, "batch", batch);
        put(m, "accumulation", accumulation);
        put(m, "lr", lr);
        put(m, "minLr", minLr);
        put(m, "warmup", warmup);
        put(m, "weightDecay", weightDecay);
        put(m, "beta1", beta1);
        put(m, "beta2", beta2);
        put(m, "gradClip", gradClip);
        put(m, "evalEvery", evalEvery);
        put(m, "evalBatches", evalBatches);
        put(m, "checkpointEvery", checkpointEvery);
        put(m, "seed", seed);
        put(m, "recipe", recipe == null ? null : Recipe.parse(recipe));
        put(m, "freezeAlpha", freezeAlpha);
        put(m, "noShift", noShift);
        put(m, "statsEvery", statsEvery);
        put(m, "embeddingScale", embeddingScale);
        return m;
    }

    private static void put(Map<String, Object> m, String key, Object value) {
        if (value != null) {
            m.put(key, value);
        }
    }

    /** The defaults for the data kind and the recipe, with the given options on top. */
    public TrainConfig resolve() {
        return resolve(Map.of());
    }

    /**
     * Like {@link #resolve()}, with a command's own defaults ({@code taskDefaults}, by field name) between the
     * data kind's and the recipe's: what {@code compare} sets for the built-in task.
     */
    TrainConfig resolve(Map<String, Object> taskDefaults) {
        TrainConfig task = (data == null ? TrainConfig.modularDefaults() : TrainConfig.textDefaults(data))
                .with(taskDefaults);
        Map<String, Object> given = given();
        Recipe chosen = (Recipe) given.getOrDefault("recipe", Recipe.OURS);
        int runSteps = (Integer) given.getOrDefault("steps", task.steps());
        return chosen.apply(task, runSteps).with(given);
    }

    /**
     * The checkpoint's config; given options must agree with it, since a resumed run continues the same
     * run. Throws IllegalArgumentException listing every option that differs.
     */
    public TrainConfig resolveForResume(TrainConfig checkpoint) {
        TrainConfig requested = checkpoint.with(given());
        List<String> diffs = new ArrayList<>(checkpoint.differences(requested));
        if (!diffs.isEmpty()) {
            throw new IllegalArgumentException("on resume, these options differ from the checkpoint's config: "
                    + String.join("; ", diffs) + ". Resume with the checkpoint's values, or start a new run in "
                    + "another --out directory.");
        }
        return checkpoint;
    }
}
