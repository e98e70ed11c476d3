package org.derf4j.kernels.cpu;

/**
 * Causal multi-head self-attention on {@code qkv[B,T,3C]}, one (batch, head) pair per call, indexed
 * {@code bh = b·NH + h}. See {@link org.derf4j.kernels.Attention} for the layout.
 */
final class AttentionKernels {
    private AttentionKernels() {
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
}
