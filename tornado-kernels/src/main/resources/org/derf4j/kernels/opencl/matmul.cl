// matmul.cl: C[M,N] (+)= A·B (+ bias[N]), the three GEMMs of a Linear layer, tiled and register-blocked.
//
//   gemm_nt   forward   out = x·wᵀ + b    A = x[M,K] (k contiguous)    B(k,j) = w[j,k] (k contiguous)
//   gemm_nn   dx      += dout·w          A = dout[M,K] (k contiguous) B = w[K,N] (j contiguous)
//   gemm_tn   dw      += doutᵀ·x         A(i,k) = dout[k,i] (i contig.) B = x[K,N] (j contiguous)
//
// A work-group of TS×TS work-items (TS from the build: 16, or 8 where a device's work-groups are small) computes
// a BM×BM block of C, each work-item an RB×RB grid of it in registers, at rows ty + TS·i and columns tx + TS·j:
// strided, so that neighbouring work-items read neighbouring words of local memory and store neighbouring words
// of C. Each step stages a BK-deep slab of A and of B in local memory, loaded so that neighbouring work-items read
// neighbouring addresses along whichever dimension is contiguous (runs of BK or BM floats), and stored k-major
// with a padded row (BM + 1) so that those stores do not collide in one bank. A work-item then does RB² multiply-
// adds per 2·RB local reads. Sums run over k in order: deterministic.

#define BM 64
#define BK 16
#define RB (BM / TS)
#define SLAB_ROW (BM + 1)

// slab[kk·SLAB_ROW + r] = src(r0 + r, k0 + kk), 0 outside [rows) × [K): src(r, k) = src[r·ld + k] when
// kContiguous, else src[k·ld + r]. kContiguous is a constant where it is called, so the branch folds away.
void load_slab(__local float *slab, __global const float *src, const int ld, const int r0, const int rows,
               const int k0, const int K, const int kContiguous) {
    const int lid = get_local_id(1) * TS + get_local_id(0);
    for (int e = lid; e < BK * BM; e += TS * TS) {
        const int r = kContiguous ? e / BK : e % BM;
        const int kk = kContiguous ? e % BK : e / BM;
        const int row = r0 + r;
        const int k = k0 + kk;
        float v = 0.0f;
        if (row < rows && k < K) {
            v = kContiguous ? src[row * ld + k] : src[k * ld + row];
        }
        slab[kk * SLAB_ROW + r] = v;
    }
}

// The block of C at (groupY·BM, groupX·BM). aK, bK: whether A and B are k-contiguous (see the table above).
void gemm_block(__local float *aSlab, __local float *bSlab, __global float *c, __global const float *a,
                __global const float *b, __global const float *bias, const int M, const int N, const int K,
                const int lda, const int ldb, const int accumulate, const int hasBias, const int aK, const int bK) {
    const int tx = get_local_id(0);
    const int ty = get_local_id(1);
    const int row0 = get_group_id(1) * BM;
    const int col0 = get_group_id(0) * BM;
    float acc[RB][RB];
    for (int i = 0; i < RB; i++) {
        for (int j = 0; j < RB; j++) {
            acc[i][j] = 0.0f;
        }
    }
    for (int k0 = 0; k0 < K; k0 += BK) {
        load_slab(aSlab, a, lda, row0, M, k0, K, aK);
        load_slab(bSlab, b, ldb, col0, N, k0, K, bK);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < BK; kk++) {
            float av[RB];
            float bv[RB];
            for (int i = 0; i < RB; i++) {
                av[i] = aSlab[kk * SLAB_ROW + ty + TS * i];
            }
            for (int j = 0; j < RB; j++) {
                bv[j] = bSlab[kk * SLAB_ROW + tx + TS * j];
            }
            for (int i = 0; i < RB; i++) {
                for (int j = 0; j < RB; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < RB; i++) {
        const int row = row0 + ty + TS * i;
        for (int j = 0; j < RB; j++) {
            const int col = col0 + tx + TS * j;
            if (row < M && col < N) {
                float v = acc[i][j];
                if (hasBias) {
                    v += bias[col];
                }
                if (accumulate) {
                    v += c[row * N + col];
                }
                c[row * N + col] = v;
            }
        }
    }
}

// Local memory must be declared at kernel scope (OpenCL C 1.2), hence one kernel per layout around gemm_block.
#define GEMM_KERNEL(NAME, A_K, B_K)                                                                               \
    __kernel __attribute__((reqd_work_group_size(TS, TS, 1)))                                                    \
    void NAME(__global float *c, __global const float *a, __global const float *b, __global const float *bias,   \
              const int M, const int N, const int K, const int lda, const int ldb, const int accumulate,          \
              const int hasBias) {                                                                                \
        __local float aSlab[BK * SLAB_ROW];                                                                       \
        __local float bSlab[BK * SLAB_ROW];                                                                       \
        gemm_block(aSlab, bSlab, c, a, b, bias, M, N, K, lda, ldb, accumulate, hasBias, A_K, B_K);               \
    }

GEMM_KERNEL(gemm_nt, 1, 1)
GEMM_KERNEL(gemm_nn, 1, 0)
GEMM_KERNEL(gemm_tn, 0, 0)
