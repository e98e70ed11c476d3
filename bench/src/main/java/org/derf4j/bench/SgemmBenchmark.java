package org.derf4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.cpu.CpuBackend;
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
 * A Linear layer's forward GEMM, {@code out[n,n] = x[n,n]·w[n,n]ᵀ} with no bias, through the public backend
 * interface: the graph is compiled once and the benchmark replays it.
 *
 * <p>Time per op is reported in ms; the op is 2·n³ floating-point operations, so
 * {@code GFLOP/s = 2·n³ / (ms/op · 1e6)}: 2147 / (ms/op) at n = 1024, 17180 / (ms/op) at n = 2048. The peer
 * figures for the same shapes come from {@code scripts/peers.py sgemm} (numpy with OpenBLAS, and PyTorch);
 * compare the two only when measured in the same session, ideally on a quiet machine.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp "$(cat bench/target/classpath.txt):bench/target/classes" \
 *     org.openjdk.jmh.Main SgemmBenchmark -f 1 -wi 3 -i 5              # every core
 * ... SgemmBenchmark -p threads=1                                      # one core, vs peers.py sgemm --threads 1
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class SgemmBenchmark {

    /** M = N = K. */
    @Param({"1024", "2048"})
    int n;

    /** Threads of the cpu backend; 0 for every core. */
    @Param({"0"})
    int threads;

    /** cpu (with {@link #threads}), or another backend by name: opencl, tornadovm. */
    @Param({"cpu"})
    String backend;

    private Backend device;
    private Tensor x;
    private Tensor w;
    private Tensor out;
    private Executable forward;

    @Setup(Level.Trial)
    public void setUp() {
        device = !backend.equals("cpu") || threads == 0 ? Backends.open(backend)
                : new CpuBackend(CpuBackend.Variant.FAST, threads);
        SplittableRandom rng = new SplittableRandom(42);
        x = device.allocate("x", n, n);
        w = device.allocate("w", n, n);
        out = device.allocate("out", n, n);
        device.upload(x, uniform(rng, n * n));
        device.upload(w, uniform(rng, n * n));
        forward = device.compile(Graph.of("linear", new Matmul.Forward(out, x, w, null)));
    }

    private static float[] uniform(SplittableRandom rng, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (float) rng.nextDouble(-1, 1);
        }
        return v;
    }

    /**
     * A replay, and the wait for it: a no-op on the cpu backend, which runs a graph synchronously, and on TornadoVM,
     * which waits for the device after each task graph; opencl's replay only enqueues.
     */
    @Benchmark
    public Tensor forward() {
        forward.run();
        device.synchronize();
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        forward.close();
        device.close();
    }
}
