package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** What the tests of our float functions (erf, tanh) share: the sweep, both forms over it, the checks. */
final class FloatFunctions {
    private FloatFunctions() {
    }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /** A scalar form. */
    @FunctionalInterface
    interface Scalar {
        float apply(float x);
    }

    private static final float[] SPECIAL = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
            Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_NORMAL, 1e-30f, -1e-30f, 1e-10f, -1e-10f,
            1e-5f, -1e-5f, Float.MAX_VALUE, -Float.MAX_VALUE};

    /**
     * 4M evenly spaced points over [−range, range], 1M random ones in ±1.15·clamp, every float within
     * 4096 ulps of ±clamp, and the special values (±0, ±inf, NaN, tiny and huge).
     */
    static float[] sweep(SplittableRandom rng, float range, float clamp) {
        int even = 4_000_001;
        int random = 1_000_000;
        int nearClamp = 8193;
        float[] x = new float[even + random + 2 * nearClamp + SPECIAL.length];
        int n = 0;
        for (int i = 0; i < even; i++) {
            x[n++] = (float) (-range + 2.0 * range * i / (even - 1));
        }
        for (int i = 0; i < random; i++) {
            x[n++] = (float) rng.nextDouble(-1.15 * clamp, 1.15 * clamp);
        }
        int clampBits = Float.floatToIntBits(clamp);
        for (int i = 0; i < nearClamp; i++) {
            float v = Float.intBitsToFloat(clampBits - nearClamp / 2 + i);
            x[n++] = v;
            x[n++] = -v;
        }
        System.arraycopy(SPECIAL, 0, x, n, SPECIAL.length);
        return x;
    }

    static float[] scalar(float[] in, Scalar form) {
        float[] out = new float[in.length];
        for (int i = 0; i < in.length; i++) {
            out[i] = form.apply(in[i]);
        }
        return out;
    }

    /** A vector form on every point: the array is padded to whole vectors, so no point goes to scalar code. */
    static float[] vector(float[] in, UnaryOperator<FloatVector> form) {
        int padded = S.length() * ThreadTeam.chunks(in.length, S.length());
        float[] src = Arrays.copyOf(in, padded);
        float[] out = new float[padded];
        for (int i = 0; i < padded; i += S.length()) {
            form.apply(FloatVector.fromArray(S, src, i)).intoArray(out, i);
        }
        return Arrays.copyOf(out, in.length);
    }

    /** NaN where expected is NaN; elsewhere max |got − expected| ≤ bound, and bound itself ≤ 1e-6. */
    static void assertWithin(String form, float bound, float[] x, float[] got, double[] expected) {
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < x.length; i++) {
            if (Double.isNaN(expected[i])) {
                assertTrue(Float.isNaN(got[i]), form + "(" + x[i] + ") = " + got[i] + ", expected NaN");
                continue;
            }
            double err = Math.abs(got[i] - expected[i]);
            if (!(err <= worst)) {
                worst = err;
                worstAt = i;
            }
        }
        assertTrue(bound <= 1e-6f, "the kernels are built on errors ≤ 1e-6");
        if (!(worst <= bound)) {
            fail(String.format("%s: max |error| %.3e at x = %s (got %.9g, expected %.9g) exceeds the claimed %.2e",
                    form, worst, x[worstAt], got[worstAt], expected[worstAt], bound));
        }
        System.out.printf("%s: max |error| %.3e at x = %s over %,d points%n", form, worst, x[worstAt], x.length);
    }

    /** f(−x) = −f(x) bit for bit, and the sign of zero kept. */
    static void assertOdd(String form, float[] x, UnaryOperator<float[]> apply) {
        float[] negated = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            negated[i] = -x[i];
        }
        float[] plus = apply.apply(x);
        float[] minus = apply.apply(negated);
        for (int i = 0; i < x.length; i++) {
            if (Float.floatToIntBits(-plus[i]) != Float.floatToIntBits(minus[i])) {
                fail(form + "(−x) = −" + form + "(x) fails at x = " + x[i] + ": " + plus[i] + ", " + minus[i]);
            }
        }
        float[] zeros = apply.apply(new float[] {0f, -0f});
        assertEquals(Float.floatToIntBits(0f), Float.floatToIntBits(zeros[0]), form + "(+0)");
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(zeros[1]), form + "(−0)");
    }
}
