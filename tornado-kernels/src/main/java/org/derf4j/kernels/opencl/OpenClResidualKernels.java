package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.List;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/** The residual add and its backward ({@code residual.cl}): float4 per work-item. */
final class OpenClResidualKernels {
    private OpenClResidualKernels() {
    }

    static final Program PROGRAM = OpenClCompiler.program("residual", "residual_forward", "residual_backward");

    static List<OpenClCompiler.Step> steps(Residual.Forward r, OpenClCompiler c) {
        int n = r.a().size();
        return List.of(launch("add", PROGRAM, "residual_forward", c.groupsForVectors(n), c.group, r.out(), r.a(),
                r.b(), n));
    }

    static List<OpenClCompiler.Step> steps(Residual.Backward r, OpenClCompiler c) {
        int n = r.dout().size();
        return List.of(launch("add", PROGRAM, "residual_backward", c.groupsForVectors(n), c.group, r.da(), r.db(),
                r.dout(), n));
    }
}
