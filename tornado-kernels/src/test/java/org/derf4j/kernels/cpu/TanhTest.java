package org.derf4j.kernels.cpu;

import org.derf4j.kernels.Seeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Our float tanh, scalar and vector forms, against double Math.tanh (within 2.5 ulps of double, exact
 * for this purpose) on a dense sweep of [−20, 20] and the special values, within the claimed bound.
 */
class TanhTest {

    private static float[] x;
    private static double[] expected;

    @BeforeAll
    static void sweep() {
        x = FloatFunctions.sweep(Seeds.random("tanh"), 20f, Tanh.CLAMP);
        expected = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            expected[i] = Math.tanh(x[i]);
        }
    }

    @Test
    void scalarFormIsWithinItsBound() {
        FloatFunctions.assertWithin("tanh, scalar", Tanh.MAX_ABS_ERROR, x, FloatFunctions.scalar(x, Tanh::tanh),
                expected);
    }

    @Test
    void vectorFormIsWithinItsBound() {
        FloatFunctions.assertWithin("tanh, vector " + FloatFunctions.S, Tanh.MAX_ABS_ERROR, x,
                FloatFunctions.vector(x, Tanh::tanh), expected);
    }

    @Test
    void bothFormsAreOddAndKeepTheSignOfZero() {
        FloatFunctions.assertOdd("tanh, scalar", x, in -> FloatFunctions.scalar(in, Tanh::tanh));
        FloatFunctions.assertOdd("tanh, vector", x, in -> FloatFunctions.vector(in, Tanh::tanh));
    }
}
