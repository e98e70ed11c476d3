// rmsnorm.cl: RMSNorm over the last dimension of x[N,C], VEC floats per load (4 where C % 4 == 0); laid out as
// layernorm.cl, with one row statistic.
//
//   rmsnorm_forward    one work-group per row: Σ x² in a tree; out, rstd
//   rmsnorm_backward   one work-group per chunk of ROWS_PER_CHUNK rows: each row's Σ dnorm·norm in a tree, then
//                      column by column dx and the chunk's dγ partials
//   then reductions.cl: add_column_sums (dγ)

__kernel void rmsnorm_forward(__global float *out, __global float *rstd, __global const float *x,
                              __global const float *gamma, const float eps, const int C) {
    __local float tree[GROUP];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int step = get_local_size(0);
    const int cv = C / VEC;
    const int o = row * cv;
    floatv ss = BROADCASTV(0.0f);
    for (int c = lid; c < cv; c += step) {
        const floatv v = LOADV(o + c, x);
        ss += v * v;
    }
    const float r = 1.0f / sqrt(group_sum(HSUM(ss), tree) / C + eps);
    for (int c = lid; c < cv; c += step) {
        STOREV(LOADV(o + c, x) * r * LOADV(c, gamma), o + c, out);
    }
    if (lid == 0) {
        rstd[row] = r;
    }
}

// dx += rstd·(dnorm − norm·mean(dnorm·norm)), norm = x·rstd, dnorm = dout·γ; partialGamma[chunk, c] = Σ dout·norm
__kernel void rmsnorm_backward(__global float *dx, __global float *partialGamma, __global const float *dout,
                               __global const float *x, __global const float *rstd, __global const float *gamma,
                               const int rows, const int C) {
    __local float tree[GROUP];
    __local float rowRstd[ROWS_PER_CHUNK];
    __local float dnormNormMean[ROWS_PER_CHUNK];
    const int chunk = get_group_id(0);
    const int lid = get_local_id(0);
    const int step = get_local_size(0);
    const int cv = C / VEC;
    const int first = chunk * ROWS_PER_CHUNK;
    const int count = min(rows - first, ROWS_PER_CHUNK);
    for (int k = 0; k < count; k++) {
        const int o = (first + k) * cv;
        const float r = rstd[first + k];
        floatv sdn = BROADCASTV(0.0f);
        for (int c = lid; c < cv; c += step) {
            sdn += LOADV(o + c, dout) * LOADV(c, gamma) * LOADV(o + c, x);
        }
        const float b = group_sum(HSUM(sdn), tree);
        if (lid == 0) {
            rowRstd[k] = r;
            dnormNormMean[k] = b * r / C;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int c = lid; c < cv; c += step) {
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
