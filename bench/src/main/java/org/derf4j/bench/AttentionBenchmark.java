package org.derf4j.bench;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Tensor;
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
 * Causal self-attention, forward and forward + backward, through the public backend interface: compiled
 * graphs replayed on persistent tensors, as a training step runs them. {@code scripts/peers.py attention}
 * times the same math in PyTorch eager.
 *
 * <p>Shapes are {@code BxTxCxNH}: GPT-2-small's attention at the training config (B=16, T=128, C=256,
 * NH=4) and at a long context (B=1, T=1024, C=768, NH=12).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class AttentionBenchmark {

    @Param({"16x128x256x4", "1x1024x768x12"})
    public String shape;

    @Param({"cpu"})
    public String backend;

    private Backend device;
    private Executable forward;
    private Executable forwardBackward;
    private Tensor lse;
    private float[] lseHost;

    @Setup(Level.Trial)
    public void setUp() {
        String[] dims = shape.split("x");
        int b = Integer.parseInt(dims[0]);
        int t = Integer.parseInt(dims[1]);
        int c = Integer.parseInt(dims[2]);
        int heads = Integer.parseInt(dims[3]);
        device = Backends.open(backend);
        SplittableRandom rng = new SplittableRandom(42);
        Tensor qkv = device.allocate("qkv", b, t, 3 * c);
        device.upload(qkv, normal(rng, b * t * 3 * c));
        Tensor out = device.allocate("out", b, t, c);
        lse = device.allocate("lse", b, heads, t);
        Tensor dout = device.allocate("dout", b, t, c);
        device.upload(dout, normal(rng, b * t * c));
        Tensor dqkv = device.allocate("dqkv", b, t, 3 * c);
        Attention.Forward fwd = new Attention.Forward(out, lse, qkv, heads);
        Attention.Backward bwd = new Attention.Backward(dqkv, dout, qkv, out, lse, heads);
        List<Executable> graphs = device.compile(List.of(Graph.of("attention-forward", fwd),
                Graph.of("attention-forward-backward", fwd, bwd)));
        forward = graphs.get(0);
        forwardBackward = graphs.get(1);
        lseHost = new float[lse.size()];
    }

    private static float[] normal(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    /** The forward; downloading the small lse waits for the work on a queueing backend. */
    @Benchmark
    public float[] forward() {
        forward.run();
        device.download(lse, lseHost);
        return lseHost;
    }

    /** Forward, then backward adding into dqkv, as one training step runs them. */
    @Benchmark
    public float[] forwardBackward() {
        forwardBackward.run();
        device.download(lse, lseHost);
        return lseHost;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        forward.close();
        forwardBackward.close();
        device.close();
    }
}
