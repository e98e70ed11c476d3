package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** RMSNorm, forward and backward, on every backend, against PyTorch and finite differences. */
class RmsNormTest {

    /** Odd shapes on purpose: C=37, T=1, T=65, a batch of 3, C=1, and rows that fill no vector evenly. */
    static final int[][] SHAPES = {{3, 65, 37}, {2, 1, 64}, {5, 300}, {7, 1}, {4, 9, 768}};
    static final float EPS = 1e-5f;

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).map(s -> Arguments.of(p, s)));
    }

    /** The inputs of one case; grads start random so that the test also checks that backward adds. */
    private record Case(HostTensor x, HostTensor gamma, HostTensor dout, HostTensor dx0, HostTensor dgamma0) {
        static Case random(int[] shape, SplittableRandom rng) {
            int c = shape[shape.length - 1];
            return new Case(
                    HostTensor.normal("x", rng, 0.7, 1.5, shape),
                    HostTensor.normal("gamma", rng, 1, 0.3, c),
                    HostTensor.normal("out", rng, 0, 1, shape),
                    HostTensor.normal("dx", rng, 0, 1, shape),
                    HostTensor.normal("dgamma", rng, 0, 1, c));
        }

        int rows() {
            return x.size() / channels();
        }

        int channels() {
            return x.shape()[x.shape().length - 1];
        }

        TorchReference.Call torch() {
            return TorchReference.call("rmsnorm").param("eps", EPS).input(x, gamma).dout(dout).wrt("x", "gamma");
        }

        /** Runs forward and backward on the backend; returns {out, rstd, dx, dgamma}. */
        float[][] run(Backend backend) {
            try (Tensor tx = x.upload(backend); Tensor tg = gamma.upload(backend);
                 Tensor tout = backend.allocate("out", x.shape()); Tensor trstd = backend.allocate("rstd", rows());
                 Tensor tdout = dout.upload(backend); Tensor tdx = dx0.upload(backend);
                 Tensor tdg = dgamma0.upload(backend)) {
                backend.run(new RmsNorm.Forward(tout, trstd, tx, tg, EPS),
                        new RmsNorm.Backward(tdx, tdg, tdout, tx, trstd, tg));
                return new float[][] {download(backend, tout), download(backend, trstd), download(backend, tdx),
                        download(backend, tdg)};
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int[] shape) {
        Case c = Case.random(shape, Seeds.random("rmsnorm" + Arrays.toString(shape)));
        TorchReference.Result ref = c.torch().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // A row sum of C terms is off by about √C·u of Σ|terms| (Approx.sums without the √C·k·m scale):
            // rstd by that relative; out (|γ·norm| ≲ 8) and dx (|dnorm·norm| ≲ 8, times rstd) carry it
            // through a few products of a few roundings each.
            double rowSum = 4 * Approx.U32 * Math.sqrt(c.channels());
            double few = 8 * Approx.U32;
            Approx.of(0, rowSum + few).assertClose("rstd", got[1], ref.get("rstd"));
            Approx.of(rowSum * 8, few).assertClose("out", got[0], ref.get("out"));
            Approx.of(rowSum * 8 * Approx.maxAbs(ref.get("rstd")), few).assertAdded("dx", got[2], c.dx0().floats(),
                    ref.grad("x"));
            // dγ sums one term per row: |dout·norm| ≲ 4·5.
            Approx.sums(c.rows(), 20).assertAdded("dgamma", got[3], c.dgamma0().floats(), ref.grad("gamma"));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.derf4j.kernels.TestBackends#available")
    void backwardMatchesFiniteDifferences(BackendProvider provider) {
        Case c = Case.random(new int[] {2, 3, 5}, Seeds.random("rmsnorm-fd"));
        TorchReference.Result ref = c.torch().finiteDifferences().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // Central differences in float64 are exact to ~1e-9 here; what remains is our float32 rounding.
            Approx tol = Approx.of(2e-5, 1e-4);
            tol.assertAdded("dx vs finite differences", got[2], c.dx0().floats(), ref.finiteDifference("x"));
            tol.assertAdded("dgamma vs finite differences", got[3], c.dgamma0().floats(),
                    ref.finiteDifference("gamma"));
        });
    }
}
