package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.HostTensor;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The fast norm kernels give the same bits on every replay (before and after the JIT compiles them) and
 * for any thread count: the row sums use a fixed lane order and the reductions over rows fixed chunks.
 */
class NormDeterminismTest {

    private static final int ROWS = 97;
    private static final int C = 300;
    private static final int REPLAYS = 150;

    /** The tensors of one forward+backward, and the graph that zeroes the grads, then runs both. */
    private record Step(List<Tensor> results, Graph graph) {
    }

    static final List<Norm> NORMS = Norm.values();

    private static Step step(Norm norm, Backend b, SplittableRandom rng) {
        Function<String, Tensor> activation = name -> HostTensor.normal(name, rng, 0.3, 1.5, ROWS, C).upload(b);
        Function<String, Tensor> channel = name -> HostTensor.normal(name, rng, 1, 0.3, C).upload(b);
        Tensor x = activation.apply("x");
        Tensor dout = activation.apply("dout");
        Tensor gamma = channel.apply("gamma");
        Tensor beta = channel.apply("beta");
        Tensor alpha = HostTensor.of("alpha", new float[] {0.7f}, 1).upload(b);
        Tensor shift = HostTensor.of("shift", new float[] {0.2f}, 1).upload(b);
        Tensor out = b.allocate("out", ROWS, C);
        Tensor dx = b.allocate("dx", ROWS, C);
        Tensor dgamma = b.allocate("dgamma", C);
        Tensor dbeta = b.allocate("dbeta", C);
        Tensor dalpha = b.allocate("dalpha", 1);
        Tensor dshift = b.allocate("dshift", 1);
        Tensor mean = b.allocate("mean", ROWS);
        Tensor rstd = b.allocate("rstd", ROWS);
        List<Op> ops = new ArrayList<>();
        List<Tensor> results = new ArrayList<>(List.of(out, dx, dgamma));
        switch (norm) {
            case PointwiseNorm.Kind kind -> {
                Tensor s = kind.hasShift() ? shift : null;
                Tensor ds = kind.hasShift() ? dshift : null;
                ops.add(new PointwiseNorm.Forward(kind, out, x, alpha, s, gamma, beta));
                ops.add(new PointwiseNorm.Backward(kind, dx, dalpha, ds, dgamma, dbeta, dout, x, alpha, s, gamma));
                results.addAll(List.of(dbeta, dalpha, dshift));
            }
            case Norm.Statistical.LAYERNORM -> {
                ops.add(new LayerNorm.Forward(out, mean, rstd, x, gamma, beta));
                ops.add(new LayerNorm.Backward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma));
                results.addAll(List.of(dbeta, mean, rstd));
            }
            case Norm.Statistical.RMSNORM -> {
                ops.add(new RmsNorm.Forward(out, rstd, x, gamma));
                ops.add(new RmsNorm.Backward(dx, dgamma, dout, x, rstd, gamma));
                results.add(rstd);
            }
        }
        Graph.Builder g = Graph.builder(norm.id()).add(Zero.of(dx, dgamma, dbeta, dalpha, dshift));
        ops.forEach(g::add);
        return new Step(results, g.build());
    }

    private static float[][] download(Backend b, List<Tensor> tensors) {
        return tensors.stream().map(t -> HostTensor.download(b, t)).toArray(float[][]::new);
    }

    @ParameterizedTest
    @FieldSource("NORMS")
    void sameBitsOnEveryReplayAndThreadCount(Norm norm) {
        long seed = Seeds.random("determinism-" + norm.id()).nextLong();
        float[][] first = null;
        for (int threads : new int[] {1, 3}) {
            try (Backend b = new CpuBackend(CpuBackend.Variant.FAST, threads)) {
                Step s = step(norm, b, new SplittableRandom(seed));
                try (Executable e = b.compile(s.graph())) {
                    for (int replay = 0; replay < REPLAYS; replay++) {
                        e.run();
                        float[][] got = download(b, s.results());
                        if (first == null) {
                            first = got;
                        }
                        for (int k = 0; k < got.length; k++) {
                            assertArrayEquals(first[k], got[k], norm + " " + s.results().get(k).name() + ", "
                                    + threads + " threads, replay " + replay + " (seed " + Seeds.current() + ")");
                        }
                    }
                }
            }
        }
    }
}
