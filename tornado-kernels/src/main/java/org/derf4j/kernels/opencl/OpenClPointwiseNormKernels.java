package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * What every point-wise norm {@code y = γ ⊙ f(α·x + s) + β} shares on the opencl backend: the fused skeleton
 * {@code pointwise_norm.cl}, written once, and its launches. Each kind brings only its f and f' in a file of its own
 * ({@code derf.cl}, {@code dyt.cl}, bound by {@link OpenClDerfKernels}, {@link OpenClDytKernels}), which is built
 * before the skeleton: one program per kind and vector width.
 * <pre>
 *   forward      one work-item per VEC elements: out = γ·f(α·x + s) + β
 *   backward     work-item (chunk of ROWS_PER_CHUNK rows, VEC channels): dx += dout·γ·f'(z)·α in place; the
 *                chunk's dγ, dβ partials; a tree per work-group → partial {dα, ds}
 *   addColumnSums ×2   dγ, dβ += the chunks' partials, in order
 *   addPairSums        dα, ds += the work-groups' partials, in order
 * </pre>
 */
final class OpenClPointwiseNormKernels {
    private OpenClPointwiseNormKernels() {
    }

    /** The program of the kind whose f and f' are in {@code kindFile}, for rows of C floats. */
    static Program program(String kindFile, int C) {
        return new Program(kindFile.replace(".cl", ""), List.of(kindFile, "pointwise_norm.cl"),
                OpenClCompiler.defines("VEC", OpenClCompiler.vec(C)),
                List.of("pointwise_norm_forward", "pointwise_norm_backward"));
    }

    static List<OpenClCompiler.Step> forward(PointwiseNorm.Forward p, OpenClCompiler c, String kindFile) {
        int C = p.x().dim(-1);
        int n = p.x().size();
        return List.of(launch("forward", program(kindFile, C), "pointwise_norm_forward",
                c.groupsFor(n / OpenClCompiler.vec(C)), c.group, p.out(), p.x(), p.alpha(), c.orZero(p.shift()),
                p.gamma(), p.beta(), C, n));
    }

    static List<OpenClCompiler.Step> backward(PointwiseNorm.Backward p, OpenClCompiler c, String kindFile) {
        int C = p.x().dim(-1);
        int rows = p.x().rows();
        int chunks = OpenClReductions.chunks(rows);
        int groups = (int) c.groupsFor((long) chunks * (C / OpenClCompiler.vec(C)));
        Buffer partialGamma = c.scratchFloats((long) chunks * C, "dgamma partials");
        Buffer partialBeta = c.scratchFloats((long) chunks * C, "dbeta partials");
        Buffer partialScalars = c.scratchFloats(2L * groups, "dalpha, dshift partials");
        return List.of(
                launch("fused", program(kindFile, C), "pointwise_norm_backward", groups, c.group, p.dx(), partialGamma,
                        partialBeta, partialScalars, p.dout(), p.x(), p.alpha(), c.orZero(p.shift()), p.gamma(), C,
                        rows),
                OpenClReductions.addColumnSums(c, p.dgamma(), partialGamma, chunks, C),
                OpenClReductions.addColumnSums(c, p.dbeta(), partialBeta, chunks, C),
                OpenClReductions.addPairSums(c, p.dalpha(), p.dshift(), partialScalars, groups));
    }
}
