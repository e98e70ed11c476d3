package org.derf4j.kernels;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Element-wise closeness in llm.c's form: {@code |actual − expected| ≤ atol + rtol·|expected|}.
 *
 * <p>Choosing the two numbers: float32 rounds to a relative 2⁻²⁴ ≈ 6e-8 per operation. A point-wise op
 * of a few operations stays within a few units of that; a reduction over K terms of mixed signs can lose
 * about √K·2⁻²⁴ relative to the sum of magnitudes, which is why the tests of reductions scale atol with
 * the size and magnitude of what they sum. Each test states its numbers where it uses them.
 */
public record Approx(double atol, double rtol) {

    public static Approx of(double atol, double rtol) {
        return new Approx(atol, rtol);
    }

    /** Fails naming {@code what}, the worst element, and how many elements are out of tolerance. */
    public void assertClose(String what, float[] actual, double[] expected) {
        check(what, actual, expected, new double[actual.length]);
    }

    /**
     * Compares {@code actual − before}, the amount an accumulating op added, with {@code expected}. Storing
     * {@code before + added} in float32 rounds once more, by up to u·|actual|: an error that the added amount's own
     * size does not bound when {@code before} is much larger, so each element is allowed it on top.
     */
    public void assertAdded(String what, float[] actual, float[] before, double[] expected) {
        float[] added = new float[actual.length];
        double[] storeRounding = new double[actual.length];
        for (int i = 0; i < actual.length; i++) {
            added[i] = actual[i] - before[i];
            storeRounding[i] = U32 * Math.abs(actual[i]);
        }
        check(what + " (added)", added, expected, storeRounding);
    }

    private void check(String what, float[] actual, double[] expected, double[] extra) {
        if (actual.length != expected.length) {
            fail(what + ": " + actual.length + " values, expected " + expected.length);
        }
        int bad = 0;
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double allowed = atol + rtol * Math.abs(expected[i]) + extra[i];
            if (!(err <= allowed)) { // also catches NaN
                bad++;
                double excess = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
            }
        }
        if (bad > 0) {
            fail(String.format("%s: %d of %d values out of tolerance (atol %.1e, rtol %.1e); worst at [%d]: "
                            + "got %.9g, expected %.9g (seed %d)", what, bad, actual.length, atol, rtol, worst,
                    actual[worst], expected[worst], Seeds.current()));
        }
    }

    /** float32's unit roundoff, 2⁻²⁴. */
    public static final double U32 = 0x1p-24;

    /**
     * For values that are sums of {@code k} float32 terms of magnitude up to {@code m}: summation loses
     * about {@code u·√k·Σ|t|} with high probability (Higham, Accuracy and Stability, §4.2), here taken as
     * {@code 4·u·√k·k·m}, plus a relative 1e-5 for the few roundings of each term.
     */
    public static Approx sums(int k, double m) {
        return new Approx(4 * U32 * Math.sqrt(k) * k * m, 1e-5);
    }

    /** The largest magnitude in {@code values}: a scale for absolute tolerances. */
    public static double maxAbs(double[] values) {
        double m = 0;
        for (double v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
