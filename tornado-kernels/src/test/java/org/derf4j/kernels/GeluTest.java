package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** GELU (tanh form), forward and backward, on every backend, against PyTorch and finite differences. */
class GeluTest {

    /** One element, sizes just under and over a 16-lane vector, a size that fills no vector, and a [3,65,37] batch. */
    static final int[][] SHAPES = {{1}, {15}, {17}, {1000}, {3, 65, 37}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).map(s -> Arguments.of(p, s)));
    }

    static Stream<Arguments> backends() {
        return TestBackends.available().map(Arguments::of);
    }

    /** x spans the curved part of GELU and both tails; dx starts random so the test checks that backward adds. */
    private record Case(HostTensor x, HostTensor dout, HostTensor dx0) {
        static Case random(int[] shape, SplittableRandom rng) {
            return new Case(HostTensor.normal("x", rng, 0, 2.5, shape), HostTensor.normal("out", rng, 0, 1, shape),
                    HostTensor.normal("dx", rng, 0, 1, shape));
        }

        TorchReference.Call torch() {
            return TorchReference.call("gelu").input(x).dout(dout).wrt("x");
        }

        /** Runs forward and backward; returns {out, dx}. */
        float[][] run(Backend backend) {
            try (Tensor tx = x.upload(backend); Tensor tout = backend.allocate("out", x.shape());
                 Tensor tdout = dout.upload(backend); Tensor tdx = dx0.upload(backend)) {
                backend.run(new Gelu.Forward(tout, tx), new Gelu.Backward(tdx, tdout, tx));
                return new float[][] {download(backend, tout), download(backend, tdx)};
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int[] shape) {
        Case c = Case.random(shape, Seeds.random("gelu" + Arrays.toString(shape)));
        TorchReference.Result ref = c.torch().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // A handful of float32 roundings around a tanh accurate to an ulp or two: 1e-6 relative. In
            // the negative tail 1 + tanh(u) cancels, leaving tanh's absolute error (≲ 2u) times |x|/2 ≤ 5
            // for |x| ≲ 10 (x is N(0, 2.5²)): 6e-7 absolute.
            Approx.of(1e-6, 1e-6).assertClose("gelu out", got[0], ref.get("out"));
            // gelu' ≤ 1.13 and |dout| ≲ 5, so the added term is ≲ 6 in magnitude.
            Approx.of(5e-6, 1e-5).assertAdded("gelu dx", got[1], c.dx0().floats(), ref.grad("x"));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void backwardMatchesFiniteDifferences(BackendProvider provider) {
        Case c = Case.random(new int[] {2, 7}, Seeds.random("gelu-fd"));
        TorchReference.Result ref = c.torch().finiteDifferences().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // float64 central differences are exact to ~1e-9 here, so what remains is our float32 rounding,
            // bounded as against autograd.
            Approx.of(5e-6, 1e-5).assertAdded("gelu dx vs finite differences", got[1], c.dx0().floats(),
                    ref.finiteDifference("x"));
        });
    }
}
