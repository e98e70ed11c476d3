package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;
import static org.derf4j.kernels.cpu.CpuCompiler.orNull;
import static org.derf4j.kernels.cpu.CpuCompiler.orZero;

import org.derf4j.kernels.PointwiseNorm;

/**
 * What every point-wise norm {@code y = γ ⊙ f(α·x + s) + β} shares on the cpu backend, over rows
 * {@code [from, to)} of x[N,C]: the scalar reference, forward and backward, written once over a
 * {@link Function}; and the binding of an op's arrays, chunks and partial sums. Each kind adds its f and its
 * fast Vector API kernels in a file of its own ({@link DerfKernels}, {@link DytKernels}).
 *
 * <p>Why a file per kind, and not one fast loop over a vector function: C2 builds ~8,000 IR nodes for erf,
 * ~6,600 for tanh and ~8,700 for erf' when it inlines them, and stops inlining our methods once a
 * compilation holds 18,000 (NodeCountInliningCutoff). One loop for both kinds, compiled for a process that
 * runs both, left erf' out of line, and every vector it took or returned was allocated (see {@link Lanes}).
 * Apart, each kernel stays well inside that budget. For the same reason each kind's file makes its own loop
 * bodies ({@link Forward#bind}, {@link Backward#bind}): a body shared by both kinds would be one class whose
 * call to the kernel sees both, and C2 would inline both into it.
 */
final class PointwiseNormKernels {
    private PointwiseNormKernels() {
    }

    /** A scalar function of a float. */
    @FunctionalInterface
    interface FloatFunction {
        float apply(float z);
    }

    /** A point-wise norm's f and f', scalar: the reference's, and the fast kernels' for leftover columns. */
    record Function(FloatFunction f, FloatFunction derivative) {
    }

    // out[row,c] = gamma[c]·f(alpha·x[row,c] + shift) + beta[c]
    static void forwardReference(Function fn, float[] out, float[] x, float alpha, float shift, float[] gamma,
                                 float[] beta, int C, int from, int to) {
        for (int row = from; row < to; row++) {
            forwardRow(fn, out, x, alpha, shift, gamma, beta, row * C, 0, C);
        }
    }

    /** Columns [c0, C) of the row at offset o. */
    static void forwardRow(Function fn, float[] out, float[] x, float alpha, float shift, float[] gamma,
                           float[] beta, int o, int c0, int C) {
        for (int c = c0; c < C; c++) {
            int i = o + c;
            out[i] = gamma[c] * fn.f().apply(alpha * x[i] + shift) + beta[c];
        }
    }

    /**
     * Adds dx for rows [from, to), and this range's sums into dgamma[C], dbeta[C] and sums[0] (dα),
     * sums[1] (ds).
     */
    static void backwardReference(Function fn, float[] dx, float[] dgamma, float[] dbeta, double[] sums,
                                  float[] dout, float[] x, float alpha, float shift, float[] gamma, int C, int from,
                                  int to) {
        for (int row = from; row < to; row++) {
            backwardRow(fn, dx, dgamma, dbeta, sums, dout, x, alpha, shift, gamma, row * C, 0, C);
        }
    }

    /** Columns [c0, C) of the row at offset o; dα and ds add element by element in double. */
    static void backwardRow(Function fn, float[] dx, float[] dgamma, float[] dbeta, double[] sums, float[] dout,
                            float[] x, float alpha, float shift, float[] gamma, int o, int c0, int C) {
        for (int c = c0; c < C; c++) {
            int i = o + c;
            float z = alpha * x[i] + shift;
            float g = dout[i] * gamma[c] * fn.derivative().apply(z); // dL/dz
            dx[i] += g * alpha;
            dgamma[c] += dout[i] * fn.f().apply(z);
            dbeta[c] += dout[i];
            sums[0] += g * x[i];
            sums[1] += g;
        }
    }

    /** The arrays of a {@link PointwiseNorm.Forward}; s reads 0 for a kind without a shift. */
    record Forward(float[] out, float[] x, float[] alpha, float[] shift, float[] gamma, float[] beta, int C,
                   int rows) {
        Forward(PointwiseNorm.Forward p) {
            this(f(p.out()), f(p.x()), f(p.alpha()), orZero(p.shift()), f(p.gamma()), f(p.beta()), p.x().dim(-1),
                    p.x().rows());
        }

        /** The op, with the reference over {@code fn} or the kind's own fast loop body. */
        Runnable bind(CpuCompiler c, Function fn, CpuCompiler.RangeBody fast) {
            return c.parallel(rows, CpuCompiler.rowsPerChunk(C),
                    (from, to, chunk) -> forwardReference(fn, out, x, alpha[0], shift[0], gamma, beta, C, from, to),
                    fast);
        }
    }

    /**
     * The arrays of a {@link PointwiseNorm.Backward} and its partial sums: each chunk of rows adds into
     * zeroed partial dγ, dβ ({@link #partialGamma}, {@link #partialBeta}) and {dα, ds} ({@link #partialScalars}),
     * added into the gradients in chunk order after the loop.
     */
    record Backward(float[] dx, float[] dalpha, float[] dshift, float[] dgamma, float[] dbeta, float[] dout,
                    float[] x, float[] alpha, float[] shift, float[] gamma, int C, int rows,
                    CpuCompiler.RowSums sums) {
        Backward(PointwiseNorm.Backward p, CpuCompiler c) {
            this(f(p.dx()), f(p.dalpha()), orNull(p.dshift()), f(p.dgamma()), f(p.dbeta()), f(p.dout()), f(p.x()),
                    f(p.alpha()), orZero(p.shift()), f(p.gamma()), p.x().dim(-1), p.x().rows(),
                    c.rowSums(p.x().rows(), p.x().dim(-1), 2, 2));
        }

        float[] partialGamma(int chunk) {
            return sums.columns(0, chunk);
        }

        float[] partialBeta(int chunk) {
            return sums.columns(1, chunk);
        }

        double[] partialScalars(int chunk) {
            return sums.scalars(chunk);
        }

        float[] lanes(int chunk) {
            return sums.lanes(chunk);
        }

        /** The op, with the reference over {@code fn} or the kind's own fast loop body. */
        Runnable bind(CpuCompiler c, Function fn, CpuCompiler.RangeBody fast) {
            Runnable body = c.parallel(rows, sums.chunkRows(),
                    (from, to, chunk) -> backwardReference(fn, dx, partialGamma(chunk), partialBeta(chunk),
                            partialScalars(chunk), dout,
                            x, alpha[0], shift[0], gamma, C, from, to),
                    fast);
            return () -> {
                body.run();
                sums.addColumns(0, dgamma);
                sums.addColumns(1, dbeta);
                sums.addScalar(0, dalpha);
                if (dshift != null) {
                    sums.addScalar(1, dshift);
                }
            };
        }
    }
}
