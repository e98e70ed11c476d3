package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import org.derf4j.kernels.HostTensor;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.TorchReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Our vector exp against PyTorch's float64 exp on a dense sweep of [−100, 100] (every point through the
 * vector form), and the values softmax relies on: −∞ and everything below the normal floats give 0, 0 gives
 * 1, NaN stays NaN. Past {@link Exp#X_MAX} exp saturates, as its Javadoc says.
 */
class ExpTest {

    private static float[] x;
    private static float[] got;
    private static double[] expected;

    @BeforeAll
    static void sweep() {
        x = FloatFunctions.sweep(Seeds.random("exp"), 100f, Exp.X_MAX);
        got = FloatFunctions.vector(x, Exp::exp);
        expected = TorchReference.call("exp").input(HostTensor.of("x", x, x.length)).run().get("out");
    }

    /** Within MAX_ULPS of the float nearest eˣ where that is a normal float, within the absolute bound below. */
    @Test
    void isWithinItsBoundsOfPyTorch() {
        double worstUlps = 0;
        double worstTiny = 0;
        int checked = 0;
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i]) || x[i] > Exp.X_MAX) {
                continue;
            }
            double err = Math.abs(got[i] - expected[i]);
            if (expected[i] >= Float.MIN_NORMAL) {
                double ulps = err / Math.ulp((float) expected[i]);
                if (!(ulps <= Exp.MAX_ULPS)) {
                    fail(String.format("exp(%s) = %.9g, expected %.9g: %.3f ulps, more than the claimed %.2f",
                            x[i], got[i], expected[i], ulps, Exp.MAX_ULPS));
                }
                worstUlps = Math.max(worstUlps, ulps);
            } else {
                if (!(err <= Exp.MAX_ABS_ERROR_BELOW_NORMAL)) {
                    fail(String.format("exp(%s) = %s, expected %s: |error| %.3e, more than the claimed %.2e", x[i],
                            got[i], expected[i], err, Exp.MAX_ABS_ERROR_BELOW_NORMAL));
                }
                worstTiny = Math.max(worstTiny, err);
            }
            checked++;
        }
        assertTrue(checked > 4_000_000, "the sweep covers [−100, X_MAX] densely, checked " + checked);
        System.out.printf("exp, vector %s: max error %.3f ulps where eˣ is normal, max |error| %.3e below, over %,d"
                + " points%n", FloatFunctions.S, worstUlps, worstTiny, checked);
    }

    @Test
    void softmaxValues() {
        float[] special = {Float.NEGATIVE_INFINITY, -Float.MAX_VALUE, -1e30f, -100f, -88f, -87.7f, 0f, -0f,
                Float.NaN};
        float[] e = FloatFunctions.vector(special, Exp::exp);
        for (int i = 0; i < 6; i++) {
            assertEquals(0, Float.floatToRawIntBits(e[i]), "exp(" + special[i] + ") must be +0, got " + e[i]);
        }
        assertEquals(1f, e[6], "exp(0)");
        assertEquals(1f, e[7], "exp(−0)");
        assertTrue(Float.isNaN(e[8]), "exp(NaN) must be NaN, got " + e[8]);
    }

    @Test
    void saturatesPastXMax() {
        float atMax = FloatFunctions.vector(new float[] {Exp.X_MAX}, Exp::exp)[0];
        assertEquals(Math.exp(Exp.X_MAX), atMax, Exp.MAX_ULPS * Math.ulp(atMax));
        for (int i = 0; i < x.length; i++) {
            if (x[i] > Exp.X_MAX && got[i] != atMax) {
                fail("exp(" + x[i] + ") = " + got[i] + ", expected the saturated " + atMax);
            }
        }
    }
}
