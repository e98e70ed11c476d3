package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.training.data.Dataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loop: determinism, bit-exact resume, learning, and how it stops on a diverging loss. */
class TrainerTest {

    @TempDir
    Path dir;

    /** A text with structure a tiny model learns in a few dozen steps. */
    static String text() {
        StringBuilder sb = new StringBuilder();
        String[] words = {"derf ", "erf ", "norm ", "free ", "java "};
        for (int i = 0; i < 600; i++) {
            sb.append(words[(i * 7 + i / 5) % words.length]);
        }
        return sb.toString();
    }

    static TrainConfig tiny(Path data, int steps, Map<String, Object> more) {
        Map<String, Object> o = new LinkedHashMap<>(Map.of("layers", 1, "heads", 2, "width", 16, "context", 16,
                "batch", 4, "steps", steps, "warmup", 2, "evalEvery", 0, "evalBatches", 2, "checkpointEvery", 0));
        o.put("lr", 3e-3f);
        o.putAll(more);
        return TrainConfig.textDefaults(data.toString()).with(o);
    }

    Path textFile() throws IOException {
        Path f = dir.resolve("text.txt");
        Files.writeString(f, text(), StandardCharsets.UTF_8);
        return f;
    }

    /** Trains {@code config} (resuming from {@code runDir}'s latest checkpoint if asked); returns the log rows. */
    static List<RunLog.Row> train(TrainConfig config, Path runDir, boolean resume) throws IOException {
        Checkpoints.Loaded ckpt = resume ? Checkpoints.loadLatest(runDir) : null;
        Dataset data = Datasets.open(config, ckpt);
        try (Backend backend = new CpuBackend(); Trainer trainer = new Trainer(config, data, backend);
             RunLog log = new RunLog(runDir, ckpt == null ? 0 : trainer.step(), quiet(), "")) {
            if (ckpt == null) {
                trainer.initialize();
            } else {
                trainer.restore(ckpt);
            }
            trainer.train(runDir, log);
            return log.rows();
        }
    }

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    }

    static List<Double> trainLosses(List<RunLog.Row> rows) {
        return rows.stream().filter(r -> r.split().equals("train") && !Double.isNaN(r.lr())).map(RunLog.Row::loss)
                .toList();
    }

    @Test
    void sameSeedGivesTheSameLossesBitForBit() throws IOException {
        TrainConfig config = tiny(textFile(), 12, Map.of());
        List<Double> a = trainLosses(train(config, dir.resolve("a"), false));
        List<Double> b = trainLosses(train(config, dir.resolve("b"), false));
        assertEquals(12, a.size());
        assertEquals(a, b, "two runs with the same seed must agree exactly");
        List<Double> c = trainLosses(train(tiny(textFile(), 12, Map.of("seed", 7L)), dir.resolve("c"), false));
        assertTrue(!a.equals(c), "another seed must give other losses");
    }

    @Test
    void resumingAfterAStepGivesTheLossesOfARunThatNeverStopped() throws IOException {
        Path data = textFile();
        TrainConfig config = tiny(data, 16, Map.of("checkpointEvery", 6, "accumulation", 2));
        List<Double> whole = trainLosses(train(config, dir.resolve("whole"), false));

        // The interrupted run: its disk holds only the checkpoint of step 6, as after a kill at step 7.
        Path cut = dir.resolve("cut");
        Files.createDirectories(cut.resolve("checkpoints"));
        copyTree(dir.resolve("whole/checkpoints/step-00000006"), cut.resolve("checkpoints/step-00000006"));
        Files.writeString(cut.resolve("checkpoints/latest"), "step-00000006\n");
        List<Double> resumed = trainLosses(train(config, cut, true));

        assertEquals(whole.subList(6, 16), resumed, "the resumed run must reproduce steps 7..16 bit for bit");
    }

    @Test
    void resumingInAFreshProcessThroughTheCommandLineIsBitExactToo() throws Exception {
        // A resumed run starts in a cold JVM, whose kernels run interpreted at first: the bits must not care.
        Path data = textFile();
        Map<String, Object> sizes = Map.of("checkpointEvery", 4);
        TrainConfig config = tiny(data, 10, sizes);
        List<Double> whole = trainLosses(train(config, dir.resolve("whole"), false));

        Path cut = dir.resolve("cut");
        Files.createDirectories(cut.resolve("checkpoints"));
        copyTree(dir.resolve("whole/checkpoints/step-00000004"), cut.resolve("checkpoints/step-00000004"));
        Files.writeString(cut.resolve("checkpoints/latest"), "step-00000004\n");
        Files.writeString(cut.resolve("metrics.jsonl"), "");
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process child = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "train", "--resume", "--backend", "cpu",
                "--out", cut.toString())
                .redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, child.waitFor(), output);
        List<Double> resumed = Files.readAllLines(cut.resolve("metrics.jsonl")).stream()
                .map(line -> com.google.gson.JsonParser.parseString(line).getAsJsonObject())
                .filter(o -> o.get("split").getAsString().equals("train") && o.has("lr"))
                .map(o -> o.get("loss").getAsDouble()).toList();
        assertEquals(whole.subList(4, 10), resumed, "resumed in a new process:\n" + output);
    }

    @Test
    void aTinyRunLearnsItsText() throws IOException {
        List<Double> losses = trainLosses(train(tiny(textFile(), 60, Map.of("lr", 1e-2f, "width", 32)),
                dir.resolve("learn"), false));
        double first = losses.get(0);
        double last = losses.subList(50, 60).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        // Starts near ln(vocabulary); a model that learns nothing stays there.
        assertTrue(first > 2.0, "initial loss " + first);
        assertTrue(last < 0.6 * first, "loss fell only from " + first + " to " + last);
    }

    @Test
    void aDivergingLossStopsAtItsStepAndKeepsTheLastGoodCheckpoint() throws IOException {
        TrainConfig config = tiny(textFile(), 50, Map.of("checkpointEvery", 1, "lr", 1e9f, "warmup", 0,
                "gradClip", 0f, "minLr", 1e9f));
        Path run = dir.resolve("nan");
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> train(config, run, false));
        assertTrue(e.getMessage().matches("loss became (NaN|Infinity|-Infinity) at step \\d+; training stopped\\..*"),
                e.getMessage());
        long step = Long.parseLong(e.getMessage().replaceAll(".* at step (\\d+);.*", "$1"));
        Checkpoints.Loaded good = Checkpoints.loadLatest(run);
        assertEquals(step - 1, good.state().get("step").getAsLong(), "the checkpoint before the bad step is kept");
        assertTrue(e.getMessage().contains(good.dir().toString()), e.getMessage());
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }
}
