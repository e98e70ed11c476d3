// pointwise_norm.cl: y = γ ⊙ f(α·x + s) + β over x[N,C], written once; each kind's file (derf.cl, dyt.cl), built
// before this one, brings its norm_f and norm_fprime. VEC floats per load (4 where C % 4 == 0).
//
//   pointwise_norm_forward    one work-item per VEC elements
//   pointwise_norm_backward   work-item (chunk of ROWS_PER_CHUNK rows, VEC channels): recomputes z, f(z), f'(z);
//                             dx += dout·γ·f'(z)·α in place; the chunk's dγ and dβ partials; a tree per
//                             work-group → {dα, ds} partials
//   then reductions.cl:       add_column_sums ×2 (dγ, dβ), add_pair_sums (dα, ds), in a fixed order

// out = γ·f(α·x + s) + β
__kernel void pointwise_norm_forward(__global float *out, __global const float *x, __global const float *alpha,
                                     __global const float *shift, __global const float *gamma,
                                     __global const float *beta, const int C, const int n) {
    const int i = get_global_id(0);
    if (i < n / VEC) {
        const int c = i % (C / VEC);
        const floatv z = LOADV(i, x) * alpha[0] + shift[0];
        STOREV(LOADV(c, gamma) * norm_f(z) + LOADV(c, beta), i, out);
    }
}

// With z = α·x + s and g = dout·γ·f'(z) (dL/dz): dx += g·α; partialGamma[chunk, c] = Σ dout·f(z);
// partialBeta[chunk, c] = Σ dout; partialScalars[2·group] = Σ g·x (dα), [2·group + 1] = Σ g (ds).
__kernel void pointwise_norm_backward(__global float *dx, __global float *partialGamma, __global float *partialBeta,
                                      __global float *partialScalars, __global const float *dout,
                                      __global const float *x, __global const float *alpha,
                                      __global const float *shift, __global const float *gamma, const int C,
                                      const int rows) {
    __local float tree[GROUP];
    const int idx = get_global_id(0);
    const int cv = C / VEC;
    const int chunks = (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    const float a = alpha[0];
    const float s = shift[0];
    floatv sumAlpha = BROADCASTV(0.0f);
    floatv sumShift = BROADCASTV(0.0f);
    if (idx < chunks * cv) {
        const int chunk = idx / cv;
        const int c = idx % cv;
        const floatv gc = LOADV(c, gamma);
        floatv sumGamma = BROADCASTV(0.0f);
        floatv sumBeta = BROADCASTV(0.0f);
        const int end = min(rows, (chunk + 1) * ROWS_PER_CHUNK);
        for (int row = chunk * ROWS_PER_CHUNK; row < end; row++) {
            const int i = row * cv + c;
            const floatv xi = LOADV(i, x);
            const floatv d = LOADV(i, dout);
            const floatv z = xi * a + s;
            const floatv g = d * gc * norm_fprime(z);
            STOREV(LOADV(i, dx) + g * a, i, dx);
            sumGamma += d * norm_f(z);
            sumBeta += d;
            sumAlpha += g * xi;
            sumShift += g;
        }
        STOREV(sumGamma, idx, partialGamma);
        STOREV(sumBeta, idx, partialBeta);
    }
    const float groupAlpha = group_sum(HSUM(sumAlpha), tree);
    const float groupShift = group_sum(HSUM(sumShift), tree);
    if (get_local_id(0) == 0) {
        partialScalars[2 * get_group_id(0)] = groupAlpha;
        partialScalars[2 * get_group_id(0) + 1] = groupShift;
    }
}
