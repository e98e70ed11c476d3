// embedding.cl: token + position embedding with a scale, out[b,t,:] = s·(wte[tok,:] + wpe[t,:]), over rows of C
// floats, VEC per load (4 where C % 4 == 0). Token ids were checked on the host; the kernels clamp them too, so
// that no id can read out of bounds. The backward scatters without atomics:
//
//   embedding_forward            one work-item per VEC elements
//   embedding_backward_tokens    one work-group per bucket, the rows that hold one token (the host sorted them,
//                                rows in order): dwte[tok, c] += s·Σ_rows dout[row, c], columns across work-items
//   embedding_backward_positions work-item (t, VEC channels): dwpe[t, c] += s·Σ_b dout[b, t, c]; and Σ over b and
//                                its channels of dout·(wte[tok] + wpe[t]), in a tree per work-group → partial
//   then reductions.cl:          add_sum (dscale)
//
// The buckets: buckets[0 .. k] are the buckets' first indices into buckets[N + 1 ..] (the rows, grouped by token),
// and buckets[2N + 1 + i] is bucket i's token.

int clamp_token(const int token, const int V) {
    return clamp(token, 0, V - 1);
}

__kernel void embedding_forward(__global float *out, __global const int *tokens, __global const float *wte,
                                __global const float *wpe, __global const float *scale, const int T, const int C,
                                const int V, const int n) {
    const int i = get_global_id(0);
    const int cv = C / VEC;
    if (i < n / VEC) {
        const int row = i / cv;
        const int c = i % cv;
        const int tok = clamp_token(tokens[row], V);
        STOREV((LOADV(tok * cv + c, wte) + LOADV((row % T) * cv + c, wpe)) * scale[0], i, out);
    }
}

__kernel void embedding_backward_tokens(__global float *dwte, __global const float *dout,
                                        __global const int *buckets, __global const float *scale, const int N,
                                        const int C, const int V) {
    const int bucket = get_group_id(0);
    const int cv = C / VEC;
    const int from = buckets[bucket];
    const int to = buckets[bucket + 1];
    const int tok = clamp_token(buckets[2 * N + 1 + bucket], V);
    const float s = scale[0];
    for (int c = get_local_id(0); c < cv; c += get_local_size(0)) {
        floatv g = BROADCASTV(0.0f);
        for (int k = from; k < to; k++) {
            g += LOADV(buckets[N + 1 + k] * cv + c, dout);
        }
        STOREV(LOADV(tok * cv + c, dwte) + g * s, tok * cv + c, dwte);
    }
}

__kernel void embedding_backward_positions(__global float *dwpe, __global float *partial, __global const float *dout,
                                           __global const int *tokens, __global const float *wte,
                                           __global const float *wpe, __global const float *scale, const int B,
                                           const int T, const int C, const int V) {
    __local float tree[GROUP];
    const int i = get_global_id(0); // (t, c) of wpe, in VEC units
    const int cv = C / VEC;
    floatv dscale = BROADCASTV(0.0f);
    if (i < T * cv) {
        const int t = i / cv;
        const int c = i % cv;
        const floatv p = LOADV(i, wpe);
        floatv g = BROADCASTV(0.0f);
        for (int b = 0; b < B; b++) {
            const int row = b * T + t;
            const floatv d = LOADV(row * cv + c, dout);
            g += d;
            dscale += d * (LOADV(clamp_token(tokens[row], V) * cv + c, wte) + p);
        }
        STOREV(LOADV(i, dwpe) + g * scale[0], i, dwpe);
    }
    const float sum = group_sum(HSUM(dscale), tree);
    if (get_local_id(0) == 0) {
        partial[get_group_id(0)] = sum;
    }
}
