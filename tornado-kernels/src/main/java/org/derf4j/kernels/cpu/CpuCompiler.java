package org.derf4j.kernels.cpu;

import java.util.Arrays;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;

/**
 * Turns each op record into a kernel the cpu backend can replay: an exhaustive switch that hands each op to
 * the {@code compile} method beside its kernels ({@code XxxKernels.compile(op, compiler)}), and the helpers
 * those methods share. Everything a kernel needs (arrays, sizes, scratch, the loop bodies handed to the
 * {@link ThreadTeam}) is bound there, once, so a replay allocates nothing. Scalars that change between
 * replays (α, s, the embedding scale, AdamW's hyper-parameters) are read from their arrays when the kernel
 * runs.
 */
final class CpuCompiler {

    /** Elements per chunk for element-wise work: big enough to amortise a dispatch, small enough to balance. */
    static final int ELEMENTS_PER_CHUNK = 1 << 15;
    /**
     * Chunks for ops that reduce over rows (dγ, dβ, dα, the loss): a number that depends on the shape only,
     * never on the thread count, so the sums are the same bits on any machine with the same vector width.
     */
    private static final int REDUCTION_CHUNKS = 64;
    private static final float[] ONE = {1f};
    private static final float[] ZERO = {0f};

    private final ThreadTeam team;
    private final boolean reference;

    CpuCompiler(ThreadTeam team, boolean reference) {
        this.team = team;
        this.reference = reference;
    }

    /** One loop body over {@code [from, to)}, the {@code chunk}-th of its loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int from, int to, int chunk);
    }

    Runnable compile(Op op) {
        return switch (op) {
            case Zero z -> ZeroKernels.compile(z, this);
            case Embedding.Forward e -> EmbeddingKernels.compile(e, this);
            case Embedding.Backward e -> EmbeddingKernels.compile(e, this);
            case PointwiseNorm.Forward p -> switch (p.kind()) {
                case DERF -> DerfKernels.compile(p, this);
                case DYT -> DytKernels.compile(p, this);
            };
            case PointwiseNorm.Backward p -> switch (p.kind()) {
                case DERF -> DerfKernels.compile(p, this);
                case DYT -> DytKernels.compile(p, this);
            };
            case LayerNorm.Forward l -> LayerNormKernels.compile(l, this);
            case LayerNorm.Backward l -> LayerNormKernels.compile(l, this);
            case RmsNorm.Forward r -> RmsNormKernels.compile(r, this);
            case RmsNorm.Backward r -> RmsNormKernels.compile(r, this);
            case Matmul.Forward m -> MatmulKernels.compile(m, this);
            case Matmul.Backward m -> MatmulKernels.compile(m, this);
            case Gelu.Forward g -> GeluKernels.compile(g, this);
            case Gelu.Backward g -> GeluKernels.compile(g, this);
            case Attention.Forward a -> AttentionKernels.compile(a, this);
            case Attention.Backward a -> AttentionKernels.compile(a, this);
            case Residual.Forward r -> ResidualKernels.compile(r, this);
            case Residual.Backward r -> ResidualKernels.compile(r, this);
            case CrossEntropy ce -> CrossEntropyKernels.compile(ce, this);
            case GradClip g -> AdamWKernels.compile(g, this);
            case AdamW a -> AdamWKernels.compile(a, this);
        };
    }

    // ---------------------------------------------------------------- loops

    /** True for the scalar reference variant: one thread, and every loop in one call. */
    boolean reference() {
        return reference;
    }

    ThreadTeam team() {
        return team;
    }

    /** Runs {@code body} over {@code [0, n)} in chunks of {@code chunkSize}: on the team, or in one call for the reference. */
    Runnable parallel(int n, int chunkSize, RangeBody body) {
        if (reference) {
            return () -> body.run(0, n, 0);
        }
        int chunks = ThreadTeam.chunks(n, chunkSize);
        ThreadTeam.Body b = c -> body.run(c * chunkSize, Math.min(n, (c + 1) * chunkSize), c);
        return () -> team.run(chunks, b);
    }

    /** {@link #parallel(int, int, RangeBody)} of one kernel's reference or fast version, chosen here once. */
    Runnable parallel(int n, int chunkSize, RangeBody referenceBody, RangeBody fastBody) {
        return parallel(n, chunkSize, reference ? referenceBody : fastBody);
    }

    /** An element-wise kernel over {@code [from, to)} of two arrays of one length, outputs first. */
    @FunctionalInterface
    interface Elementwise2 {
        void run(float[] a, float[] b, int from, int to);
    }

    /** An element-wise kernel over {@code [from, to)} of three arrays of one length, outputs first. */
    @FunctionalInterface
    interface Elementwise3 {
        void run(float[] a, float[] b, float[] c, int from, int to);
    }

    /**
     * An element-wise op over the tensors' arrays, in chunks of {@link #ELEMENTS_PER_CHUNK}: its reference or
     * fast kernel, chosen here once. The loop body calls the kernel per chunk, so the kernel is compiled on its
     * own whatever else shares this body.
     */
    Runnable elementwise(Elementwise2 referenceKernel, Elementwise2 fastKernel, Tensor a, Tensor b) {
        Elementwise2 kernel = reference ? referenceKernel : fastKernel;
        float[] x = f(a);
        float[] y = f(b);
        return parallel(x.length, ELEMENTS_PER_CHUNK, (from, to, chunk) -> kernel.run(x, y, from, to));
    }

    /** {@link #elementwise(Elementwise2, Elementwise2, Tensor, Tensor)} over three arrays. */
    Runnable elementwise(Elementwise3 referenceKernel, Elementwise3 fastKernel, Tensor a, Tensor b, Tensor c) {
        Elementwise3 kernel = reference ? referenceKernel : fastKernel;
        float[] x = f(a);
        float[] y = f(b);
        float[] z = f(c);
        return parallel(x.length, ELEMENTS_PER_CHUNK, (from, to, chunk) -> kernel.run(x, y, z, from, to));
    }

    /** Rows per chunk for row-wise work on rows of {@code width} elements. */
    static int rowsPerChunk(int width) {
        return Math.max(1, ELEMENTS_PER_CHUNK / Math.max(1, width));
    }

    /** Rows per chunk for a reduction over {@code rows}, in {@link #REDUCTION_CHUNKS} chunks or fewer. */
    static int reductionChunkRows(int rows) {
        return Math.max(1, ThreadTeam.chunks(rows, REDUCTION_CHUNKS));
    }

    /** How many chunks of a loop over {@code n} hold results: all of them, or the reference's single call. */
    int usedChunks(int n, int chunkSize) {
        return reference ? 1 : ThreadTeam.chunks(n, chunkSize);
    }

    // ---------------------------------------------------------------- arrays

    static float[] f(Tensor t) {
        return ((CpuTensor) t).floats();
    }

    static int[] i(Tensor t) {
        return ((CpuTensor) t).ints();
    }

    /** The tensor's array, or null when the tensor is absent (an optional output). */
    static float[] orNull(Tensor t) {
        return t == null ? null : f(t);
    }

    /** The tensor's array, or {@code {1}} when the tensor is absent (an optional scale). */
    static float[] orOne(Tensor t) {
        return t == null ? ONE : f(t);
    }

    /** The tensor's array, or {@code {0}} when the tensor is absent (DyT's shift). */
    static float[] orZero(Tensor t) {
        return t == null ? ZERO : f(t);
    }

    // ---------------------------------------------------------------- sums

    static void addInto(float[] dst, float[] src) {
        for (int k = 0; k < dst.length; k++) {
            dst[k] += src[k];
        }
    }

    /** Σ partial[0, n) in index order. */
    static double sumInOrder(double[] partial, int n) {
        double s = 0;
        for (int k = 0; k < n; k++) {
            s += partial[k];
        }
        return s;
    }

    /** Partial sums for a backward over {@code rows} rows of {@code width} columns; see {@link RowSums}. */
    RowSums rowSums(int rows, int width, int columnSums, int scalarSums) {
        return new RowSums(rows, width, columnSums, scalarSums);
    }

    /**
     * Partial sums for a backward that reduces over rows (dγ and dβ per column, dα and ds over everything):
     * each chunk of {@link #chunkRows} rows adds into zeroed partials of its own, and {@link #addColumns} and
     * {@link #addScalar} add those into the gradients in chunk order after the loop. The chunks depend on the
     * shape only, so the sums are the same bits on any thread count.
     */
    final class RowSums {
        private final int chunkRows;
        private final int used;
        private final float[][][] columns;
        private final double[][] scalars;
        private final float[][] lanes;

        private RowSums(int rows, int width, int columnSums, int scalarSums) {
            chunkRows = reductionChunkRows(rows);
            int chunks = ThreadTeam.chunks(rows, chunkRows);
            used = usedChunks(rows, chunkRows);
            columns = new float[columnSums][chunks][width];
            scalars = new double[chunks][scalarSums];
            lanes = Lanes.scratch(chunks);
        }

        int chunkRows() {
            return chunkRows;
        }

        /** Chunk {@code chunk}'s partial of column sum {@code k}, zeroed: called once as the chunk starts. */
        float[] columns(int k, int chunk) {
            Arrays.fill(columns[k][chunk], 0f);
            return columns[k][chunk];
        }

        /** Chunk {@code chunk}'s scalar partials, zeroed: called once as the chunk starts. */
        double[] scalars(int chunk) {
            Arrays.fill(scalars[chunk], 0);
            return scalars[chunk];
        }

        /** Chunk {@code chunk}'s scratch row for {@link Lanes#sum(float[])}. */
        float[] lanes(int chunk) {
            return lanes[chunk];
        }

        /** {@code dst += Σ_chunks} column sum {@code k}, in chunk order. */
        void addColumns(int k, float[] dst) {
            for (int chunk = 0; chunk < used; chunk++) {
                addInto(dst, columns[k][chunk]);
            }
        }

        /** {@code dst[0] += Σ_chunks} scalar sum {@code k}, added in double in chunk order. */
        void addScalar(int k, float[] dst) {
            double s = 0;
            for (int chunk = 0; chunk < used; chunk++) {
                s += scalars[chunk][k];
            }
            dst[0] += (float) s;
        }
    }
}
