package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.Attention;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Causal multi-head attention on {@code qkv[B,T,3C]} (see {@link org.derf4j.kernels.Attention}), fused and
 * tiled: the T×T scores are never stored. A work-group is one (batch b, head h) and a tile of {@value #TILE}
 * rows; it stages the rows it shares with the other tile (keys and values, or queries and output gradients) in
 * local memory, {@value #TILE} at a time, and each work-item keeps the scores of one tile in private memory.
 * <pre>
 *   attentionForward        work-item = query t: online softmax over key tiles j ≤ t: the running max m and
 *                           Σexp l, out_t rescaled once per tile; out_t /= l, lse_t = m + log l
 *   attentionRowDots        D_t = dout_t·out_t (one work-item per row)
 *   attentionBackwardQuery  work-item = query t, over key tiles: dq_t += Σ_{j≤t} ds_tj·k_j/√HS,
 *                           p_tj = exp(q_t·k_j/√HS − lse_t), ds_tj = p_tj·(dout_t·v_j − D_t)
 *   attentionBackwardKeys   work-item = key j, over query tiles: dk_j += Σ_{t≥j} ds_tj·q_t/√HS,
 *                           dv_j += Σ_{t≥j} p_tj·dout_t
 * </pre>
 * Each work-item writes only its own rows, and sums in a fixed order: no atomics, deterministic. Local memory
 * per work-group is up to 4·TILE·HS floats (32 KiB at HS = 128).
 *
 * <p>TornadoVM compiles each kernel for its sizes, which it inlines as constants, and its OpenCL backend cannot
 * emit a branch whose condition Graal has folded to a constant (TornadoVM 5.2: "logic node
 * LogicConstantNode"). When T is a multiple of TILE, bounds such as {@code t < T} become provable from the
 * ranges of the work-group and local indices, so the kernels keep them unprovable: a row tile's first row is
 * {@code (group − bh·tiles)·TILE} rather than {@code (group % tiles)·TILE}, loops have one bound, and tiles are
 * filled by a select on a clamped load.
 */
public final class TornadoAttentionKernels {
    private TornadoAttentionKernels() {
    }

    /** Rows per work-group, and rows per staged tile. */
    static final int TILE = 16;

    /**
     * Element {@code e} of a tile of rows {@code [first, first + TILE)} of one head's slice (0 past row T−1). The
     * kernels fill their local tiles with it in a loop of their own: TornadoVM 5.2 mis-indexes a local array
     * passed to a helper method (see {@link TornadoReductions#groupSum}).
     */
    private static float tileElement(FloatArray src, int first, int T, int rowBase, int rowStride, int hs, int e) {
        int row = first + e / hs;
        // A select on a load from a clamped row, not a guarded load (see the class comment).
        float v = src.get(rowBase + Math.min(row, T - 1) * rowStride + e % hs);
        return row < T ? v : 0f;
    }

    public static void attentionForward(KernelContext k, FloatArray out, FloatArray lse, FloatArray qkv, int T, int C,
                                        int NH, int hs) {
        float[] q = k.allocateFloatLocalArray(TILE * hs);
        float[] keys = k.allocateFloatLocalArray(TILE * hs);
        float[] values = k.allocateFloatLocalArray(TILE * hs);
        float[] s = new float[TILE];
        int tiles = (T + TILE - 1) / TILE;
        int bh = k.groupIdx / tiles;
        int first = (k.groupIdx - bh * tiles) * TILE; // not % tiles: see the class comment
        int lid = k.localIdx;
        int t = first + lid;
        int b = bh / NH;
        int h = bh % NH;
        float scale = 1f / TornadoMath.sqrt(hs);
        int qBase = b * T * 3 * C + h * hs;
        int o = (b * T + t) * C + h * hs;
        for (int e = lid; e < TILE * hs; e += TILE) {
            q[e] = tileElement(qkv, first, T, qBase, 3 * C, hs, e);
        }
        if (t < T) {
            for (int d = 0; d < hs; d++) {
                out.set(o + d, 0f);
            }
        }
        float m = TornadoFunctions.MASKED;
        float l = 0f;
        // Keys up to the tile's last query, as one bound (see the class comment).
        int keyEnd = Math.min(first + TILE, T);
        for (int j0 = 0; j0 < keyEnd; j0 += TILE) {
            for (int e = lid; e < TILE * hs; e += TILE) {
                keys[e] = tileElement(qkv, j0, T, qBase + C, 3 * C, hs, e);
            }
            for (int e = lid; e < TILE * hs; e += TILE) {
                values[e] = tileElement(qkv, j0, T, qBase + 2 * C, 3 * C, hs, e);
            }
            k.localBarrier();
            if (t < T) {
                float tileMax = TornadoFunctions.MASKED;
                for (int r = 0; r < TILE; r++) {
                    float score = TornadoFunctions.MASKED;
                    if (j0 + r <= t) {
                        float dot = 0f;
                        for (int d = 0; d < hs; d++) {
                            dot += q[lid * hs + d] * keys[r * hs + d];
                        }
                        score = dot * scale;
                    }
                    s[r] = score;
                    tileMax = Math.max(tileMax, score);
                }
                // The first tile holds key 0 ≤ t, so from then on m is a real score and masked keys weigh exp(≈ −1e30) = 0.
                float mNew = Math.max(m, tileMax);
                float correction = TornadoMath.exp(m - mNew);
                l *= correction;
                for (int r = 0; r < TILE; r++) {
                    s[r] = TornadoMath.exp(s[r] - mNew);
                    l += s[r];
                }
                for (int d = 0; d < hs; d++) {
                    float acc = out.get(o + d) * correction;
                    for (int r = 0; r < TILE; r++) {
                        acc += s[r] * values[r * hs + d];
                    }
                    out.set(o + d, acc);
                }
                m = mNew;
            }
            k.localBarrier();
        }
        if (t < T) {
            for (int d = 0; d < hs; d++) {
                out.set(o + d, out.get(o + d) / l);
            }
            lse.set(bh * T + t, m + TornadoMath.log(l));
        }
    }

    // rowDots[(b·NH + h)·T + t] = Σ_d dout·out over head h's channels
    public static void attentionRowDots(KernelContext k, FloatArray rowDots, FloatArray dout, FloatArray out, int B,
                                        int T, int C, int NH) {
        int idx = k.globalIdx;
        if (idx < B * NH * T) {
            int bh = idx / T;
            int t = idx % T;
            int hs = C / NH;
            int o = ((bh / NH) * T + t) * C + (bh % NH) * hs;
            float sum = 0f;
            for (int d = 0; d < hs; d++) {
                sum += dout.get(o + d) * out.get(o + d);
            }
            rowDots.set(idx, sum);
        }
    }

    public static void attentionBackwardQuery(KernelContext k, FloatArray dqkv, FloatArray dout, FloatArray qkv,
                                              FloatArray lse, FloatArray rowDots, int T, int C, int NH, int hs) {
        float[] q = k.allocateFloatLocalArray(TILE * hs);
        float[] g = k.allocateFloatLocalArray(TILE * hs);
        float[] keys = k.allocateFloatLocalArray(TILE * hs);
        float[] values = k.allocateFloatLocalArray(TILE * hs);
        float[] ds = new float[TILE];
        int tiles = (T + TILE - 1) / TILE;
        int bh = k.groupIdx / tiles;
        int first = (k.groupIdx - bh * tiles) * TILE; // not % tiles: see the class comment
        int lid = k.localIdx;
        int t = first + lid;
        int b = bh / NH;
        int h = bh % NH;
        float scale = 1f / TornadoMath.sqrt(hs);
        int qBase = b * T * 3 * C + h * hs;
        for (int e = lid; e < TILE * hs; e += TILE) {
            q[e] = tileElement(qkv, first, T, qBase, 3 * C, hs, e);
        }
        for (int e = lid; e < TILE * hs; e += TILE) {
            g[e] = tileElement(dout, first, T, b * T * C + h * hs, C, hs, e);
        }
        float l = 0f;
        float dt = 0f;
        if (t < T) {
            l = lse.get(bh * T + t);
            dt = rowDots.get(bh * T + t);
        }
        int dq = qBase + t * 3 * C;
        // Keys up to the tile's last query, as one bound (see the class comment).
        int keyEnd = Math.min(first + TILE, T);
        for (int j0 = 0; j0 < keyEnd; j0 += TILE) {
            for (int e = lid; e < TILE * hs; e += TILE) {
                keys[e] = tileElement(qkv, j0, T, qBase + C, 3 * C, hs, e);
            }
            for (int e = lid; e < TILE * hs; e += TILE) {
                values[e] = tileElement(qkv, j0, T, qBase + 2 * C, 3 * C, hs, e);
            }
            k.localBarrier();
            if (t < T) {
                for (int r = 0; r < TILE; r++) {
                    float v = 0f;
                    if (j0 + r <= t) {
                        float dot = 0f;
                        float dp = 0f;
                        for (int d = 0; d < hs; d++) {
                            dot += q[lid * hs + d] * keys[r * hs + d];
                            dp += g[lid * hs + d] * values[r * hs + d];
                        }
                        v = TornadoMath.exp(dot * scale - l) * (dp - dt) * scale;
                    }
                    ds[r] = v;
                }
                for (int d = 0; d < hs; d++) {
                    float acc = dqkv.get(dq + d);
                    for (int r = 0; r < TILE; r++) {
                        acc += ds[r] * keys[r * hs + d];
                    }
                    dqkv.set(dq + d, acc);
                }
            }
            k.localBarrier();
        }
    }

    public static void attentionBackwardKeys(KernelContext k, FloatArray dqkv, FloatArray dout, FloatArray qkv,
                                             FloatArray lse, FloatArray rowDots, int T, int C, int NH, int hs) {
        float[] keys = k.allocateFloatLocalArray(TILE * hs);
        float[] values = k.allocateFloatLocalArray(TILE * hs);
        float[] q = k.allocateFloatLocalArray(TILE * hs);
        float[] g = k.allocateFloatLocalArray(TILE * hs);
        float[] p = new float[TILE];
        float[] ds = new float[TILE];
        int tiles = (T + TILE - 1) / TILE;
        int bh = k.groupIdx / tiles;
        int first = (k.groupIdx - bh * tiles) * TILE; // not % tiles: see the class comment
        int lid = k.localIdx;
        int j = first + lid;
        int b = bh / NH;
        int h = bh % NH;
        float scale = 1f / TornadoMath.sqrt(hs);
        int qBase = b * T * 3 * C + h * hs;
        for (int e = lid; e < TILE * hs; e += TILE) {
            keys[e] = tileElement(qkv, first, T, qBase + C, 3 * C, hs, e);
        }
        for (int e = lid; e < TILE * hs; e += TILE) {
            values[e] = tileElement(qkv, first, T, qBase + 2 * C, 3 * C, hs, e);
        }
        int dk = qBase + C + j * 3 * C;
        int dv = dk + C;
        for (int t0 = first; t0 < T; t0 += TILE) {
            for (int e = lid; e < TILE * hs; e += TILE) {
                q[e] = tileElement(qkv, t0, T, qBase, 3 * C, hs, e);
            }
            for (int e = lid; e < TILE * hs; e += TILE) {
                g[e] = tileElement(dout, t0, T, b * T * C + h * hs, C, hs, e);
            }
            k.localBarrier();
            if (j < T) {
                for (int r = 0; r < TILE; r++) {
                    int t = t0 + r;
                    float pr = 0f;
                    float dsr = 0f;
                    if (t >= j && t < T) {
                        float dot = 0f;
                        float dp = 0f;
                        for (int d = 0; d < hs; d++) {
                            dot += q[r * hs + d] * keys[lid * hs + d];
                            dp += g[r * hs + d] * values[lid * hs + d];
                        }
                        pr = TornadoMath.exp(dot * scale - lse.get(bh * T + t));
                        dsr = pr * (dp - rowDots.get(bh * T + t)) * scale;
                    }
                    p[r] = pr;
                    ds[r] = dsr;
                }
                for (int d = 0; d < hs; d++) {
                    float accK = dqkv.get(dk + d);
                    float accV = dqkv.get(dv + d);
                    for (int r = 0; r < TILE; r++) {
                        accK += ds[r] * q[r * hs + d];
                        accV += p[r] * g[r * hs + d];
                    }
                    dqkv.set(dk + d, accK);
                    dqkv.set(dv + d, accV);
                }
            }
            k.localBarrier();
        }
    }

    static List<Launch> launches(Attention.Forward a, TornadoCompiler c) {
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        return List.of(new Launch("forward", tiles(a.qkv().dim(0) * NH, T), id -> createPackage(id,
                TornadoAttentionKernels::attentionForward, c.context(), f(a.out()), f(a.lse()), f(a.qkv()), T, C, NH,
                hs)));
    }

    static List<Launch> launches(Attention.Backward a, TornadoCompiler c) {
        int B = a.qkv().dim(0);
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        int rows = B * NH * T;
        FloatArray rowDots = c.scratchFloats(rows);
        WorkerGrid tiles = tiles(B * NH, T);
        return List.of(
                new Launch("rowDots", Grids.elements(rows), id -> createPackage(id,
                        TornadoAttentionKernels::attentionRowDots, c.context(), rowDots, f(a.dout()), f(a.out()), B, T,
                        C, NH)),
                new Launch("dq", tiles, id -> createPackage(id, TornadoAttentionKernels::attentionBackwardQuery,
                        c.context(), f(a.dqkv()), f(a.dout()), f(a.qkv()), f(a.lse()), rowDots, T, C, NH, hs)),
                new Launch("dkv", tiles, id -> createPackage(id, TornadoAttentionKernels::attentionBackwardKeys,
                        c.context(), f(a.dqkv()), f(a.dout()), f(a.qkv()), f(a.lse()), rowDots, T, C, NH, hs)));
    }

    /** One work-group of TILE work-items per (batch, head) pair and tile of TILE rows. */
    private static WorkerGrid tiles(int batchHeads, int T) {
        return Grids.groups(batchHeads * Grids.ceilDiv(T, TILE), TILE);
    }
}
