package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.AdamW.BETA1;
import static org.derf4j.kernels.AdamW.BETA2;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION1;
import static org.derf4j.kernels.AdamW.BIAS_CORRECTION2;
import static org.derf4j.kernels.AdamW.EPS;
import static org.derf4j.kernels.AdamW.LR;
import static org.derf4j.kernels.AdamW.WEIGHT_DECAY;
import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Tensor;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * AdamW, and the global gradient norm that feeds its clipping factor (see {@link org.derf4j.kernels.AdamW}
 * and {@link GradClip}). The norm is two passes, both deterministic:
 * <pre>
 *   gradSumSquares  per tensor, each work-group sums g² over a grid-stride range in a local-memory tree
 *                → partial[offset + group]
 *   gradClipStats   one work-group sums all partials (each work-item a fixed subset, then a tree)
 *                → stats = {norm, clip factor}
 * </pre>
 */
public final class TornadoAdamWKernels {
    private TornadoAdamWKernels() {
    }

    /** Work-groups per tensor in the first pass: enough to fill a GPU, few enough for one group to add up. */
    static final int MAX_GROUPS = 64;

    // p, m, v updated in place from g · clip[1]; decay is 1 to decay p.
    public static void adamW(KernelContext k, FloatArray p, FloatArray g, FloatArray m, FloatArray v, FloatArray hyper,
                            FloatArray clip, int decay, int n) {
        int i = k.globalIdx;
        if (i < n) {
            float lr = hyper.get(LR);
            float b1 = hyper.get(BETA1);
            float b2 = hyper.get(BETA2);
            float keep = decay == 1 ? 1f - lr * hyper.get(WEIGHT_DECAY) : 1f;
            float grad = g.get(i) * clip.get(1);
            float mi = b1 * m.get(i) + (1f - b1) * grad;
            float vi = b2 * v.get(i) + (1f - b2) * grad * grad;
            m.set(i, mi);
            v.set(i, vi);
            float update = lr * (mi / hyper.get(BIAS_CORRECTION1))
                    / (TornadoMath.sqrt(vi / hyper.get(BIAS_CORRECTION2)) + hyper.get(EPS));
            p.set(i, p.get(i) * keep - update);
        }
    }

    // partial[offset + group] = Σ g² over the group's grid-stride share of g[0, n)
    public static void gradSumSquares(KernelContext k, FloatArray partial, FloatArray g, int offset, int n) {
        float acc = 0f;
        for (int i = k.globalIdx; i < n; i += k.globalGroupSizeX) {
            float x = g.get(i);
            acc += x * x;
        }
        float sum = TornadoReductions.groupSum(k, acc);
        if (k.localIdx == 0) {
            partial.set(offset + k.groupIdx, sum);
        }
    }

    // stats = {√Σ partial, GradClip.clipFactor}; one work-group
    public static void gradClipStats(KernelContext k, FloatArray stats, FloatArray partial, int count, float maxNorm) {
        float acc = 0f;
        for (int i = k.localIdx; i < count; i += Grids.GROUP) {
            acc += partial.get(i);
        }
        float sum = TornadoReductions.groupSum(k, acc);
        if (k.localIdx == 0) {
            float norm = TornadoMath.sqrt(sum);
            stats.set(0, norm);
            stats.set(1, GradClip.clipFactor(norm, maxNorm));
        }
    }

    static List<Launch> launches(AdamW a, TornadoCompiler c) {
        int n = a.param().size();
        int decay = a.decay() ? 1 : 0;
        return List.of(new Launch("adamw", Grids.elements(n), id -> createPackage(id, TornadoAdamWKernels::adamW,
                c.context(), f(a.param()), f(a.grad()), f(a.m()), f(a.v()), f(a.hyper()), c.clipOrNone(a.clip()),
                decay, n)));
    }

    /** {@link GradClip}: a first pass per gradient into one scratch of partials, then the norm and factor. */
    static List<Launch> launches(GradClip g, TornadoCompiler c) {
        List<Launch> launches = new ArrayList<>();
        int total = 0;
        for (Tensor grad : g.grads()) {
            total += groups(grad);
        }
        FloatArray partial = c.scratchFloats(total);
        int offset = 0;
        for (Tensor grad : g.grads()) {
            int at = offset;
            int n = grad.size();
            launches.add(new Launch("sumSquares", Grids.groups(groups(grad), Grids.GROUP), id -> createPackage(id,
                    TornadoAdamWKernels::gradSumSquares, c.context(), partial, f(grad), at, n)));
            offset += groups(grad);
        }
        int count = total;
        launches.add(new Launch("clipStats", Grids.oneGroup(), id -> createPackage(id,
                TornadoAdamWKernels::gradClipStats, c.context(), f(g.stats()), partial, count, g.maxNorm())));
        return launches;
    }

    /** Work-groups of the first pass over one gradient. */
    private static int groups(Tensor grad) {
        return Math.min(MAX_GROUPS, Grids.ceilDiv(grad.size(), Grids.GROUP));
    }
}
