package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.kernels.cpu.Erf;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.GptConfig;
import org.derf4j.transformer.GptPass;
import org.derf4j.transformer.Parameter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The per-layer statistics: each figure computed a second way, and how they land in metrics.jsonl. */
class LayerStatsTest {

    @TempDir
    Path dir;

    private static final int VOCAB = 11;
    private static final int BATCH = 3;
    private static final int SEQ = 5;

    /** A tiny model after one forward and backward pass over random tokens, and its statistics. */
    private record Measured(Map<String, Double> stats, float[] tokens, Map<String, float[]> weights, float gradNorm) {
    }

    private static Measured measure(Norm norm) {
        GptConfig config = new GptConfig(VOCAB, 8, 2, 2, 8, norm, 0.7f, 1.3f, 0.9f);
        SplittableRandom rng = new SplittableRandom(42);
        int[] tokens = new int[BATCH * SEQ];
        int[] targets = new int[BATCH * SEQ];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = rng.nextInt(VOCAB);
            targets[i] = rng.nextInt(VOCAB);
        }
        try (Backend backend = new CpuBackend(); Gpt model = new Gpt(backend, config);
             GptPass pass = model.pass(BATCH, SEQ, true);
             Tensor clip = backend.allocate("clip", 2)) {
            model.weights().initialize(7);
            backend.upload(pass.tokens(), tokens);
            backend.upload(pass.targets(), targets);
            Graph.Builder g = Graph.builder("step");
            g.add(new Zero(model.weights().all().stream().map(Parameter::grad).toList()));
            pass.recordClearMetrics(g);
            pass.recordForward(g);
            pass.recordLossAndBackward(g, 1f);
            g.add(new GradClip(clip, 1f, model.weights().all().stream().map(Parameter::grad).toList()));
            try (Executable e = backend.compile(g.build())) {
                e.run();
            }
            Map<String, Double> stats = new LayerStats(backend, model, pass).measure();
            float[] norm2 = new float[2];
            backend.download(clip, norm2);
            Map<String, float[]> weights = new java.util.HashMap<>();
            model.weights().download().forEach(en -> weights.put(en.name(), en.values()));
            float[] tok = new float[tokens.length];
            for (int i = 0; i < tok.length; i++) {
                tok[i] = tokens[i];
            }
            return new Measured(stats, tok, weights, norm2[0]);
        }
    }

    @Test
    void theFirstNormsInputAndOutputAreTheEmbeddingAndDerfOfIt() {
        Measured m = measure(PointwiseNorm.Kind.DERF);
        int c = 8;
        float[] wte = m.weights().get("transformer.wte.weight");
        float[] wpe = m.weights().get("transformer.wpe.weight");
        float scale = m.weights().get("shared_scale")[0];
        float alpha = m.weights().get("transformer.h.0.ln_1.alpha")[0];
        assertEquals(0.7f, alpha, "α of ln_1 is its init (no update ran)");
        assertEquals((float) Math.sqrt(c), scale);
        double in = 0;
        double out = 0;
        long sat = 0;
        for (int b = 0; b < BATCH; b++) {
            for (int t = 0; t < SEQ; t++) {
                int tok = (int) m.tokens()[b * SEQ + t];
                for (int d = 0; d < c; d++) {
                    double x = scale * (wte[tok * c + d] + wpe[t * c + d]);
                    double y = Erf.erf((float) (alpha * x)); // γ = 1, β = 0, s = 0 at init
                    in += x * x;
                    out += y * y;
                    sat += Math.abs(alpha * x) > LayerStats.SATURATION ? 1 : 0;
                }
            }
        }
        int n = BATCH * SEQ * c;
        assertEquals(Math.sqrt(in / n), m.stats().get("rms_in.h.0.ln_1"), 1e-6 * Math.sqrt(in / n));
        assertEquals(Math.sqrt(out / n), m.stats().get("rms_out.h.0.ln_1"), 1e-5 * Math.sqrt(out / n));
        assertEquals((double) sat / n, m.stats().get("saturation.h.0.ln_1"), 1e-12);
        assertEquals(0.7, m.stats().get("alpha.h.0.ln_1"), 1e-7);
        assertEquals(1.3, m.stats().get("alpha.h.1.ln_2"), 1e-7);
        assertEquals(0.9, m.stats().get("alpha.ln_f"), 1e-7);
        assertEquals(0.0, m.stats().get("shift.h.1.ln_1"));
        assertEquals(Math.sqrt(c), m.stats().get("shared_scale"), 1e-6);
    }

    @Test
    void layerNormOutputsHaveUnitRmsAndNoPointwiseFields() {
        Map<String, Double> s = measure(Norm.Statistical.LAYERNORM).stats();
        for (String site : List.of("h.0.ln_1", "h.0.ln_2", "h.1.ln_1", "h.1.ln_2", "ln_f")) {
            // γ = 1, β = 0: each row has mean 0 and variance var/(var + 1e-5), so an RMS just under 1.
            assertEquals(1.0, s.get("rms_out." + site), 0.02, site);
            assertTrue(s.get("rms_in." + site) > 0, site);
        }
        assertFalse(s.keySet().stream().anyMatch(k -> k.startsWith("alpha.") || k.startsWith("saturation.")
                || k.equals("shared_scale")), s.keySet().toString());
    }

    @Test
    void theGroupsGradientNormsAddUpToTheGlobalNormOfGradClip() {
        for (Norm norm : Norm.values()) {
            Measured m = measure(norm);
            double squares = m.stats().entrySet().stream().filter(e -> e.getKey().startsWith("grad_norm."))
                    .mapToDouble(e -> e.getValue() * e.getValue()).sum();
            assertEquals(m.gradNorm(), Math.sqrt(squares), 1e-5 * m.gradNorm(), norm.id());
            assertTrue(m.stats().containsKey("grad_norm.h.1.attn") && m.stats().containsKey("grad_norm.wte")
                    && m.stats().containsKey("grad_norm.ln_f") && m.stats().containsKey("grad_norm.h.0.ln_2"),
                    m.stats().keySet().toString());
        }
        assertEquals("h.3.mlp", LayerStats.group("transformer.h.3.mlp.c_fc.weight"));
        assertEquals("h.0.ln_1", LayerStats.group("transformer.h.0.ln_1.alpha"));
        assertEquals("wte", LayerStats.group("transformer.wte.weight"));
        assertEquals("ln_f", LayerStats.group("transformer.ln_f.bias"));
        assertEquals("shared_scale", LayerStats.group("shared_scale"));
    }

    @Test
    void attentionScoresAreTheOnesTheAttentionKernelNormalizes() {
        // The host's scores give the log-sum-exp the fused kernel saves: same layout, same 1/√HS.
        int b = 2;
        int t = 6;
        int c = 12;
        int heads = 3;
        SplittableRandom rng = new SplittableRandom(3);
        float[] qkv = new float[b * t * 3 * c];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (float) rng.nextGaussian();
        }
        float[] lse = new float[b * heads * t];
        try (Backend backend = new CpuBackend(); Tensor q = backend.allocate("qkv", b, t, 3 * c);
             Tensor out = backend.allocate("out", b, t, c); Tensor l = backend.allocate("lse", b, heads, t)) {
            backend.upload(q, qkv);
            backend.run(new Attention.Forward(out, l, q, heads));
            backend.download(l, lse);
        }
        double[] scores = new double[t];
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < heads; h++) {
                for (int ti = 0; ti < t; ti++) {
                    double max = LayerStats.scores(qkv, bi, h, ti, t, c, heads, scores);
                    double z = 0;
                    for (int s = 0; s <= ti; s++) {
                        z += Math.exp(scores[s] - max);
                    }
                    assertEquals(lse[(bi * heads + h) * t + ti], max + Math.log(z), 1e-5, "b " + bi + " h " + h
                            + " t " + ti);
                }
            }
        }
    }

    @Test
    void entropyIsMaximalForUniformAttentionAndZeroForOneHot() {
        int t = 7;
        int c = 4;
        float[] zeros = new float[t * 3 * c]; // q = 0: every score 0, uniform attention
        assertEquals(LayerStats.uniformEntropy(t), LayerStats.attentionEntropy(zeros, 1, t, c, 1, 1), 1e-12);
        double expected = 0;
        for (int i = 1; i <= t; i++) {
            expected += Math.log(i);
        }
        assertEquals(expected / t, LayerStats.uniformEntropy(t), 1e-12);
        // q = k = 40·onehot(position % c): each row's own key scores 1600/√4 = 800 above the others'.
        float[] peaked = new float[t * 3 * c];
        for (int i = 0; i < t; i++) {
            peaked[i * 3 * c + i % c] = 40;
            peaked[i * 3 * c + c + i % c] = 40;
        }
        // Rows t ≥ c see an earlier key in the same channel too: two equal top scores, entropy ln 2.
        double twoWay = 0;
        for (int i = 0; i < t; i++) {
            twoWay += i >= c ? Math.log(2) : 0;
        }
        assertEquals(twoWay / t, LayerStats.attentionEntropy(peaked, 1, t, c, 1, 1), 1e-9);
    }

    @Test
    void statsRowsLandInMetricsJsonlAndSurviveAResume() throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TrainerTest.text(), StandardCharsets.UTF_8);
        TrainConfig config = TrainerTest.tiny(text, 6, Map.of("statsEvery", 4, "checkpointEvery", 3));
        Path run = dir.resolve("run");
        List<RunLog.Row> rows = TrainerTest.train(config, run, false);
        List<Long> withStats = rows.stream().filter(r -> !r.stats().isEmpty()).map(RunLog.Row::step).toList();
        assertEquals(List.of(1L, 4L), withStats, "stats after the first step and every --stats-every steps");
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        JsonObject step4 = lines.stream().map(l -> JsonParser.parseString(l).getAsJsonObject())
                .filter(o -> o.get("step").getAsLong() == 4 && o.has("lr")).findFirst().orElseThrow();
        for (String key : List.of("rms_in.h.0.ln_1", "rms_out.ln_f", "saturation.h.0.ln_2", "attn_entropy.h.0",
                "attn_entropy_uniform", "rms.logits", "grad_norm.wte", "grad_norm.h.0.mlp", "alpha.h.0.ln_1",
                "shift.ln_f", "shared_scale")) {
            assertTrue(step4.has(key) && Double.isFinite(step4.get(key).getAsDouble()), key + " in " + step4);
        }
        double entropy = step4.get("attn_entropy.h.0").getAsDouble();
        assertTrue(entropy > 0 && entropy <= step4.get("attn_entropy_uniform").getAsDouble() + 1e-9, step4.toString());

        // Resuming from step 3 keeps the rows up to it, with their statistics, as read back from the file.
        try (RunLog log = new RunLog(run, 3, TrainerTest.quiet(), "")) {
            RunLog.Row first = log.rows().stream().filter(r -> r.step() == 1 && !Double.isNaN(r.lr())).findFirst()
                    .orElseThrow();
            RunLog.Row original = rows.stream().filter(r -> r.step() == 1 && !Double.isNaN(r.lr())).findFirst()
                    .orElseThrow();
            assertEquals(original.stats(), first.stats());
        }
    }

    @Test
    void statsOffWritesNone() throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TrainerTest.text(), StandardCharsets.UTF_8);
        List<RunLog.Row> rows = TrainerTest.train(TrainerTest.tiny(text, 3, Map.of("statsEvery", 0)),
                dir.resolve("off"), false);
        assertTrue(rows.stream().allMatch(r -> r.stats().isEmpty()));
    }
}
