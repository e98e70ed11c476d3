package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClCompiler.Launch;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * The second passes of the deterministic reductions ({@code reductions.cl}), which several ops share: partial sums
 * per chunk of {@link OpenClCompiler#ROWS_PER_CHUNK} rows or per work-group, added in a fixed order.
 */
final class OpenClReductions {
    private OpenClReductions() {
    }

    static final Program PROGRAM = OpenClCompiler.program("reductions", "column_partials", "add_column_sums",
            "add_sum", "add_pair_sums");

    /** Chunks of {@link OpenClCompiler#ROWS_PER_CHUNK} rows in a sum over {@code rows} rows. */
    static int chunks(int rows) {
        return (int) OpenClCompiler.ceilDiv(rows, OpenClCompiler.ROWS_PER_CHUNK);
    }

    /** partial[chunk·C + c] = Σ src over the chunk's rows, one work-item per (chunk, c). */
    static Launch columnPartials(OpenClCompiler c, Buffer partial, Tensor src, int rows, int C) {
        return launch("columnPartials", PROGRAM, "column_partials", c.groupsFor((long) chunks(rows) * C), c.group,
                partial, src, rows, C);
    }

    /** dst[C] += the column sums of partial[chunks, C], chunks in order. */
    static Launch addColumnSums(OpenClCompiler c, Tensor dst, Buffer partial, int chunks, int C) {
        return launch("addColumnSums", PROGRAM, "add_column_sums", c.groupsFor(C), c.group, dst, partial, chunks, C);
    }

    /** dst[0] += Σ partial[0, count), in one work-group. */
    static Launch addSum(OpenClCompiler c, Tensor dst, Buffer partial, int count) {
        return launch("addSum", PROGRAM, "add_sum", 1, c.group, dst, partial, count);
    }

    /** a[0] += Σ partial[2i]; b[0] += Σ partial[2i + 1] when b is given; in one work-group. */
    static Launch addPairSums(OpenClCompiler c, Tensor a, Tensor b, Buffer partial, int pairs) {
        return launch("addPairSums", PROGRAM, "add_pair_sums", 1, c.group, a, c.orUnused(b), partial, pairs,
                OpenClCompiler.present(b));
    }
}
