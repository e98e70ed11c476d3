package org.derf4j.bench;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClBackend;
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
 * The SGEMM peer of {@link SgemmBenchmark} on the opencl backend: CLBlast's {@code CLBlastSgemm} on the same
 * OpenCL device, the same queue and the same buffers ({@link OpenClBackend#handles()}), for the same
 * {@code out[n,n] = x[n,n]·w[n,n]ᵀ}. CLBlast ships tuned parameters for many GPUs and defaults for other devices;
 * its first call builds its kernels, which the warm-up absorbs. Needs {@code libclblast.so.1}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ClBlastSgemmBenchmark {

    /** M = N = K. */
    @Param({"1024", "2048"})
    int n;

    private OpenClBackend device;
    private Arena arena;
    private MemorySegment queueCell;
    private MemorySegment x;
    private MemorySegment w;
    private MemorySegment out;
    private Tensor[] tensors;

    @Setup(Level.Trial)
    public void setUp() {
        if (ClBlast.UNAVAILABLE != null) {
            throw new IllegalStateException(ClBlast.UNAVAILABLE);
        }
        device = (OpenClBackend) Backends.open("opencl");
        SplittableRandom rng = new SplittableRandom(42);
        tensors = new Tensor[] {device.allocate("x", n, n), device.allocate("w", n, n), device.allocate("out", n, n)};
        device.upload(tensors[0], uniform(rng, n * n));
        device.upload(tensors[1], uniform(rng, n * n));
        x = device.buffer(tensors[0]);
        w = device.buffer(tensors[1]);
        out = device.buffer(tensors[2]);
        arena = Arena.ofShared();
        queueCell = arena.allocateFrom(ADDRESS, device.handles().queue());
        device.synchronize();
    }

    private static float[] uniform(SplittableRandom rng, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (float) rng.nextDouble(-1, 1);
        }
        return v;
    }

    /** CLBlast enqueues on the backend's queue; the wait is the same as SgemmBenchmark's on opencl. */
    @Benchmark
    public MemorySegment forward() {
        ClBlast.sgemmNT(queueCell, n, n, n, x, w, out);
        device.synchronize();
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        device.close();
        arena.close();
    }
}
