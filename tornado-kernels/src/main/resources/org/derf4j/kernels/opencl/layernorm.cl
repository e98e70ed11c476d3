// layernorm.cl: LayerNorm over the last dimension of x[N,C], VEC floats per load (4 where C % 4 == 0).
//
//   layernorm_forward    one work-group per row: mean, then Σ(x − mean)² (no E[x²] − mean² cancellation), in
//                        trees; out, mean, rstd
//   layernorm_backward   one work-group per chunk of ROWS_PER_CHUNK rows: first each row's Σ dnorm and
//                        Σ dnorm·norm in trees, then column by column (neighbouring work-items, neighbouring
//                        columns) dx for every row of the chunk, and the chunk's dγ, dβ partials in registers
//   then reductions.cl:  add_column_sums ×2 (dγ, dβ), chunks in order

__kernel void layernorm_forward(__global float *out, __global float *mean, __global float *rstd,
                                __global const float *x, __global const float *gamma, __global const float *beta,
                                const float eps, const int C) {
    __local float tree[GROUP];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int step = get_local_size(0);
    const int cv = C / VEC;
    const int o = row * cv;
    floatv s = BROADCASTV(0.0f);
    for (int c = lid; c < cv; c += step) {
        s += LOADV(o + c, x);
    }
    const float m = group_sum(HSUM(s), tree) / C;
    floatv q = BROADCASTV(0.0f);
    for (int c = lid; c < cv; c += step) {
        const floatv d = LOADV(o + c, x) - m;
        q += d * d;
    }
    const float r = 1.0f / sqrt(group_sum(HSUM(q), tree) / C + eps);
    for (int c = lid; c < cv; c += step) {
        STOREV((LOADV(o + c, x) - m) * r * LOADV(c, gamma) + LOADV(c, beta), o + c, out);
    }
    if (lid == 0) {
        mean[row] = m;
        rstd[row] = r;
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
    const int chunk = get_group_id(0);
    const int lid = get_local_id(0);
    const int step = get_local_size(0);
    const int cv = C / VEC;
    const int first = chunk * ROWS_PER_CHUNK;
    const int count = min(rows - first, ROWS_PER_CHUNK);
    for (int k = 0; k < count; k++) {
        const int o = (first + k) * cv;
        const float m = mean[first + k];
        const float r = rstd[first + k];
        floatv sd = BROADCASTV(0.0f);
        floatv sdn = BROADCASTV(0.0f);
        for (int c = lid; c < cv; c += step) {
            const floatv norm = (LOADV(o + c, x) - m) * r;
            const floatv dnorm = LOADV(o + c, dout) * LOADV(c, gamma);
            sd += dnorm;
            sdn += dnorm * norm;
        }
        const float a = group_sum(HSUM(sd), tree);
        const float b = group_sum(HSUM(sdn), tree);
        if (lid == 0) {
            rowMean[k] = m;
            rowRstd[k] = r;
            dnormMean[k] = a / C;
            dnormNormMean[k] = b / C;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int c = lid; c < cv; c += step) {
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
