package org.derf4j.kernels.opencl;

import java.util.List;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * LayerNorm ({@code layernorm.cl}): forward, a row of 32 lanes per row, several rows per work-group; backward, a
 * work-group per chunk of rows that writes dx and the chunk's dγ, dβ partials, then the partials added in chunk
 * order.
 */
final class OpenClLayerNormKernels {
    private OpenClLayerNormKernels() {
    }

    static Program program(int C) {
        return new Program("layernorm", List.of("layernorm.cl"), OpenClCompiler.defines("VEC", OpenClCompiler.vec(C)),
                List.of("layernorm_forward", "layernorm_backward"));
    }

    static List<OpenClCompiler.Step> steps(LayerNorm.Forward l, OpenClCompiler c) {
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        return List.of(OpenClCompiler.rows("rows", program(C), "layernorm_forward", c, c.groupsForRows(rows), l.out(),
                l.mean(), l.rstd(), l.x(), l.gamma(), l.beta(), l.eps(), rows, C));
    }

    static List<OpenClCompiler.Step> steps(LayerNorm.Backward l, OpenClCompiler c) {
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        int chunks = OpenClReductions.chunks(rows);
        Buffer partialGamma = c.scratchFloats((long) chunks * C, "dgamma partials");
        Buffer partialBeta = c.scratchFloats((long) chunks * C, "dbeta partials");
        return List.of(
                OpenClCompiler.rows("chunks", program(C), "layernorm_backward", c, chunks, l.dx(), partialGamma,
                        partialBeta, l.dout(), l.x(), l.mean(), l.rstd(), l.gamma(), rows, C),
                OpenClReductions.addColumnSums(c, l.dgamma(), partialGamma, chunks, C),
                OpenClReductions.addColumnSums(c, l.dbeta(), partialBeta, chunks, C));
    }
}
