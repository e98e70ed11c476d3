package org.derf4j.training;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.transformer.GptConfig;
import org.derf4j.transformer.GptWeights;
import org.derf4j.transformer.Json;
import org.derf4j.transformer.Parameter;

/**
 * Everything that decides a run's numbers: data, model, optimisation and seed. Two runs with equal
 * configs on the same backend produce the same losses, bit for bit; a resumed run must have the config of
 * its checkpoint. Where the run writes and which backend runs it are not part of it.
 *
 * @param data          a UTF-8 text file, or null for the built-in modular arithmetic task
 * @param modulus       p of the built-in task
 * @param operation     add, sub, mul or div, for the built-in task
 * @param trainFraction the built-in task's fraction of equations used for training
 * @param context       T for text data (the built-in task has T = 4)
 * @param accumulation  micro-batches per optimizer step
 * @param evalEvery     steps between evaluations (0: only at the end)
 * @param evalBatches   batches per split in an evaluation of text data (the built-in task evaluates all)
 * @param checkpointEvery steps between checkpoints (0: only at the end)
 * @param recipe        the preset the defaults came from ({@link Recipe}); every field holds its resolved value
 * @param freezeAlpha   ablation: α keeps its initial value (no AdamW step, not in the clipped gradient norm)
 * @param noShift       ablation: Derf without its shift s, which stays 0 (frozen as α is by freezeAlpha)
 * @param statsEvery    steps between per-layer statistics in metrics.jsonl (0: none); see {@link LayerStats}
 * @param embeddingScale initial scale on the embedding sum (derf, dyt); 0 stands for √width, the paper's init
 */
public record TrainConfig(String data, int modulus, String operation, double trainFraction,
                          int layers, int heads, int width, int context, Norm norm,
                          float alphaAttn, float alphaMlp, float alphaFinal,
                          int steps, int batch, int accumulation, float lr, float minLr, int warmup,
                          float weightDecay, float beta1, float beta2, float eps, float gradClip,
                          int evalEvery, int evalBatches, int checkpointEvery, long seed,
                          Recipe recipe, boolean freezeAlpha, boolean noShift, int statsEvery,
                          float embeddingScale) {

    public TrainConfig {
        // A config saved before recipes existed was trained with what is now the default recipe.
        recipe = recipe == null ? Recipe.OURS : recipe;
        if (norm == null) {
            throw new IllegalArgumentException("--norm must be one of "
                    + Norm.values().stream().map(Norm::id).toList());
        }
        positive("--steps", steps);
        positive("--batch", batch);
        positive("--accumulation", accumulation);
        positive("--layers", layers);
        positive("--heads", heads);
        positive("--width", width);
        positive("--context", context);
        if (evalEvery < 0 || checkpointEvery < 0 || evalBatches <= 0) {
            throw new IllegalArgumentException("--eval-every and --checkpoint-every must be ≥ 0 and --eval-batches > 0");
        }
        if (statsEvery < 0) {
            throw new IllegalArgumentException("--stats-every must be ≥ 0 (0: no per-layer statistics), got "
                    + statsEvery);
        }
        if (!(embeddingScale >= 0) || !Float.isFinite(embeddingScale)) {
            throw new IllegalArgumentException("--embedding-scale must be positive (0: √width), got " + embeddingScale);
        }
        if (embeddingScale != 0f && !(norm instanceof PointwiseNorm.Kind)) {
            throw new IllegalArgumentException("--embedding-scale applies to derf and dyt (the other norms have no "
                    + "scale on the embedding sum), got " + norm.id());
        }
        if (freezeAlpha && !(norm instanceof PointwiseNorm.Kind)) {
            throw new IllegalArgumentException("--freeze-alpha needs a norm with α (derf or dyt), got " + norm.id());
        }
        if (noShift && !(norm instanceof PointwiseNorm.Kind k && k.hasShift())) {
            throw new IllegalArgumentException("--no-shift needs a norm with a shift s (derf), got " + norm.id());
        }
        new LrSchedule(lr, minLr, warmup, steps);
        new AdamWOptimizer.Settings(beta1, beta2, eps, weightDecay, gradClip);
    }

    /** Per-layer statistics every this many steps unless --stats-every says otherwise. */
    public static final int DEFAULT_STATS_EVERY = 50;

    /** The built-in grokking task: a small model, strong weight decay (Power et al. use 1.0). */
    public static TrainConfig modularDefaults() {
        return new TrainConfig(null, 97, "add", 0.5, 2, 4, 128, 4, PointwiseNorm.Kind.DERF,
                GptConfig.DEFAULT_ALPHA, GptConfig.DEFAULT_ALPHA, GptConfig.DEFAULT_ALPHA,
                1500, 512, 1, 1e-3f, 1e-4f, 50, 1.0f, 0.9f, 0.98f, 1e-8f, 1.0f, 250, 1, 500, 1337,
                Recipe.OURS, false, false, DEFAULT_STATS_EVERY, 0f);
    }

    /** Character-level text, nanoGPT's shakespeare_char recipe at a size that trains on a CPU. */
    public static TrainConfig textDefaults(String data) {
        return new TrainConfig(data, 97, "add", 0.5, 4, 4, 256, 128, PointwiseNorm.Kind.DERF,
                GptConfig.DEFAULT_ALPHA, GptConfig.DEFAULT_ALPHA, GptConfig.DEFAULT_ALPHA,
                2000, 16, 1, 1e-3f, 1e-4f, 100, 0.1f, 0.9f, 0.99f, 1e-8f, 1.0f, 250, 20, 500, 1337,
                Recipe.OURS, false, false, DEFAULT_STATS_EVERY, 0f);
    }

    /** The model this config trains, for a tokenizer of {@code vocab} symbols and sequences of {@code seqLen}. */
    public GptConfig model(int vocab, int seqLen) {
        return new GptConfig(vocab, seqLen, layers, heads, width, norm, alphaAttn, alphaMlp, alphaFinal,
                embeddingScale);
    }

    /**
     * The parameters this config's ablations keep at their initial values: every α with freezeAlpha, every
     * shift s with noShift (initialised to 0, so Derf without s).
     */
    public Set<Parameter> frozenParameters(GptWeights weights) {
        Set<Parameter> frozen = new LinkedHashSet<>();
        List<GptWeights.NormLayer> norms = new ArrayList<>();
        for (GptWeights.Block b : weights.blocks()) {
            norms.add(b.ln1());
            norms.add(b.ln2());
        }
        norms.add(weights.lnf());
        for (GptWeights.NormLayer n : norms) {
            if (freezeAlpha && n.alpha() != null) {
                frozen.add(n.alpha());
            }
            if (noShift && n.shift() != null) {
                frozen.add(n.shift());
            }
        }
        return frozen;
    }

    public LrSchedule schedule() {
        return new LrSchedule(lr, minLr, warmup, steps);
    }

    public AdamWOptimizer.Settings optimizer() {
        return new AdamWOptimizer.Settings(beta1, beta2, eps, weightDecay, gradClip);
    }

    /** This config with some fields changed, by field name, e.g. {@code with(Map.of("norm", "dyt"))}. */
    public TrainConfig with(Map<String, Object> changes) {
        JsonObject json = toJson();
        changes.forEach((k, v) -> {
            if (!json.has(k) && !k.equals("data")) {
                throw new IllegalArgumentException("training config has no field '" + k + "'");
            }
            json.add(k, Json.GSON.toJsonTree(v));
        });
        return fromJson(json);
    }

    public JsonObject toJson() {
        return Json.GSON.toJsonTree(this).getAsJsonObject();
    }

    public static TrainConfig fromJson(JsonObject json) {
        TrainConfig c;
        try {
            c = Json.GSON.fromJson(json, TrainConfig.class);
        } catch (RuntimeException e) {
            // Gson wraps what the record's constructor throws; the constructor's message is the useful one.
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof IllegalArgumentException iae) {
                    throw iae;
                }
            }
            throw new IllegalArgumentException("training config: " + e.getMessage(), e);
        }
        if (c == null) {
            throw new IllegalArgumentException("checkpoint: missing training config");
        }
        return c;
    }

    /** The fields where {@code other} differs, as "name: this → other". */
    public List<String> differences(TrainConfig other) {
        JsonObject a = toJson();
        JsonObject b = other.toJson();
        List<String> out = new ArrayList<>();
        for (String k : a.keySet()) {
            if (!Objects.equals(a.get(k), b.get(k))) {
                out.add(k + ": " + a.get(k) + " → " + b.get(k));
            }
        }
        return out;
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }
}
