package org.derf4j.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.training.TrainConfig;
import org.derf4j.training.Trainer;
import org.derf4j.training.data.TextDataset;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * End-to-end training throughput: one optimizer step (forward, backward, clipping, AdamW, the loss read
 * back) of the GPT that issue #3 measures: 4 layers, width 256, 4 heads, context 128, batch 16, on
 * character-level text. Tokens per second = 16·128 / (seconds per op). The PyTorch peer is
 * {@code scripts/peers.py train} with the same sizes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 10)
@Measurement(iterations = 5, time = 10)
public class TrainStepBenchmark {

    @Param({"derf", "layernorm"})
    public String norm;

    @Param("cpu")
    public String backend;

    /** A UTF-8 text file; empty means a generated text, so the benchmark needs no file. */
    @Param("")
    public String data;

    private Backend device;
    private Trainer trainer;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Path file = data.isEmpty() ? generatedText() : Path.of(data);
        TrainConfig config = TrainConfig.textDefaults(file.toString()).with(Map.of("layers", 4, "width", 256,
                "heads", 4, "context", 128, "batch", 16, "norm", norm, "steps", 1_000_000));
        device = Backends.open(backend);
        trainer = new Trainer(config, TextDataset.load(file, config.context(), 16, null), device);
        trainer.initialize();
    }

    @Benchmark
    public Trainer.StepResult trainStep() {
        return trainer.step(1e-3f);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        trainer.close();
        device.close();
    }

    private static Path generatedText() throws IOException {
        StringBuilder sb = new StringBuilder();
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        String letters = "abcdefghijklmnopqrstuvwxyz ,.\n";
        for (int i = 0; i < 200_000; i++) {
            sb.append(letters.charAt(rng.nextInt(letters.length())));
        }
        Path f = Files.createTempFile("derf4j-bench", ".txt");
        f.toFile().deleteOnExit();
        Files.writeString(f, sb.toString(), StandardCharsets.UTF_8);
        return f;
    }
}
