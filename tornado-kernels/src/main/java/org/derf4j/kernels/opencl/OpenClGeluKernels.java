package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.List;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/** GELU, tanh form, and its backward ({@code gelu.cl}): float4 per work-item. */
final class OpenClGeluKernels {
    private OpenClGeluKernels() {
    }

    static final Program PROGRAM = OpenClCompiler.program("gelu", "gelu_forward", "gelu_backward");

    static List<OpenClCompiler.Step> steps(Gelu.Forward g, OpenClCompiler c) {
        int n = g.x().size();
        return List.of(launch("gelu", PROGRAM, "gelu_forward", c.groupsForVectors(n), c.group, g.out(), g.x(), n));
    }

    static List<OpenClCompiler.Step> steps(Gelu.Backward g, OpenClCompiler c) {
        int n = g.x().size();
        return List.of(launch("gelu", PROGRAM, "gelu_backward", c.groupsForVectors(n), c.group, g.dx(), g.dout(),
                g.x(), n));
    }
}
