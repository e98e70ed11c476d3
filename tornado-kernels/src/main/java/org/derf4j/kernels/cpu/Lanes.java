package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a vector's lanes in one fixed order: a butterfly (lanes i and i ^ h added, for h = L/2 … 1).
 *
 * <p>{@code reduceLanes(ADD)} leaves the order unspecified, and HotSpot does use different orders in the
 * interpreter (lane by lane) and in C2: the same replay then gives different bits before and after the
 * kernel is compiled. The butterfly is the same adds in every tier, so row statistics and gradient sums
 * built on it are the same bits on every replay.
 */
final class Lanes {
    private Lanes() {
    }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorShuffle<Float> SWAP8 = swap(8);
    private static final VectorShuffle<Float> SWAP4 = swap(4);
    private static final VectorShuffle<Float> SWAP2 = swap(2);
    private static final VectorShuffle<Float> SWAP1 = swap(1);

    static {
        if (S.length() > 16) {
            throw new IllegalStateException("Lanes: " + S + " has more than 16 lanes");
        }
    }

    /** Lane i ↔ lane i ^ h; null where the species has no such pair. */
    private static VectorShuffle<Float> swap(int h) {
        return h < S.length() ? VectorShuffle.fromOp(S, i -> i ^ h) : null;
    }

    /** Σ lanes of {@code v}, a vector of species {@link #S}, in butterfly order. */
    static float sum(FloatVector v) {
        if (SWAP8 != null) {
            v = v.add(v.rearrange(SWAP8));
        }
        if (SWAP4 != null) {
            v = v.add(v.rearrange(SWAP4));
        }
        if (SWAP2 != null) {
            v = v.add(v.rearrange(SWAP2));
        }
        if (SWAP1 != null) {
            v = v.add(v.rearrange(SWAP1));
        }
        return v.lane(0);
    }
}
