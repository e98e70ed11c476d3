package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.Attention;

/**
 * Causal multi-head self-attention on {@code qkv[B,T,3C]}, one (batch, head) pair per call, indexed
 * {@code bh = b·NH + h}. See {@link org.derf4j.kernels.Attention} for the layout. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, one query at a time; the forward keeps
 *       one row of T scores.</li>
 *   <li>{@code forwardTiled}/{@code backwardTiled}: FlashAttention's tiling with the Vector API, in tiles of
 *       BQ queries × BK keys. The inputs are packed into scratch: copies of K and V (and, in the backward, of
 *       Q and dout) in panels of PANEL columns, Q scaled by 1/√HS, and transposed copies of Q (and dout); rows
 *       are padded to whole vectors, so any HS runs with no leftover code. Every product of two tiles is a
 *       register-blocked kernel that reads the tiles where they lie ({@code product}); on a diagonal pair of
 *       tiles it skips most of the masked half ({@code Part}). Scores are kept key-major
 *       (a tile of Sᵀ = K·Qᵀ), so the softmax works on vectors of queries with no horizontal reductions, and
 *       the causal mask is written into the tile as −∞, which exp ({@link Exp}'s, the same bits in every JIT
 *       tier) turns into 0, so the vector loops carry no masks.
 *       <ul>
 *         <li>The forward keeps a running max and sum per query (online softmax): one BK×BQ tile of scores
 *             at most, never T×T.</li>
 *         <li>The backward walks key tiles outermost, keeps the tile's dK and dV in scratch, recomputes P from
 *             lse with D_t = dout_t·out_t, and sums dQ of the whole head in scratch. A call owns every gradient
 *             of its head, so no two calls write the same element and the order of every sum is fixed.</li>
 *       </ul></li>
 * </ol>
 */
final class AttentionKernels {
    private AttentionKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    private static final int L = S.length();
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;
    /**
     * Queries per tile, a whole number of vectors at any width up to 512 bits. Tile columns (and HS) are padded
     * to whole vectors: heads of 64 or 128 floats waste nothing, other head sizes pay for their padding.
     */
    static final int BQ = 64;
    /** Keys per tile. */
    static final int BK = BQ;
    /**
     * Whether {@link #product} multiplies in blocks of 4 rows × 4 vectors (16 accumulators, 4 vectors of B and a
     * broadcast: 32 registers, as AVX-512 and NEON have), or of 4 × 2 (11 registers, for AVX2's and SSE's 16).
     */
    private static final boolean WIDE = Lanes.REGISTERS >= 32;
    /**
     * The rows of a {@link #product} block; the rows of a product are padded to it. Padding rows of K and V hold
     * zeros or an earlier tile's values: their scores are masked to −∞ (so P = dS = 0) or never read.
     */
    private static final int ROWS = 4;
    /**
     * The width of the panels that scratch matrices over the head dimension (keys, values, queries, dout, and
     * the sums over them) are stored in: [rows][HS] as ⌈HS/PANEL⌉ panels of [rows][PANEL]. So every tile that
     * {@link #product} reads or writes has rows PANEL = BQ floats apart, a constant (see there why that matters).
     */
    private static final int PANEL = BQ;

    /**
     * Which part of a product to compute ({@link #partialProduct}). On a diagonal pair of tiles (the same BQ
     * times), key j and query i meet only where i ≥ j, so about half of each product there multiplies masked
     * zeros; the parts skip most of it (at T = 128, two of the three tile pairs are diagonal).
     */
    private enum Part {
        /** Every term. */
        ALL,
        /** C[r][c] only where c ≥ r, to within a band: rows are keys and columns queries (scores, dP). */
        COLUMNS_FROM_ROW,
        /** The terms k ≥ r of row r: rows are keys and k runs over queries (dV, dK). */
        TERMS_FROM_ROW,
        /** The terms k ≤ r of row r: rows are queries and k runs over keys (P·V, dQ). */
        TERMS_TO_ROW
    }

    // out[b,t,h·HS:(h+1)·HS] = Σ_{j≤t} softmax_j(q_t·k_j/√HS) v_j, lse[b,h,t] = log Σ_{j≤t} exp(q_t·k_j/√HS);
    // scores[T] is scratch.
    static void forwardReference(float[] out, float[] lse, float[] qkv, int T, int C, int NH, int bh,
                                 float[] scores) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int t = 0; t < T; t++) {
            int q = (b * T + t) * 3 * C + h * hs;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= t; j++) {
                int k = (b * T + j) * 3 * C + C + h * hs;
                float dot = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv[q + d] * qkv[k + d];
                }
                scores[j] = dot * scale;
                max = Math.max(max, scores[j]);
            }
            float sum = 0f;
            for (int j = 0; j <= t; j++) {
                scores[j] = (float) Math.exp(scores[j] - max);
                sum += scores[j];
            }
            int o = (b * T + t) * C + h * hs;
            for (int d = 0; d < hs; d++) {
                out[o + d] = 0f;
            }
            for (int j = 0; j <= t; j++) {
                int v = (b * T + j) * 3 * C + 2 * C + h * hs;
                float p = scores[j] / sum;
                for (int d = 0; d < hs; d++) {
                    out[o + d] += p * qkv[v + d];
                }
            }
            lse[bh * T + t] = max + (float) Math.log(sum);
        }
    }

    // With p_tj = exp(q_t·k_j/√HS − lse_t) and D_t = dout_t·out_t:
    // dv_j += Σ_t p_tj dout_t; ds_tj = p_tj (dout_t·v_j − D_t); dq_t += Σ_j ds_tj k_j/√HS; dk_j += Σ_t ds_tj q_t/√HS
    static void backwardReference(float[] dqkv, float[] dout, float[] qkv, float[] out, float[] lse, int T, int C,
                                  int NH, int bh) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int t = 0; t < T; t++) {
            int q = (b * T + t) * 3 * C + h * hs;
            int o = (b * T + t) * C + h * hs;
            float dotDoutOut = 0f;
            for (int d = 0; d < hs; d++) {
                dotDoutOut += dout[o + d] * out[o + d];
            }
            for (int j = 0; j <= t; j++) {
                int k = (b * T + j) * 3 * C + C + h * hs;
                int v = k + C;
                float dot = 0f;
                float dp = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv[q + d] * qkv[k + d];
                    dp += dout[o + d] * qkv[v + d];
                }
                float p = (float) Math.exp(dot * scale - lse[bh * T + t]);
                float ds = p * (dp - dotDoutOut) * scale;
                for (int d = 0; d < hs; d++) {
                    dqkv[v + d] += p * dout[o + d];
                    dqkv[q + d] += ds * qkv[k + d];
                    dqkv[k + d] += ds * qkv[q + d];
                }
            }
        }
    }

    private static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    /** Where element (row, d) of a matrix over head dimensions lies in its panels of PANEL columns. */
    private static int at(int row, int d, int panelRows) {
        return d / PANEL * panelRows * PANEL + row * PANEL + d % PANEL;
    }

    // C[rows][cols] (+)= A(rows×n)·B[n][cols] for tiles whose rows lie PANEL floats apart: c[r][j] at cOff + r·PANEL +
    // j, b[k][j] at bOff + k·PANEL + j, and a(r,k) at aOff + r·PANEL + k, or, where aTransposed, at aOff + k·PANEL + r;
    // rows % ROWS == 0, cols % L == 0 and cols ≤ PANEL. In blocks of 4 rows: 4 vectors of columns at a time where WIDE,
    // then 2, then 1. The block's accumulators hide the FMA latency, and each k loads its vectors of b and four scalars
    // of a; k runs in order, one fma per term, as in Sgemm. Why not Sgemm.multiply, whose micro-kernel is the same
    // idea: it packs both operands first (A by a scalar transpose into MR-row panels), and for tiles of 64×64×HS that
    // cost more than it saved. On Zen 5 (2026-12-02, JMH AttentionBenchmark, alternated runs) the in-place blocks ran
    // both shapes 1.2-1.6× faster at 512 bits, up to 1.2× at 128 bits with 32 registers, ~15% faster at 256 bits with
    // 16, and alike at 128 bits with 16.
    // The strides are constants, and aTransposed is tested inside the k loops, which C2 unswitches into a copy for each
    // value: every index is then k times a constant plus an invariant, so C2 takes the bounds checks out of the loops
    // and computes no index from k. With strides passed in it kept six checks and a multiply per k, ~30 instructions
    // for 8 fma, and a 64³ product ran at 54 GFLOP/s against 74 (Zen 3, one thread, 256 bits, operands in L1).
    // One method, not a kernel per block shape: it is too large for C2 to inline, and small kernels inlined at every
    // call took so much of the callers' budget that C2 left Exp out of line and allocated every vector it took (which
    // is also why the softmax loops are methods of their own).
    private static void product(float[] c, int cOff, float[] a, int aOff, boolean aTransposed, float[] b, int bOff,
                                int rows, int cols, int n, boolean accumulate) {
        int aRow = aTransposed ? 1 : PANEL; // from one row of A to the next
        for (int r = 0; r < rows; r += ROWS) {
            if (!accumulate) {
                for (int i = r; i < r + ROWS; i++) {
                    Arrays.fill(c, cOff + i * PANEL, cOff + i * PANEL + cols, 0f);
                }
            }
            int aRows = aOff + r * aRow;
            int col = 0;
            for (; WIDE && col + 4 * L <= cols; col += 4 * L) {
                int cTile = cOff + r * PANEL + col;
                int bCol = bOff + col;
                FloatVector c00 = FloatVector.fromArray(S, c, cTile);
                FloatVector c01 = FloatVector.fromArray(S, c, cTile + L);
                FloatVector c02 = FloatVector.fromArray(S, c, cTile + 2 * L);
                FloatVector c03 = FloatVector.fromArray(S, c, cTile + 3 * L);
                FloatVector c10 = FloatVector.fromArray(S, c, cTile + PANEL);
                FloatVector c11 = FloatVector.fromArray(S, c, cTile + PANEL + L);
                FloatVector c12 = FloatVector.fromArray(S, c, cTile + PANEL + 2 * L);
                FloatVector c13 = FloatVector.fromArray(S, c, cTile + PANEL + 3 * L);
                FloatVector c20 = FloatVector.fromArray(S, c, cTile + 2 * PANEL);
                FloatVector c21 = FloatVector.fromArray(S, c, cTile + 2 * PANEL + L);
                FloatVector c22 = FloatVector.fromArray(S, c, cTile + 2 * PANEL + 2 * L);
                FloatVector c23 = FloatVector.fromArray(S, c, cTile + 2 * PANEL + 3 * L);
                FloatVector c30 = FloatVector.fromArray(S, c, cTile + 3 * PANEL);
                FloatVector c31 = FloatVector.fromArray(S, c, cTile + 3 * PANEL + L);
                FloatVector c32 = FloatVector.fromArray(S, c, cTile + 3 * PANEL + 2 * L);
                FloatVector c33 = FloatVector.fromArray(S, c, cTile + 3 * PANEL + 3 * L);
                for (int k = 0; k < n; k++) {
                    int bk = bCol + k * PANEL;
                    FloatVector b0 = FloatVector.fromArray(S, b, bk);
                    FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
                    FloatVector b2 = FloatVector.fromArray(S, b, bk + 2 * L);
                    FloatVector b3 = FloatVector.fromArray(S, b, bk + 3 * L);
                    int ak;
                    if (aTransposed) {
                        ak = aRows + k * PANEL;
                    } else {
                        ak = aRows + k;
                    }
                    FloatVector a0 = FloatVector.broadcast(S, a[ak]);
                    c00 = FMA ? b0.fma(a0, c00) : b0.mul(a0).add(c00);
                    c01 = FMA ? b1.fma(a0, c01) : b1.mul(a0).add(c01);
                    c02 = FMA ? b2.fma(a0, c02) : b2.mul(a0).add(c02);
                    c03 = FMA ? b3.fma(a0, c03) : b3.mul(a0).add(c03);
                    FloatVector a1 = FloatVector.broadcast(S, a[ak + aRow]);
                    c10 = FMA ? b0.fma(a1, c10) : b0.mul(a1).add(c10);
                    c11 = FMA ? b1.fma(a1, c11) : b1.mul(a1).add(c11);
                    c12 = FMA ? b2.fma(a1, c12) : b2.mul(a1).add(c12);
                    c13 = FMA ? b3.fma(a1, c13) : b3.mul(a1).add(c13);
                    FloatVector a2 = FloatVector.broadcast(S, a[ak + 2 * aRow]);
                    c20 = FMA ? b0.fma(a2, c20) : b0.mul(a2).add(c20);
                    c21 = FMA ? b1.fma(a2, c21) : b1.mul(a2).add(c21);
                    c22 = FMA ? b2.fma(a2, c22) : b2.mul(a2).add(c22);
                    c23 = FMA ? b3.fma(a2, c23) : b3.mul(a2).add(c23);
                    FloatVector a3 = FloatVector.broadcast(S, a[ak + 3 * aRow]);
                    c30 = FMA ? b0.fma(a3, c30) : b0.mul(a3).add(c30);
                    c31 = FMA ? b1.fma(a3, c31) : b1.mul(a3).add(c31);
                    c32 = FMA ? b2.fma(a3, c32) : b2.mul(a3).add(c32);
                    c33 = FMA ? b3.fma(a3, c33) : b3.mul(a3).add(c33);
                }
                c00.intoArray(c, cTile);
                c01.intoArray(c, cTile + L);
                c02.intoArray(c, cTile + 2 * L);
                c03.intoArray(c, cTile + 3 * L);
                c10.intoArray(c, cTile + PANEL);
                c11.intoArray(c, cTile + PANEL + L);
                c12.intoArray(c, cTile + PANEL + 2 * L);
                c13.intoArray(c, cTile + PANEL + 3 * L);
                c20.intoArray(c, cTile + 2 * PANEL);
                c21.intoArray(c, cTile + 2 * PANEL + L);
                c22.intoArray(c, cTile + 2 * PANEL + 2 * L);
                c23.intoArray(c, cTile + 2 * PANEL + 3 * L);
                c30.intoArray(c, cTile + 3 * PANEL);
                c31.intoArray(c, cTile + 3 * PANEL + L);
                c32.intoArray(c, cTile + 3 * PANEL + 2 * L);
                c33.intoArray(c, cTile + 3 * PANEL + 3 * L);
            }
            for (; col + 2 * L <= cols; col += 2 * L) {
                int cTile = cOff + r * PANEL + col;
                int bCol = bOff + col;
                FloatVector c00 = FloatVector.fromArray(S, c, cTile);
                FloatVector c01 = FloatVector.fromArray(S, c, cTile + L);
                FloatVector c10 = FloatVector.fromArray(S, c, cTile + PANEL);
                FloatVector c11 = FloatVector.fromArray(S, c, cTile + PANEL + L);
                FloatVector c20 = FloatVector.fromArray(S, c, cTile + 2 * PANEL);
                FloatVector c21 = FloatVector.fromArray(S, c, cTile + 2 * PANEL + L);
                FloatVector c30 = FloatVector.fromArray(S, c, cTile + 3 * PANEL);
                FloatVector c31 = FloatVector.fromArray(S, c, cTile + 3 * PANEL + L);
                for (int k = 0; k < n; k++) {
                    int bk = bCol + k * PANEL;
                    FloatVector b0 = FloatVector.fromArray(S, b, bk);
                    FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
                    int ak;
                    if (aTransposed) {
                        ak = aRows + k * PANEL;
                    } else {
                        ak = aRows + k;
                    }
                    FloatVector a0 = FloatVector.broadcast(S, a[ak]);
                    c00 = FMA ? b0.fma(a0, c00) : b0.mul(a0).add(c00);
                    c01 = FMA ? b1.fma(a0, c01) : b1.mul(a0).add(c01);
                    FloatVector a1 = FloatVector.broadcast(S, a[ak + aRow]);
                    c10 = FMA ? b0.fma(a1, c10) : b0.mul(a1).add(c10);
                    c11 = FMA ? b1.fma(a1, c11) : b1.mul(a1).add(c11);
                    FloatVector a2 = FloatVector.broadcast(S, a[ak + 2 * aRow]);
                    c20 = FMA ? b0.fma(a2, c20) : b0.mul(a2).add(c20);
                    c21 = FMA ? b1.fma(a2, c21) : b1.mul(a2).add(c21);
                    FloatVector a3 = FloatVector.broadcast(S, a[ak + 3 * aRow]);
                    c30 = FMA ? b0.fma(a3, c30) : b0.mul(a3).add(c30);
                    c31 = FMA ? b1.fma(a3, c31) : b1.mul(a3).add(c31);
                }
                c00.intoArray(c, cTile);
                c01.intoArray(c, cTile + L);
                c10.intoArray(c, cTile + PANEL);
                c11.intoArray(c, cTile + PANEL + L);
                c20.intoArray(c, cTile + 2 * PANEL);
                c21.intoArray(c, cTile + 2 * PANEL + L);
                c30.intoArray(c, cTile + 3 * PANEL);
                c31.intoArray(c, cTile + 3 * PANEL + L);
            }
            for (; col < cols; col += L) {
                int cTile = cOff + r * PANEL + col;
                int bCol = bOff + col;
                FloatVector c0 = FloatVector.fromArray(S, c, cTile);
                FloatVector c1 = FloatVector.fromArray(S, c, cTile + PANEL);
                FloatVector c2 = FloatVector.fromArray(S, c, cTile + 2 * PANEL);
                FloatVector c3 = FloatVector.fromArray(S, c, cTile + 3 * PANEL);
                for (int k = 0; k < n; k++) {
                    FloatVector bk = FloatVector.fromArray(S, b, bCol + k * PANEL);
                    int ak;
                    if (aTransposed) {
                        ak = aRows + k * PANEL;
                    } else {
                        ak = aRows + k;
                    }
                    FloatVector a0 = FloatVector.broadcast(S, a[ak]);
                    FloatVector a1 = FloatVector.broadcast(S, a[ak + aRow]);
                    FloatVector a2 = FloatVector.broadcast(S, a[ak + 2 * aRow]);
                    FloatVector a3 = FloatVector.broadcast(S, a[ak + 3 * aRow]);
                    c0 = FMA ? bk.fma(a0, c0) : bk.mul(a0).add(c0);
                    c1 = FMA ? bk.fma(a1, c1) : bk.mul(a1).add(c1);
                    c2 = FMA ? bk.fma(a2, c2) : bk.mul(a2).add(c2);
                    c3 = FMA ? bk.fma(a3, c3) : bk.mul(a3).add(c3);
                }
                c0.intoArray(c, cTile);
                c1.intoArray(c, cTile + PANEL);
                c2.intoArray(c, cTile + 2 * PANEL);
                c3.intoArray(c, cTile + 3 * PANEL);
            }
        }
    }

    /** Rows per {@link #product} call in {@link #partialProduct}. */
    private static final int BAND = 16;

    // product, restricted to part, in bands of BAND rows, each a product call of its own with the columns or terms
    // its rows need. Within product, bounds per block of rows cost more than the terms they skipped: with a Part
    // argument and every value of it seen, C2 kept the loops' invariants on the stack, and whole products ran ~20%
    // slower (64³, one thread, 256 bits: 64 against 80 GFLOP/s).
    private static void partialProduct(float[] c, int cOff, float[] a, int aOff, boolean aTransposed, float[] b,
                                       int bOff, int rows, int cols, int n, boolean accumulate, Part part) {
        int aRow = aTransposed ? 1 : PANEL;
        int aTerm = aTransposed ? PANEL : 1;
        int band = part == Part.ALL ? rows : BAND;
        for (int r = 0; r < rows; r += band) {
            int height = Math.min(band, rows - r);
            int col = switch (part) {
                case COLUMNS_FROM_ROW -> Math.min(cols, r / L * L);
                case ALL, TERMS_FROM_ROW, TERMS_TO_ROW -> 0;
            };
            int from = switch (part) {
                case TERMS_FROM_ROW -> Math.min(n, r);
                case ALL, COLUMNS_FROM_ROW, TERMS_TO_ROW -> 0;
            };
            int to = switch (part) {
                case TERMS_TO_ROW -> Math.min(n, r + height);
                case ALL, COLUMNS_FROM_ROW, TERMS_FROM_ROW -> n;
            };
            product(c, cOff + r * PANEL + col, a, aOff + r * aRow + from * aTerm, aTransposed, b,
                    bOff + from * PANEL + col, height, cols - col, to - from, accumulate);
        }
    }

    // Rows [0, rows) of src, row r at srcOff + r·srcRow and hs floats long, times scale, into panels of PANEL
    // columns with panelRows rows each; the columns from hs to the last panel's end keep what they held.
    private static void packPanels(float[] dst, int panelRows, float[] src, int srcOff, int srcRow, int rows, int hs,
                                   float scale) {
        for (int d0 = 0; d0 < hs; d0 += PANEL) {
            int width = Math.min(PANEL, hs - d0);
            int bound = S.loopBound(width);
            for (int r = 0; r < rows; r++) {
                int from = srcOff + r * srcRow + d0;
                int to = at(r, d0, panelRows);
                int d = 0;
                for (; d < bound; d += L) {
                    FloatVector.fromArray(S, src, from + d).mul(scale).intoArray(dst, to + d);
                }
                for (; d < width; d++) {
                    dst[to + d] = src[from + d] * scale;
                }
            }
        }
    }

    // dst[dstOff + r·dstRow + d] += src(r, d)·scale for r < rows and d < hs, src in panels of panelRows rows.
    private static void addPanels(float[] dst, int dstOff, int dstRow, float[] src, int panelRows, int rows, int hs,
                                  float scale) {
        FloatVector scales = FloatVector.broadcast(S, scale);
        for (int d0 = 0; d0 < hs; d0 += PANEL) {
            int width = Math.min(PANEL, hs - d0);
            int bound = S.loopBound(width);
            for (int r = 0; r < rows; r++) {
                int from = at(r, d0, panelRows);
                int to = dstOff + r * dstRow + d0;
                int d = 0;
                for (; d < bound; d += L) {
                    FloatVector sum = FloatVector.fromArray(S, dst, to + d);
                    FloatVector term = FloatVector.fromArray(S, src, from + d);
                    (FMA ? term.fma(scales, sum) : term.mul(scales).add(sum)).intoArray(dst, to + d);
                }
                for (; d < width; d++) {
                    dst[to + d] += src[from + d] * scale;
                }
            }
        }
    }

    // dst[dstOff + c·BQ + r] = src[srcOff + r·srcRow + c]·scale for r < rows and c < cols: a tile of rows, stored
    // column by column. Sixteen rows at a time: their lines stay in L1 while each column's sixteen floats, one
    // line of dst, are written in order (a row at a time wrote to HS lines of dst per row, and thrashed L1).
    private static void transpose(float[] dst, int dstOff, float[] src, int srcOff, int srcRow, int rows, int cols,
                                  float scale) {
        for (int r0 = 0; r0 < rows; r0 += 16) {
            int r1 = Math.min(rows, r0 + 16);
            for (int c = 0; c < cols; c++) {
                int to = dstOff + c * BQ;
                for (int r = r0; r < r1; r++) {
                    dst[to + r] = src[srcOff + r * srcRow + c] * scale;
                }
            }
        }
    }

    /** One chunk's scratch for {@link #forwardTiled}: a head's keys and values, a query tile, and scores. */
    static final class ForwardScratch {
        final int hsp;         // HS rounded up to whole vectors
        final int tp;          // T rounded up to BK: the rows of k's and v's panels
        final float[] k;       // the head's keys, [tp][hsp] in panels
        final float[] v;       // the head's values, the same
        final float[] qT;      // [HS][BQ]  the query tile, scaled by 1/√HS, transposed
        final float[] pT;      // [BK][BQ]  scores, then exp(score − running max), key-major
        final float[] acc;     // [BQ][hsp] in panels: Σ_j p_tj·v_j, rescaled whenever the running max grows
        final float[] max;     // [BQ]      running max of each query's scores
        final float[] sum;     // [BQ]      running Σ_j exp(s_tj − max)
        final float[] rescale; // [BQ]      exp(old max − new max) of the last key tile

        ForwardScratch(int T, int hs) {
            hsp = roundUp(hs, L);
            tp = roundUp(T, BK);
            int columns = roundUp(hsp, PANEL); // the panels' columns, HS and padding
            k = new float[tp * columns];
            v = new float[tp * columns];
            qT = new float[hs * BQ];
            pT = new float[BK * BQ];
            acc = new float[BQ * columns];
            max = new float[BQ];
            sum = new float[BQ];
            rescale = new float[BQ];
        }
    }

    // forwardReference for the queries of tiles [fromTile, toTile), tile i holding [i·BQ, min(T, (i+1)·BQ)).
    // The keys and values they see are packed once, for all of the tiles.
    static void forwardTiled(float[] out, float[] lse, float[] qkv, int T, int C, int NH, int bh, int fromTile,
                             int toTile, ForwardScratch s) {
        int hs = C / NH;
        int stride = 3 * C;
        int base = bh / NH * T * stride + bh % NH * hs + C; // K of (b, t = 0, h); V follows at +C
        int keys = Math.min(T, toTile * BQ);
        packPanels(s.k, s.tp, qkv, base, stride, keys, hs, 1f);
        packPanels(s.v, s.tp, qkv, base + C, stride, keys, hs, 1f);
        for (int tile = fromTile; tile < toTile; tile++) {
            forwardQueryTile(out, lse, qkv, T, C, NH, bh, tile, s);
        }
    }

    // One query tile. Scores are key-major, so the online softmax runs down the columns: vectors over queries,
    // no horizontal reductions.
    private static void forwardQueryTile(float[] out, float[] lse, float[] qkv, int T, int C, int NH, int bh,
                                         int queryTile, ForwardScratch s) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        int hsp = s.hsp;
        int kvPanel = s.tp * PANEL;
        int stride = 3 * C;
        int base = b * T * stride + h * hs; // Q of (b, t = 0, h)
        float scale = (float) (1.0 / Math.sqrt(hs));
        int q0 = queryTile * BQ;
        int nq = Math.min(BQ, T - q0);
        int rows = roundUp(nq, ROWS);
        int cols = roundUp(nq, L);
        int last = q0 + nq - 1; // keys after the tile's last query are masked for all of it
        transpose(s.qT, 0, qkv, base + q0 * stride, stride, nq, hs, scale);
        Arrays.fill(s.max, Float.NEGATIVE_INFINITY);
        Arrays.fill(s.sum, 0f);
        Arrays.fill(s.acc, 0f);
        for (int k0 = 0; k0 <= last; k0 += BK) {
            int nk = Math.min(BK, last + 1 - k0);
            // scores, key-major: pT = K·(Q/√HS)ᵀ, summed over the panels of K
            for (int d0 = 0; d0 < hs; d0 += PANEL) {
                partialProduct(s.pT, 0, s.k, d0 / PANEL * kvPanel + k0 * PANEL, false, s.qT, d0 * BQ,
                        roundUp(nk, ROWS), cols, Math.min(PANEL, hs - d0), d0 > 0,
                        k0 == q0 ? Part.COLUMNS_FROM_ROW : Part.ALL);
            }
            // key k0+j is visible to queries q0+i for first ≤ i: mask the others with −∞, which exp turns into 0;
            // padding queries (i ≥ nq) get 0, any finite value, so that their running max stays finite
            for (int j = 0; j < nk; j++) {
                int at = j * BQ;
                Arrays.fill(s.pT, at, at + Math.clamp(k0 + j - q0, 0, nq), Float.NEGATIVE_INFINITY);
                Arrays.fill(s.pT, at + nq, at + cols, 0f);
            }
            onlineSoftmax(s, nk, rows, cols);
            // acc += P·V, with P(i,j) = pT[j][i], panel by panel of V
            for (int d0 = 0; d0 < hsp; d0 += PANEL) {
                partialProduct(s.acc, d0 / PANEL * BQ * PANEL, s.pT, 0, true, s.v,
                        d0 / PANEL * kvPanel + k0 * PANEL, rows, Math.min(PANEL, hsp - d0), nk, true,
                        k0 == q0 ? Part.TERMS_TO_ROW : Part.ALL);
            }
        }
        for (int i = 0; i < nq; i++) {
            int dst = (b * T + q0 + i) * C + h * hs;
            float norm = 1f / s.sum[i];
            for (int d0 = 0; d0 < hs; d0 += PANEL) { // a plain loop per panel, which C2 vectorizes
                int from = at(i, d0, BQ);
                for (int d = 0, n = Math.min(PANEL, hs - d0); d < n; d++) {
                    out[dst + d0 + d] = s.acc[from + d] * norm;
                }
            }
            lse[bh * T + q0 + i] = s.max[i] + (float) Math.log(s.sum[i]);
        }
    }

    // The online softmax of a tile of scores, L queries at a time (every query sees key 0, so its max is finite
    // after tile 0): pT becomes exp(score − the new max), and sum and acc are rescaled to the new max. A method of
    // its own, so that C2 inlines Exp here whatever the tile loop inlines around it (with partialProduct inlined
    // into forwardQueryTile, C2 left Exp out of line there and allocated every vector it took: 15 ms a call).
    private static void onlineSoftmax(ForwardScratch s, int nk, int rows, int cols) {
        for (int i = 0; i < cols; i += L) {
            FloatVector tileMax = FloatVector.fromArray(S, s.pT, i);
            for (int j = 1; j < nk; j++) {
                tileMax = tileMax.max(FloatVector.fromArray(S, s.pT, j * BQ + i));
            }
            FloatVector oldMax = FloatVector.fromArray(S, s.max, i);
            FloatVector newMax = oldMax.max(tileMax);
            FloatVector tileSum = FloatVector.zero(S);
            for (int j = 0; j < nk; j++) {
                int at = j * BQ + i;
                FloatVector e = Exp.exp(FloatVector.fromArray(S, s.pT, at).sub(newMax));
                e.intoArray(s.pT, at);
                tileSum = tileSum.add(e);
            }
            FloatVector rescale = Exp.exp(oldMax.sub(newMax)); // 0 where oldMax = −∞
            FloatVector sum = FloatVector.fromArray(S, s.sum, i);
            (Lanes.FMA ? sum.fma(rescale, tileSum) : sum.mul(rescale).add(tileSum)).intoArray(s.sum, i);
            newMax.intoArray(s.max, i);
            rescale.intoArray(s.rescale, i);
        }
        for (int i = 0; i < rows; i++) {
            float r = s.rescale[i];
            if (r != 1f) {
                for (int d0 = 0; d0 < s.hsp; d0 += PANEL) {
                    for (int at = at(i, d0, BQ), end = at + Math.min(PANEL, s.hsp - d0); at < end; at += L) {
                        FloatVector.fromArray(S, s.acc, at).mul(r).intoArray(s.acc, at);
                    }
                }
            }
        }
    }

    /** One chunk's scratch for {@link #backwardTiled}: one head's inputs, tiles of P and dS, and the head's dQ. */
    static final class BackwardScratch {
        final int hsp;        // HS rounded up to whole vectors
        final int tp;         // T rounded up to BQ: the rows of q's, dout's and dq's panels
        final float[] q;      // the head's queries scaled by 1/√HS, [tp][hsp] in panels
        final float[] qT;     // [tp/BQ][HS][BQ] the same, transposed tile by tile (a 4 KiB row stride would thrash L1)
        final float[] dout;   // the head's dout, [tp][hsp] in panels
        final float[] doutT;  // [tp/BQ][HS][BQ] the same, transposed tile by tile
        final float[] k;      // the key tile, [BK][hsp] in panels
        final float[] v;      // the value tile, the same
        final float[] pT;     // [BK][BQ]  P of the tile pair, key-major
        final float[] dsT;    // [BK][BQ]  dP, then dS, key-major
        final float[] dk;     // [BK][hsp] in panels: dK of the key tile, summed over query tiles
        final float[] dv;     // [BK][hsp] in panels: dV of the key tile, summed over query tiles
        final float[] dq;     // [tp][hsp] in panels: √HS·dQ of the head, summed over key tiles
        final float[] rowLse; // [tp]      lse of the head's queries
        final float[] rowD;   // [tp]      D_t = dout_t·out_t
        final float[] lanes;  // [L]       for Lanes.sum

        BackwardScratch(int T, int hs) {
            hsp = roundUp(hs, L);
            tp = roundUp(T, BQ);
            int columns = roundUp(hsp, PANEL); // the panels' columns, HS and padding
            q = new float[tp * columns];
            qT = new float[hs * tp];
            dout = new float[tp * columns];
            doutT = new float[hs * tp];
            k = new float[BK * columns];
            v = new float[BK * columns];
            pT = new float[BK * BQ];
            dsT = new float[BK * BQ];
            dk = new float[BK * columns];
            dv = new float[BK * columns];
            dq = new float[tp * columns];
            rowLse = new float[tp];
            rowD = new float[tp];
            lanes = new float[L];
        }
    }

    // backwardReference, tile by tile; see the class comment.
    static void backwardTiled(float[] dqkv, float[] dout, float[] qkv, float[] out, float[] lse, int T, int C,
                              int NH, int bh, BackwardScratch s) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        int hsp = s.hsp;
        int tp = s.tp;
        int stride = 3 * C;
        int base = b * T * stride + h * hs; // Q of (b, t = 0, h); K and V follow at +C and +2C
        int outBase = b * T * C + h * hs;
        float scale = (float) (1.0 / Math.sqrt(hs));
        packPanels(s.q, tp, qkv, base, stride, T, hs, scale);
        packPanels(s.dout, tp, dout, outBase, C, T, hs, 1f);
        for (int q0 = 0; q0 < T; q0 += BQ) {
            int nq = Math.min(BQ, T - q0);
            transpose(s.qT, q0 * hs, qkv, base + q0 * stride, stride, nq, hs, scale);
            transpose(s.doutT, q0 * hs, dout, outBase + q0 * C, C, nq, hs, 1f);
        }
        int bound = S.loopBound(hs);
        for (int t = 0; t < T; t++) {
            int o = outBase + t * C;
            FloatVector dot = FloatVector.zero(S);
            int d = 0;
            for (; d < bound; d += L) {
                FloatVector dv = FloatVector.fromArray(S, dout, o + d);
                FloatVector ov = FloatVector.fromArray(S, out, o + d);
                dot = FMA ? dv.fma(ov, dot) : dv.mul(ov).add(dot);
            }
            dot.intoArray(s.lanes, 0);
            float dotDoutOut = Lanes.sum(s.lanes);
            for (; d < hs; d++) {
                dotDoutOut += dout[o + d] * out[o + d];
            }
            s.rowD[t] = dotDoutOut;
            s.rowLse[t] = lse[bh * T + t];
        }
        Arrays.fill(s.dq, 0f);
        for (int k0 = 0; k0 < T; k0 += BK) {
            int nk = Math.min(BK, T - k0);
            int rows = roundUp(nk, ROWS);
            packPanels(s.k, BK, qkv, base + k0 * stride + C, stride, nk, hs, 1f);
            packPanels(s.v, BK, qkv, base + k0 * stride + 2 * C, stride, nk, hs, 1f);
            Arrays.fill(s.dk, 0f);
            Arrays.fill(s.dv, 0f);
            for (int q0 = k0 / BQ * BQ; q0 < T; q0 += BQ) { // earlier query tiles see none of these keys
                int nq = Math.min(BQ, T - q0);
                int cols = roundUp(nq, L);
                boolean diagonal = k0 == q0;
                // Sᵀ = K·(Q/√HS)ᵀ and dPᵀ = V·doutᵀ, key-major, summed over the panels of K and V
                for (int d0 = 0; d0 < hs; d0 += PANEL) {
                    int n = Math.min(PANEL, hs - d0);
                    int kv = d0 / PANEL * BK * PANEL;
                    Part part = diagonal ? Part.COLUMNS_FROM_ROW : Part.ALL;
                    partialProduct(s.pT, 0, s.k, kv, false, s.qT, q0 * hs + d0 * BQ, rows, cols, n, d0 > 0, part);
                    partialProduct(s.dsT, 0, s.v, kv, false, s.doutT, q0 * hs + d0 * BQ, rows, cols, n, d0 > 0, part);
                }
                probabilities(s, k0, nk, q0, nq, rows, cols);
                // dV += Pᵀ·dout, dK += dSᵀ·(Q/√HS), √HS·dQ += dS·K, panel by panel of dout, Q and K
                for (int d0 = 0; d0 < hsp; d0 += PANEL) {
                    int width = Math.min(PANEL, hsp - d0);
                    int tile = d0 / PANEL * BK * PANEL;
                    int head = d0 / PANEL * tp * PANEL + q0 * PANEL;
                    Part keyRows = diagonal ? Part.TERMS_FROM_ROW : Part.ALL;
                    partialProduct(s.dv, tile, s.pT, 0, false, s.dout, head, rows, width, nq, true, keyRows);
                    partialProduct(s.dk, tile, s.dsT, 0, false, s.q, head, rows, width, nq, true, keyRows);
                    partialProduct(s.dq, head, s.dsT, 0, true, s.k, tile, cols, width, nk, true,
                            diagonal ? Part.TERMS_TO_ROW : Part.ALL);
                }
            }
            addPanels(dqkv, base + k0 * stride + C, stride, s.dk, BK, nk, hs, 1f);
            addPanels(dqkv, base + k0 * stride + 2 * C, stride, s.dv, BK, nk, hs, 1f);
        }
        addPanels(dqkv, base, stride, s.dq, tp, T, hs, scale);
    }

    // P = exp(S − lse) and dS = P·(dP − D) of a tile pair, in place of the scores pT and of dP in dsT. Key k0+j is
    // visible to query q0+i where first ≤ i < end; elsewhere S is masked with −∞ first, so that P = 0 and dS = 0
    // with no masks in the vector loop (the columns a diagonal pair's product skipped hold an earlier tile's dP,
    // finite). A method of its own for Exp's sake, as onlineSoftmax.
    private static void probabilities(BackwardScratch s, int k0, int nk, int q0, int nq, int rows, int cols) {
        for (int j = 0; j < rows; j++) {
            int at = j * BQ;
            int first = Math.clamp(k0 + j - q0, 0, cols);
            int end = j < nk ? Math.max(first, nq) : first;
            Arrays.fill(s.pT, at, at + first, Float.NEGATIVE_INFINITY);
            Arrays.fill(s.pT, at + end, at + cols, Float.NEGATIVE_INFINITY);
            for (int i = 0; i < cols; i += L) {
                FloatVector p = Exp.exp(FloatVector.fromArray(S, s.pT, at + i)
                        .sub(FloatVector.fromArray(S, s.rowLse, q0 + i)));
                p.intoArray(s.pT, at + i);
                FloatVector dp = FloatVector.fromArray(S, s.dsT, at + i);
                p.mul(dp.sub(FloatVector.fromArray(S, s.rowD, q0 + i))).intoArray(s.dsT, at + i);
            }
        }
    }

    /** Attention chunks per thread: enough for the team's hand-out to balance uneven work, few enough that the
     * scratch (one per chunk) stays small. */
    private static final int CHUNKS_PER_THREAD = 4;

    static Runnable compile(Attention.Forward a, CpuCompiler c) {
        float[] out = f(a.out());
        float[] lse = f(a.lse());
        float[] qkv = f(a.qkv());
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int pairs = a.qkv().dim(0) * NH;
        if (c.reference()) {
            float[] scores = new float[T];
            return c.parallel(pairs, 1, (from, to, chunk) -> {
                for (int bh = from; bh < to; bh++) {
                    forwardReference(out, lse, qkv, T, C, NH, bh, scores);
                }
            });
        }
        // A work item is a group of query tiles of one head, which packs the head's keys and values once for
        // all of them: whole heads when there are enough to share out, smaller groups when a few heads must
        // fill the team. Later groups see more keys; they come first, so that the team's hand-out of chunks
        // balances the causal triangle.
        int chunks = CHUNKS_PER_THREAD * c.team().threads();
        int tiles = ThreadTeam.chunks(T, BQ);
        int tilesPerItem = Math.clamp(pairs * tiles / chunks, 1, tiles);
        int groups = ThreadTeam.chunks(tiles, tilesPerItem);
        int items = pairs * groups;
        int itemsPerChunk = ThreadTeam.chunks(items, chunks);
        ForwardScratch[] scratch = new ForwardScratch[ThreadTeam.chunks(items, itemsPerChunk)];
        Arrays.setAll(scratch, k -> new ForwardScratch(T, C / NH));
        return c.parallel(items, itemsPerChunk, (from, to, chunk) -> {
            for (int item = from; item < to; item++) {
                int group = groups - 1 - item / pairs;
                forwardTiled(out, lse, qkv, T, C, NH, item % pairs, group * tilesPerItem,
                        Math.min(tiles, (group + 1) * tilesPerItem), scratch[chunk]);
            }
        });
    }

    static Runnable compile(Attention.Backward a, CpuCompiler c) {
        float[] dqkv = f(a.dqkv());
        float[] dout = f(a.dout());
        float[] qkv = f(a.qkv());
        float[] out = f(a.out());
        float[] lse = f(a.lse());
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int pairs = a.qkv().dim(0) * NH;
        if (c.reference()) {
            return c.parallel(pairs, 1, (from, to, chunk) -> {
                for (int bh = from; bh < to; bh++) {
                    backwardReference(dqkv, dout, qkv, out, lse, T, C, NH, bh);
                }
            });
        }
        // A head's dQ, dK and dV are written by the one call that owns the head, in a fixed order: no races,
        // and the same bits for any number of threads.
        int pairsPerChunk = ThreadTeam.chunks(pairs, CHUNKS_PER_THREAD * c.team().threads());
        BackwardScratch[] scratch = new BackwardScratch[ThreadTeam.chunks(pairs, pairsPerChunk)];
        Arrays.setAll(scratch, k -> new BackwardScratch(T, C / NH));
        return c.parallel(pairs, pairsPerChunk, (from, to, chunk) -> {
            for (int bh = from; bh < to; bh++) {
                backwardTiled(dqkv, dout, qkv, out, lse, T, C, NH, bh, scratch[chunk]);
            }
        });
    }
}
