package org.derf4j.training;

/**
 * Linear warm-up to {@code maxLr}, then a cosine decay to {@code minLr} at the last step (nanoGPT's).
 */
public record LrSchedule(float maxLr, float minLr, int warmup, int steps) {

    public LrSchedule {
        if (!(maxLr > 0) || !(minLr >= 0) || minLr > maxLr) {
            throw new IllegalArgumentException("learning rates must satisfy 0 ≤ min-lr ≤ lr and lr > 0, got lr "
                    + maxLr + ", min-lr " + minLr);
        }
        if (warmup < 0 || steps <= 0) {
            throw new IllegalArgumentException("warmup must be ≥ 0 and steps > 0, got warmup " + warmup + ", steps "
                    + steps);
        }
    }

    /** The learning rate of step {@code step}, counting from 0. */
    public float at(long step) {
        if (step < warmup) {
            return maxLr * (step + 1) / warmup;
        }
        int decaySteps = Math.max(1, steps - warmup);
        double progress = Math.min(1.0, (double) (step - warmup) / decaySteps);
        return (float) (minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (maxLr - minLr));
    }
}
