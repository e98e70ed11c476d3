package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.derf4j.kernels.PointwiseNorm.Kind;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Derf and DyT, forward and backward, on every backend, against PyTorch and finite differences. */
class PointwiseNormTest {

    /** Odd shapes on purpose: C=37, T=1, T=65, a batch of 3, and rows that fill no vector or chunk evenly. */
    static final int[][] SHAPES = {{3, 65, 37}, {2, 1, 64}, {5, 300}, {1, 1}, {4, 9, 768}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(Kind.values()).flatMap(k ->
                Arrays.stream(SHAPES).map(s -> Arguments.of(p, k, s))));
    }

    static Stream<Arguments> smallCases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(Kind.values()).map(k -> Arguments.of(p, k)));
    }

    /** The inputs of one case; grads start random so that the test also checks that backward adds. */
    private record Case(Kind kind, HostTensor x, HostTensor alpha, HostTensor shift, HostTensor gamma,
                        HostTensor beta, HostTensor dout, HostTensor dx0, HostTensor dgamma0, HostTensor dbeta0,
                        HostTensor dalpha0, HostTensor dshift0) {
        static Case random(Kind kind, int[] shape, SplittableRandom rng) {
            int c = shape[shape.length - 1];
            return new Case(kind,
                    HostTensor.normal("x", rng, 0, 1.5, shape),
                    HostTensor.uniform("alpha", rng, 0.3, 1.2, 1),
                    HostTensor.uniform("shift", rng, -0.5, 0.5, 1),
                    HostTensor.normal("gamma", rng, 1, 0.3, c),
                    HostTensor.normal("beta", rng, 0, 0.3, c),
                    HostTensor.normal("out", rng, 0, 1, shape),
                    HostTensor.normal("dx", rng, 0, 1, shape),
                    HostTensor.normal("dgamma", rng, 0, 1, c),
                    HostTensor.normal("dbeta", rng, 0, 1, c),
                    HostTensor.normal("dalpha", rng, 0, 1, 1),
                    HostTensor.normal("dshift", rng, 0, 1, 1));
        }

        TorchReference.Call torch() {
            TorchReference.Call call = TorchReference.call(kind.id()).dout(dout);
            if (kind.hasShift()) {
                return call.input(x, alpha, shift, gamma, beta).wrt("x", "alpha", "shift", "gamma", "beta");
            }
            return call.input(x, alpha, gamma, beta).wrt("x", "alpha", "gamma", "beta");
        }

        /** Runs forward and backward on the backend; returns {out, dx, dgamma, dbeta, dalpha, dshift}. */
        float[][] run(Backend backend) {
            try (Tensor tx = x.upload(backend); Tensor ta = alpha.upload(backend);
                 Tensor ts = kind.hasShift() ? shift.upload(backend) : null;
                 Tensor tg = gamma.upload(backend); Tensor tb = beta.upload(backend);
                 Tensor tout = backend.allocate("out", x.shape()); Tensor tdout = dout.upload(backend);
                 Tensor tdx = dx0.upload(backend); Tensor tdg = dgamma0.upload(backend);
                 Tensor tdb = dbeta0.upload(backend); Tensor tda = dalpha0.upload(backend);
                 Tensor tds = kind.hasShift() ? dshift0.upload(backend) : null) {
                backend.run(new PointwiseNorm.Forward(kind, tout, tx, ta, ts, tg, tb),
                        new PointwiseNorm.Backward(kind, tdx, tda, tds, tdg, tdb, tdout, tx, ta, ts, tg));
                return new float[][] {download(backend, tout), download(backend, tdx), download(backend, tdg),
                        download(backend, tdb), download(backend, tda),
                        tds == null ? null : download(backend, tds)};
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, Kind kind, int[] shape) {
        Case c = Case.random(kind, shape, Seeds.random("pointwise" + kind + Arrays.toString(shape)));
        TorchReference.Result ref = c.torch().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            int channels = shape[shape.length - 1];
            int rows = c.x().size() / channels;
            // erf and tanh are within 1e-6 of exact; γ ≈ 1 ± 0.3 and the products add a few roundings.
            Approx pointwise = Approx.of(4e-6, 1e-5);
            pointwise.assertClose(kind + " out", got[0], ref.get("out"));
            pointwise.assertAdded(kind + " dx", got[1], c.dx0().floats(), ref.grad("x"));
            // dγ and dβ sum one term per row, each below |dout|·1 ≲ 5; dα and ds sum every element.
            Approx.sums(rows, 5).assertAdded(kind + " dgamma", got[2], c.dgamma0().floats(), ref.grad("gamma"));
            Approx.sums(rows, 5).assertAdded(kind + " dbeta", got[3], c.dbeta0().floats(), ref.grad("beta"));
            Approx.sums(c.x().size(), 10).assertAdded(kind + " dalpha", got[4], c.dalpha0().floats(),
                    ref.grad("alpha"));
            if (kind.hasShift()) {
                Approx.sums(c.x().size(), 5).assertAdded(kind + " dshift", got[5], c.dshift0().floats(),
                        ref.grad("shift"));
            }
        });
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("smallCases")
    void backwardMatchesFiniteDifferences(BackendProvider provider, Kind kind) {
        int[] shape = {2, 3, 5};
        Case c = Case.random(kind, shape, Seeds.random("pointwise-fd" + kind));
        TorchReference.Result ref = c.torch().finiteDifferences().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // Central differences in float64 are exact to ~1e-9 here; what remains is our float32 rounding.
            Approx tol = Approx.of(2e-5, 1e-4);
            tol.assertAdded(kind + " dx vs finite differences", got[1], c.dx0().floats(), ref.finiteDifference("x"));
            tol.assertAdded(kind + " dgamma vs finite differences", got[2], c.dgamma0().floats(),
                    ref.finiteDifference("gamma"));
            tol.assertAdded(kind + " dbeta vs finite differences", got[3], c.dbeta0().floats(),
                    ref.finiteDifference("beta"));
            tol.assertAdded(kind + " dalpha vs finite differences", got[4], c.dalpha0().floats(),
                    ref.finiteDifference("alpha"));
            if (kind.hasShift()) {
                tol.assertAdded(kind + " dshift vs finite differences", got[5], c.dshift0().floats(),
                        ref.finiteDifference("shift"));
            }
        });
    }
}
