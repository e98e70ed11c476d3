package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Tensor;
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
 * {@code gemmTiled}: a work-group of {@value #SIDE}×{@value #SIDE} work-items computes a {@value #BLOCK}×{@value #BLOCK}
 * block of C, each work-item a {@value #REGISTER}×{@value #REGISTER} grid of it (rows ty + SIDE·i, columns tx + SIDE·j)
 * in registers. Each step stages a BLOCK×{@value #DEPTH} slab of A and a DEPTH×BLOCK slab of B in local memory;
 * a work-item then does REGISTER² multiply-adds per 2·REGISTER local reads. Sums run over k in order:
 * deterministic.
 */
public final class TornadoMatmulKernels {
    private TornadoMatmulKernels() {
    }

    /** Work-items per side of a work-group. */
    static final int SIDE = 8;
    /** Outputs per side of a work-item. */
    static final int REGISTER = 8;
    /** Outputs per side of a work-group's block of C. */
    static final int BLOCK = SIDE * REGISTER;
    /** The k extent of the slabs staged in local memory per step. */
    static final int DEPTH = 16;

    public static void gemmTiled(KernelContext k, FloatArray c, FloatArray a, FloatArray b, FloatArray bias, int M,
                                 int N, int K, int aRow, int aCol, int bRow, int bCol, int accumulate, int hasBias) {
        float[] aSlab = k.allocateFloatLocalArray(BLOCK * DEPTH);
        float[] bSlab = k.allocateFloatLocalArray(DEPTH * BLOCK);
        float[] acc = new float[REGISTER * REGISTER];
        for (int i = 0; i < REGISTER * REGISTER; i++) {
            acc[i] = 0f; // private memory: made explicit for the generated code
        }
        int tx = k.localIdx;
        int ty = k.localIdy;
        int lid = ty * SIDE + tx;
        int row0 = k.groupIdy * BLOCK;
        int col0 = k.groupIdx * BLOCK;
        for (int k0 = 0; k0 < K; k0 += DEPTH) {
            for (int e = lid; e < BLOCK * DEPTH; e += SIDE * SIDE) {
                int row = row0 + e / DEPTH;
                int kk = k0 + e % DEPTH;
                float v = 0f;
                if (row < M && kk < K) {
                    v = a.get(row * aRow + kk * aCol);
                }
                aSlab[e] = v;
            }
            for (int e = lid; e < DEPTH * BLOCK; e += SIDE * SIDE) {
                int kk = k0 + e / BLOCK;
                int col = col0 + e % BLOCK;
                float v = 0f;
                if (kk < K && col < N) {
                    v = b.get(kk * bRow + col * bCol);
                }
                bSlab[e] = v;
            }
            k.localBarrier();
            for (int kk = 0; kk < DEPTH; kk++) {
                for (int i = 0; i < REGISTER; i++) {
                    float av = aSlab[(ty + SIDE * i) * DEPTH + kk];
                    for (int j = 0; j < REGISTER; j++) {
                        acc[i * REGISTER + j] += av * bSlab[kk * BLOCK + tx + SIDE * j];
                    }
                }
            }
            k.localBarrier();
        }
        for (int i = 0; i < REGISTER; i++) {
            int row = row0 + ty + SIDE * i;
            for (int j = 0; j < REGISTER; j++) {
                int col = col0 + tx + SIDE * j;
                if (row < M && col < N) {
                    int o = row * N + col;
                    float sum = acc[i * REGISTER + j];
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
    }

    static List<Launch> launches(Matmul.Forward m, TornadoCompiler c) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        return List.of(gemm(c, "gemm", m.out(), f(m.x()), f(m.w()), m.bias(), n, oc, ic, ic, 1, 1, ic, false));
    }

    static List<Launch> launches(Matmul.Backward m, TornadoCompiler c) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        FloatArray dout = f(m.dout());
        List<Launch> launches = new ArrayList<>();
        if (m.dx() != null) {
            launches.add(gemm(c, "dx", m.dx(), dout, f(m.w()), null, n, ic, oc, oc, 1, ic, 1, true));
        }
        if (m.dw() != null) {
            launches.add(gemm(c, "dw", m.dw(), dout, f(m.x()), null, oc, ic, n, 1, oc, ic, 1, true));
        }
        if (m.dbias() != null) {
            int chunks = TornadoCompiler.chunks(n);
            FloatArray partial = c.scratchFloats(chunks * oc);
            launches.add(new Launch("dbiasPartials", Grids.elements(chunks * oc), id -> createPackage(id,
                    TornadoReductions::columnPartials, c.context(), partial, dout, n, oc)));
            launches.add(c.addColumnSums(m.dbias(), partial, chunks, oc));
        }
        return launches;
    }

    /** C[M,N] (+)= A·B (+ bias), A(i,k) = a[i·aRow + k·aCol], B(k,j) = b[k·bRow + j·bCol]: see the class comment. */
    private static Launch gemm(TornadoCompiler c, String step, Tensor out, FloatArray a, FloatArray b, Tensor bias,
                               int M, int N, int K, int aRow, int aCol, int bRow, int bCol, boolean accumulate) {
        FloatArray biasOrUnused = c.orUnused(bias);
        int hasBias = TornadoCompiler.present(bias);
        int acc = accumulate ? 1 : 0;
        return new Launch(step, Grids.blocks(M, N, BLOCK, SIDE), id -> createPackage(id, TornadoMatmulKernels::gemmTiled,
                c.context(), f(out), a, b, biasOrUnused, M, N, K, aRow, aCol, bRow, bCol, acc, hasBias));
    }
}
