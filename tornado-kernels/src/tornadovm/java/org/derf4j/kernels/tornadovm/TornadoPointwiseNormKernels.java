package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.common.TornadoFunctions.Task12;
import uk.ac.manchester.tornado.api.common.TornadoFunctions.Task9;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The launches every point-wise norm {@code y = γ ⊙ f(α·x + s) + β} shares; each kind brings its two kernels
 * in a file of its own ({@link TornadoDerfKernels}, {@link TornadoDytKernels}), with these signatures (a kind
 * without a shift reads s from a buffer that holds 0):
 * <pre>
 *   forward    one work-item per element: out = γ·f(α·x + s) + β
 *   backward   work-item (chunk of ROWS_PER_CHUNK rows, channel c): recomputes z, f(z), f'(z);
 *              dx += dout·γ·f'(z)·α in place; writes the chunk's dγ and dβ partials;
 *              a local-memory tree per work-group → partial {dα, ds}
 *   addColumnSums ×2    dγ, dβ += the chunks' partials, in order
 *   addPairSums         dα, ds += the work-groups' partials, in order
 * </pre>
 * TornadoVM kernels cannot take a function, so each kind's backward repeats the loop around its f and f'.
 */
final class TornadoPointwiseNormKernels {
    private TornadoPointwiseNormKernels() {
    }

    /** {@code (k, out, x, alpha, shift, gamma, beta, C, n)}. */
    interface Forward extends Task9<KernelContext, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
            FloatArray, Integer, Integer> {
    }

    /**
     * {@code (k, dx, partialGamma, partialBeta, partialScalars, dout, x, alpha, shift, gamma, C, rows)}:
     * partialGamma/Beta[chunk·C + c], partialScalars[2·group + {0: dα, 1: ds}].
     */
    interface Backward extends Task12<KernelContext, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
            FloatArray, FloatArray, FloatArray, FloatArray, Integer, Integer> {
    }

    static List<Launch> launches(PointwiseNorm.Forward p, TornadoCompiler c, Forward kernel) {
        int C = p.x().dim(-1);
        int n = p.x().size();
        return List.of(new Launch("forward", Grids.elements(n), id -> createPackage(id, kernel, c.context(),
                f(p.out()), f(p.x()), f(p.alpha()), c.orZero(p.shift()), f(p.gamma()), f(p.beta()), C, n)));
    }

    static List<Launch> launches(PointwiseNorm.Backward p, TornadoCompiler c, Backward kernel) {
        int C = p.x().dim(-1);
        int rows = p.x().rows();
        int chunks = TornadoCompiler.chunks(rows);
        int groups = Grids.ceilDiv(chunks * C, Grids.GROUP);
        FloatArray partialGamma = c.scratchFloats(chunks * C);
        FloatArray partialBeta = c.scratchFloats(chunks * C);
        FloatArray partialScalars = c.scratchFloats(2 * groups);
        FloatArray dshift = c.orUnused(p.dshift());
        int hasShift = TornadoCompiler.present(p.dshift());
        return List.of(
                new Launch("fused", Grids.groups(groups, Grids.GROUP), id -> createPackage(id, kernel, c.context(),
                        f(p.dx()), partialGamma, partialBeta, partialScalars, f(p.dout()), f(p.x()), f(p.alpha()),
                        c.orZero(p.shift()), f(p.gamma()), C, rows)),
                c.addColumnSums(p.dgamma(), partialGamma, chunks, C),
                c.addColumnSums(p.dbeta(), partialBeta, chunks, C),
                new Launch("scalars", Grids.oneGroup(), id -> createPackage(id, TornadoReductions::addPairSums,
                        c.context(), f(p.dalpha()), dshift, partialScalars, groups, hasShift)));
    }
}
