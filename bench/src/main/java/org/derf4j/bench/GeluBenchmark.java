package org.derf4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Gelu;
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
 * GELU on an MLP's hidden activations, x[rows, 4·768], through the public backend interface: forward, and
 * forward + backward (adding into dx), each a compiled graph. 64 rows fit in L2, so the kernel's arithmetic
 * shows; 2048 rows stream from memory. Against a copy of the same bytes (read x, write out). The PyTorch peer
 * is {@code scripts/peers.py gelu}: {@code F.gelu(x, approximate="tanh")} forward and backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GeluBenchmark {

    @Param({"64", "2048"})
    public int rows;

    @Param("3072")
    public int channels;

    @Param({"cpu"})
    public String backend;

    private Backend device;
    private Executable forward;
    private Executable forwardBackward;
    private float[] copySource;
    private float[] copyTarget;

    @Setup(Level.Trial)
    public void setUp() {
        device = Backends.open(backend);
        SplittableRandom rng = new SplittableRandom(42);
        copySource = normal(rng, rows * channels);
        copyTarget = new float[copySource.length];
        Tensor x = device.allocate("x", rows, channels);
        device.upload(x, copySource);
        Tensor dout = device.allocate("dout", rows, channels);
        device.upload(dout, normal(rng, rows * channels));
        Tensor out = device.allocate("out", rows, channels);
        Tensor dx = device.allocate("dx", rows, channels);
        Gelu.Forward fwd = new Gelu.Forward(out, x);
        forward = device.compile(Graph.of("gelu-forward", fwd));
        forwardBackward = device.compile(Graph.of("gelu-forward-backward", fwd, new Gelu.Backward(dx, dout, x)));
    }

    private static float[] normal(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    @Benchmark
    public void forward() {
        forward.run();
        device.synchronize();
    }

    @Benchmark
    public void forwardBackward() {
        forwardBackward.run();
        device.synchronize();
    }

    /** The bytes of one forward (read x, write out), copied by one thread. */
    @Benchmark
    public float[] copy() {
        System.arraycopy(copySource, 0, copyTarget, 0, copySource.length);
        return copyTarget;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        forward.close();
        forwardBackward.close();
        device.close();
    }
}
