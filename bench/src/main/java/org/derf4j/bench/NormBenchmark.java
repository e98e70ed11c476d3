package org.derf4j.bench;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.PointwiseNorm.Kind;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.kernels.cpu.ThreadTeam;
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
 * The normalizers of one Transformer layer's activations, x[rows, channels], through the public backend
 * interface: each case is a compiled graph replayed per invocation.
 *
 * <ul>
 *   <li>Derf (and DyT) forward+backward against LayerNorm (and RMSNorm) forward+backward: what replacing
 *       the norm costs or saves.</li>
 *   <li>Derf forward against a copy of the same bytes (read x, write out): the bandwidth baseline, once
 *       with one thread ({@code System.arraycopy}) and once split over the backend's thread count in
 *       the backend's chunk size, on a {@link ThreadTeam} like the backend's.</li>
 * </ul>
 * Backward ops add into their gradients, so the gradients grow by about one unit per replay: harmless.
 * The PyTorch peer is {@code scripts/peers.py norms}. To run (after {@code mvn -pl tornado-kernels install} and
 * {@code mvn -pl bench package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt}):
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp "$(cat bench/target/classpath.txt):bench/target/classes" \
 *       org.openjdk.jmh.Main NormBenchmark -p threads=0,1
 * </pre>
 * On a machine shared with other jobs, {@code -bm sample} reports each replay's time, whose low
 * percentiles are less disturbed than the mean.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx4g"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
public class NormBenchmark {

    @Param("8192")
    int rows;

    @Param("768")
    int channels;

    /** Threads of the cpu backend and of the parallel copy; 0: every core, as the {@code cpu} backend runs. */
    @Param("0")
    int threads;

    /** cpu (with {@link #threads}), or another backend by name: opencl, tornadovm. */
    @Param("cpu")
    String backend;

    /** Elements per chunk of the parallel copy: the cpu backend's element-wise chunk. */
    private static final int COPY_CHUNK = 1 << 15;

    private Backend device;
    private Executable derfForward;
    private Executable derfForwardBackward;
    private Executable dytForwardBackward;
    private Executable layerNormForward;
    private Executable layerNormForwardBackward;
    private Executable rmsNormForwardBackward;

    private float[] copySource;
    private float[] copyTarget;
    private ThreadTeam copyTeam;
    private ThreadTeam.Body copyChunk;
    private int copyChunks;

    @Setup(Level.Trial)
    public void setUp() {
        int teamSize = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        device = backend.equals("cpu") ? new CpuBackend(CpuBackend.Variant.FAST, teamSize) : Backends.open(backend);
        SplittableRandom rng = new SplittableRandom(42);
        Tensor x = upload("x", normal(rng, rows * channels, 0, 1), rows, channels);
        Tensor dout = upload("dout", normal(rng, rows * channels, 0, 1), rows, channels);
        Tensor gamma = upload("gamma", normal(rng, channels, 1, 0.1), channels);
        Tensor beta = upload("beta", normal(rng, channels, 0, 0.1), channels);
        Tensor alpha = upload("alpha", new float[] {0.5f}, 1);
        Tensor shift = upload("shift", new float[] {0.1f}, 1);
        Tensor out = device.allocate("out", rows, channels);
        Tensor dx = device.allocate("dx", rows, channels);
        Tensor dgamma = device.allocate("dgamma", channels);
        Tensor dbeta = device.allocate("dbeta", channels);
        Tensor dalpha = device.allocate("dalpha", 1);
        Tensor dshift = device.allocate("dshift", 1);
        Tensor mean = device.allocate("mean", rows);
        Tensor rstd = device.allocate("rstd", rows);

        var derf = new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, shift, gamma, beta);
        var layerNorm = new LayerNorm.Forward(out, mean, rstd, x, gamma, beta);
        // Compiled as one unit: the graphs share their tensors (on TornadoVM, one plan's device buffers).
        List<Executable> graphs = device.compile(List.of(
                Graph.of("derf-forward", derf),
                Graph.of("derf", derf, new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, dgamma, dbeta, dout,
                        x, alpha, shift, gamma)),
                Graph.of("dyt", new PointwiseNorm.Forward(Kind.DYT, out, x, alpha, null, gamma, beta),
                        new PointwiseNorm.Backward(Kind.DYT, dx, dalpha, null, dgamma, dbeta, dout, x, alpha, null,
                                gamma)),
                Graph.of("layernorm-forward", layerNorm),
                Graph.of("layernorm", layerNorm, new LayerNorm.Backward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma)),
                Graph.of("rmsnorm", new RmsNorm.Forward(out, rstd, x, gamma),
                        new RmsNorm.Backward(dx, dgamma, dout, x, rstd, gamma))));
        derfForward = graphs.get(0);
        derfForwardBackward = graphs.get(1);
        dytForwardBackward = graphs.get(2);
        layerNormForward = graphs.get(3);
        layerNormForwardBackward = graphs.get(4);
        rmsNormForwardBackward = graphs.get(5);

        int n = rows * channels;
        copySource = normal(rng, n, 0, 1);
        copyTarget = new float[n];
        copyTeam = new ThreadTeam(teamSize);
        copyChunks = ThreadTeam.chunks(n, COPY_CHUNK);
        copyChunk = c -> {
            int from = c * COPY_CHUNK;
            System.arraycopy(copySource, from, copyTarget, from, Math.min(n, from + COPY_CHUNK) - from);
        };
    }

    private Tensor upload(String name, float[] values, int... shape) {
        Tensor t = device.allocate(name, shape);
        device.upload(t, values);
        return t;
    }

    private static float[] normal(SplittableRandom rng, int n, double mean, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rng.nextGaussian());
        }
        return v;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        copyTeam.close();
        device.close();
    }

    @Benchmark
    public void derfForward() {
        derfForward.run();
        device.synchronize();
    }

    @Benchmark
    public void derfForwardBackward() {
        derfForwardBackward.run();
        device.synchronize();
    }

    @Benchmark
    public void dytForwardBackward() {
        dytForwardBackward.run();
        device.synchronize();
    }

    @Benchmark
    public void layerNormForward() {
        layerNormForward.run();
        device.synchronize();
    }

    @Benchmark
    public void layerNormForwardBackward() {
        layerNormForwardBackward.run();
        device.synchronize();
    }

    @Benchmark
    public void rmsNormForwardBackward() {
        rmsNormForwardBackward.run();
        device.synchronize();
    }

    /** The bytes of one Derf forward (read x, write out), copied by one thread. */
    @Benchmark
    public float[] copySingleThread() {
        System.arraycopy(copySource, 0, copyTarget, 0, copySource.length);
        return copyTarget;
    }

    /** The same copy, in the backend's chunks, over as many threads as the backend. */
    @Benchmark
    public float[] copyParallel() {
        copyTeam.run(copyChunks, copyChunk);
        return copyTarget;
    }
}
