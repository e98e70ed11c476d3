package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import jdk.incubator.vector.FloatVector;
import org.derf4j.kernels.HostTensor;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.TorchReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Our float erf, scalar and vector rational forms and the exp form, against PyTorch's float64 erf on a dense sweep
 * of [−10, 10] and the special values, within the bounds scripts/fit_functions.py claims; and erf' as the backward
 * of Derf computes it, against double exp.
 */
class ErfTest {

    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

    private static float[] x;
    private static double[] expected;

    @BeforeAll
    static void sweep() {
        x = FloatFunctions.sweep(Seeds.random("erf"), 10f, Erf.CLAMP);
        expected = TorchReference.call("erf").input(HostTensor.of("x", x, x.length)).run().get("out");
    }

    @Test
    void scalarFormIsWithinItsBoundOfPyTorch() {
        FloatFunctions.assertWithin("erf, scalar", Erf.MAX_ABS_ERROR, x, FloatFunctions.scalar(x, Erf::erf),
                expected);
    }

    @Test
    void vectorFormIsWithinItsBoundOfPyTorch() {
        FloatFunctions.assertWithin("erf, vector " + FloatFunctions.S, Erf.MAX_ABS_ERROR, x,
                FloatFunctions.vector(x, Erf::erf), expected);
    }

    /** The exp form, with a and e = e^(−a²) as the backward of Derf computes them. */
    @Test
    void expFormIsWithinItsBoundOfPyTorch() {
        FloatFunctions.assertWithin("erf, exp form " + FloatFunctions.S, Erf.EXP_FORM_MAX_ABS_ERROR, x,
                FloatFunctions.vector(x, ErfTest::expForm), expected);
    }

    @Test
    void everyFormIsOddAndKeepsTheSignOfZero() {
        FloatFunctions.assertOdd("erf, scalar", x, in -> FloatFunctions.scalar(in, Erf::erf));
        FloatFunctions.assertOdd("erf, vector", x, in -> FloatFunctions.vector(in, Erf::erf));
        FloatFunctions.assertOdd("erf, exp form", x, in -> FloatFunctions.vector(in, ErfTest::expForm));
    }

    private static FloatVector expForm(FloatVector z) {
        FloatVector a = Erf.magnitude(z);
        return Erf.erf(z, a, Erf.gaussian(a));
    }

    /** erf' = 2/√π·e^(−z²) as the backward of Derf computes it: from {@link Erf#gaussian} of a = |z| clamped. */
    private static FloatVector derivative(FloatVector z) {
        return Erf.gaussian(Erf.magnitude(z)).mul(Erf.TWO_OVER_SQRT_PI);
    }

    @Test
    void derivativeIsWithinItsBound() {
        float[] got = FloatFunctions.vector(x, ErfTest::derivative);
        float[] negated = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            negated[i] = -x[i];
        }
        float[] mirrored = FloatFunctions.vector(negated, ErfTest::derivative);
        double worst = 0;
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(got[i]), "erf'(NaN) must be NaN, got " + got[i]);
                continue;
            }
            if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(mirrored[i])) {
                fail("erf' is even, bit for bit; fails at x = " + x[i]);
            }
            double exact = TWO_OVER_SQRT_PI * Math.exp(-(double) x[i] * x[i]);
            worst = Math.max(worst, Math.abs(got[i] - exact));
        }
        System.out.printf("erf' %s: max |error| %.3e%n", FloatFunctions.S, worst);
        assertTrue(worst <= Erf.DERIVATIVE_MAX_ABS_ERROR, "erf' absolute error " + worst);
    }
}
