package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The Linear layer, forward and backward, on every backend, against PyTorch's {@code F.linear}. */
class MatmulTest {

    /**
     * {x's shape, OC}: IC=37 and OC=50 fill no vector or micro-tile; a single row of 8; 129 rows of 257 with
     * OC=97, big enough to run on the whole team; a batch of 4×64 rows; OC=1.
     */
    static final int[][][] SHAPES = {
            {{3, 65, 37}, {50}}, {{1, 1, 8}, {5}}, {{129, 257}, {97}}, {{4, 64, 96}, {130}}, {{7, 33}, {1}}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).flatMap(s ->
                Stream.of(true, false).map(bias -> Arguments.of(p, s[0], s[1][0], bias))));
    }

    /** The inputs of one case; grads start random so that the test also checks that backward adds. */
    private record Case(HostTensor x, HostTensor w, HostTensor bias, HostTensor dout, HostTensor dx0,
                        HostTensor dw0, HostTensor dbias0) {
        static Case random(int[] xShape, int oc, boolean withBias, SplittableRandom rng) {
            int ic = xShape[xShape.length - 1];
            int[] outShape = xShape.clone();
            outShape[outShape.length - 1] = oc;
            return new Case(
                    HostTensor.normal("x", rng, 0, 1, xShape),
                    HostTensor.normal("w", rng, 0, 1 / Math.sqrt(ic), oc, ic),
                    withBias ? HostTensor.normal("bias", rng, 0, 0.5, oc) : null,
                    HostTensor.normal("out", rng, 0, 1, outShape),
                    HostTensor.normal("dx", rng, 0, 1, xShape),
                    HostTensor.normal("dw", rng, 0, 1, oc, ic),
                    HostTensor.normal("dbias", rng, 0, 1, oc));
        }

        TorchReference.Call torch() {
            TorchReference.Call call = TorchReference.call("linear").dout(dout);
            return bias == null ? call.input(x, w).wrt("x", "w") : call.input(x, w, bias).wrt("x", "w", "bias");
        }

        /** Runs forward and backward on the backend; returns {out, dx, dw, dbias}, dbias null without bias. */
        float[][] run(Backend backend) {
            try (Tensor tx = x.upload(backend); Tensor tw = w.upload(backend);
                 Tensor tb = bias == null ? null : bias.upload(backend);
                 Tensor tout = backend.allocate("out", dout.shape()); Tensor tdout = dout.upload(backend);
                 Tensor tdx = dx0.upload(backend); Tensor tdw = dw0.upload(backend);
                 Tensor tdb = bias == null ? null : dbias0.upload(backend)) {
                backend.run(new Matmul.Forward(tout, tx, tw, tb), new Matmul.Backward(tdx, tdw, tdb, tdout, tx, tw));
                return new float[][] {download(backend, tout), download(backend, tdx), download(backend, tdw),
                        tdb == null ? null : download(backend, tdb)};
            }
        }
    }

    @ParameterizedTest(name = "{0} x{1}·w[{2}]ᵀ bias={3}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int[] xShape, int oc, boolean withBias) {
        Case c = Case.random(xShape, oc, withBias,
                Seeds.random("matmul" + Arrays.toString(xShape) + oc + withBias));
        TorchReference.Result ref = c.torch().run();
        int ic = xShape[xShape.length - 1];
        int rows = c.x().size() / ic;
        double x = maxAbs(c.x().floats());
        double w = maxAbs(c.w().floats());
        double dout = maxAbs(c.dout().floats());
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // Each value is a float32 sum of K products, each below the product of its factors' largest
            // magnitudes; Approx.sums bounds the rounding. The bias and the old gradient add one rounding each.
            Approx.sums(ic, x * w).assertClose("out", got[0], ref.get("out"));
            Approx.sums(oc, dout * w).assertAdded("dx", got[1], c.dx0().floats(), ref.grad("x"));
            Approx.sums(rows, dout * x).assertAdded("dw", got[2], c.dw0().floats(), ref.grad("w"));
            if (withBias) {
                Approx.sums(rows, dout).assertAdded("dbias", got[3], c.dbias0().floats(), ref.grad("bias"));
            }
        });
    }

    private static double maxAbs(float[] values) {
        double m = 0;
        for (float v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
