package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * AdamW and the global gradient norm ({@code adamw.cl}). The program takes the indices into the hyper-parameter
 * buffer and the norm's epsilon from {@link AdamW} and {@link GradClip}, so they are defined once.
 * <pre>
 *   AdamW      adamw, float4 per work-item
 *   GradClip   grad_sum_squares per gradient (at most {@value #MAX_GROUPS} work-groups each) → one scratch of
 *              partials; grad_clip_stats → {norm, clip factor}
 * </pre>
 */
final class OpenClAdamWKernels {
    private OpenClAdamWKernels() {
    }

    /** Work-groups per gradient in the first pass of the norm: enough to fill a GPU, few for one group to add. */
    static final int MAX_GROUPS = 64;

    static final Program PROGRAM = new Program("adamw", List.of("adamw.cl"), OpenClCompiler.defines(
            "LR", AdamW.LR, "BETA1", AdamW.BETA1, "BETA2", AdamW.BETA2, "EPS", AdamW.EPS,
            "WEIGHT_DECAY", AdamW.WEIGHT_DECAY, "BIAS_CORRECTION1", AdamW.BIAS_CORRECTION1,
            "BIAS_CORRECTION2", AdamW.BIAS_CORRECTION2, "NORM_EPS", GradClip.NORM_EPS + "f"),
            List.of("adamw", "grad_sum_squares", "grad_clip_stats"));

    static List<OpenClCompiler.Step> steps(AdamW a, OpenClCompiler c) {
        int n = a.param().size();
        return List.of(launch("adamw", PROGRAM, "adamw", c.groupsForVectors(n), c.group, a.param(), a.grad(), a.m(),
                a.v(), a.hyper(), c.orNoClip(a.clip()), a.decay() ? 1 : 0, n));
    }

    static List<OpenClCompiler.Step> steps(GradClip g, OpenClCompiler c) {
        int total = 0;
        for (Tensor grad : g.grads()) {
            total += groups(c, grad);
        }
        Buffer partial = c.scratchFloats(total, "gradient norm partials");
        List<OpenClCompiler.Step> steps = new ArrayList<>();
        int offset = 0;
        for (Tensor grad : g.grads()) {
            steps.add(launch("sumSquares", PROGRAM, "grad_sum_squares", groups(c, grad), c.group, partial, grad,
                    offset, grad.size()));
            offset += groups(c, grad);
        }
        steps.add(launch("clipStats", PROGRAM, "grad_clip_stats", 1, c.group, g.stats(), partial, total,
                g.maxNorm()));
        return steps;
    }

    /** Work-groups of the first pass over one gradient. */
    private static int groups(OpenClCompiler c, Tensor grad) {
        return (int) Math.min(MAX_GROUPS, c.groupsFor(grad.size()));
    }
}
