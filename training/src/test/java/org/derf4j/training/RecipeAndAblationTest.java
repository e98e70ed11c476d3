package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** --recipe, --freeze-alpha and --no-shift: the values they resolve to, what they do to training, bad input. */
class RecipeAndAblationTest {

    @TempDir
    Path dir;

    /** Parses a command line into ConfigOptions, as train and compare do, and resolves it. */
    private static TrainConfig resolve(String... args) {
        ConfigOptions options = new ConfigOptions();
        new CommandLine(options).registerConverter(Norm.class, Norm::parse).parseArgs(args);
        return options.resolve();
    }

    @Test
    void thePaperRecipeTakesTheOfficialCodesValues() {
        TrainConfig p = resolve("--recipe", "paper", "--data", "x.txt", "--steps", "3000");
        assertEquals(Recipe.PAPER, p.recipe());
        assertEquals(1.0f, p.alphaAttn());
        assertEquals(1.0f, p.alphaMlp());
        assertEquals(1.0f, p.alphaFinal());
        assertEquals(6e-4f, p.lr());
        assertEquals(6e-5f, p.minLr());
        assertEquals(0.9f, p.beta1());
        assertEquals(0.95f, p.beta2());
        assertEquals(0.1f, p.weightDecay());
        assertEquals(1.0f, p.gradClip());
        assertEquals(10, p.warmup(), "2000 of 600,000 iterations is 1/300 of the run: 3000 steps warm up for 10");
        // The task's own fields stay the task's.
        TrainConfig text = TrainConfig.textDefaults("x.txt");
        assertEquals(text.width(), p.width());
        assertEquals(text.batch(), p.batch());
        assertEquals("paper", p.toJson().get("recipe").getAsString());
    }

    @Test
    void theDefaultRecipeIsOursAndChangesNothing() {
        assertEquals(TrainConfig.modularDefaults(), resolve());
        assertEquals(TrainConfig.textDefaults("x.txt"), resolve("--data", "x.txt"));
        assertEquals(TrainConfig.textDefaults("x.txt"), resolve("--data", "x.txt", "--recipe", "OURS"));
        assertEquals(Recipe.OURS, resolve().recipe());
    }

    @Test
    void optionsGivenBesideARecipeOverrideIt() {
        TrainConfig p = resolve("--recipe", "paper", "--warmup", "2000", "--alpha-attn", "0.8", "--steps", "4000",
                "--lr", "1e-3");
        assertEquals(2000, p.warmup());
        assertEquals(0.8f, p.alphaAttn());
        assertEquals(1.0f, p.alphaMlp());
        assertEquals(1e-3f, p.lr());
        assertEquals(Recipe.PAPER, p.recipe());
        assertEquals(1, Recipe.paperWarmup(100), "at least one warm-up step");
        assertEquals(7, Recipe.paperWarmup(2000));
    }

    @Test
    void aConfigSavedBeforeRecipesIsOurs() {
        JsonObject old = TrainConfig.modularDefaults().toJson();
        old.remove("recipe");
        old.remove("freezeAlpha");
        old.remove("noShift");
        old.remove("statsEvery");
        old.remove("embeddingScale");
        TrainConfig c = TrainConfig.fromJson(old);
        assertEquals(Recipe.OURS, c.recipe());
        assertFalse(c.freezeAlpha() || c.noShift());
        assertEquals(0, c.statsEvery());
        assertEquals((float) Math.sqrt(c.width()), c.model(99, 4).embeddingScale(), "√C, the paper's init");
    }

    @Test
    void theEmbeddingScaleStartsWhereToldAndDefaultsToRootWidth() {
        TrainConfig c = resolve("--embedding-scale", "64", "--width", "64");
        assertEquals(64f, c.model(99, 4).embeddingScale());
        try (Backend backend = new CpuBackend(); Gpt model = new Gpt(backend, c.model(99, 4))) {
            model.weights().initialize(1);
            float[] scale = new float[1];
            backend.download(model.weights().embeddingScale().value(), scale);
            assertEquals(64f, scale[0]);
        }
        assertEquals(8f, resolve("--width", "64").model(99, 4).embeddingScale());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> resolve("--embedding-scale", "4", "--norm", "rmsnorm"));
        assertTrue(e.getMessage().startsWith("--embedding-scale applies to derf and dyt"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("--embedding-scale", "-1"));
        assertEquals("--embedding-scale must be positive (0: √width), got -1.0", e.getMessage());
    }

    @Test
    void badRecipeAblationAndStatsOptionsAreRefusedClearly() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> resolve("--recipe", "nanogpt"));
        assertEquals("unknown recipe 'nanogpt'; expected one of ours, paper", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("--stats-every", "-5"));
        assertTrue(e.getMessage().contains("--stats-every must be ≥ 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("--no-shift", "--norm", "dyt"));
        assertEquals("--no-shift needs a norm with a shift s (derf), got dyt", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("--freeze-alpha", "--norm", "layernorm"));
        assertEquals("--freeze-alpha needs a norm with α (derf or dyt), got layernorm", e.getMessage());

        CliResult cli = runCli("train", "--recipe", "nanogpt", "--out", dir.resolve("r").toString());
        assertEquals(2, cli.code());
        assertTrue(cli.err().contains("derf train: unknown recipe 'nanogpt'"), cli.err());
    }

    /** Trains a tiny Derf run; returns the final weights by name. */
    private Map<String, Safetensors.Entry> trainTiny(String name, Map<String, Object> more) throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TrainerTest.text(), StandardCharsets.UTF_8);
        TrainConfig config = TrainerTest.tiny(text, 8, more);
        Path run = dir.resolve(name);
        TrainerTest.train(config, run, false);
        return Checkpoints.loadLatest(run).model();
    }

    @Test
    void freezeAlphaKeepsEveryAlphaBitForBitAndTrainsTheRest() throws IOException {
        Map<String, Safetensors.Entry> frozen = trainTiny("frozen", Map.of("freezeAlpha", true, "alphaMlp", 0.3f));
        Map<String, Safetensors.Entry> free = trainTiny("free", Map.of("alphaMlp", 0.3f));
        assertArrayEquals(new float[] {0.5f}, frozen.get("transformer.h.0.ln_1.alpha").values());
        assertArrayEquals(new float[] {0.3f}, frozen.get("transformer.h.0.ln_2.alpha").values());
        assertArrayEquals(new float[] {0.5f}, frozen.get("transformer.ln_f.alpha").values());
        assertTrue(free.get("transformer.h.0.ln_1.alpha").values()[0] != 0.5f, "without the flag α moves");
        assertTrue(frozen.get("transformer.h.0.ln_1.shift").values()[0] != 0f, "s still trains");
    }

    @Test
    void noShiftKeepsEverySAtZeroAndTheCheckpointLayout() throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TrainerTest.text(), StandardCharsets.UTF_8);
        TrainConfig config = TrainerTest.tiny(text, 8, Map.of("noShift", true, "checkpointEvery", 4,
                "statsEvery", 1));
        Path run = dir.resolve("noshift");
        List<RunLog.Row> rows = TrainerTest.train(config, run, false);
        for (RunLog.Row r : rows) {
            if (!r.stats().isEmpty()) {
                assertEquals(0.0, r.stats().get("shift.h.0.ln_1"), "step " + r.step());
                assertEquals(0.0, r.stats().get("shift.ln_f"), "step " + r.step());
            }
        }
        Checkpoints.Loaded ckpt = Checkpoints.loadLatest(run);
        assertArrayEquals(new float[] {0f}, ckpt.model().get("transformer.h.0.ln_2.shift").values());
        assertTrue(ckpt.model().get("transformer.h.0.ln_2.alpha").values()[0] != 0.5f, "α still trains");
        // The optimizer state keeps its tensors (zero moments for s), so the checkpoint reads like any other.
        assertArrayEquals(new float[] {0f}, ckpt.optimizer().get("exp_avg.transformer.h.0.ln_2.shift").values());
        // And resumes: steps 5..8 again, bit for bit.
        Path cut = dir.resolve("cut");
        Files.createDirectories(cut.resolve("checkpoints"));
        Path from = run.resolve("checkpoints/step-00000004");
        Files.createDirectories(cut.resolve("checkpoints/step-00000004"));
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, cut.resolve("checkpoints/step-00000004").resolve(f.getFileName()));
            }
        }
        Files.writeString(cut.resolve("checkpoints/latest"), "step-00000004\n");
        List<Double> resumed = TrainerTest.trainLosses(TrainerTest.train(config, cut, true));
        assertEquals(TrainerTest.trainLosses(rows).subList(4, 8), resumed);
    }

    @Test
    void frozenParametersLeaveTheClippedNormAndTheUpdate() throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, TrainerTest.text(), StandardCharsets.UTF_8);
        TrainConfig config = TrainerTest.tiny(text, 1, Map.of("freezeAlpha", true, "noShift", true,
                "statsEvery", 1));
        try (Backend backend = new CpuBackend();
             Trainer trainer = new Trainer(config, Datasets.open(config, null), backend);
             RunLog log = new RunLog(null, 0, TrainerTest.quiet(), "")) {
            trainer.initialize();
            assertEquals(6, config.frozenParameters(trainer.model().weights()).size(), "α and s of 3 norms");
            trainer.train(null, log);
            RunLog.Row step = log.rows().get(0);
            // grad_norm (the clip norm) leaves out the frozen α and s; the ln groups' norms include them.
            Map<String, Double> s = step.stats();
            double all = s.entrySet().stream().filter(e -> e.getKey().startsWith("grad_norm."))
                    .mapToDouble(e -> e.getValue() * e.getValue()).sum();
            assertTrue(step.gradNorm() * step.gradNorm() < all, step.gradNorm() + " vs " + Math.sqrt(all));
        }
        TrainConfig plain = TrainerTest.tiny(text, 1, Map.of());
        try (Backend backend = new CpuBackend(); Gpt model = new Gpt(backend, plain.model(20, 16))) {
            assertEquals(0, plain.frozenParameters(model.weights()).size(), "nothing frozen without the flags");
        }
    }

    private record CliResult(int code, String err) {
    }

    private static CliResult runCli(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new CliResult(Main.run(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }
}
