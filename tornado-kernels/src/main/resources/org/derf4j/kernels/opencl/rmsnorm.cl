// rmsnorm.cl: RMSNorm over the last dimension of x[N,C], VEC floats per load (4 where C % 4 == 0); laid out as
// layernorm.cl, with one row statistic.
//
//   rmsnorm_forward    a row per row of lanes of a 2D work-group: Σ x² in a tree; out, rstd
//   rmsnorm_backward   one work-group per chunk of ROWS_PER_CHUNK rows: each row's Σ dnorm·norm, a row per row of
//                      lanes, in a tree; then column by column dx and the chunk's dγ partials
//   then reductions.cl: add_column_sums (dγ)

__kernel void rmsnorm_forward(__global float *out, __global float *rstd, __global const float *x,
                              __global const float *gamma, const float eps, const int rows, const int C) {
    __local float tree[GROUP];
    const int row = get_group_id(1) * get_local_size(1) + get_local_id(1);
    const int lane = get_local_id(0);
    const int lanes = get_local_size(0);
    const int cv = C / VEC;
    // A row past the last computes on row 0 and writes nothing: every work-item must reach the barriers.
    const int o = (row < rows ? row : 0) * cv;
    floatv ss = BROADCASTV(0.0f);
    for (int c = lane; c < cv; c += lanes) {
        const floatv v = LOADV(o + c, x);
        ss += v * v;
    }
    const float r = 1.0f / sqrt(row_sum(HSUM(ss), tree) / C + eps);
    if (row < rows) {
        for (int c = lane; c < cv; c += lanes) {
            STOREV(LOADV(o + c, x) * r * LOADV(c, gamma), o + c, out);
        }
        if (lane == 0) {
            rstd[row] = r;
        }
    }
}

// dx += rstd·(dnorm − norm·mean(dnorm·norm)), norm = x·rstd, dnorm = dout·γ; partialGamma[chunk, c] = Σ dout·norm
__kernel void rmsnorm_backward(__global float *dx, __global float *partialGamma, __global const float *dout,
                               __global const float *x, __global const float *rstd, __global const float *gamma,
                               const int rows, const int C) {
    __local float tree[GROUP];
    __local float rowRstd[ROWS_PER_CHUNK];
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
        const float r = rstd[row];
        floatv sdn = BROADCASTV(0.0f);
        for (int c = lane; c < cv; c += lanes) {
            sdn += LOADV(o + c, dout) * LOADV(c, gamma) * LOADV(o + c, x);
        }
        const float b = row_sum(HSUM(sdn), tree);
        if (lane == 0 && k < count) {
            rowRstd[k] = r;
            dnormNormMean[k] = b * r / C;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int c = slot * lanes + lane; c < cv; c += lanes * slots) {
        const floatv g = LOADV(c, gamma);
        floatv sg = BROADCASTV(0.0f);
        for (int k = 0; k < count; k++) {
            const int i = (first + k) * cv + c;
            const float r = rowRstd[k];
            const floatv norm = LOADV(i, x) * r;
            const floatv d = LOADV(i, dout);
            STOREV(LOADV(i, dx) + (d * g - norm * dnormNormMean[k]) * r, i, dx);
            sg += d * norm;
        }
        STOREV(sg, chunk * cv + c, partialGamma);
    }
}
