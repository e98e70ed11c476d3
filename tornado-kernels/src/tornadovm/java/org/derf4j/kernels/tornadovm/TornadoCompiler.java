package org.derf4j.kernels.tornadovm;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Turns each op record into kernel launches: which static method of which {@code Tornado*Kernels} class,
 * with which buffers and sizes, on which worker grid. Sizes become constants in the generated code
 * (TornadoVM inlines scalar arguments); scalars that change between replays (α, s, the embedding scale,
 * AdamW's hyper-parameters, the clip factor) are read from their device buffers by the kernels.
 *
 * <p>Kernel scratch (reduction partials) is allocated here, once per program, and held on the device with
 * the tensors.
 */
final class TornadoCompiler {
    private final KernelContext context;
    private final List<TornadoNativeArray> scratch = new ArrayList<>();
    /** {0, 1}: the clip stats of an AdamW without clipping. */
    private FloatArray noClip;

    TornadoCompiler(KernelContext context) {
        this.context = context;
    }

    /** Every scratch buffer allocated so far. */
    List<TornadoNativeArray> scratch() {
        return scratch;
    }

    private FloatArray scratchFloats(int n) {
        FloatArray a = new FloatArray(Math.max(1, n));
        scratch.add(a);
        return a;
    }

    private static FloatArray f(Tensor t) {
        return ((TornadoTensor) t).floats();
    }

    private static IntArray i(Tensor t) {
        return ((TornadoTensor) t).ints();
    }

    /** Copies a declared input from its streamed host alias into its device buffer. */
    Launch stage(TornadoTensor t, TornadoNativeArray alias) {
        int n = t.size();
        KernelContext k = context;
        if (t.dtype() == DType.F32) {
            FloatArray dst = t.floats();
            FloatArray src = (FloatArray) alias;
            return new Launch("input", Grids.elements(n), 4,
                    (g, id) -> g.task(id, TornadoMemoryKernels::copyFloats, k, dst, src, n));
        }
        IntArray dst = t.ints();
        IntArray src = (IntArray) alias;
        return new Launch("input", Grids.elements(n), 4,
                (g, id) -> g.task(id, TornadoMemoryKernels::copyInts, k, dst, src, n));
    }

    /** The no-op task by which a resident graph holds a buffer. */
    Launch hold(TornadoNativeArray buffer) {
        KernelContext k = context;
        if (buffer instanceof FloatArray a) {
            return new Launch("hold", Grids.single(), 2, (g, id) -> g.task(id, TornadoMemoryKernels::holdFloats, k, a));
        }
        IntArray a = (IntArray) buffer;
        return new Launch("hold", Grids.single(), 2, (g, id) -> g.task(id, TornadoMemoryKernels::holdInts, k, a));
    }

    /** Checks of host-side data the kernels cannot report, run before each replay; null if none. */
    Runnable hostCheck(Op op) {
        return null;
    }

    List<Launch> launches(Op op) {
        return switch (op) {
            case Zero z -> zero(z);
            case Residual.Forward r -> residualForward(r);
            case Residual.Backward r -> residualBackward(r);
            case Gelu.Forward g -> geluForward(g);
            case Gelu.Backward g -> geluBackward(g);
            case GradClip g -> gradClip(g);
            case AdamW a -> adamW(a);
            case Embedding.Forward e -> notYet(e);
            case Embedding.Backward e -> notYet(e);
            case PointwiseNorm.Forward p -> notYet(p);
            case PointwiseNorm.Backward p -> notYet(p);
            case LayerNorm.Forward l -> notYet(l);
            case LayerNorm.Backward l -> notYet(l);
            case RmsNorm.Forward r -> notYet(r);
            case RmsNorm.Backward r -> notYet(r);
            case Matmul.Forward m -> notYet(m);
            case Matmul.Backward m -> notYet(m);
            case Attention.Forward a -> notYet(a);
            case Attention.Backward a -> notYet(a);
            case CrossEntropy c -> notYet(c);
        };
    }

    private static List<Launch> notYet(Op op) {
        throw new UnsupportedOperationException("tornadovm: " + op.name() + " is not implemented yet");
    }

    // ---------------------------------------------------------------- ops

    private List<Launch> zero(Zero z) {
        KernelContext k = context;
        List<Launch> launches = new ArrayList<>();
        for (Tensor t : z.tensors()) {
            int n = t.size();
            if (t.dtype() == DType.F32) {
                FloatArray a = f(t);
                launches.add(new Launch("zero", Grids.elements(n), 3,
                        (g, id) -> g.task(id, TornadoMemoryKernels::zeroFloats, k, a, n)));
            } else {
                IntArray a = i(t);
                launches.add(new Launch("zero", Grids.elements(n), 3,
                        (g, id) -> g.task(id, TornadoMemoryKernels::zeroInts, k, a, n)));
            }
        }
        return launches;
    }

    private List<Launch> residualForward(Residual.Forward r) {
        KernelContext k = context;
        FloatArray out = f(r.out());
        FloatArray a = f(r.a());
        FloatArray b = f(r.b());
        int n = r.a().size();
        if (out == a) {
            return List.of(new Launch("addInPlace", Grids.elements(n), 4,
                    (g, id) -> g.task(id, TornadoResidualKernels::residualAddInPlace, k, a, b, n)));
        }
        return List.of(new Launch("add", Grids.elements(n), 5,
                (g, id) -> g.task(id, TornadoResidualKernels::residualForward, k, out, a, b, n)));
    }

    private List<Launch> residualBackward(Residual.Backward r) {
        KernelContext k = context;
        FloatArray da = f(r.da());
        FloatArray db = f(r.db());
        FloatArray dout = f(r.dout());
        int n = r.dout().size();
        return List.of(new Launch("add", Grids.elements(n), 5,
                (g, id) -> g.task(id, TornadoResidualKernels::residualBackward, k, da, db, dout, n)));
    }

    private List<Launch> geluForward(Gelu.Forward op) {
        KernelContext k = context;
        FloatArray out = f(op.out());
        FloatArray x = f(op.x());
        int n = op.x().size();
        return List.of(new Launch("gelu", Grids.elements(n), 4,
                (g, id) -> g.task(id, TornadoGeluKernels::geluForward, k, out, x, n)));
    }

    private List<Launch> geluBackward(Gelu.Backward op) {
        KernelContext k = context;
        FloatArray dx = f(op.dx());
        FloatArray dout = f(op.dout());
        FloatArray x = f(op.x());
        int n = op.x().size();
        return List.of(new Launch("gelu", Grids.elements(n), 5,
                (g, id) -> g.task(id, TornadoGeluKernels::geluBackward, k, dx, dout, x, n)));
    }

    private List<Launch> gradClip(GradClip op) {
        KernelContext k = context;
        List<Launch> launches = new ArrayList<>();
        int total = 0;
        int[] groups = new int[op.grads().size()];
        for (int t = 0; t < groups.length; t++) {
            groups[t] = Math.min(TornadoAdamWKernels.MAX_GROUPS, Grids.ceilDiv(op.grads().get(t).size(), Grids.GROUP));
            total += groups[t];
        }
        FloatArray partial = scratchFloats(total);
        int offset = 0;
        for (int t = 0; t < groups.length; t++) {
            FloatArray grad = f(op.grads().get(t));
            int n = op.grads().get(t).size();
            int at = offset;
            launches.add(new Launch("sumSquares", Grids.groups(groups[t], Grids.GROUP), 5,
                    (g, id) -> g.task(id, TornadoAdamWKernels::gradSumSquares, k, partial, grad, at, n)));
            offset += groups[t];
        }
        FloatArray stats = f(op.stats());
        int count = total;
        float maxNorm = op.maxNorm();
        launches.add(new Launch("clipStats", Grids.oneGroup(), 5,
                (g, id) -> g.task(id, TornadoAdamWKernels::gradClipStats, k, stats, partial, count, maxNorm)));
        return launches;
    }

    private List<Launch> adamW(AdamW op) {
        KernelContext k = context;
        FloatArray p = f(op.param());
        FloatArray grad = f(op.grad());
        FloatArray m = f(op.m());
        FloatArray v = f(op.v());
        FloatArray hyper = f(op.hyper());
        FloatArray clip = op.clip() == null ? noClip() : f(op.clip());
        int decay = op.decay() ? 1 : 0;
        int n = op.param().size();
        return List.of(new Launch("adamw", Grids.elements(n), 9,
                (g, id) -> g.task(id, TornadoAdamWKernels::adamW, k, p, grad, m, v, hyper, clip, decay, n)));
    }

    private FloatArray noClip() {
        if (noClip == null) {
            noClip = scratchFloats(2);
            noClip.set(1, 1f);
        }
        return noClip;
    }
}
