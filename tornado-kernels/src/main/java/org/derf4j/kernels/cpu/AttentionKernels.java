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
 *       BQ queries × BK keys. The inputs are packed into scratch: row copies of K and V (and, in the backward,
 *       of Q and dout), Q scaled by 1/√HS, and transposed copies of Q (and dout); rows are padded to whole
 *       vectors, so any HS runs with no leftover code. Every product of two tiles is a register-blocked kernel
 *       that reads the tiles where they lie ({@code product}). Scores are kept key-major (a tile of
 *       Sᵀ = K·Qᵀ), so the softmax works on vectors of queries with no horizontal reductions, and the causal
 *       mask is written into the tile as −∞, which exp ({@link Exp}'s, the same bits in every JIT tier) turns
 *       into 0, so the vector loops carry no masks.
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

    // C[rows][cols] (+)= A(rows×n)·B[n][cols], c[r][j] at cOff + r·cRow + j, a(r,k) = a[aOff + r·aRow + k·aK] with
    // aK = 1 (A row-major) or aRow = 1 (A stored transposed), b[k][j] at bOff + k·bRow + j; rows % ROWS == 0 and
    // cols % L == 0. In blocks of 4 rows: 4 vectors of columns at a time where WIDE, then 2, then 1. The block's
    // accumulators hide the FMA latency, and each k loads its vectors of b and four scalars of a; k runs in order,
    // one fma per term, as in Sgemm. Why not Sgemm.multiply, whose micro-kernel is the same idea: it packs both
    // operands first (A by a scalar transpose into MR-row panels), and for tiles of 64×64×HS that cost more than
    // it saved. On Zen 5 (2026-12-02, JMH AttentionBenchmark, alternated runs) the in-place blocks ran both shapes
    // 1.2-1.6× faster at 512 bits, up to 1.2× at 128 bits with 32 registers, ~15% faster at 256 bits with 16,
    // and alike at 128 bits with 16.
    // One method, not a kernel per block shape: it is too large for C2 to inline into the tile loops, which must
    // keep their own budget for Exp (with small kernels inlined at every product call, forwardQueryTile left Exp
    // out of line and every vector it took was allocated).
    private static void product(float[] c, int cOff, int cRow, float[] a, int aOff, int aRow, int aK, float[] b,
                                int bOff, int bRow, int rows, int cols, int n, boolean accumulate) {
        for (int r = 0; r < rows; r += ROWS) {
            if (!accumulate) {
                for (int i = r; i < r + ROWS; i++) {
                    Arrays.fill(c, cOff + i * cRow, cOff + i * cRow + cols, 0f);
                }
            }
            int aRows = aOff + r * aRow;
            int col = 0;
            for (; WIDE && col + 4 * L <= cols; col += 4 * L) {
                int cTile = cOff + r * cRow + col;
                int bCol = bOff + col;
                FloatVector c00 = FloatVector.fromArray(S, c, cTile);
                FloatVector c01 = FloatVector.fromArray(S, c, cTile + L);
                FloatVector c02 = FloatVector.fromArray(S, c, cTile + 2 * L);
                FloatVector c03 = FloatVector.fromArray(S, c, cTile + 3 * L);
                FloatVector c10 = FloatVector.fromArray(S, c, cTile + cRow);
                FloatVector c11 = FloatVector.fromArray(S, c, cTile + cRow + L);
                FloatVector c12 = FloatVector.fromArray(S, c, cTile + cRow + 2 * L);
                FloatVector c13 = FloatVector.fromArray(S, c, cTile + cRow + 3 * L);
                FloatVector c20 = FloatVector.fromArray(S, c, cTile + 2 * cRow);
                FloatVector c21 = FloatVector.fromArray(S, c, cTile + 2 * cRow + L);
                FloatVector c22 = FloatVector.fromArray(S, c, cTile + 2 * cRow + 2 * L);
                FloatVector c23 = FloatVector.fromArray(S, c, cTile + 2 * cRow + 3 * L);
                FloatVector c30 = FloatVector.fromArray(S, c, cTile + 3 * cRow);
                FloatVector c31 = FloatVector.fromArray(S, c, cTile + 3 * cRow + L);
                FloatVector c32 = FloatVector.fromArray(S, c, cTile + 3 * cRow + 2 * L);
                FloatVector c33 = FloatVector.fromArray(S, c, cTile + 3 * cRow + 3 * L);
                for (int k = 0; k < n; k++) {
                    int bk = bCol + k * bRow;
                    FloatVector b0 = FloatVector.fromArray(S, b, bk);
                    FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
                    FloatVector b2 = FloatVector.fromArray(S, b, bk + 2 * L);
                    FloatVector b3 = FloatVector.fromArray(S, b, bk + 3 * L);
                    int ak = aRows + k * aK;
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
                c10.intoArray(c, cTile + cRow);
                c11.intoArray(c, cTile + cRow + L);
                c12.intoArray(c, cTile + cRow + 2 * L);
                c13.intoArray(c, cTile + cRow + 3 * L);
                c20.intoArray(c, cTile + 2 * cRow);
                c21.intoArray(c, cTile + 2 * cRow + L);
                c22.intoArray(c, cTile + 2 * cRow + 2 * L);
                c23.intoArray(c, cTile + 2 * cRow + 3 * L);
                c30.intoArray(c, cTile + 3 * cRow);
                c31.intoArray(c, cTile + 3 * cRow + L);
                c32.intoArray(c, cTile + 3 * cRow + 2 * L);
                c33.intoArray(c, cTile + 3 * cRow + 3 * L);
            }
            for (; col + 2 * L <= cols; col += 2 * L) {
                int cTile = cOff + r * cRow + col;
                int bCol = bOff + col;
                FloatVector c00 = FloatVector.fromArray(S, c, cTile);
                FloatVector c01 = FloatVector.fromArray(S, c, cTile + L);
                FloatVector c10 = FloatVector.fromArray(S, c, cTile + cRow);
                FloatVector c11 = FloatVector.fromArray(S, c, cTile + cRow + L);
                FloatVector c20 = FloatVector.fromArray(S, c, cTile + 2 * cRow);
                FloatVector c21 = FloatVector.fromArray(S, c, cTile + 2 * cRow + L);
                FloatVector c30 = FloatVector.fromArray(S, c, cTile + 3 * cRow);
                FloatVector c31 = FloatVector.fromArray(S, c, cTile + 3 * cRow + L);
                for (int k = 0; k < n; k++) {
                    int bk = bCol + k * bRow;
                    FloatVector b0 = FloatVector.fromArray(S, b, bk);
                    FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
                    int ak = aRows + k * aK;
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
                c10.intoArray(c, cTile + cRow);
                c11.intoArray(c, cTile + cRow + L);
                c20.intoArray(c, cTile + 2 * cRow);
                c21.intoArray(c, cTile + 2 * cRow + L);
                c30.intoArray(c, cTile + 3 * cRow);
                c31.intoArray(c, cTile + 3 * cRow + L);
            }
            for (; col < cols; col += L) {
                int cTile = cOff + r * cRow + col;
                int bCol = bOff + col;
                FloatVector c0 = FloatVector.fromArray(S, c, cTile);
                FloatVector c1 = FloatVector.fromArray(S, c, cTile + cRow);
                FloatVector c2 = FloatVector.fromArray(S, c, cTile + 2 * cRow);
                FloatVector c3 = FloatVector.fromArray(S, c, cTile + 3 * cRow);
                for (int k = 0; k < n; k++) {
                    FloatVector bk = FloatVector.fromArray(S, b, bCol + k * bRow);
                    int ak = aRows + k * aK;
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
                c1.intoArray(c, cTile + cRow);
                c2.intoArray(c, cTile + 2 * cRow);
                c3.intoArray(c, cTile + 3 * cRow);
            }
        }
    }

    /** One chunk's scratch for {@link #forwardTiled}: a head's keys and values, a query tile, and scores. */
    static final class ForwardScratch {
        final int hsp;         // HS rounded up to whole vectors
        final float[] k;       // [tp][hsp] the head's keys; tp is T rounded up to BK
        final float[] v;       // [tp][hsp] the head's values
        final float[] qT;      // [HS][BQ]  the query tile, scaled by 1/√HS, transposed
        final float[] pT;      // [BK][BQ]  scores, then exp(score − running max), key-major
        final float[] acc;     // [BQ][hsp] Σ_j p_tj·v_j, rescaled whenever the running max grows
        final float[] max;     // [BQ]      running max of each query's scores
        final float[] sum;     // [BQ]      running Σ_j exp(s_tj − max)
        final float[] rescale; // [BQ]      exp(old max − new max) of the last key tile

        ForwardScratch(int T, int hs) {
            hsp = roundUp(hs, L);
            int tp = roundUp(T, BK);
            k = new float[tp * hsp];
            v = new float[tp * hsp];
            qT = new float[hs * BQ];
            pT = new float[BK * BQ];
            acc = new float[BQ * hsp];
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
        for (int j = 0, keys = Math.min(T, toTile * BQ); j < keys; j++) {
            System.arraycopy(qkv, base + j * stride, s.k, j * s.hsp, hs);
            System.arraycopy(qkv, base + j * stride + C, s.v, j * s.hsp, hs);
        }
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
        int stride = 3 * C;
        int base = b * T * stride + h * hs; // Q of (b, t = 0, h)
        float scale = (float) (1.0 / Math.sqrt(hs));
        int q0 = queryTile * BQ;
        int nq = Math.min(BQ, T - q0);
        int rows = roundUp(nq, ROWS);
        int cols = roundUp(nq, L);
        int last = q0 + nq - 1; // keys after the tile's last query are masked for all of it
        for (int i = 0; i < nq; i++) {
            int src = base + (q0 + i) * stride;
            for (int d = 0; d < hs; d++) {
                s.qT[d * BQ + i] = qkv[src + d] * scale;
            }
        }
        Arrays.fill(s.max, Float.NEGATIVE_INFINITY);
        Arrays.fill(s.sum, 0f);
        Arrays.fill(s.acc, 0f);
        for (int k0 = 0; k0 <= last; k0 += BK) {
            int nk = Math.min(BK, last + 1 - k0);
            // scores, key-major: pT = K·(Q/√HS)ᵀ
            product(s.pT, 0, BQ, s.k, k0 * hsp, hsp, 1, s.qT, 0, BQ, roundUp(nk, ROWS), cols, hs, false);
            // key k0+j is visible to queries q0+i for first ≤ i: mask the others with −∞, which exp turns into 0;
            // padding queries (i ≥ nq) get 0, any finite value, so that their running max stays finite
            for (int j = 0; j < nk; j++) {
                int at = j * BQ;
                Arrays.fill(s.pT, at, at + Math.clamp(k0 + j - q0, 0, nq), Float.NEGATIVE_INFINITY);
                Arrays.fill(s.pT, at + nq, at + cols, 0f);
            }
            // online softmax, L queries at a time; every query sees key 0, so its max is finite after tile 0
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
                    for (int d = 0; d < hsp; d += L) {
                        FloatVector.fromArray(S, s.acc, i * hsp + d).mul(r).intoArray(s.acc, i * hsp + d);
                    }
                }
            }
            // acc += P·V, with P(i,j) = pT[j][i]
            product(s.acc, 0, hsp, s.pT, 0, 1, BQ, s.v, k0 * hsp, hsp, rows, hsp, nk, true);
        }
        for (int i = 0; i < nq; i++) {
            int dst = (b * T + q0 + i) * C + h * hs;
            float norm = 1f / s.sum[i];
            for (int d = 0; d < hs; d++) {
                out[dst + d] = s.acc[i * hsp + d] * norm;
            }
            lse[bh * T + q0 + i] = s.max[i] + (float) Math.log(s.sum[i]);
        }
    }

    /** One chunk's scratch for {@link #backwardTiled}: one head's inputs, tiles of P and dS, and the head's dQ. */
    static final class BackwardScratch {
        final int hsp;        // HS rounded up to whole vectors
        final float[] q;      // [tp][hsp] the head's queries, scaled by 1/√HS; tp is T rounded up to BQ
        final float[] qT;     // [tp/BQ][HS][BQ] the same, transposed tile by tile (a 4 KiB row stride would thrash L1)
        final float[] dout;   // [tp][hsp] the head's dout
        final float[] doutT;  // [tp/BQ][HS][BQ] the same, transposed tile by tile
        final float[] k;      // [BK][hsp] the key tile
        final float[] v;      // [BK][hsp] the value tile
        final float[] pT;     // [BK][BQ]  P of the tile pair, key-major
        final float[] dsT;    // [BK][BQ]  dP, then dS, key-major
        final float[] dk;     // [BK][hsp] dK of the key tile, summed over query tiles
        final float[] dv;     // [BK][hsp] dV of the key tile, summed over query tiles
        final float[] dq;     // [tp][hsp] √HS·dQ of the head, summed over key tiles
        final float[] rowLse; // [tp]      lse of the head's queries
        final float[] rowD;   // [tp]      D_t = dout_t·out_t

        BackwardScratch(int T, int hs) {
            hsp = roundUp(hs, L);
            int tp = roundUp(T, BQ);
            q = new float[tp * hsp];
            qT = new float[hs * tp];
            dout = new float[tp * hsp];
            doutT = new float[hs * tp];
            k = new float[BK * hsp];
            v = new float[BK * hsp];
            pT = new float[BK * BQ];
            dsT = new float[BK * BQ];
            dk = new float[BK * hsp];
            dv = new float[BK * hsp];
            dq = new float[tp * hsp];
            rowLse = new float[tp];
            rowD = new float[tp];
        }
    }

    // backwardReference, tile by tile; see the class comment.
    static void backwardTiled(float[] dqkv, float[] dout, float[] qkv, float[] out, float[] lse, int T, int C,
                              int NH, int bh, BackwardScratch s) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        int hsp = s.hsp;
        int stride = 3 * C;
        int base = b * T * stride + h * hs; // Q of (b, t = 0, h); K and V follow at +C and +2C
        int outBase = b * T * C + h * hs;
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int t = 0; t < T; t++) {
            int src = base + t * stride;
            int o = outBase + t * C;
            int tr = t / BQ * hs * BQ + t % BQ; // t's column in the transposed tiles
            float dotDoutOut = 0f;
            for (int d = 0; d < hs; d++) {
                float qd = qkv[src + d] * scale;
                s.q[t * hsp + d] = qd;
                s.qT[tr + d * BQ] = qd;
                s.dout[t * hsp + d] = dout[o + d];
                s.doutT[tr + d * BQ] = dout[o + d];
                dotDoutOut += dout[o + d] * out[o + d];
            }
            s.rowD[t] = dotDoutOut;
            s.rowLse[t] = lse[bh * T + t];
        }
        Arrays.fill(s.dq, 0f);
        for (int k0 = 0; k0 < T; k0 += BK) {
            int nk = Math.min(BK, T - k0);
            int rows = roundUp(nk, ROWS);
            for (int j = 0; j < nk; j++) {
                int src = base + (k0 + j) * stride + C;
                System.arraycopy(qkv, src, s.k, j * hsp, hs);
                System.arraycopy(qkv, src + C, s.v, j * hsp, hs);
            }
            Arrays.fill(s.dk, 0f);
            Arrays.fill(s.dv, 0f);
            for (int q0 = k0 / BQ * BQ; q0 < T; q0 += BQ) { // earlier query tiles see none of these keys
                int nq = Math.min(BQ, T - q0);
                int cols = roundUp(nq, L);
                // Sᵀ = K·(Q/√HS)ᵀ and dPᵀ = V·doutᵀ, key-major
                product(s.pT, 0, BQ, s.k, 0, hsp, 1, s.qT, q0 * hs, BQ, rows, cols, hs, false);
                product(s.dsT, 0, BQ, s.v, 0, hsp, 1, s.doutT, q0 * hs, BQ, rows, cols, hs, false);
                // P = exp(S − lse) where key k0+j is visible to query q0+i, i.e. first ≤ i < end; elsewhere S is
                // masked with −∞ first, so that P = 0 and dS = P·(dP − D) = 0 with no masks in the vector loop
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
                // dV += Pᵀ·dout, dK += dSᵀ·(Q/√HS), √HS·dQ += dS·K
                product(s.dv, 0, hsp, s.pT, 0, BQ, 1, s.dout, q0 * hsp, hsp, rows, hsp, nq, true);
                product(s.dk, 0, hsp, s.dsT, 0, BQ, 1, s.q, q0 * hsp, hsp, rows, hsp, nq, true);
                product(s.dq, q0 * hsp, hsp, s.dsT, 0, 1, BQ, s.k, 0, hsp, cols, hsp, nk, true);
            }
            for (int j = 0; j < nk; j++) {
                int dst = base + (k0 + j) * stride + C;
                for (int d = 0; d < hs; d++) {
                    dqkv[dst + d] += s.dk[j * hsp + d];
                    dqkv[dst + C + d] += s.dv[j * hsp + d];
                }
            }
        }
        for (int t = 0; t < T; t++) {
            int dst = base + t * stride;
            for (int d = 0; d < hs; d++) {
                dqkv[dst + d] += s.dq[t * hsp + d] * scale;
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
