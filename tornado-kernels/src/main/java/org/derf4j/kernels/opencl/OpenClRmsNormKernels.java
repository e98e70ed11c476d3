package org.derf4j.kernels.opencl;

import java.util.List;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/** RMSNorm ({@code rmsnorm.cl}), laid out as {@link OpenClLayerNormKernels} with one row statistic. */
final class OpenClRmsNormKernels {
    private OpenClRmsNormKernels() {
    }

    static Program program(int C) {
        return new Program("rmsnorm", List.of("rmsnorm.cl"), OpenClCompiler.defines("VEC", OpenClCompiler.vec(C)),
                List.of("rmsnorm_forward", "rmsnorm_backward"));
    }

    static List<OpenClCompiler.Step> steps(RmsNorm.Forward r, OpenClCompiler c) {
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        return List.of(OpenClCompiler.rows("rows", program(C), "rmsnorm_forward", c, c.groupsForRows(rows), r.out(),
                r.rstd(), r.x(), r.gamma(), r.eps(), rows, C));
    }

    static List<OpenClCompiler.Step> steps(RmsNorm.Backward r, OpenClCompiler c) {
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        int chunks = OpenClReductions.chunks(rows);
        Buffer partialGamma = c.scratchFloats((long) chunks * C, "dgamma partials");
        return List.of(
                OpenClCompiler.rows("chunks", program(C), "rmsnorm_backward", c, chunks, r.dx(), partialGamma,
                        r.dout(), r.x(), r.rstd(), r.gamma(), rows, C),
                OpenClReductions.addColumnSums(c, r.dgamma(), partialGamma, chunks, C));
    }
}
