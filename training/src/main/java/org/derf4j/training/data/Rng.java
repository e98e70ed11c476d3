package org.derf4j.training.data;

/**
 * SplitMix64: a small, fast generator whose whole state is one {@code long}, so a checkpoint can save it
 * and a resumed run draws exactly the batches the uninterrupted run would have drawn.
 */
public final class Rng {
    private long state;

    public Rng(long state) {
        this.state = state;
    }

    /** The state to save; {@code new Rng(state())} continues the same sequence. */
    public long state() {
        return state;
    }

    public long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, bound), without modulo bias. */
    public int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive, got " + bound);
        }
        long r = nextLong() >>> 1;
        long limit = Long.MAX_VALUE - (Long.MAX_VALUE % bound);
        while (r >= limit) {
            r = nextLong() >>> 1;
        }
        return (int) (r % bound);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Fisher-Yates shuffle of {@code a} in place. */
    public void shuffle(int[] a) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
