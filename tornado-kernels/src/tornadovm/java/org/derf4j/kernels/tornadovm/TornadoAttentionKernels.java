package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Causal multi-head attention on {@code qkv[B,T,3C]} (see {@link org.derf4j.kernels.Attention}), fused: the
 * T×T scores are never stored. Work-item {@code (b·NH + h)·T + t} owns query row t of head h in batch b.
 * <pre>
 *   attentionForward        max and Σexp over the keys j ≤ t, then out_t = Σ_j p_tj·v_j; lse_t saved
 *   attentionRowDots        D_t = dout_t·out_t
 *   attentionBackwardQuery  dq_t += Σ_{j≤t} ds_tj·k_j/√HS,   ds_tj = p_tj·(dout_t·v_j − D_t)
 *   attentionBackwardKeys   work-item owns key row j: dk_j += Σ_{t≥j} ds_tj·q_t/√HS, dv_j += Σ_{t≥j} p_tj·dout_t
 * </pre>
 * Each work-item writes only its own rows, and sums in a fixed order: no atomics, deterministic.
 */
public final class TornadoAttentionKernels {
    private TornadoAttentionKernels() {
    }

    public static void attentionForward(KernelContext k, FloatArray out, FloatArray lse, FloatArray qkv, int B, int T,
                                        int C, int NH) {
        int idx = k.globalIdx;
        if (idx < B * NH * T) {
            int bh = idx / T;
            int t = idx % T;
            int b = bh / NH;
            int h = bh % NH;
            int hs = C / NH;
            float scale = 1f / TornadoMath.sqrt(hs);
            int q = (b * T + t) * 3 * C + h * hs;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= t; j++) {
                int key = (b * T + j) * 3 * C + C + h * hs;
                float dot = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv.get(q + d) * qkv.get(key + d);
                }
                max = Math.max(max, dot * scale);
            }
            int o = (b * T + t) * C + h * hs;
            for (int d = 0; d < hs; d++) {
                out.set(o + d, 0f);
            }
            float sum = 0f;
            for (int j = 0; j <= t; j++) {
                int key = (b * T + j) * 3 * C + C + h * hs;
                float dot = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv.get(q + d) * qkv.get(key + d);
                }
                float e = TornadoMath.exp(dot * scale - max);
                sum += e;
                int v = key + C;
                for (int d = 0; d < hs; d++) {
                    out.set(o + d, out.get(o + d) + e * qkv.get(v + d));
                }
            }
            for (int d = 0; d < hs; d++) {
                out.set(o + d, out.get(o + d) / sum);
            }
            lse.set(idx, max + TornadoMath.log(sum));
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
            float s = 0f;
            for (int d = 0; d < hs; d++) {
                s += dout.get(o + d) * out.get(o + d);
            }
            rowDots.set(idx, s);
        }
    }

    public static void attentionBackwardQuery(KernelContext k, FloatArray dqkv, FloatArray dout, FloatArray qkv,
                                              FloatArray lse, FloatArray rowDots, int B, int T, int C, int NH) {
        int idx = k.globalIdx;
        if (idx < B * NH * T) {
            int bh = idx / T;
            int t = idx % T;
            int b = bh / NH;
            int h = bh % NH;
            int hs = C / NH;
            float scale = 1f / TornadoMath.sqrt(hs);
            int q = (b * T + t) * 3 * C + h * hs;
            int o = (b * T + t) * C + h * hs;
            float l = lse.get(idx);
            float dt = rowDots.get(idx);
            for (int j = 0; j <= t; j++) {
                int key = (b * T + j) * 3 * C + C + h * hs;
                int v = key + C;
                float dot = 0f;
                float dp = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv.get(q + d) * qkv.get(key + d);
                    dp += dout.get(o + d) * qkv.get(v + d);
                }
                float ds = TornadoMath.exp(dot * scale - l) * (dp - dt) * scale;
                for (int d = 0; d < hs; d++) {
                    dqkv.set(q + d, dqkv.get(q + d) + ds * qkv.get(key + d));
                }
            }
        }
    }

    public static void attentionBackwardKeys(KernelContext k, FloatArray dqkv, FloatArray dout, FloatArray qkv,
                                             FloatArray lse, FloatArray rowDots, int B, int T, int C, int NH) {
        int idx = k.globalIdx;
        if (idx < B * NH * T) {
            int bh = idx / T;
            int j = idx % T;
            int b = bh / NH;
            int h = bh % NH;
            int hs = C / NH;
            float scale = 1f / TornadoMath.sqrt(hs);
            int key = (b * T + j) * 3 * C + C + h * hs;
            int v = key + C;
            for (int t = j; t < T; t++) {
                int q = (b * T + t) * 3 * C + h * hs;
                int o = (b * T + t) * C + h * hs;
                float dot = 0f;
                float dp = 0f;
                for (int d = 0; d < hs; d++) {
                    dot += qkv.get(q + d) * qkv.get(key + d);
                    dp += dout.get(o + d) * qkv.get(v + d);
                }
                float p = TornadoMath.exp(dot * scale - lse.get(bh * T + t));
                float ds = p * (dp - rowDots.get(bh * T + t)) * scale;
                for (int d = 0; d < hs; d++) {
                    dqkv.set(key + d, dqkv.get(key + d) + ds * qkv.get(q + d));
                    dqkv.set(v + d, dqkv.get(v + d) + p * dout.get(o + d));
                }
            }
        }
    }
}
