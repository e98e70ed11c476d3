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

// eˣ as the cpu backend computes it (cpu/Exp.java, from scripts/fit_functions.py; OpenClBackendTest checks that
// these constants are its): within 1.06 ulp where eˣ is a normal float, exactly 0 below x ≈ −87.7 (−∞ included: a
// masked score), e⁸⁸ past 88. xc = clamp(x, ±88), n = round(xc/ln 2) by the MAGIC addition, r = xc − n·ln 2 in two
// fma, a degree-6 polynomial of r, and 2ⁿ built from n's bits. Every kernel uses it rather than exp: PoCL's exp
// builtin runs lane by lane (attention and GELU on PoCL spent most of their time in it), while this is fma and
// integer work that a CPU device vectorizes across work-items and a GPU runs at its full FMA rate.
#define EXP_X_MAX 88.0f
#define EXP_MAGIC 12582912.0f
#define EXP_LOG2E 1.4426950216293335f
#define EXP_LN2_HI 0.6931471824645996f
#define EXP_LN2_LO (-1.9046542121259336e-09f)
#define EXP_E0 1.0f
#define EXP_E1 1.0f
#define EXP_E2 0.4999999403953552f
#define EXP_E3 0.16666431725025177f
#define EXP_E4 0.04166800156235695f
#define EXP_E5 0.00837415549904108f
#define EXP_E6 0.0013843643246218562f

// The body of exp_fit for a scalar or vector type T with integer type I.
#define EXP_FIT(T, I, x)                                                                                          \
    const T xc = clamp(x, -EXP_X_MAX, EXP_X_MAX);                                                                 \
    const T shifted = fma(xc, (T) EXP_LOG2E, (T) EXP_MAGIC);                                                      \
    const T n = shifted - EXP_MAGIC;                                                                              \
    const T r = fma(n, (T) (-EXP_LN2_LO), fma(n, (T) (-EXP_LN2_HI), xc));                                            \
    const T e = fma(fma(fma(fma(fma(fma((T) EXP_E6, r, (T) EXP_E5), r, (T) EXP_E4), r, (T) EXP_E3), r,          \
                                    (T) EXP_E2), r, (T) EXP_E1), r, (T) EXP_E0);                                 \
    return e * as_##T((as_##I(shifted) + (127 - as_int(EXP_MAGIC))) << 23);

float exp_fit(const float x) {
    EXP_FIT(float, int, x)
}

float4 exp_fit4(const float4 x) {
    EXP_FIT(float4, int4, x)
}

#ifdef VEC
#if VEC == 4
#define EXPV(x) exp_fit4(x)
#else
#define EXPV(x) exp_fit(x)
#endif
#endif

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
