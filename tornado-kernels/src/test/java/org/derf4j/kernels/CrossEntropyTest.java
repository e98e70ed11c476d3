package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Fused softmax cross-entropy: loss, correct count and dlogits, on every backend, against PyTorch. */
class CrossEntropyTest {

    /**
     * Logit shapes: V = 37 (no whole vector), V = 1, 132 rows (many reduction chunks), V = 1000 in a [3,17]
     * batch, and one row of GPT-2's 50257.
     */
    static final int[][] SHAPES = {{3, 5, 37}, {7, 1}, {4, 33, 37}, {3, 17, 1000}, {1, 50257}};

    /** Typical logits, N(0, 2²), and large ones, uniform in ±80, where a naive softmax overflows. */
    enum Magnitude {
        NORMAL, LARGE
    }

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Arrays.stream(SHAPES).flatMap(s ->
                Arrays.stream(Magnitude.values()).map(m -> Arguments.of(p, s, m))));
    }

    static Stream<Arguments> backends() {
        return TestBackends.available().map(Arguments::of);
    }

    /** Logits, targets with about one row in five ignored (−1), a scale, and random starting loss and count. */
    private record Case(HostTensor logits, HostTensor targets, float scale, HostTensor loss0, HostTensor correct0) {
        static Case random(int[] shape, Magnitude magnitude, SplittableRandom rng) {
            int v = shape[shape.length - 1];
            int[] rows = Arrays.copyOf(shape, shape.length - 1);
            HostTensor logits = magnitude == Magnitude.LARGE
                    ? HostTensor.uniform("logits", rng, -80, 80, shape)
                    : HostTensor.normal("logits", rng, 0, 2, shape);
            HostTensor targets = HostTensor.ints("targets", rng, 0, v, rows);
            int[] t = targets.ints();
            for (int i = 0; i < t.length; i++) {
                if (rng.nextInt(5) == 0) {
                    t[i] = -1;
                }
            }
            t[0] = rng.nextInt(v); // at least one row counts
            if (t.length > 1) {
                // One row whose target is its argmax, so the count of correct rows is not always zero.
                t[1] = argmax(logits.floats(), v, 1);
            }
            return new Case(logits, targets, (float) rng.nextDouble(0.25, 2),
                    HostTensor.normal("loss", rng, 0, 1, 1),
                    HostTensor.of("correct", new float[] {rng.nextInt(10)}, 1));
        }

        int v() {
            return logits.shape()[logits.shape().length - 1];
        }

        int counted() {
            return (int) Arrays.stream(targets.ints()).filter(t -> t >= 0).count();
        }

        TorchReference.Result torch(float withScale) {
            return TorchReference.call("cross_entropy").param("scale", withScale).input(logits, targets)
                    .dout(HostTensor.of("loss", new float[] {1}, 1)).wrt("logits").run();
        }
    }

    private static int argmax(float[] logits, int v, int row) {
        int best = 0;
        for (int j = 1; j < v; j++) {
            if (logits[row * v + j] > logits[row * v + best]) {
                best = j;
            }
        }
        return best;
    }

    /** What one CrossEntropy op left behind. */
    private record Outputs(float[] loss, float[] correct, float[] dlogits) {
    }

    /**
     * Runs {@code CrossEntropy} with dlogits separate (starting as garbage, which the op must overwrite), in
     * place over the logits, or absent (the loss-only form).
     */
    private enum Form {
        SEPARATE, IN_PLACE, LOSS_ONLY
    }

    private static Outputs run(Backend backend, Case c, Form form) {
        try (Tensor logits = c.logits().upload(backend); Tensor targets = c.targets().upload(backend);
             Tensor loss = c.loss0().upload(backend); Tensor correct = c.correct0().upload(backend);
             Tensor dlogits = form == Form.SEPARATE ? backend.allocate("dlogits", c.logits().shape()) : null) {
            switch (form) {
                case SEPARATE -> {
                    backend.upload(dlogits, garbage(dlogits.size()));
                    backend.run(new CrossEntropy(loss, correct, dlogits, logits, targets, c.scale()));
                }
                case IN_PLACE -> backend.run(new CrossEntropy(loss, correct, logits, logits, targets, c.scale()));
                case LOSS_ONLY -> backend.run(CrossEntropy.loss(loss, correct, logits, targets));
            }
            return new Outputs(download(backend, loss), download(backend, correct),
                    form == Form.SEPARATE ? download(backend, dlogits) : download(backend, logits));
        }
    }

    private static float[] garbage(int n) {
        float[] g = new float[n];
        Arrays.fill(g, Float.NaN);
        return g;
    }

    private static void assertMatches(String what, Case c, Outputs got, TorchReference.Result ref, float scale,
                                      boolean withGrad) {
        // −log p = log Σexp − (l_t − max): a float32 sum of V exponentials is off by ~√(V/16)·u relative
        // over 16 lanes (3e-6 for V = 50257), which the log turns into 3e-6 absolute on a loss ≳ 1, and
        // l_t − max rounds by u·|l_t − max| ≤ u·160. Rows average, scale multiplies: 2e-6 relative, and
        // an atol for the rounding of the random loss it adds to.
        Approx.of(1e-6, 2e-6).assertAdded(what + " loss", got.loss(), c.loss0().floats(), ref.get("loss"));
        assertEquals(c.correct0().floats()[0] + ref.get("correct")[0], got.correct()[0], what + " correct");
        if (withGrad) {
            // p − onehot, times scale/n: the exponential sum's ~1e-5 relative error on p, and where p ≈ 1
            // the cancellation p − 1 costs a few roundings of scale/n.
            double unit = Math.abs(scale) / c.counted();
            Approx.of(8 * Approx.U32 * unit, 1e-5).assertClose(what + " dlogits", got.dlogits(), ref.grad("logits"));
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, int[] shape, Magnitude magnitude) {
        Case c = Case.random(shape, magnitude, Seeds.random("cross-entropy" + Arrays.toString(shape) + magnitude));
        TorchReference.Result ref = c.torch(c.scale());
        TorchReference.Result unscaled = c.torch(1f);
        TestBackends.with(provider, backend -> {
            Outputs separate = run(backend, c, Form.SEPARATE);
            assertMatches("cross-entropy", c, separate, ref, c.scale(), true);

            Outputs inPlace = run(backend, c, Form.IN_PLACE);
            assertArrayEquals(separate.loss(), inPlace.loss(), "in place: loss");
            assertArrayEquals(separate.correct(), inPlace.correct(), "in place: correct");
            assertArrayEquals(separate.dlogits(), inPlace.dlogits(), "in place: dlogits, bit for bit");

            Outputs lossOnly = run(backend, c, Form.LOSS_ONLY);
            assertMatches("loss only", c, lossOnly, unscaled, 1f, false);
            assertArrayEquals(c.logits().floats(), lossOnly.dlogits(), "loss only: logits untouched");
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void everyRowIgnoredAddsNothingAndZeroesTheGradient(BackendProvider provider) {
        // PyTorch's mean over no rows is NaN; the op defines it as adding nothing.
        Case c = Case.random(new int[] {5, 37}, Magnitude.NORMAL, Seeds.random("cross-entropy-ignored"));
        Arrays.fill(c.targets().ints(), -1);
        TestBackends.with(provider, backend -> {
            for (Form form : new Form[] {Form.SEPARATE, Form.IN_PLACE}) {
                Outputs got = run(backend, c, form);
                assertArrayEquals(c.loss0().floats(), got.loss(), form + ": loss unchanged");
                assertArrayEquals(c.correct0().floats(), got.correct(), form + ": correct unchanged");
                for (int i = 0; i < got.dlogits().length; i++) {
                    assertEquals(0f, got.dlogits()[i], 0f, form + ": dlogits[" + i + "]");
                }
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void rejectsTargetOutsideVocabulary(BackendProvider provider) {
        Case c = Case.random(new int[] {4, 9, 37}, Magnitude.NORMAL, Seeds.random("cross-entropy-bad-target"));
        c.targets().ints()[22] = 37;
        TestBackends.with(provider, backend -> {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> run(backend, c, Form.SEPARATE));
            assertTrue(e.getMessage().contains("target 37 at row 22"), e.getMessage());
        });
    }
}
