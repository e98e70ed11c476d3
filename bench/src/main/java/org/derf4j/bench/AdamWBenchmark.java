package org.derf4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.AdamW;
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
 * One AdamW step, with weight decay, on one parameter tensor of {@code params} floats, through the public backend
 * interface: a compiled graph of one op, replayed. At the default 2²⁴ floats the four tensors (parameter, gradient,
 * m and v: 268 MB) stream from memory, as a GPT-2's do. The step reads the four and writes three back, so a copy of
 * the same bytes ({@link #copyParams}, one thread, read and write) is its bandwidth baseline: one step moves 3.5
 * times a copy's bytes. The PyTorch peer is {@code scripts/peers.py adamw}: {@code torch.optim.AdamW.step()}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class AdamWBenchmark {

    @Param("16777216")
    public int params;

    @Param({"cpu"})
    public String backend;

    private Backend device;
    private Executable step;
    private float[] copySource;
    private float[] copyTarget;

    @Setup(Level.Trial)
    public void setUp() {
        device = Backends.open(backend);
        SplittableRandom rng = new SplittableRandom(42);
        Tensor param = upload("param", normal(rng, 0.02));
        Tensor grad = upload("grad", normal(rng, 1e-3));
        Tensor m = upload("m", normal(rng, 1e-4));
        Tensor v = upload("v", new float[params]);
        float[] hyper = new float[AdamW.HYPER_SIZE];
        AdamW.hyper(hyper, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10);
        Tensor hyperTensor = upload("hyper", hyper);
        step = device.compile(Graph.of("adamw", new AdamW(param, grad, m, v, hyperTensor, null, true)));
        copySource = normal(rng, 1);
        copyTarget = new float[params];
    }

    private Tensor upload(String name, float[] values) {
        Tensor t = device.allocate(name, values.length);
        device.upload(t, values);
        return t;
    }

    private float[] normal(SplittableRandom rng, double std) {
        float[] values = new float[params];
        for (int i = 0; i < params; i++) {
            values[i] = (float) (std * rng.nextGaussian());
        }
        return values;
    }

    @Benchmark
    public void step() {
        step.run();
        device.synchronize();
    }

    /** The parameter's bytes, copied by one thread. */
    @Benchmark
    public float[] copyParams() {
        System.arraycopy(copySource, 0, copyTarget, 0, params);
        return copyTarget;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        step.close();
        device.close();
    }
}
