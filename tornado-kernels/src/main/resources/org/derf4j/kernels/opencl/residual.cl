// residual.cl: the residual add and its backward, float4 per work-item; work-item n/4 takes the last n % 4.
// out may be a (in place): each work-item reads its elements before it writes them.

// out = a + b
__kernel void residual_forward(__global float *out, __global const float *a, __global const float *b, const int n) {
    const int i = get_global_id(0);
    if (i < n / 4) {
        vstore4(vload4(i, a) + vload4(i, b), i, out);
    } else if (i == n / 4) {
        for (int k = 4 * i; k < n; k++) {
            out[k] = a[k] + b[k];
        }
    }
}

// da += dout; db += dout
__kernel void residual_backward(__global float *da, __global float *db, __global const float *dout, const int n) {
    const int i = get_global_id(0);
    if (i < n / 4) {
        const float4 g = vload4(i, dout);
        vstore4(vload4(i, da) + g, i, da);
        vstore4(vload4(i, db) + g, i, db);
    } else if (i == n / 4) {
        for (int k = 4 * i; k < n; k++) {
            da[k] += dout[k];
            db[k] += dout[k];
        }
    }
}
