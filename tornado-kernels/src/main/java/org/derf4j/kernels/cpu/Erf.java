package org.derf4j.kernels.cpu;

/** The error function in float. Java has no Math.erf. */
public final class Erf {
    private Erf() {
    }

    // Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7 in exact arithmetic): a first, simple version.
    public static float erf(float x) {
        float ax = Math.abs(x);
        float t = 1f / (1f + 0.3275911f * ax);
        float y = 1f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t
                + 0.254829592f) * t * (float) Math.exp(-ax * ax);
        return Math.copySign(y, x);
    }
}
