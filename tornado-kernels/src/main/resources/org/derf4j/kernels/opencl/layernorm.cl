// layernorm.cl: LayerNorm over the last dimension of x[N,C], VEC floats per load (4 where C % 4 == 0).
//
//   layernorm_forward    a row per row of a 2D work-group (32 lanes, a warp on a GPU, × GROUP/32 rows): mean,
//                        then Σ(x − mean)² (no E[x²] − mean² cancellation), in trees; out, mean, rstd
//   layernorm_backward   one work-group per chunk of ROWS_PER_CHUNK rows: first each row's Σ dnorm and
//                        Σ dnorm·norm, a row per row of lanes, in trees; then column by column (neighbouring
//                        work-items, neighbouring columns) dx for every row of the chunk, and the chunk's dγ, dβ
//                        partials in registers
//   then reductions.cl:  add_column_sums ×2 (dγ, dβ), chunks in order

__kernel void layernorm_forward(__global float *out, __global float *mean, __global float *rstd,
                                __global const float *x, __global const float *gamma, __global const float *beta,
                                const float eps, const int rows, const int C) {
    __local float tree[GROUP];
    const int row = get_group_id(1) * get_local_size(1) + get_local_id(1);
    const int lane = get_local_id(0);
    const int lanes = get_local_size(0);
    const int cv = C / VEC;
    // A row past the last computes on row 0 and writes nothing: every work-item must reach the barriers.
    const int o = (row < rows ? row : 0) * cv;
    floatv s = BROADCASTV(0.0f);
    for (int c = lane; c < cv; c += lanes) {
        s += LOADV(o + c, x);
    }
    const float m = row_sum(HSUM(s), tree) / C;
    floatv q = BROADCASTV(0.0f);
    for (int c = lane; c < cv; c += lanes) {
        const floatv d = LOADV(o + c, x) - m;
        q += d * d;
    }
    const float r = 1.0f / sqrt(row_sum(HSUM(q), tree) / C + eps);
    if (row < rows) {
        for (int c = lane; c < cv; c += lanes) {
            STOREV((LOADV(o + c, x) - m) * r * LOADV(c, gamma) + LOADV(c, beta), o + c, out);
        }
        if (lane == 0) {
            mean[row] = m;
            rstd[row] = r;
        }
    }
}

// dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)), norm = (x − mean)·rstd, dnorm = dout·γ;
// partialGamma[chunk, c] = Σ dout·norm, partialBeta[chunk, c] = Σ dout over the chunk's rows
__kernel void layernorm_backward(__global float *dx, __global float *partialGamma, __global float *partialBeta,
                                 __global const float *dout, __global const float *x, __global const float *mean,
                                 __global const float *rstd, __global const float *gamma, const int rows,
                                 const int C) {
    __local float tree[GROUP];
    __local float rowMean[ROWS_PER_CHUNK];
    __local float rowRstd[ROWS_PER_CHUNK];
    __local float dnormMean[ROWS_PER_CHUNK];
    __local float dnormNormMean[ROWS_PER_CHUNK];
    const int chunk = get_group_id(1);
    const int lane = get_local_id(0);
    const int lanes = get_local_size(0);
    const int slot = get_local_id(1);
    const int slots = get_local_size(1);
    const int cv = C / VEC;
    const int first = chunk * ROWS_PER_CHUNK;
    const int count = min(rows - first, ROWS_PER_CHUNK);
    // The chunk's rows, a row per row of lanes; a slot past the last row recomputes it and stores nothing.
    for (int k0 = 0; k0 < count; k0 += slots) {
        const int k = k0 + slot;
        const int row = first + min(k, count - 1);
        const int o = row * cv;
        const float m = mean[row];
        const float r = rstd[row];
        floatv sd = BROADCASTV(0.0f);
        floatv sdn = BROADCASTV(0.0f);
        for (int c = lane; c < cv; c += lanes) {
            const floatv norm = (LOADV(o + c, x) - m) * r;
            const floatv dnorm = LOADV(o + c, dout) * LOADV(c, gamma);
            sd += dnorm;
            sdn += dnorm * norm;
        }
        const float a = row_sum(HSUM(sd), tree);
        const float b = row_sum(HSUM(sdn), tree);
        if (lane == 0 && k < count) {
            rowMean[k] = m;
            rowRstd[k] = r;
            dnormMean[k] = a / C;
            dnormNormMean[k] = b / C;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // Column by column, all work-items: neighbouring work-items, neighbouring columns.
    for (int c = slot * lanes + lane; c < cv; c += lanes * slots) {
        const floatv g = LOADV(c, gamma);
        floatv sg = BROADCASTV(0.0f);
        floatv sb = BROADCASTV(0.0f);
        for (int k = 0; k < count; k++) {
            const int i = (first + k) * cv + c;
            const float r = rowRstd[k];
            const floatv norm = (LOADV(i, x) - rowMean[k]) * r;
            const floatv d = LOADV(i, dout);
            STOREV(LOADV(i, dx) + (d * g - dnormMean[k] - norm * dnormNormMean[k]) * r, i, dx);
            sg += d * norm;
            sb += d;
        }
        STOREV(sg, chunk * cv + c, partialGamma);
        STOREV(sb, chunk * cv + c, partialBeta);
    }
}
