package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.training.data.TextDataset;
import org.derf4j.transformer.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input gets a clear error naming the input and what was expected, and loses nothing. */
class BadInputTest {

    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, text, StandardCharsets.UTF_8);
        return f;
    }

    private static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
        }
    }

    @Test
    void missingEmptyShortAndNonUtf8DataFiles() throws IOException {
        Path missing = dir.resolve("nope.txt");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> TextDataset.load(missing, 16, 8, null)),
                missing.toString(), "does not exist");
        Path empty = write("empty.txt", "");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> TextDataset.load(empty, 16, 8, null)),
                empty.toString(), "is empty");
        Path shortText = write("short.txt", "just a few words here");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> TextDataset.load(shortText, 16, 8, null)),
                shortText.toString(), "too short for a context of 16", "at least T+1 = 17");
        Path binary = dir.resolve("binary.txt");
        Files.write(binary, new byte[] {(byte) 0xC3, (byte) 0x28, 'a', 'b'});
        assertMessage(assertThrows(IllegalArgumentException.class, () -> TextDataset.load(binary, 1, 8, null)),
                binary.toString(), "not UTF-8");
    }

    @Test
    void impossibleModelSizes() {
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> GptConfig.of(65, 128, 4, 3, 256, PointwiseNorm.Kind.DERF)), "heads (3) must divide width (256)");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> GptConfig.of(65, 0, 4, 4, 256, PointwiseNorm.Kind.DERF)), "context must be positive, got 0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> TrainConfig.modularDefaults().with(Map.of("batch", 0))),
                "--batch must be positive, got 0");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> TrainConfig.modularDefaults().with(Map.of("norm", "batchnorm"))),
                "unknown norm 'batchnorm'", "derf, dyt, layernorm, rmsnorm");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Datasets.open(
                TrainConfig.modularDefaults().with(Map.of("modulus", 91)), null)), "prime", "91");
    }

    /** A finished tiny run with checkpoints at steps 3 and 6. */
    private Path finishedRun() throws IOException {
        Path data = write("text.txt", TrainerTest.text());
        Path run = dir.resolve("run");
        TrainerTest.train(TrainerTest.tiny(data, 6, Map.of("checkpointEvery", 3)), run, false);
        return run;
    }

    @Test
    void resumingWithADifferentConfigNamesTheDifferences() throws IOException {
        Path run = finishedRun();
        TrainConfig saved = TrainConfig.fromJson(Checkpoints.loadLatest(run).state().getAsJsonObject("train"));
        ConfigOptions options = new ConfigOptions();
        options.lr = 0.5f;
        options.width = 32;
        assertMessage(assertThrows(IllegalArgumentException.class, () -> options.resolveForResume(saved)),
                "on resume", "lr: ", "width: 16 → 32");
        ConfigOptions same = new ConfigOptions();
        same.width = 16;
        assertEquals(saved, same.resolveForResume(saved));
    }

    @Test
    void aCheckpointOfAnotherModelIsRefused() throws IOException {
        Path run = finishedRun();
        Checkpoints.Loaded ckpt = Checkpoints.loadLatest(run);
        TrainConfig other = TrainerTest.tiny(dir.resolve("text.txt"), 6, Map.of("width", 32));
        try (Backend backend = new CpuBackend();
             Trainer trainer = new Trainer(other, Datasets.open(other, ckpt), backend)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> trainer.restore(ckpt)),
                    ckpt.dir().toString(), "width=16", "width=32");
        }
    }

    @Test
    void truncatedAndCorruptedCheckpointsAreDetected() throws IOException {
        Path run = finishedRun();
        Path ckpt = Checkpoints.loadLatest(run).dir();
        Path model = ckpt.resolve(Checkpoints.MODEL_FILE);
        byte[] original = Files.readAllBytes(model);

        try (RandomAccessFile f = new RandomAccessFile(model.toFile(), "rw")) {
            f.setLength(original.length - 100);
        }
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Checkpoints.loadLatest(run)),
                "model.safetensors", "truncated");

        byte[] flipped = original.clone();
        flipped[flipped.length - 5] ^= 0x40;
        Files.write(model, flipped);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Checkpoints.loadLatest(run)),
                "model.safetensors is corrupt (SHA-256");

        Files.write(model, original);
        Files.writeString(ckpt.resolve(Checkpoints.STATE_FILE), "{ not json");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Checkpoints.loadLatest(run)),
                "state.json is corrupt");

        assertMessage(assertThrows(IllegalArgumentException.class, () -> Checkpoints.loadLatest(dir.resolve("none"))),
                "no checkpoint in");
    }

    @Test
    void aSaveKilledHalfwayLeavesTheLastGoodCheckpoint() throws IOException {
        Path run = finishedRun();
        // What a kill during the save of step 9 leaves: a partial temporary directory.
        Path partial = Files.createDirectories(run.resolve("checkpoints/step-00000009.tmp"));
        Files.write(partial.resolve(Checkpoints.MODEL_FILE), new byte[] {1, 2, 3});
        Checkpoints.Loaded last = Checkpoints.loadLatest(run);
        assertEquals(6, last.state().get("step").getAsLong());
        // Resuming then proceeds; the next save replaces the partial directory.
        Path data = dir.resolve("text.txt");
        TrainerTest.train(TrainerTest.tiny(data, 9, Map.of("checkpointEvery", 3)), run, true);
        assertEquals(9, Checkpoints.loadLatest(run).state().get("step").getAsLong());
        assertTrue(Files.notExists(partial));
    }

    @Test
    void theCommandLineReportsBadInputInOneLineWithExitCode2() throws IOException {
        CliResult missing = runCli("train", "--data", dir.resolve("missing.txt").toString(), "--out",
                dir.resolve("r").toString());
        assertEquals(2, missing.code());
        assertMessage(new RuntimeException(missing.err()), "derf train: data file", "missing.txt' does not exist");

        CliResult again = runCli("train", "--out", finishedRun().toString(), "--steps", "1");
        assertEquals(2, again.code(), "an existing run is never overwritten");
        assertMessage(new RuntimeException(again.err()), "already holds a run", "--resume");

        Path compare = dir.resolve("compare");
        Files.createDirectories(compare.resolve("dyt-seed1337"));
        CliResult compareAgain = runCli("compare", "--out", compare.toString(), "--steps", "1", "--seed", "1337");
        assertEquals(2, compareAgain.code(), "compare never writes into an earlier compare's runs");
        assertMessage(new RuntimeException(compareAgain.err()), "already holds a run", "dyt-seed1337",
                "another --out");
        assertFalse(Files.exists(compare.resolve("derf-seed1337")), "refused before any norm trained");
    }

    private record CliResult(int code, String err) {
    }

    /** Runs the command line as ./derf would, capturing what it prints on stderr. */
    private static CliResult runCli(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new CliResult(code, err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }
}
