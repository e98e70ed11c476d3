package org.derf4j.kernels.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision matrix multiply in the three layouts a Linear layer needs, on row-major arrays with
 * offsets and leading dimensions.
 *
 * <p>Versions:
 * <ol>
 *   <li>{@link #reference}: the plain triple loop. The check for the others, and the cpu-reference GEMM.</li>
 *   <li>{@link #multiply}: cache-blocked and packed, on the calling thread (the Goto/BLIS loop nest). For each
 *       KC×NC block of op(B), pack it into NR-column panels; for each MC×KC block of op(A), pack it into MR-row
 *       panels; then an MR×NR register-blocked Vector API micro-kernel multiplies every pair of panels. Packing
 *       is where the three layouts, offsets and leading dimensions are read, and it pads partial panels with
 *       zeros, so the micro-kernel sees one layout and one size. An edge tile is computed whole into a small
 *       tile buffer and only its valid part is written to C.</li>
 *   <li>{@link #onTeam}: the same loop nest on a {@link ThreadTeam}. The C block is split into pieces of up
 *       to MC rows × a range of B panels, each packing its own A block; the team packs the next B block (into a
 *       second buffer) in the same dispatch as it multiplies the current one, so a block costs one wait for
 *       the slowest thread, not two. Bound once, when the op is compiled.</li>
 * </ol>
 *
 * <p>Memory: each thread owns one set of packing buffers ({@link Panels}: an MC×KC A block, one tile and up
 * to two KC×NC B blocks), made the first time the thread needs them and kept for its life. A call allocates
 * nothing, and a thread's footprint is fixed whatever the shapes: about 4 MiB for a thread that drives a
 * team, 2 MiB for one that calls {@link #multiply} (8 and 4 MiB with 16 registers), 130 KiB for a team worker. So
 * {@link #multiply} can run inside another kernel's team chunk. A team multiply packs B into the calling
 * thread's B buffers, which the team then reads.
 *
 * <p>Determinism: every element of C is summed by one thread, one fma per term, KC-block by KC-block and k
 * by k in order. The split between threads only decides who computes an element, never how, so
 * {@link #multiply} and {@link #onTeam} give the same bits for any number of threads.
 */
final class Sgemm {
    private Sgemm() {
    }

    /** Which operand is transposed. Element (i,j) of C is {@code c[cOff + i·ldc + j]}. */
    enum Layout {
        /** C[M,N] (+)= A[M,K] · B[N,K]ᵀ: a Linear forward, x·wᵀ. */
        NT,
        /** C[M,N] (+)= A[M,K] · B[K,N]: a Linear input gradient, dout·w. */
        NN,
        /** C[M,N] (+)= A[K,M]ᵀ · B[K,N]: a Linear weight gradient, doutᵀ·x. */
        TN
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}, tested inline at every fma: see there. */
    private static final boolean FMA = Lanes.FMA;
    private static final int L = S.length();
    /**
     * Micro-tile: MR rows of C × NR = 2 vectors of columns, held in MR·2 accumulators, chosen by the register
     * file ({@link Lanes#REGISTERS}). A step of k needs the accumulators, the 2 vectors of B and the broadcasts
     * of A that C2 schedules ahead (it loads up to 3-4 before their FMAs, and no register pressure stops it).
     * <ul>
     *   <li>32 registers (AVX-512, NEON): 6×2, 12 accumulators. 6×32 tied 8×32 and beat 4×48 and 12×32 by 3-8%
     *       in the whole GEMM on Zen 5 (AVX-512), with the fewest registers.</li>
     *   <li>16 registers (AVX2, AVX, SSE): 4×2, 8 accumulators, the most that C2 keeps in registers. In C2's code on
     *       AVX2 (Zen 3), 6×2 and 5×2 kept one accumulator on the stack (a reload, FMA and store per k, a chain
     *       of ~10 cycles where the 12 FMAs need 6); 4×2 and 3×3 spill nothing. 4×2 is the one whose NR divides
     *       the usual widths. Unrolling k by 2 by hand made C2 hoist the second step's loads and spill: no.</li>
     * </ul>
     */
    private static final int MR = Lanes.REGISTERS >= 32 ? 6 : 4;
    private static final int NR = 2 * L;
    /**
     * Depth of a packed block. Deeper blocks mean fewer passes over C (one load and store of every C tile per
     * block) and fewer tile prologues, against a B panel (KC×NR) that no longer stays in L1 beside the A panels.
     * With 32 registers, a B panel of 32 KiB and at least 512 (512 at 512 bits, 1024 at 128): at 512 bits (Zen 5,
     * 48 KiB L1, 2026-12-02) 512 ran the 2048³ GEMM in 43.5-44.3 ms against 47.5-54.4 with the 32 KiB panel's 256
     * (3 runs each, alternated), and 768 or 1024 moved nothing beyond the noise. With 16 registers, 1024 (a 64 KiB
     * panel at 256 bits, 32 KiB at 128): on Zen 3 at 256 bits, alternated in one JVM, 1024 ran the 2048³ GEMM 4-7%
     * faster than 512 and the training step's shapes 4-10% faster (a 768×256×2048 weight gradient, a
     * 2048×256×1024 forward), and 256 was slower than 512, with the host quiet and with it contended.
     */
    private static final int KC = Lanes.REGISTERS >= 32 ? Math.max(512, 32 * 1024 / Float.BYTES / NR) : 1024;
    /**
     * Rows of a packed A block: 16 tiles of MR rows, fewer where MC×KC floats would pass 128 KiB, so that the
     * block stays in L2 (120 KiB for 6-row tiles at 512 bits; 128 KiB for 4-row tiles at 256); also the rows of
     * one team piece.
     */
    private static final int MC = MR * Math.clamp(128 * 1024 / Float.BYTES / KC / MR, 1, 16);
    /**
     * Columns of a packed B block: KC×NC floats, shared from L3; 2 MiB with 32 registers, 4 MiB with 16. Each A
     * block is packed once per B block, so a wider one packs A less often: on Zen 3 at 256 bits (32 MiB L3,
     * alternated in one JVM, 2026-12-02) 4 MiB ran 1024³, 2048³ and a 4096×3072×768 product 4-6% faster than 2 MiB,
     * and 8 MiB slower.
     */
    private static final int NC = (Lanes.REGISTERS >= 32 ? 2 : 4) * 1024 * 1024 / Float.BYTES / KC;
    /** Below this many multiply-adds, a team multiply runs on the calling thread: a dispatch would cost more. */
    private static final long TEAM_MIN_WORK = 1L << 20;
    /** Team pieces aimed for per thread, so that a slow (shared) core does not hold up the rest. */
    private static final int PIECES_PER_THREAD = 4;
    /** B panels packed per team chunk. */
    private static final int PACK_PANELS_PER_CHUNK = 4;

    /** The plain triple loop: the check for the fast versions and the fallback. */
    static void reference(Layout layout, int M, int N, int K, float[] a, int aOff, int lda, float[] b, int bOff,
                          int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float sum = 0f;
                for (int k = 0; k < K; k++) {
                    float av = layout == Layout.TN ? a[aOff + k * lda + i] : a[aOff + i * lda + k];
                    float bv = layout == Layout.NT ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j];
                    sum += av * bv;
                }
                int o = cOff + i * ldc + j;
                c[o] = accumulate ? c[o] + sum : sum;
            }
        }
    }

    // Packing reads op(A)[i,k] = a[aOff + i·aRow + k·aDepth] and op(B)[k,j] = b[bOff + k·bDepth + j·bCol].

    private static int aRowStride(Layout layout, int lda) {
        return layout == Layout.TN ? 1 : lda;
    }

    private static int aDepthStride(Layout layout, int lda) {
        return layout == Layout.TN ? lda : 1;
    }

    private static int bDepthStride(Layout layout, int ldb) {
        return layout == Layout.NT ? 1 : ldb;
    }

    private static int bColStride(Layout layout, int ldb) {
        return layout == Layout.NT ? ldb : 1;
    }

    /**
     * C[M,N] (+)= op(A)·op(B) on the calling thread: the fast version of {@link #reference}, same arguments.
     * Safe to call from inside another kernel's team chunk.
     */
    static void multiply(Layout layout, int M, int N, int K, float[] a, int aOff, int lda, float[] b, int bOff,
                         int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
        multiply(M, N, K, a, aOff, aRowStride(layout, lda), aDepthStride(layout, lda), b, bOff,
                bDepthStride(layout, ldb), bColStride(layout, ldb), c, cOff, ldc, accumulate);
    }

    private static void multiply(int M, int N, int K, float[] a, int aOff, int aRow, int aDepth, float[] b,
                                 int bOff, int bDepth, int bCol, float[] c, int cOff, int ldc, boolean accumulate) {
        if (K == 0) {
            clearUnlessAccumulating(M, N, c, cOff, ldc, accumulate);
            return;
        }
        Panels own = PANELS.get();
        float[] bp = own.b(0);
        for (int jc = 0; jc < N; jc += NC) {
            int nc = Math.min(NC, N - jc);
            int panels = panels(nc);
            for (int pc = 0; pc < K; pc += KC) {
                int kc = Math.min(KC, K - pc);
                packB(b, bOff, bDepth, bCol, pc, kc, jc, nc, 0, panels, bp);
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = Math.min(MC, M - ic);
                    packA(a, aOff, aRow, aDepth, ic, mc, pc, kc, own.a);
                    macroKernel(own.a, mc, bp, 0, panels, nc, kc, c, cOff + ic * ldc + jc, ldc,
                            accumulate || pc > 0, own.tile);
                }
            }
        }
    }

    /**
     * C[M,N] (+)= op(A)·op(B) on {@code team}, arguments as in {@link #reference}, bound now: the returned
     * kernel allocates nothing when it runs. Run it from one thread at a time, not from a team chunk.
     */
    static Runnable onTeam(ThreadTeam team, Layout layout, int M, int N, int K, float[] a, int aOff, int lda,
                           float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
        int aRow = aRowStride(layout, lda);
        int aDepth = aDepthStride(layout, lda);
        int bDepth = bDepthStride(layout, ldb);
        int bCol = bColStride(layout, ldb);
        // Also where K = 0: the team version needs K ≥ 1.
        if (team.threads() == 1 || (long) M * N * K < TEAM_MIN_WORK) {
            return () -> multiply(M, N, K, a, aOff, aRow, aDepth, b, bOff, bDepth, bCol, c, cOff, ldc, accumulate);
        }
        return new TeamMultiply(team, M, N, K, a, aOff, aRow, aDepth, b, bOff, bDepth, bCol, c, cOff, ldc,
                accumulate);
    }

    /** {@link #multiply}'s loop nest with the B packing and the C block spread over a team. */
    private static final class TeamMultiply implements Runnable {
        private final ThreadTeam team;
        private final int M, N, K;
        private final float[] a, b, c;
        private final int aOff, aRow, aDepth, bOff, bDepth, bCol, cOff, ldc;
        private final boolean accumulate;
        /**
         * Rows of a piece: MC, or fewer (whole tiles) where M has too few MC blocks to give every thread
         * {@link #PIECES_PER_THREAD} pieces. Splitting the rows costs nothing, since every row is packed once
         * either way; splitting the columns makes each piece pack the same A block again. A weight gradient
         * of a narrow layer (M = 128 output features, K = thousands of tokens) had spent as long packing A
         * as multiplying.
         */
        private final int rows;
        private final int mBlocks;
        private final ThreadTeam.Body step = this::step;
        // Set by the calling thread before each dispatch, which publishes them: the C block, the B block being
        // multiplied (pc, kc, in `multiplying`) and the one being packed meanwhile (nextPc, nextKc, into
        // `packing`, in the first packChunks chunks; none when packChunks = 0).
        private int jc, nc, panels, pieces;
        private int pc, kc, nextPc, nextKc, packChunks;
        private float[] multiplying, packing;

        TeamMultiply(ThreadTeam team, int M, int N, int K, float[] a, int aOff, int aRow, int aDepth, float[] b,
                     int bOff, int bDepth, int bCol, float[] c, int cOff, int ldc, boolean accumulate) {
            this.team = team;
            this.M = M;
            this.N = N;
            this.K = K;
            this.a = a;
            this.aOff = aOff;
            this.aRow = aRow;
            this.aDepth = aDepth;
            this.b = b;
            this.bOff = bOff;
            this.bDepth = bDepth;
            this.bCol = bCol;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            this.accumulate = accumulate;
            int wanted = PIECES_PER_THREAD * team.threads();
            this.rows = Math.min(MC, MR * ThreadTeam.chunks(ThreadTeam.chunks(M, wanted), MR));
            this.mBlocks = ThreadTeam.chunks(M, rows);
        }

        /**
         * Packs each B block while the team multiplies the one before it, so that a block costs one dispatch
         * (and one wait for the slowest thread), not two.
         */
        @Override
        public void run() {
            Panels own = PANELS.get();
            float[] first = own.b(0);
            float[] second = own.b(1);
            for (jc = 0; jc < N; jc += NC) {
                nc = Math.min(NC, N - jc);
                panels = panels(nc);
                // Split the block's panels so that there are enough pieces to balance the team.
                pieces = Math.min(panels, ThreadTeam.chunks(PIECES_PER_THREAD * team.threads(), mBlocks));
                packing = first;
                packNext(0);
                team.run(packChunks, step);
                for (pc = 0; pc < K; pc += KC) {
                    kc = Math.min(KC, K - pc);
                    multiplying = packing;
                    packing = multiplying == first ? second : first;
                    packNext(pc + KC);
                    team.run(packChunks + mBlocks * pieces, step);
                }
            }
        }

        private void packNext(int p0) {
            nextPc = p0;
            nextKc = Math.min(KC, K - p0);
            packChunks = p0 < K ? ThreadTeam.chunks(panels, PACK_PANELS_PER_CHUNK) : 0;
        }

        // Chunks [0, packChunks) pack the next B block; the rest are pieces of the C block.
        private void step(int chunk) {
            if (chunk < packChunks) {
                int from = chunk * PACK_PANELS_PER_CHUNK;
                packB(b, bOff, bDepth, bCol, nextPc, nextKc, jc, nc, from,
                        Math.min(panels, from + PACK_PANELS_PER_CHUNK), packing);
            } else {
                multiplyPiece(chunk - packChunks);
            }
        }

        // One piece: rows [ic, ic + mc) of the C block against B panels [from, to).
        private void multiplyPiece(int piece) {
            int ic = piece / pieces * rows;
            int part = piece % pieces;
            int mc = Math.min(rows, M - ic);
            Panels own = PANELS.get();
            packA(a, aOff, aRow, aDepth, ic, mc, pc, kc, own.a);
            macroKernel(own.a, mc, multiplying, part * panels / pieces, (part + 1) * panels / pieces, nc, kc, c,
                    cOff + ic * ldc + jc, ldc, accumulate || pc > 0, own.tile);
        }
    }

    /** One thread's packing buffers; see the class comment. */
    private static final class Panels {
        final float[] a = new float[MC * KC];
        final float[] tile = new float[MR * NR];
        private final float[][] b = new float[2][];

        /** B block buffer 0 or 1, made on first use: team workers that only run pieces never need one. */
        float[] b(int i) {
            if (b[i] == null) {
                b[i] = new float[KC * NC];
            }
            return b[i];
        }
    }

    private static final ThreadLocal<Panels> PANELS = ThreadLocal.withInitial(Panels::new);

    private static int panels(int nc) {
        return ThreadTeam.chunks(nc, NR);
    }

    // Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into MR-row panels: panel q holds rows i0 + q·MR .. at ap[q·MR·kc],
    // k-major.
    private static void packA(float[] a, int aOff, int aRow, int aDepth, int i0, int mc, int p0, int kc,
                              float[] ap) {
        pack(a, aOff + i0 * aRow + p0 * aDepth, aRow, aDepth, mc, MR, kc, 0, ThreadTeam.chunks(mc, MR), ap);
    }

    // Packs panels [from, to) of op(B)[p0 .. p0+kc, j0 .. j0+nc) into NR-column panels: panel q holds columns
    // j0 + q·NR .. at bp[q·NR·kc], k-major.
    private static void packB(float[] b, int bOff, int bDepth, int bCol, int p0, int kc, int j0, int nc, int from,
                              int to, float[] bp) {
        pack(b, bOff + p0 * bDepth + j0 * bCol, bCol, bDepth, nc, NR, kc, from, to, bp);
    }

    /**
     * Panels [from, to) of a source {@code extent} wide along x and kc deep, each {@code width} wide and k-major:
     * {@code dst[x0·kc + k·width + (x − x0)] = src[s + x·xStride + k·kStride]} for the panel starting at
     * x0, zero past the extent. A and B share it; only the strides differ. Whole panels are copied by loops of
     * constant length, which C2 unrolls: a panel row of whole vectors (B's, x along the source rows) as vectors,
     * one of MR floats (A's, transposed) or a transposing copy element by element, k by k, so that the reads
     * run along the source rows and the writes are contiguous. System.arraycopy of 4 to 16 floats, and a
     * transposing copy row by row (writes strided by the panel width) had made packing a third of the time of
     * 64×64×64 products (attention's tiles, when they went through Sgemm). A partial last panel takes the plain
     * loops, and zeros.
     */
    private static void pack(float[] src, int s, int xStride, int kStride, int extent, int width, int kc, int from,
                             int to, float[] dst) {
        int full = Math.min(to, extent / width);
        for (int p = from; p < full; p++) {
            int x0 = p * width;
            if (width == NR) {
                packPanel(src, s + x0 * xStride, xStride, kStride, NR, kc, dst, x0 * kc);
            } else {
                packPanel(src, s + x0 * xStride, xStride, kStride, MR, kc, dst, x0 * kc);
            }
        }
        for (int p = Math.max(from, full); p < to; p++) {
            int x0 = p * width;
            for (int k = 0; k < kc; k++) {
                int d = x0 * kc + k * width;
                for (int x = x0; x < Math.min(x0 + width, extent); x++) {
                    dst[d + x - x0] = src[s + x * xStride + k * kStride];
                }
                Arrays.fill(dst, d + extent - x0, d + width, 0f);
            }
        }
    }

    // One whole panel, width = NR or MR (a constant where C2 compiles it inline): dst[d + k·width + x] =
    // src[s + x·xStride + k·kStride].
    private static void packPanel(float[] src, int s, int xStride, int kStride, int width, int kc, float[] dst, int d) {
        if (xStride == 1 && width % L == 0) {
            for (int k = 0; k < kc; k++, d += width) {
                for (int x = 0; x < width; x += L) {
                    FloatVector.fromArray(S, src, s + k * kStride + x).intoArray(dst, d + x);
                }
            }
        } else {
            for (int k = 0; k < kc; k++, d += width) {
                int sk = s + k * kStride;
                for (int x = 0; x < width; x++) {
                    dst[d + x] = src[sk + x * xStride];
                }
            }
        }
    }

    // C block (+)= packed A block (mc rows) · B panels [from, to) of a block nc wide; cBlock is C[ic, jc].
    private static void macroKernel(float[] ap, int mc, float[] bp, int from, int to, int nc, int kc, float[] c,
                                    int cBlock, int ldc, boolean add, float[] tile) {
        for (int q = from; q < to; q++) {
            int col = q * NR;
            int nr = Math.min(NR, nc - col);
            for (int row = 0; row < mc; row += MR) {
                int mr = Math.min(MR, mc - row);
                int ci = cBlock + row * ldc + col;
                if (mr == MR && nr == NR) {
                    microKernel(ap, row * kc, bp, col * kc, kc, c, ci, ldc, add);
                } else {
                    microKernel(ap, row * kc, bp, col * kc, kc, tile, 0, NR, false);
                    for (int r = 0; r < mr; r++) {
                        for (int j = 0; j < nr; j++) {
                            int o = ci + r * ldc + j;
                            c[o] = add ? c[o] + tile[r * NR + j] : tile[r * NR + j];
                        }
                    }
                }
            }
        }
    }

    // C[MR,NR] (+)= Ap[MR,kc]·Bp[kc,NR], in the tile of MR rows the register file holds.
    private static void microKernel(float[] ap, int ai, float[] bp, int bi, int kc, float[] c, int ci, int ldc,
                                    boolean add) {
        if (MR == 6) {
            registerBlocked6x2(ap, ai, bp, bi, kc, c, ci, ldc, add);
        } else {
            registerBlocked4x2(ap, ai, bp, bi, kc, c, ci, ldc, add);
        }
    }

    // C[6,NR] (+)= Ap[6,kc]·Bp[kc,NR]: 12 accumulators stay in registers; per k, 2 vector loads of packed B,
    // 6 broadcasts of packed A, and 12 fmas. The loop steps the panel offsets themselves (C2 then computes no
    // index from k). C is read and written inline, without a helper: C2 stops inlining calls in a method this
    // big, and a vector passed to a call that is not inlined is boxed, an allocation per tile.
    private static void registerBlocked6x2(float[] ap, int ai, float[] bp, int bi, int kc, float[] c, int ci,
                                           int ldc, boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int a = ai, b = bi, end = ai + kc * 6; a < end; a += 6, b += NR) {
            FloatVector b0 = FloatVector.fromArray(S, bp, b);
            FloatVector b1 = FloatVector.fromArray(S, bp, b + L);
            FloatVector a0 = FloatVector.broadcast(S, ap[a]);
            c00 = FMA ? a0.fma(b0, c00) : a0.mul(b0).add(c00);
            c01 = FMA ? a0.fma(b1, c01) : a0.mul(b1).add(c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[a + 1]);
            c10 = FMA ? a1.fma(b0, c10) : a1.mul(b0).add(c10);
            c11 = FMA ? a1.fma(b1, c11) : a1.mul(b1).add(c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[a + 2]);
            c20 = FMA ? a2.fma(b0, c20) : a2.mul(b0).add(c20);
            c21 = FMA ? a2.fma(b1, c21) : a2.mul(b1).add(c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[a + 3]);
            c30 = FMA ? a3.fma(b0, c30) : a3.mul(b0).add(c30);
            c31 = FMA ? a3.fma(b1, c31) : a3.mul(b1).add(c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[a + 4]);
            c40 = FMA ? a4.fma(b0, c40) : a4.mul(b0).add(c40);
            c41 = FMA ? a4.fma(b1, c41) : a4.mul(b1).add(c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[a + 5]);
            c50 = FMA ? a5.fma(b0, c50) : a5.mul(b0).add(c50);
            c51 = FMA ? a5.fma(b1, c51) : a5.mul(b1).add(c51);
        }
        if (add) {
            c00 = c00.add(FloatVector.fromArray(S, c, ci));
            c01 = c01.add(FloatVector.fromArray(S, c, ci + L));
            c10 = c10.add(FloatVector.fromArray(S, c, ci + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, ci + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, ci + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, ci + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, ci + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, ci + 3 * ldc + L));
            c40 = c40.add(FloatVector.fromArray(S, c, ci + 4 * ldc));
            c41 = c41.add(FloatVector.fromArray(S, c, ci + 4 * ldc + L));
            c50 = c50.add(FloatVector.fromArray(S, c, ci + 5 * ldc));
            c51 = c51.add(FloatVector.fromArray(S, c, ci + 5 * ldc + L));
        }
        c00.intoArray(c, ci); c01.intoArray(c, ci + L);
        c10.intoArray(c, ci + ldc); c11.intoArray(c, ci + ldc + L);
        c20.intoArray(c, ci + 2 * ldc); c21.intoArray(c, ci + 2 * ldc + L);
        c30.intoArray(c, ci + 3 * ldc); c31.intoArray(c, ci + 3 * ldc + L);
        c40.intoArray(c, ci + 4 * ldc); c41.intoArray(c, ci + 4 * ldc + L);
        c50.intoArray(c, ci + 5 * ldc); c51.intoArray(c, ci + 5 * ldc + L);
    }

    // C[4,NR] (+)= Ap[4,kc]·Bp[kc,NR]: as registerBlocked6x2 with 8 accumulators; per k 2 loads, 4 broadcasts,
    // 8 fmas, and 3 instructions of loop (19 in all in C2's code on AVX2).
    private static void registerBlocked4x2(float[] ap, int ai, float[] bp, int bi, int kc, float[] c, int ci,
                                           int ldc, boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        for (int a = ai, b = bi, end = ai + kc * 4; a < end; a += 4, b += NR) {
            FloatVector b0 = FloatVector.fromArray(S, bp, b);
            FloatVector b1 = FloatVector.fromArray(S, bp, b + L);
            FloatVector a0 = FloatVector.broadcast(S, ap[a]);
            c00 = FMA ? a0.fma(b0, c00) : a0.mul(b0).add(c00);
            c01 = FMA ? a0.fma(b1, c01) : a0.mul(b1).add(c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[a + 1]);
            c10 = FMA ? a1.fma(b0, c10) : a1.mul(b0).add(c10);
            c11 = FMA ? a1.fma(b1, c11) : a1.mul(b1).add(c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[a + 2]);
            c20 = FMA ? a2.fma(b0, c20) : a2.mul(b0).add(c20);
            c21 = FMA ? a2.fma(b1, c21) : a2.mul(b1).add(c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[a + 3]);
            c30 = FMA ? a3.fma(b0, c30) : a3.mul(b0).add(c30);
            c31 = FMA ? a3.fma(b1, c31) : a3.mul(b1).add(c31);
        }
        if (add) {
            c00 = c00.add(FloatVector.fromArray(S, c, ci));
            c01 = c01.add(FloatVector.fromArray(S, c, ci + L));
            c10 = c10.add(FloatVector.fromArray(S, c, ci + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, ci + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, ci + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, ci + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, ci + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, ci + 3 * ldc + L));
        }
        c00.intoArray(c, ci); c01.intoArray(c, ci + L);
        c10.intoArray(c, ci + ldc); c11.intoArray(c, ci + ldc + L);
        c20.intoArray(c, ci + 2 * ldc); c21.intoArray(c, ci + 2 * ldc + L);
        c30.intoArray(c, ci + 3 * ldc); c31.intoArray(c, ci + 3 * ldc + L);
    }

    private static void clearUnlessAccumulating(int M, int N, float[] c, int cOff, int ldc, boolean accumulate) {
        if (!accumulate) {
            for (int i = 0; i < M; i++) {
                Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + N, 0f);
            }
        }
    }
}
