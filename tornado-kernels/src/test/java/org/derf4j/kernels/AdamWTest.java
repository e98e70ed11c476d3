package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** AdamW over several steps, with and without decay and clipping, on every backend, against torch.optim.AdamW. */
class AdamWTest {

    /** One element, one vector and a bit, a [3,65,37] block, and 40001 elements: two chunks on the fast backend. */
    static final int[][] SHAPES = {{1}, {17}, {3, 65, 37}, {40001}};
    static final int STEPS = 4;
    static final float BETA1 = 0.9f;
    static final float BETA2 = 0.95f;
    static final float EPS = 1e-8f;
    static final float WEIGHT_DECAY = 0.1f;

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).flatMap(s ->
                Stream.of(true, false).flatMap(decay ->
                        Stream.of(true, false).map(clipped -> Arguments.of(p, s, decay, clipped)))));
    }

    /**
     * Steps 1 to {@link #STEPS} from m = v = 0, each on fresh gradients, with the learning rate changing as a
     * schedule would. PyTorch runs the same chain on its own state, which it gets back rounded to float32
     * each step; with a clip tensor, GradClip computes the factor on the backend and PyTorch is handed the
     * same factor, so this test checks AdamW alone (GradClipTest checks the factor).
     */
    @ParameterizedTest(name = "{0} {1} decay={2} clipped={3}")
    @MethodSource("cases")
    void stepsMatchPyTorch(BackendProvider provider, int[] shape, boolean decay, boolean clipped) {
        SplittableRandom rng = Seeds.random("adamw" + Arrays.toString(shape) + decay + clipped);
        HostTensor param = HostTensor.normal("param", rng, 0, 1, shape);
        HostTensor zeros = HostTensor.of("m", new float[param.size()], shape);
        TestBackends.with(provider, backend -> {
            try (Tensor p = param.upload(backend); Tensor g = backend.allocate("grad", shape);
                 Tensor m = backend.allocate("m", shape); Tensor v = backend.allocate("v", shape);
                 Tensor hyper = backend.allocate("hyper", AdamW.HYPER_SIZE);
                 Tensor stats = backend.allocate("stats", 2)) {
                Graph.Builder step = Graph.builder("step").input(g, hyper).output(p, m, v, stats);
                HostTensor grad0 = HostTensor.normal("grad", rng, 0, 1, shape);
                float maxNorm = (float) (0.5 * Math.sqrt(sumSquares(grad0.floats())));
                if (clipped) {
                    step.add(new GradClip(stats, maxNorm, List.of(g)));
                }
                step.add(new AdamW(p, g, m, v, hyper, clipped ? stats : null, decay));
                float[] h = new float[AdamW.HYPER_SIZE];
                HostTensor torchParam = param;
                HostTensor torchM = zeros;
                HostTensor torchV = HostTensor.of("v", new float[param.size()], shape);
                double lrSum = 0;
                try (Executable exe = backend.compile(step.build())) {
                    for (int t = 1; t <= STEPS; t++) {
                        HostTensor grad = t == 1 ? grad0 : HostTensor.normal("grad", rng, 0, 1, shape);
                        float lr = (float) rng.nextDouble(1e-3, 3e-2);
                        lrSum += lr;
                        AdamW.hyper(h, lr, BETA1, BETA2, EPS, WEIGHT_DECAY, t);
                        backend.upload(g, grad.floats());
                        backend.upload(hyper, h);
                        exe.run();
                        float factor = clipped ? download(backend, stats)[1] : 1f;
                        TorchReference.Result ref = TorchReference.call("adamw").param("lr", lr)
                                .param("beta1", BETA1).param("beta2", BETA2).param("eps", EPS)
                                .param("weight_decay", decay ? WEIGHT_DECAY : 0f).param("step", t)
                                .param("clip_factor", factor).input(torchParam, grad, torchM, torchV).run();
                        // Per step, a few float32 roundings: of |p| ≲ 5 (4u), of the update lr·m̂/(√v̂+eps)
                        // with |m̂/√v̂| ≲ 3 (1e-6·lr), and of m and v (≲ 1e-6 relative; m's atol covers the
                        // cancellation in β1·m + (1−β1)·g). Both chains round their state each step, so the
                        // bounds add up over the steps taken.
                        String at = " after step " + t;
                        Approx.of(1e-6 * lrSum, 4 * Approx.U32 * t).assertClose("param" + at, download(backend, p),
                                ref.get("param"));
                        Approx.of(2e-7 * t, 1e-6 * t).assertClose("m" + at, download(backend, m), ref.get("m"));
                        Approx.of(0, 1e-6 * t).assertClose("v" + at, download(backend, v), ref.get("v"));
                        torchParam = rounded("param", ref.get("param"), shape);
                        torchM = rounded("m", ref.get("m"), shape);
                        torchV = rounded("v", ref.get("v"), shape);
                    }
                }
            }
        });
    }

    private static double sumSquares(float[] g) {
        double s = 0;
        for (float x : g) {
            s += (double) x * x;
        }
        return s;
    }

    private static HostTensor rounded(String name, double[] values, int[] shape) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        return HostTensor.of(name, f, shape);
    }

    @Test
    void hyperFillsStepT() {
        float[] h = new float[AdamW.HYPER_SIZE];
        AdamW.hyper(h, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
        assertEquals(6e-4f, h[AdamW.LR]);
        assertEquals(0.9f, h[AdamW.BETA1]);
        assertEquals(0.95f, h[AdamW.BETA2]);
        assertEquals(1e-8f, h[AdamW.EPS]);
        assertEquals(0.1f, h[AdamW.WEIGHT_DECAY]);
        assertBiasCorrection(0.9f, 1, h[AdamW.BIAS_CORRECTION1]);
        assertBiasCorrection(0.95f, 1, h[AdamW.BIAS_CORRECTION2]);
        AdamW.hyper(h, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10);
        assertBiasCorrection(0.9f, 10, h[AdamW.BIAS_CORRECTION1]);
        assertBiasCorrection(0.95f, 10, h[AdamW.BIAS_CORRECTION2]);
        // Late in training the corrections reach 1 and stop mattering.
        AdamW.hyper(h, 6e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 1_000_000);
        assertEquals(1f, h[AdamW.BIAS_CORRECTION1]);
        assertEquals(1f, h[AdamW.BIAS_CORRECTION2]);
    }

    /** 1 − β^t of the float32 β the caller passed, to float32 precision: one rounding of the exact value. */
    private static void assertBiasCorrection(float beta, int t, float actual) {
        double expected = 1 - Math.pow(beta, t);
        assertEquals(expected, actual, Approx.U32 * expected, "1 − " + beta + "^" + t);
    }

    @Test
    void hyperRejectsStepBelowOne() {
        float[] h = new float[AdamW.HYPER_SIZE];
        for (long t : new long[] {0, -1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> AdamW.hyper(h, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, t));
            assertTrue(e.getMessage().contains("AdamW") && e.getMessage().contains("got " + t), e.getMessage());
        }
    }
}
