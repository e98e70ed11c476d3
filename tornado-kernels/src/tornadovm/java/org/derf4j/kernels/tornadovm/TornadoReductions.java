package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Deterministic reductions, written out (TornadoVM's {@code @Reduce} gave wrong sums on PoCL): a local-memory
 * tree within a work-group, and second passes that add partial sums in a fixed order.
 *
 * <p>Sums over rows (dγ, dβ, dbias) are cut into chunks of {@link #ROWS_PER_CHUNK} rows: a first, op-specific
 * kernel writes {@code partial[chunk·C + c]}, and {@link #addColumnSums} adds the chunks in order. The
 * number of chunks depends on the shape only, so the bits do not depend on the device.
 */
public final class TornadoReductions {
    private TornadoReductions() {
    }

    /** Rows summed by one work-item in the first pass of a sum over rows. */
    static final int ROWS_PER_CHUNK = 32;

    /**
     * The sum of {@code v} over the work-group ({@link Grids#GROUP} work-items), in a local-memory tree, returned
     * to every work-item. Every work-item of the group must call it (it has barriers).
     *
     * <p>The tree is allocated here, not passed in: TornadoVM 5.2 indexes a local array that reaches a helper
     * method as a parameter like a Java heap array (byte offsets past a 16-byte header), that is, out of the
     * local array's bounds.
     */
    static float groupSum(KernelContext k, float v) {
        float[] tree = k.allocateFloatLocalArray(Grids.GROUP);
        int lid = k.localIdx;
        tree[lid] = v;
        for (int s = Grids.GROUP / 2; s > 0; s /= 2) {
            k.localBarrier();
            if (lid < s) {
                tree[lid] += tree[lid + s];
            }
        }
        k.localBarrier();
        return tree[0];
    }

    // partial[chunk·C + c] = Σ src[row·C + c] over the chunk's rows: the first pass of dbias
    public static void columnPartials(KernelContext k, FloatArray partial, FloatArray src, int rows, int C) {
        int idx = k.globalIdx;
        int chunks = (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
        if (idx < chunks * C) {
            int chunk = idx / C;
            int c = idx % C;
            int end = Math.min(rows, (chunk + 1) * ROWS_PER_CHUNK);
            float s = 0f;
            for (int row = chunk * ROWS_PER_CHUNK; row < end; row++) {
                s += src.get(row * C + c);
            }
            partial.set(idx, s);
        }
    }

    // dst[c] += Σ_chunk partial[chunk·C + c], chunks in order; one work-item per column
    public static void addColumnSums(KernelContext k, FloatArray dst, FloatArray partial, int chunks, int C) {
        int c = k.globalIdx;
        if (c < C) {
            float s = 0f;
            for (int chunk = 0; chunk < chunks; chunk++) {
                s += partial.get(chunk * C + c);
            }
            dst.set(c, dst.get(c) + s);
        }
    }

    // a[0] += Σ partial[2i], and b[0] += Σ partial[2i + 1] if hasB; one work-group
    public static void addPairSums(KernelContext k, FloatArray a, FloatArray b, FloatArray partial, int pairs,
                                   int hasB) {
        int lid = k.localIdx;
        float sa = 0f;
        float sb = 0f;
        for (int i = lid; i < pairs; i += Grids.GROUP) {
            sa += partial.get(2 * i);
            sb += partial.get(2 * i + 1);
        }
        float ta = groupSum(k, sa);
        float tb = groupSum(k, sb);
        if (lid == 0) {
            a.set(0, a.get(0) + ta);
            if (hasB == 1) {
                b.set(0, b.get(0) + tb);
            }
        }
    }

    // dst[0] += Σ partial[0, count); one work-group
    public static void addSum(KernelContext k, FloatArray dst, FloatArray partial, int count) {
        float s = 0f;
        for (int i = k.localIdx; i < count; i += Grids.GROUP) {
            s += partial.get(i);
        }
        float total = groupSum(k, s);
        if (k.localIdx == 0) {
            dst.set(0, dst.get(0) + total);
        }
    }
}
