// attention.cl: causal multi-head attention on qkv[B,T,3C], flash-style: the T×T scores are never stored. The
// build defines HS (the head size, so that a work-item's rows of HS floats live in registers) and TILE (rows per
// tile, from the device's local memory). Work-groups are TILE work-items, one row each, for one (b, h) = bh and
// one tile of rows; they stage the rows all of them read, TILE at a time, in local memory.
//
//   attention_forward       work-item = query t, q_t/√HS and out_t in registers: online softmax over key tiles
//                           j ≤ t (running max m, Σexp l, out_t rescaled once per tile); out_t /= l,
//                           lse_t = m + log l
//   attention_backward_dq   work-item = query t, over key tiles: D_t = dout_t·out_t (kept for the next kernel),
//                           p_tj = exp(q_t·k_j/√HS − lse_t), ds_tj = p_tj·(dout_t·v_j − D_t),
//                           dq_t += Σ_j ds_tj·k_j/√HS
//   attention_backward_dkv  work-item = key j, k_j and v_j staged (padded rows), over query tiles t ≥ j:
//                           dk_j += Σ_t ds_tj·q_t/√HS, dv_j += Σ_t p_tj·dout_t, in registers
//
// Every work-item writes only its own rows and sums in a fixed order: no atomics, deterministic.

#define ROW_PAD (HS + 1)

// tile[r·HS + d] = src[(b·T + first + r)·stride + offset + d] for the TILE rows from first (0 past row T − 1):
// neighbouring work-items load neighbouring floats of a row
void stage_rows(__local float *tile, __global const float *src, const int rowBase, const int stride,
                const int first, const int T) {
    for (int e = get_local_id(0); e < TILE * HS; e += TILE) {
        const int row = first + e / HS;
        tile[e] = row < T ? src[rowBase + row * stride + e % HS] : 0.0f;
    }
}

__kernel __attribute__((reqd_work_group_size(TILE, 1, 1)))
void attention_forward(__global float *out, __global float *lse, __global const float *qkv, const int T,
                       const int C, const int NH) {
    __local float keys[TILE * HS];
    __local float values[TILE * HS];
    const int tiles = (T + TILE - 1) / TILE;
    const int bh = get_group_id(0) / tiles;
    const int first = (get_group_id(0) % tiles) * TILE;
    const int lid = get_local_id(0);
    const int t = first + lid;
    const int b = bh / NH;
    const int h = bh % NH;
    const int stride = 3 * C;
    const int base = b * T * stride + h * HS; // q of (b, t = 0, h); k at +C, v at +2C
    const float scale = 1.0f / sqrt((float) HS);
    float q[HS];
    float o[HS];
    for (int d = 0; d < HS; d++) {
        q[d] = t < T ? qkv[base + t * stride + d] * scale : 0.0f;
        o[d] = 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    // Keys up to the tile's last query. Every key tile before the query tile is visible to every query of it; in
    // the query tile itself query t sees keys first .. t.
    const int keyEnd = min(first + TILE, T);
    for (int j0 = 0; j0 < keyEnd; j0 += TILE) {
        stage_rows(keys, qkv, base + C, stride, j0, T);
        stage_rows(values, qkv, base + 2 * C, stride, j0, T);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t < T) {
            const int visible = min(TILE, t - j0 + 1);
            float s[TILE];
            float tileMax = -INFINITY;
            for (int r = 0; r < visible; r++) {
                float dot = 0.0f;
                for (int d = 0; d < HS; d++) {
                    dot = fma(q[d], keys[r * HS + d], dot);
                }
                s[r] = dot;
                tileMax = fmax(tileMax, dot);
            }
            // visible ≥ 1 (key j0 ≤ t), so mNew is a real score; exp(−∞ − mNew) = 0 on the first tile.
            const float mNew = fmax(m, tileMax);
            const float correction = exp_fit(m - mNew);
            l *= correction;
            for (int d = 0; d < HS; d++) {
                o[d] *= correction;
            }
            for (int r = 0; r < visible; r++) {
                const float p = exp_fit(s[r] - mNew);
                l += p;
                for (int d = 0; d < HS; d++) {
                    o[d] = fma(p, values[r * HS + d], o[d]);
                }
            }
            m = mNew;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t < T) {
        const int row = (b * T + t) * C + h * HS;
        for (int d = 0; d < HS; d++) {
            out[row + d] = o[d] / l;
        }
        lse[bh * T + t] = m + log(l);
    }
}

__kernel __attribute__((reqd_work_group_size(TILE, 1, 1)))
void attention_backward_dq(__global float *dqkv, __global float *rowDots, __global const float *dout,
                           __global const float *qkv, __global const float *out, __global const float *lse,
                           const int T, const int C, const int NH) {
    __local float keys[TILE * HS];
    __local float values[TILE * HS];
    const int tiles = (T + TILE - 1) / TILE;
    const int bh = get_group_id(0) / tiles;
    const int first = (get_group_id(0) % tiles) * TILE;
    const int t = first + get_local_id(0);
    const int b = bh / NH;
    const int h = bh % NH;
    const int stride = 3 * C;
    const int base = b * T * stride + h * HS;
    const int o = (b * T + t) * C + h * HS;
    const float scale = 1.0f / sqrt((float) HS);
    float q[HS];
    float g[HS];
    float dq[HS];
    float D = 0.0f;
    for (int d = 0; d < HS; d++) {
        q[d] = t < T ? qkv[base + t * stride + d] * scale : 0.0f;
        g[d] = t < T ? dout[o + d] : 0.0f;
        dq[d] = 0.0f;
        D = t < T ? fma(g[d], out[o + d], D) : 0.0f;
    }
    const float lt = t < T ? lse[bh * T + t] : 0.0f;
    if (t < T) {
        rowDots[bh * T + t] = D;
    }
    const int keyEnd = min(first + TILE, T);
    for (int j0 = 0; j0 < keyEnd; j0 += TILE) {
        stage_rows(keys, qkv, base + C, stride, j0, T);
        stage_rows(values, qkv, base + 2 * C, stride, j0, T);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t < T) {
            const int visible = min(TILE, t - j0 + 1);
            for (int r = 0; r < visible; r++) {
                float dot = 0.0f;
                float dp = 0.0f;
                for (int d = 0; d < HS; d++) {
                    dot = fma(q[d], keys[r * HS + d], dot);
                    dp = fma(g[d], values[r * HS + d], dp);
                }
                const float ds = exp_fit(dot - lt) * (dp - D);
                for (int d = 0; d < HS; d++) {
                    dq[d] = fma(ds, keys[r * HS + d], dq[d]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t < T) {
        for (int d = 0; d < HS; d++) {
            dqkv[base + t * stride + d] += dq[d] * scale;
        }
    }
}

__kernel __attribute__((reqd_work_group_size(TILE, 1, 1)))
void attention_backward_dkv(__global float *dqkv, __global const float *dout, __global const float *qkv,
                            __global const float *lse, __global const float *rowDots, const int T, const int C,
                            const int NH) {
    __local float ownKeys[TILE * ROW_PAD];   // the work-items' own rows: padded, so that reading one d of every
    __local float ownValues[TILE * ROW_PAD]; // row hits TILE different banks
    __local float queries[TILE * HS];
    __local float grads[TILE * HS];
    __local float tileLse[TILE];
    __local float tileDots[TILE];
    const int tiles = (T + TILE - 1) / TILE;
    const int bh = get_group_id(0) / tiles;
    const int first = (get_group_id(0) % tiles) * TILE;
    const int lid = get_local_id(0);
    const int j = first + lid;
    const int b = bh / NH;
    const int h = bh % NH;
    const int stride = 3 * C;
    const int base = b * T * stride + h * HS;
    const float scale = 1.0f / sqrt((float) HS);
    for (int e = lid; e < TILE * HS; e += TILE) {
        const int row = first + e / HS;
        ownKeys[(e / HS) * ROW_PAD + e % HS] = row < T ? qkv[base + row * stride + C + e % HS] : 0.0f;
        ownValues[(e / HS) * ROW_PAD + e % HS] = row < T ? qkv[base + row * stride + 2 * C + e % HS] : 0.0f;
    }
    float dk[HS];
    float dv[HS];
    for (int d = 0; d < HS; d++) {
        dk[d] = 0.0f;
        dv[d] = 0.0f;
    }
    // Queries from the key tile on: earlier ones see none of these keys.
    for (int t0 = first; t0 < T; t0 += TILE) {
        stage_rows(queries, qkv, base, stride, t0, T);
        stage_rows(grads, dout, b * T * C + h * HS, C, t0, T);
        const int tr = t0 + lid;
        tileLse[lid] = tr < T ? lse[bh * T + tr] : 0.0f;
        tileDots[lid] = tr < T ? rowDots[bh * T + tr] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (j < T) {
            const int from = max(0, j - t0);        // queries t ≥ j
            const int to = min(TILE, T - t0);       // and t < T
            for (int r = from; r < to; r++) {
                float dot = 0.0f;
                float dp = 0.0f;
                for (int d = 0; d < HS; d++) {
                    dot = fma(queries[r * HS + d], ownKeys[lid * ROW_PAD + d], dot);
                    dp = fma(grads[r * HS + d], ownValues[lid * ROW_PAD + d], dp);
                }
                const float p = exp_fit(dot * scale - tileLse[r]);
                const float ds = p * (dp - tileDots[r]);
                for (int d = 0; d < HS; d++) {
                    dk[d] = fma(ds, queries[r * HS + d], dk[d]);
                    dv[d] = fma(p, grads[r * HS + d], dv[d]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (j < T) {
        for (int d = 0; d < HS; d++) {
            dqkv[base + j * stride + C + d] += dk[d] * scale;
            dqkv[base + j * stride + 2 * C + d] += dv[d];
        }
    }
}
