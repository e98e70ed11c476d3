package org.derf4j.kernels.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal multi-head self-attention on {@code qkv[B,T,3C]}, one (batch, head) pair per call, indexed
 * {@code bh = b·NH + h}. See {@link org.derf4j.kernels.Attention} for the layout. Versions:
 * <ol>
 *   <li>{@code forwardReference}/{@code backwardReference}: scalar, one query at a time; the forward keeps
 *       one row of T scores.</li>
 *   <li>{@code forwardTiled}/{@code backwardTiled}: FlashAttention's tiling with the Vector API. Tiles of Q,
 *       K and V are packed into scratch (Q scaled by 1/√HS, transposed where a product wants it, rows padded
 *       to whole vectors so that any HS needs no leftover code), and every product of two tiles is one
 *       register-blocked micro-kernel, {@link #addProduct8}. The forward keeps a running max and sum per
 *       query (online softmax), so it never holds more than a BQ×BK tile of scores. The backward walks key
 *       tiles outermost, keeping the tile's dK and dV in scratch, recomputes P from lse, and sums dQ for the
 *       whole head in scratch; a call owns every gradient of its head, so no two calls write the same
 *       element.</li>
 * </ol>
 */
final class AttentionKernels {
    private AttentionKernels() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows per micro-kernel call: eight independent accumulators hide the latency of the FMAs. */
    private static final int ROWS = 8;
    /** Tile rows and columns are padded to this, so that rows fill micro-kernel calls and columns fill vectors. */
    private static final int PAD = Math.max(L, ROWS);
    /** Queries per tile. A multiple of {@link #PAD}. */
    static final int BQ = 64;
    /** Keys per tile. A multiple of {@link #PAD}. */
    static final int BK = 64;

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

    // c[r][0:L] += Σ_{k<n} a(r,k)·b[k][0:L] for the 8 rows r, with c[r] at cOff + r·cRow,
    // a(r,k) = a[aOff + r·aRow + k·aK] and b[k] at bOff + k·bRow.
    private static void addProduct8(float[] c, int cOff, int cRow, float[] a, int aOff, int aRow, int aK,
                                    float[] b, int bOff, int bRow, int n) {
        FloatVector c0 = FloatVector.fromArray(S, c, cOff);
        FloatVector c1 = FloatVector.fromArray(S, c, cOff + cRow);
        FloatVector c2 = FloatVector.fromArray(S, c, cOff + 2 * cRow);
        FloatVector c3 = FloatVector.fromArray(S, c, cOff + 3 * cRow);
        FloatVector c4 = FloatVector.fromArray(S, c, cOff + 4 * cRow);
        FloatVector c5 = FloatVector.fromArray(S, c, cOff + 5 * cRow);
        FloatVector c6 = FloatVector.fromArray(S, c, cOff + 6 * cRow);
        FloatVector c7 = FloatVector.fromArray(S, c, cOff + 7 * cRow);
        for (int k = 0; k < n; k++) {
            FloatVector bk = FloatVector.fromArray(S, b, bOff + k * bRow);
            int ak = aOff + k * aK;
            c0 = bk.fma(FloatVector.broadcast(S, a[ak]), c0);
            c1 = bk.fma(FloatVector.broadcast(S, a[ak + aRow]), c1);
            c2 = bk.fma(FloatVector.broadcast(S, a[ak + 2 * aRow]), c2);
            c3 = bk.fma(FloatVector.broadcast(S, a[ak + 3 * aRow]), c3);
            c4 = bk.fma(FloatVector.broadcast(S, a[ak + 4 * aRow]), c4);
            c5 = bk.fma(FloatVector.broadcast(S, a[ak + 5 * aRow]), c5);
            c6 = bk.fma(FloatVector.broadcast(S, a[ak + 6 * aRow]), c6);
            c7 = bk.fma(FloatVector.broadcast(S, a[ak + 7 * aRow]), c7);
        }
        c0.intoArray(c, cOff);
        c1.intoArray(c, cOff + cRow);
        c2.intoArray(c, cOff + 2 * cRow);
        c3.intoArray(c, cOff + 3 * cRow);
        c4.intoArray(c, cOff + 4 * cRow);
        c5.intoArray(c, cOff + 5 * cRow);
        c6.intoArray(c, cOff + 6 * cRow);
        c7.intoArray(c, cOff + 7 * cRow);
    }

    // C[rows][cols] += A(rows×n)·B[n][cols], in 8-row blocks of one vector each; rows % 8 == 0, cols % L == 0.
    private static void addProduct(float[] c, int cOff, int cRow, float[] a, int aOff, int aRow, int aK,
                                   float[] b, int bOff, int bRow, int rows, int cols, int n) {
        for (int r = 0; r < rows; r += ROWS) {
            for (int col = 0; col < cols; col += L) {
                addProduct8(c, cOff + r * cRow + col, cRow, a, aOff + r * aRow, aRow, aK, b, bOff + col, bRow, n);
            }
        }
    }

    /** One chunk's scratch for {@link #forwardTiled}: a query tile, a key tile, and their scores. */
    static final class ForwardScratch {
        final int hsp;       // HS rounded up to whole vectors
        final float[] q;     // [BQ][hsp] the query tile, scaled by 1/√HS
        final float[] kT;    // [HS][BK]  the key tile, transposed
        final float[] v;     // [BK][hsp] the value tile
        final float[] p;     // [BQ][BK]  scores, then exp(score − running max)
        final float[] acc;   // [BQ][hsp] Σ_j p_tj·v_j, rescaled whenever the running max grows
        final float[] max;   // [BQ]      running max of each query's scores
        final float[] sum;   // [BQ]      running Σ_j exp(s_tj − max)

        ForwardScratch(int hs) {
            hsp = roundUp(hs, L);
            q = new float[BQ * hsp];
            kT = new float[hs * BK];
            v = new float[BK * hsp];
            p = new float[BQ * BK];
            acc = new float[BQ * hsp];
            max = new float[BQ];
            sum = new float[BQ];
        }
    }

    // forwardReference for the queries of tile queryTile, [queryTile·BQ, min(T, (queryTile+1)·BQ)).
    static void forwardTiled(float[] out, float[] lse, float[] qkv, int T, int C, int NH, int bh, int queryTile,
                             ForwardScratch s) {
        int b = bh / NH;
        int h = bh % NH;
        int hs = C / NH;
        int hsp = s.hsp;
        int stride = 3 * C;
        int base = b * T * stride + h * hs; // Q of (b, t = 0, h); K and V follow at +C and +2C
        float scale = (float) (1.0 / Math.sqrt(hs));
        int q0 = queryTile * BQ;
        int nq = Math.min(BQ, T - q0);
        int rows = roundUp(nq, ROWS);
        int last = q0 + nq - 1; // keys after the tile's last query are masked for all of it
        for (int i = 0; i < nq; i++) {
            int src = base + (q0 + i) * stride;
            for (int d = 0; d < hs; d++) {
                s.q[i * hsp + d] = qkv[src + d] * scale;
            }
        }
        Arrays.fill(s.max, Float.NEGATIVE_INFINITY);
        Arrays.fill(s.sum, 0f);
        Arrays.fill(s.acc, 0f);
        for (int k0 = 0; k0 <= last; k0 += BK) {
            int nk = Math.min(BK, last + 1 - k0);
            int cols = roundUp(nk, PAD);
            for (int j = 0; j < nk; j++) {
                int src = base + (k0 + j) * stride + C;
                for (int d = 0; d < hs; d++) {
                    s.kT[d * BK + j] = qkv[src + d];
                    s.v[j * hsp + d] = qkv[src + C + d];
                }
            }
            // scores of the tile: p = (Q/√HS)·Kᵀ
            Arrays.fill(s.p, 0, rows * BK, 0f);
            addProduct(s.p, 0, BK, s.q, 0, hsp, 1, s.kT, 0, BK, rows, cols, hs);
            // online softmax: query q0+i sees keys k0+j for j < visible
            for (int i = 0; i < rows; i++) {
                int row = i * BK;
                int visible = i < nq ? Math.min(nk, q0 + i - k0 + 1) : 0;
                FloatVector rowMax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = S.indexInRange(j, visible);
                    rowMax = rowMax.lanewise(VectorOperators.MAX, FloatVector.fromArray(S, s.p, row + j), m);
                }
                float oldMax = i < nq ? s.max[i] : 0f;
                float newMax = Math.max(oldMax, rowMax.reduceLanes(VectorOperators.MAX));
                FloatVector rowSum = FloatVector.zero(S);
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = S.indexInRange(j, visible);
                    FloatVector e = FloatVector.fromArray(S, s.p, row + j).sub(newMax).lanewise(VectorOperators.EXP);
                    e = FloatVector.zero(S).blend(e, m);
                    e.intoArray(s.p, row + j);
                    rowSum = rowSum.add(e);
                }
                if (i < nq) {
                    float rescale = (float) Math.exp(oldMax - newMax); // 0 on the first tile, where oldMax = −∞
                    s.sum[i] = s.sum[i] * rescale + rowSum.reduceLanes(VectorOperators.ADD);
                    s.max[i] = newMax;
                    if (rescale != 1f) {
                        for (int d = 0; d < hsp; d += L) {
                            FloatVector.fromArray(S, s.acc, i * hsp + d).mul(rescale).intoArray(s.acc, i * hsp + d);
                        }
                    }
                }
            }
            // acc += P·V
            addProduct(s.acc, 0, hsp, s.p, 0, BK, 1, s.v, 0, hsp, rows, hsp, nk);
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

    /** One chunk's scratch for {@link #backwardTiled}: tiles of the inputs, of P and dS, and dQ of a whole head. */
    static final class BackwardScratch {
        final int hsp;        // HS rounded up to whole vectors
        final float[] k;      // [BK][hsp] the key tile
        final float[] v;      // [BK][hsp] the value tile
        final float[] q;      // [BQ][hsp] the query tile, scaled by 1/√HS
        final float[] qT;     // [HS][BQ]  the same, transposed
        final float[] dout;   // [BQ][hsp] dout of the query tile
        final float[] doutT;  // [HS][BQ]  the same, transposed
        final float[] pT;     // [BK][BQ]  P of the tile pair, key-major
        final float[] dsT;    // [BK][BQ]  dP, then dS, key-major
        final float[] dk;     // [BK][hsp] dK of the key tile, summed over query tiles
        final float[] dv;     // [BK][hsp] dV of the key tile, summed over query tiles
        final float[] dq;     // [T rounded up to BQ][hsp] √HS·dQ of the head, summed over key tiles
        final float[] rowLse; // [T rounded up to BQ] lse of the head's queries
        final float[] rowD;   // [T rounded up to BQ] D_t = dout_t·out_t

        BackwardScratch(int T, int hs) {
            hsp = roundUp(hs, L);
            int tp = roundUp(T, BQ);
            k = new float[BK * hsp];
            v = new float[BK * hsp];
            q = new float[BQ * hsp];
            qT = new float[hs * BQ];
            dout = new float[BQ * hsp];
            doutT = new float[hs * BQ];
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
            int o = outBase + t * C;
            float dotDoutOut = 0f;
            for (int d = 0; d < hs; d++) {
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
                int cols = roundUp(nq, PAD);
                for (int i = 0; i < nq; i++) {
                    int src = base + (q0 + i) * stride;
                    int o = outBase + (q0 + i) * C;
                    for (int d = 0; d < hs; d++) {
                        float qd = qkv[src + d] * scale;
                        s.q[i * hsp + d] = qd;
                        s.qT[d * BQ + i] = qd;
                        s.dout[i * hsp + d] = dout[o + d];
                        s.doutT[d * BQ + i] = dout[o + d];
                    }
                }
                // Sᵀ = K·(Q/√HS)ᵀ and dPᵀ = V·doutᵀ, key-major
                Arrays.fill(s.pT, 0, rows * BQ, 0f);
                Arrays.fill(s.dsT, 0, rows * BQ, 0f);
                addProduct(s.pT, 0, BQ, s.k, 0, hsp, 1, s.qT, 0, BQ, rows, cols, hs);
                addProduct(s.dsT, 0, BQ, s.v, 0, hsp, 1, s.doutT, 0, BQ, rows, cols, hs);
                // P = exp(S − lse) where key k0+j is visible to query q0+i, i.e. first ≤ i < nq; dS = P·(dP − D)
                for (int j = 0; j < rows; j++) {
                    int first = k0 + j - q0;
                    int end = j < nk ? nq : first;
                    for (int i = 0; i < cols; i += L) {
                        int at = j * BQ + i;
                        VectorMask<Float> m = S.indexInRange(i - first, end - first);
                        FloatVector p = FloatVector.fromArray(S, s.pT, at)
                                .sub(FloatVector.fromArray(S, s.rowLse, q0 + i)).lanewise(VectorOperators.EXP);
                        p = FloatVector.zero(S).blend(p, m);
                        p.intoArray(s.pT, at);
                        FloatVector dp = FloatVector.fromArray(S, s.dsT, at);
                        p.mul(dp.sub(FloatVector.fromArray(S, s.rowD, q0 + i))).intoArray(s.dsT, at);
                    }
                }
                // dV += Pᵀ·dout, dK += dSᵀ·(Q/√HS), √HS·dQ += dS·K
                addProduct(s.dv, 0, hsp, s.pT, 0, BQ, 1, s.dout, 0, hsp, rows, hsp, nq);
                addProduct(s.dk, 0, hsp, s.dsT, 0, BQ, 1, s.q, 0, hsp, rows, hsp, nq);
                addProduct(s.dq, q0 * hsp, hsp, s.dsT, 0, 1, BQ, s.k, 0, hsp, cols, hsp, nk);
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
}
