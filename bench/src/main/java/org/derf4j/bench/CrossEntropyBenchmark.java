package org.derf4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;
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
 * Fused softmax cross-entropy over GPT-2's vocabulary, through the public backend interface: the loss alone
 * (an evaluation pass) and the loss with dlogits (a training step), each a compiled graph that also clears
 * the loss. Against a copy of the logits' bytes, the bandwidth baseline: the loss reads the logits twice
 * (max, then Σexp), the gradient writes them once and rescales them in place. The PyTorch peer is
 * {@code scripts/peers.py crossentropy}: {@code F.cross_entropy(logits, targets)} forward and backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CrossEntropyBenchmark {

    @Param("256")
    public int rows;

    @Param("50257")
    public int vocab;

    @Param({"cpu"})
    public String backend;

    private Backend device;
    private Executable loss;
    private Executable lossAndGradient;
    private Tensor lossTensor;
    private float[] lossHost;
    private float[] copySource;
    private float[] copyTarget;

    @Setup(Level.Trial)
    public void setUp() {
        device = Backends.open(backend);
        SplittableRandom rng = new SplittableRandom(42);
        float[] values = new float[rows * vocab];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (3 * rng.nextGaussian());
        }
        int[] ids = new int[rows];
        for (int i = 0; i < rows; i++) {
            ids[i] = rng.nextInt(vocab);
        }
        Tensor logits = device.allocate("logits", rows, vocab);
        device.upload(logits, values);
        Tensor targets = device.allocate("targets", DType.I32, rows);
        device.upload(targets, ids);
        Tensor dlogits = device.allocate("dlogits", rows, vocab);
        lossTensor = device.allocate("loss", 1);
        loss = device.compile(Graph.of("ce-loss", Zero.of(lossTensor), CrossEntropy.loss(lossTensor, null, logits,
                targets)));
        lossAndGradient = device.compile(Graph.of("ce-loss-gradient", Zero.of(lossTensor),
                new CrossEntropy(lossTensor, null, dlogits, logits, targets, 1f)));
        lossHost = new float[1];
        copySource = values;
        copyTarget = new float[values.length];
    }

    @Benchmark
    public float[] loss() {
        loss.run();
        device.download(lossTensor, lossHost);
        return lossHost;
    }

    @Benchmark
    public float[] lossAndGradient() {
        lossAndGradient.run();
        device.download(lossTensor, lossHost);
        return lossHost;
    }

    /** The logits' bytes, copied by one thread. */
    @Benchmark
    public float[] copyLogits() {
        System.arraycopy(copySource, 0, copyTarget, 0, copySource.length);
        return copyTarget;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        loss.close();
        lossAndGradient.close();
        device.close();
    }
}
