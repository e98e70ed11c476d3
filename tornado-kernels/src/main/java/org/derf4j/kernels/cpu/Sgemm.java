package org.derf4j.kernels.cpu;

/**
 * Single-precision matrix multiply in the three layouts a Linear layer needs, on row-major arrays with
 * offsets and leading dimensions (so attention can multiply one head's strided slice in place).
 */
final class Sgemm {
    private Sgemm() {
    }

    /** Which operand is transposed. Element (i,j) of C is {@code c[cOff + i·ldc + j]}. */
    enum Layout {
        /** C[M,N] (+)= A[M,K] · B[N,K]ᵀ: a Linear forward, x·wᵀ. */
        NT,
        /** C[M,N] (+)= A[M,K] · B[K,N]: a Linear input gradient, dout·w. */
        NN,
        /** C[M,N] (+)= A[K,M]ᵀ · B[K,N]: a Linear weight gradient, doutᵀ·x. */
        TN
    }

    /** The plain triple loop: the check for the fast versions and the fallback. */
    static void reference(Layout layout, int M, int N, int K, float[] a, int aOff, int lda, float[] b, int bOff,
                          int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float sum = 0f;
                for (int k = 0; k < K; k++) {
                    float av = layout == Layout.TN ? a[aOff + k * lda + i] : a[aOff + i * lda + k];
                    float bv = layout == Layout.NT ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j];
                    sum += av * bv;
                }
                int o = cOff + i * ldc + j;
                c[o] = accumulate ? c[o] + sum : sum;
            }
        }
    }
}
