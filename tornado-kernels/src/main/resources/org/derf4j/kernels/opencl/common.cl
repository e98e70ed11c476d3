// common.cl: what every program of the opencl backend starts with.
//
// The build defines GROUP, the work-items of the 1D kernels and the size of their reduction trees (a power of
// two, from the device's limits), and ROWS_PER_CHUNK, the rows one work-item sums in a reduction over rows.
// Programs over rows may define VEC, 4 where a row is whole float4s (C % 4 == 0), else 1: the same source then
// loads float4s or floats, and floatv, LOADV, STOREV and HSUM hide which.
//
// Sizes are ints (a tensor holds fewer than 2^31 elements); every kernel checks its indices against the real
// sizes, since launches are rounded up to whole work-groups.

#ifdef VEC
#if VEC == 4
typedef float4 floatv;
#define LOADV(i, p) vload4((i), (p))
#define STOREV(v, i, p) vstore4((v), (i), (p))
// The lanes of a float4 in a fixed order, so that sums of lanes are the same bits on every run.
#define HSUM(v) (((v).x + (v).y) + ((v).z + (v).w))
#define BROADCASTV(x) ((float4) (x))
#else
typedef float floatv;
#define LOADV(i, p) ((p)[i])
#define STOREV(v, i, p) ((p)[i] = (v))
#define HSUM(v) (v)
#define BROADCASTV(x) (x)
#endif
#endif

// The sum of v over the work-group, in a tree over tree[get_local_size(0)] (a power of two, at most GROUP), in a
// fixed order: the same bits on every run. Every work-item gets the sum, and every work-item must call it.
float group_sum(float v, __local float *tree) {
    const int lid = get_local_id(0);
    tree[lid] = v;
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < s) {
            tree[lid] += tree[lid + s];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const float sum = tree[0];
    barrier(CLK_LOCAL_MEM_FENCE); // the caller may reuse the tree at once
    return sum;
}

// 1 − tanh²(u) = 4e/(1+e)² with e = exp(−2|u|): relative accuracy for any u, where 1 − tanh² would cancel near
// |tanh| = 1 and keep only tanh's absolute rounding error.
float sech2(float u) {
    const float e = exp(-2.0f * fabs(u));
    const float d = 1.0f + e;
    return 4.0f * e / (d * d);
}

// The sum of v over the lanes of one row of a 2D work-group: lanes along dimension 0 (a power of two), rows of the
// group along dimension 1, each row with its own slice of tree[GROUP]. Fixed order; every work-item gets its row's
// sum and must call it. A row of lanes is a warp on a GPU, which reads one row's neighbouring floats.
float row_sum(float v, __local float *tree) {
    const int lane = get_local_id(0);
    __local float *mine = tree + get_local_id(1) * get_local_size(0);
    mine[lane] = v;
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lane < s) {
            mine[lane] += mine[lane + s];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const float sum = mine[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return sum;
}
