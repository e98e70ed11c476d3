package org.derf4j.kernels;

import java.util.SplittableRandom;

/**
 * Fresh random inputs for every run, reproducibly: the seed comes from the clock unless
 * {@code DERF4J_SEED} is set, and every failure message prints it.
 */
public final class Seeds {
    private Seeds() {
    }

    private static final long BASE = System.getenv("DERF4J_SEED") != null
            ? Long.parseLong(System.getenv("DERF4J_SEED"))
            : System.nanoTime();
    private static final ThreadLocal<Long> CURRENT = ThreadLocal.withInitial(() -> BASE);

    /** A random stream for one test case, derived from the run's seed and the case's name. */
    public static SplittableRandom random(String testCase) {
        long seed = BASE ^ (testCase.hashCode() * 0x9E3779B97F4A7C15L);
        CURRENT.set(seed);
        return new SplittableRandom(seed);
    }

    /** The seed of the case running on this thread: set DERF4J_SEED to the run's base to replay it. */
    public static long current() {
        return CURRENT.get();
    }

    public static long base() {
        return BASE;
    }
}
