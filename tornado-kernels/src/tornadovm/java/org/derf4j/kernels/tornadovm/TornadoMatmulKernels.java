package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Single-precision GEMM for the Linear layer (see {@link org.derf4j.kernels.Matmul}), one kernel for its three
 * layouts: the strides say where element (i,k) of A and (k,j) of B live, and TornadoVM folds them into the
 * generated code as constants.
 * <pre>
 *   C[M,N] (+)= A·B (+ bias[N]),   A(i,k) = a[i·aRow + k·aCol],   B(k,j) = b[k·bRow + j·bCol],   C row-major
 *
 *   forward   out = x·wᵀ + b    M = N_rows, N = OC, K = IC   A = x (IC, 1)      B = wᵀ (1, IC)
 *   dx       += dout·w         M = N_rows, N = IC, K = OC   A = dout (OC, 1)   B = w (IC, 1)
 *   dw       += doutᵀ·x        M = OC, N = IC, K = N_rows   A = doutᵀ (1, OC)  B = x (IC, 1)
 * </pre>
 * {@code gemmTiled}: a work-group computes a {@value #TILE}×{@value #TILE} block of C, one element per
 * work-item; each step stages a TILE×TILE block of A and of B in local memory and every work-item reads its
 * row of A's block and column of B's block from there. Sums run over k in order: deterministic.
 */
public final class TornadoMatmulKernels {
    private TornadoMatmulKernels() {
    }

    static final int TILE = 16;

    public static void gemmTiled(KernelContext k, FloatArray c, FloatArray a, FloatArray b, FloatArray bias, int M,
                                 int N, int K, int aRow, int aCol, int bRow, int bCol, int accumulate, int hasBias) {
        float[] aTile = k.allocateFloatLocalArray(TILE * TILE);
        float[] bTile = k.allocateFloatLocalArray(TILE * TILE);
        int tx = k.localIdx;
        int ty = k.localIdy;
        int col = k.groupIdx * TILE + tx;
        int row = k.groupIdy * TILE + ty;
        float sum = 0f;
        for (int k0 = 0; k0 < K; k0 += TILE) {
            int ka = k0 + tx;
            float av = 0f;
            if (row < M && ka < K) {
                av = a.get(row * aRow + ka * aCol);
            }
            aTile[ty * TILE + tx] = av;
            int kb = k0 + ty;
            float bv = 0f;
            if (kb < K && col < N) {
                bv = b.get(kb * bRow + col * bCol);
            }
            bTile[ty * TILE + tx] = bv;
            k.localBarrier();
            for (int t = 0; t < TILE; t++) {
                sum += aTile[ty * TILE + t] * bTile[t * TILE + tx];
            }
            k.localBarrier();
        }
        if (row < M && col < N) {
            int o = row * N + col;
            if (hasBias == 1) {
                sum += bias.get(col);
            }
            if (accumulate == 1) {
                sum += c.get(o);
            }
            c.set(o, sum);
        }
    }
}
