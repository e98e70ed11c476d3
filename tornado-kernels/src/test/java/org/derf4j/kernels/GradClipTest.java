package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The global gradient norm and clip factor, on every backend, against PyTorch's {@code clip_grad_norm_}. */
class GradClipTest {

    /**
     * Gradients of odd sizes, among them one of 40001 elements, which the fast backend cuts into more than
     * one chunk, and a single element.
     */
    static final int[][] GRAD_SHAPES = {{37}, {3, 65, 37}, {1}, {40001}, {17, 5}};

    /** maxNorm as a multiple of the true norm: 0 (no clipping), above it (factor 1) and below it. */
    static final double[] MAX_NORM_OVER_NORM = {0, 1.5, 0.2};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Stream.of(0, 1, 2).map(i -> Arguments.of(p, i)));
    }

    static Stream<Arguments> backends() {
        return TestBackends.available().map(Arguments::of);
    }

    static List<HostTensor> randomGrads(SplittableRandom rng) {
        List<HostTensor> grads = new ArrayList<>();
        for (int i = 0; i < GRAD_SHAPES.length; i++) {
            grads.add(HostTensor.normal("g" + i, rng, 0, rng.nextDouble(1e-3, 1), GRAD_SHAPES[i]));
        }
        return grads;
    }

    static double norm(List<HostTensor> grads) {
        double s = 0;
        for (HostTensor g : grads) {
            for (float x : g.floats()) {
                s += (double) x * x;
            }
        }
        return Math.sqrt(s);
    }

    /** Runs GradClip over the grads; returns stats {norm, factor}. */
    static float[] run(Backend backend, List<HostTensor> grads, float maxNorm) {
        List<Tensor> tensors = new ArrayList<>();
        try (Tensor stats = backend.allocate("stats", 2)) {
            for (HostTensor g : grads) {
                tensors.add(g.upload(backend));
            }
            backend.run(new GradClip(stats, maxNorm, tensors));
            return download(backend, stats);
        } finally {
            tensors.forEach(Tensor::close);
        }
    }

    @ParameterizedTest(name = "{0} maxNorm/norm={1}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int which) {
        SplittableRandom rng = Seeds.random("grad-clip" + which);
        List<HostTensor> grads = randomGrads(rng);
        float maxNorm = (float) (MAX_NORM_OVER_NORM[which] * norm(grads));
        TorchReference.Result ref = TorchReference.call("grad_clip").param("max_norm", maxNorm)
                .input(grads.toArray(HostTensor[]::new)).run();
        TestBackends.with(provider, backend -> {
            float[] stats = run(backend, grads, maxNorm);
            // Σg² over 131k positive terms, in float blocks of 64 per lane then in double: ~√64·u relative;
            // the square root halves it, and the factor adds one division.
            Approx.of(0, 1e-6).assertClose("grad norm and clip factor", stats, ref.get("stats"));
            if (maxNorm == 0 || maxNorm > norm(grads)) {
                assertEquals(1f, stats[1], "a factor of exactly 1 when there is nothing to clip");
            }
        });
    }

    @Test
    void clipFactorIsPyTorchs() {
        assertEquals(1f, GradClip.clipFactor(123f, 0f), "maxNorm 0 disables clipping");
        assertEquals(1f, GradClip.clipFactor(0.5f, 1f), "a norm below maxNorm is left alone");
        assertEquals(1f, GradClip.clipFactor(0f, 1f), "a zero gradient is left alone");
        assertEquals((float) (1.0 / (4.0 + 1e-6)), GradClip.clipFactor(4f, 1f), 1e-7f, "maxNorm / (norm + 1e-6)");
    }

    /**
     * AdamW multiplies each gradient by stats[1] as it reads it; that must be bit for bit the step on gradients
     * the host scaled by the same factor, so the fused form changes nothing but the memory traffic.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void adamWAppliesTheClipFactor(BackendProvider provider) {
        SplittableRandom rng = Seeds.random("grad-clip-adamw");
        List<HostTensor> grads = randomGrads(rng);
        float maxNorm = (float) (0.3 * norm(grads));
        float[] hyper = new float[AdamW.HYPER_SIZE];
        AdamW.hyper(hyper, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 3);
        TestBackends.with(provider, backend -> {
            float factor = run(backend, grads, maxNorm)[1];
            for (HostTensor g : grads) {
                HostTensor p = HostTensor.normal("p", rng, 0, 1, g.shape());
                HostTensor m = HostTensor.normal("m", rng, 0, 0.1, g.shape());
                HostTensor v = HostTensor.uniform("v", rng, 0, 0.1, g.shape());
                float[] scaled = g.floats().clone();
                for (int i = 0; i < scaled.length; i++) {
                    scaled[i] *= factor;
                }
                float[][] fused = adamW(backend, p, g, m, v, hyper, factor);
                float[][] prescaled = adamW(backend, p, HostTensor.of("g", scaled, g.shape()), m, v, hyper, 1f);
                for (int k = 0; k < 3; k++) {
                    assertArrayEquals(prescaled[k], fused[k], g + ": param, m, v [" + k + "]");
                }
            }
        });
    }

    /** One AdamW step with a clip tensor whose factor is {@code factor}; returns {param, m, v}. */
    private static float[][] adamW(Backend backend, HostTensor p, HostTensor g, HostTensor m, HostTensor v,
                                   float[] hyper, float factor) {
        try (Tensor tp = p.upload(backend); Tensor tg = g.upload(backend); Tensor tm = m.upload(backend);
             Tensor tv = v.upload(backend); Tensor th = HostTensor.of("hyper", hyper, AdamW.HYPER_SIZE).upload(backend);
             Tensor clip = HostTensor.of("clip", new float[] {0f, factor}, 2).upload(backend)) {
            backend.run(new AdamW(tp, tg, tm, tv, th, clip, true));
            return new float[][] {download(backend, tp), download(backend, tm), download(backend, tv)};
        }
    }
}
