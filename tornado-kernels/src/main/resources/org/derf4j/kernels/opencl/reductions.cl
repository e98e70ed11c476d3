// reductions.cl: the second passes of the deterministic reductions, shared by several ops. A first, op-specific
// kernel leaves partial sums in scratch (per chunk of ROWS_PER_CHUNK rows, or per work-group); these add them up
// in a fixed order, so the bits depend on the shapes and GROUP only.

// partial[chunk·C + c] = Σ src[row·C + c] over the chunk's rows (dbias); one work-item per (chunk, c), so
// neighbouring work-items read neighbouring columns
__kernel void column_partials(__global float *partial, __global const float *src, const int rows, const int C) {
    const int idx = get_global_id(0);
    const int chunks = (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    if (idx < chunks * C) {
        const int chunk = idx / C;
        const int c = idx % C;
        const int end = min(rows, (chunk + 1) * ROWS_PER_CHUNK);
        float s = 0.0f;
        for (int row = chunk * ROWS_PER_CHUNK; row < end; row++) {
            s += src[row * C + c];
        }
        partial[idx] = s;
    }
}

// dst[c] += Σ_chunk partial[chunk·C + c], chunks in order; one work-item per column
__kernel void add_column_sums(__global float *dst, __global const float *partial, const int chunks, const int C) {
    const int c = get_global_id(0);
    if (c < C) {
        float s = 0.0f;
        for (int chunk = 0; chunk < chunks; chunk++) {
            s += partial[chunk * C + c];
        }
        dst[c] += s;
    }
}

// dst[0] += Σ partial[0, count); one work-group: each work-item sums a strided subset in order, then the tree
__kernel void add_sum(__global float *dst, __global const float *partial, const int count) {
    __local float tree[GROUP];
    float s = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0)) {
        s += partial[i];
    }
    const float total = group_sum(s, tree);
    if (get_local_id(0) == 0) {
        dst[0] += total;
    }
}

// a[0] += Σ partial[2i], and b[0] += Σ partial[2i + 1] when hasB; one work-group
__kernel void add_pair_sums(__global float *a, __global float *b, __global const float *partial, const int pairs,
                            const int hasB) {
    __local float tree[GROUP];
    float sa = 0.0f;
    float sb = 0.0f;
    for (int i = get_local_id(0); i < pairs; i += get_local_size(0)) {
        sa += partial[2 * i];
        sb += partial[2 * i + 1];
    }
    const float ta = group_sum(sa, tree);
    const float tb = group_sum(sb, tree);
    if (get_local_id(0) == 0) {
        a[0] += ta;
        if (hasB) {
            b[0] += tb;
        }
    }
}
