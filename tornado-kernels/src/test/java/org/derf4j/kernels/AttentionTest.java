package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.derf4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Causal self-attention, forward and backward, on every backend, against PyTorch and finite differences. */
class AttentionTest {

    /** Standard deviation of q, k and v: scores q·k/√HS then have standard deviation σ², a peaky softmax. */
    static final double SIGMA = 1.5;

    static final int[] BATCHES = {1, 3};
    /** One key, two, part of a 64-query tile, a tile and one, two whole tiles, and three and a part. */
    static final int[] LENGTHS = {1, 2, 17, 65, 128, 200};
    /**
     * {C, NH}: head sizes 4, 7, 16 and 37 (part of one 4-vector micro-kernel block), 80 (one and a part),
     * 64 in a single head, and four heads of 64.
     */
    static final int[][] WIDTHS = {{12, 3}, {35, 5}, {48, 3}, {74, 2}, {160, 2}, {64, 1}, {256, 4}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> IntStream.of(BATCHES).boxed().flatMap(b ->
                IntStream.of(LENGTHS).boxed().flatMap(t -> Stream.of(WIDTHS).map(w ->
                        Arguments.of(p, new Shape(b, t, w[0], w[1]))))));
    }

    static Stream<Arguments> backends() {
        return TestBackends.available().map(Arguments::of);
    }

    record Shape(int b, int t, int c, int heads) {
        @Override
        public String toString() {
            return "B=" + b + " T=" + t + " C=" + c + " NH=" + heads;
        }
    }

    /** The inputs of one case; dqkv starts random so that the test also checks that backward adds. */
    private record Case(Shape shape, HostTensor qkv, HostTensor dout, HostTensor dqkv0) {
        static Case random(Shape s, SplittableRandom rng) {
            return new Case(s,
                    HostTensor.normal("qkv", rng, 0, SIGMA, s.b(), s.t(), 3 * s.c()),
                    HostTensor.normal("out", rng, 0, 1, s.b(), s.t(), s.c()),
                    HostTensor.normal("dqkv", rng, 0, 1, s.b(), s.t(), 3 * s.c()));
        }

        /** L = ⟨dout, out⟩ only: lse is saved for the backward, not a differentiable output. */
        TorchReference.Call torch() {
            return TorchReference.call("attention").param("heads", shape.heads()).input(qkv).dout(dout).wrt("qkv");
        }

        /** Runs forward and backward on the backend; returns {out, lse, dqkv}. */
        float[][] run(Backend backend) {
            Shape s = shape;
            try (Tensor tqkv = qkv.upload(backend);
                 Tensor tout = backend.allocate("out", s.b(), s.t(), s.c());
                 Tensor tlse = backend.allocate("lse", s.b(), s.heads(), s.t());
                 Tensor tdout = dout.upload(backend);
                 Tensor tdqkv = dqkv0.upload(backend)) {
                backend.run(new Attention.Forward(tout, tlse, tqkv, s.heads()),
                        new Attention.Backward(tdqkv, tdout, tqkv, tout, tlse, s.heads()));
                return new float[][] {download(backend, tout), download(backend, tlse), download(backend, tdqkv)};
            }
        }
    }

    /**
     * float32 error, against the scale of the values compared. A score q·k/√HS sums HS products of size about
     * σ², so it carries about u·σ²·√HS of rounding, and exp passes that on as the same relative error of
     * every probability; out, lse and each gradient then sum up to T such terms, adding about u·√T
     * (Approx explains the √). We allow four times the sum of the two, times the largest |value|: a gradient
     * summed from terms of both signs can be far smaller than its terms. The scale is at least 1 because
     * the score's own error is absolute: lse = s when T = 1, however small s is.
     */
    static Approx tolerance(Shape s, double[] expected) {
        double relative = 4 * Approx.U32 * (SIGMA * SIGMA * Math.sqrt(s.c() / s.heads()) + Math.sqrt(s.t()));
        return Approx.of(relative * Math.max(1, Approx.maxAbs(expected)), 0);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, Shape shape) {
        Case c = Case.random(shape, Seeds.random("attention" + shape));
        TorchReference.Result ref = c.torch().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            tolerance(shape, ref.get("out")).assertClose(shape + " out", got[0], ref.get("out"));
            tolerance(shape, ref.get("lse")).assertClose(shape + " lse", got[1], ref.get("lse"));
            tolerance(shape, ref.grad("qkv")).assertAdded(shape + " dqkv", got[2], c.dqkv0().floats(),
                    ref.grad("qkv"));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void backwardMatchesFiniteDifferences(BackendProvider provider) {
        Shape shape = new Shape(2, 5, 6, 2);
        Case c = Case.random(shape, Seeds.random("attention-fd"));
        TorchReference.Result ref = c.torch().finiteDifferences().run();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // Central differences in float64 are exact to ~1e-9 here; what remains is our float32 rounding.
            double[] fd = ref.finiteDifference("qkv");
            tolerance(shape, fd).assertAdded(shape + " dqkv vs finite differences", got[2], c.dqkv0().floats(), fd);
        });
    }

    /**
     * The fast cpu kernels split work by thread count: here the forward takes query tiles three at a time
     * (the last group short) on one thread, and one at a time on three. The bits must not change.
     */
    @Test
    void cpuIsDeterministicAcrossThreadCounts() {
        Shape shape = new Shape(1, 200, 48, 3);
        Case c = Case.random(shape, Seeds.random("attention-threads"));
        float[][] one;
        float[][] three;
        try (Backend backend = new CpuBackend(CpuBackend.Variant.FAST, 1)) {
            one = c.run(backend);
        }
        try (Backend backend = new CpuBackend(CpuBackend.Variant.FAST, 3)) {
            three = c.run(backend);
        }
        for (int k = 0; k < one.length; k++) {
            assertArrayEquals(one[k], three[k], "output " + k + " differs between 1 and 3 threads");
        }
    }
}
