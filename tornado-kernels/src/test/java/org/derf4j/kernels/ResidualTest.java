package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The residual add and its backward, on every backend, against PyTorch; out = a in place too. */
class ResidualTest {

    static final int[][] SHAPES = {{1}, {15}, {17}, {1000}, {3, 65, 37}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).map(s -> Arguments.of(p, s)));
    }

    private record Case(HostTensor a, HostTensor b, HostTensor dout, HostTensor da0, HostTensor db0) {
        static Case random(int[] shape, SplittableRandom rng) {
            return new Case(HostTensor.normal("a", rng, 0, 1, shape), HostTensor.normal("b", rng, 0, 1, shape),
                    HostTensor.normal("out", rng, 0, 1, shape), HostTensor.normal("da", rng, 0, 1, shape),
                    HostTensor.normal("db", rng, 0, 1, shape));
        }

        TorchReference.Result torch() {
            return TorchReference.call("residual").input(a, b).dout(dout).wrt("a", "b").run();
        }
    }

    // One rounding of a sum, or of an added gradient: half an ulp of the result.
    private static final Approx ONE_ROUNDING = Approx.of(0, Approx.U32);

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int[] shape) {
        Case c = Case.random(shape, Seeds.random("residual" + Arrays.toString(shape)));
        TorchReference.Result ref = c.torch();
        TestBackends.with(provider, backend -> {
            try (Tensor ta = c.a().upload(backend); Tensor tb = c.b().upload(backend);
                 Tensor tout = backend.allocate("out", shape); Tensor tdout = c.dout().upload(backend);
                 Tensor tda = c.da0().upload(backend); Tensor tdb = c.db0().upload(backend)) {
                backend.run(new Residual.Forward(tout, ta, tb), new Residual.Backward(tda, tdb, tdout));
                ONE_ROUNDING.assertClose("residual out", download(backend, tout), ref.get("out"));
                // da0 + dout (|·| < 10) is rounded once, so what it added is off by up to half an ulp of
                // the sum, plus the rounding of the difference the check takes.
                Approx added = Approx.of(10 * Approx.U32, Approx.U32);
                added.assertAdded("residual da", download(backend, tda), c.da0().floats(), ref.grad("a"));
                added.assertAdded("residual db", download(backend, tdb), c.db0().floats(), ref.grad("b"));
            }
        });
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void inPlaceMatchesPyTorch(BackendProvider provider, int[] shape) {
        Case c = Case.random(shape, Seeds.random("residual-in-place" + Arrays.toString(shape)));
        TorchReference.Result ref = c.torch();
        TestBackends.with(provider, backend -> {
            try (Tensor ta = c.a().upload(backend); Tensor tb = c.b().upload(backend)) {
                backend.run(new Residual.Forward(ta, ta, tb));
                ONE_ROUNDING.assertClose("residual a += b", download(backend, ta), ref.get("out"));
                assertArrayEquals(c.b().floats(), download(backend, tb), "residual b untouched");
            }
        });
    }
}
