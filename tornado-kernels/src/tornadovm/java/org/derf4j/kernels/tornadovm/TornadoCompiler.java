package org.derf4j.kernels.tornadovm;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
import uk.ac.manchester.tornado.api.WorkerGrid;
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
    private FloatArray zero;
    private FloatArray one;
    private FloatArray unused;
    /** The buffers of the op being compiled, see {@link #launches(Op, Set)}. */
    private Set<Object> used = new HashSet<>();

    TornadoCompiler(KernelContext context) {
        this.context = context;
    }

    /** Every scratch buffer allocated so far. */
    List<TornadoNativeArray> scratch() {
        return scratch;
    }

    /**
     * The buffers the launches of {@code op} use: its tensors and the scratch they were given. A task graph
     * declares exactly these, which keeps it within TornadoVM's limit of 1024 nodes per task graph.
     */
    List<Launch> launches(Op op, Set<Object> uses) {
        used = uses;
        op.reads().forEach(t -> uses.add(((TornadoTensor) t).array()));
        op.writes().forEach(t -> uses.add(((TornadoTensor) t).array()));
        return launches(op);
    }

    private FloatArray scratchFloats(int n) {
        FloatArray a = new FloatArray(Math.max(1, n));
        scratch.add(a);
        return use(a);
    }

    /** Records that the op being compiled uses {@code a}. */
    private FloatArray use(FloatArray a) {
        used.add(a);
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

    /**
     * Checks of host-side data that a kernel cannot report, run before each replay; null if none. Token ids
     * and targets come from the host every step, so checking them there costs one pass over B·T ints.
     */
    Runnable hostCheck(Op op) {
        return switch (op) {
            case Embedding.Forward e -> tokenCheck(e.tokens(), e.wte().dim(0));
            case Embedding.Backward e -> tokenCheck(e.tokens(), e.wte().dim(0));
            case CrossEntropy c -> {
                TornadoTensor targets = (TornadoTensor) c.targets();
                int vocab = c.logits().dim(-1);
                yield () -> {
                    TornadoBackend.fetch(targets);
                    IntArray t = targets.ints();
                    for (int row = 0; row < t.getSize(); row++) {
                        if (t.get(row) >= vocab) {
                            throw CrossEntropy.badTarget(t.get(row), row, vocab);
                        }
                    }
                };
            }
            default -> null;
        };
    }

    private static Runnable tokenCheck(Tensor tokens, int vocab) {
        TornadoTensor t = (TornadoTensor) tokens;
        return () -> {
            TornadoBackend.fetch(t);
            IntArray ids = t.ints();
            for (int row = 0; row < ids.getSize(); row++) {
                int id = ids.get(row);
                if (id < 0 || id >= vocab) {
                    throw Embedding.badToken(id, row, vocab);
                }
            }
        };
    }

    private List<Launch> launches(Op op) {
        return switch (op) {
            case Zero z -> zero(z);
            case Residual.Forward r -> residualForward(r);
            case Residual.Backward r -> residualBackward(r);
            case Gelu.Forward g -> geluForward(g);
            case Gelu.Backward g -> geluBackward(g);
            case GradClip g -> gradClip(g);
            case AdamW a -> adamW(a);
            case Embedding.Forward e -> embeddingForward(e);
            case Embedding.Backward e -> embeddingBackward(e);
            case PointwiseNorm.Forward p -> pointwiseNormForward(p);
            case PointwiseNorm.Backward p -> pointwiseNormBackward(p);
            case LayerNorm.Forward l -> layerNormForward(l);
            case LayerNorm.Backward l -> layerNormBackward(l);
            case RmsNorm.Forward r -> rmsNormForward(r);
            case RmsNorm.Backward r -> rmsNormBackward(r);
            case Matmul.Forward m -> matmulForward(m);
            case Matmul.Backward m -> matmulBackward(m);
            case Attention.Forward a -> attentionForward(a);
            case Attention.Backward a -> attentionBackward(a);
            case CrossEntropy c -> crossEntropy(c);
        };
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
        return use(noClip);
    }

    /** {0}: the shift of DyT, which has none. */
    private FloatArray zero() {
        if (zero == null) {
            zero = scratchFloats(1);
        }
        return use(zero);
    }

    /** {1}: the scale of an embedding without one. */
    private FloatArray one() {
        if (one == null) {
            one = scratchFloats(1);
            one.set(0, 1f);
        }
        return use(one);
    }

    /** A buffer for the absent arguments of a kernel (no bias, no correct count); never read or written. */
    private FloatArray unused() {
        if (unused == null) {
            unused = scratchFloats(1);
        }
        return use(unused);
    }

    private static int chunks(int rows) {
        return Grids.ceilDiv(rows, TornadoReductions.ROWS_PER_CHUNK);
    }

    /** dst[C] += the column sums of partial[chunks, C]. */
    private Launch addColumnSums(FloatArray dst, FloatArray partial, int chunks, int C) {
        KernelContext k = context;
        return new Launch("addColumnSums", Grids.elements(C), 5,
                (g, id) -> g.task(id, TornadoReductions::addColumnSums, k, dst, partial, chunks, C));
    }

    private List<Launch> embeddingForward(Embedding.Forward e) {
        KernelContext k = context;
        FloatArray out = f(e.out());
        IntArray tokens = i(e.tokens());
        FloatArray wte = f(e.wte());
        FloatArray wpe = f(e.wpe());
        FloatArray scale = e.scale() == null ? one() : f(e.scale());
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int n = e.out().size();
        return List.of(new Launch("embed", Grids.elements(n), 10,
                (g, id) -> g.task(id, TornadoEmbeddingKernels::embeddingForward, k, out, tokens, wte, wpe, scale, T, C,
                        V, n)));
    }

    private List<Launch> embeddingBackward(Embedding.Backward e) {
        KernelContext k = context;
        FloatArray dwte = f(e.dwte());
        FloatArray dwpe = f(e.dwpe());
        FloatArray dout = f(e.dout());
        IntArray tokens = i(e.tokens());
        FloatArray wte = f(e.wte());
        FloatArray wpe = f(e.wpe());
        FloatArray scale = e.scale() == null ? one() : f(e.scale());
        int B = e.tokens().dim(0);
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int N = B * T;
        FloatArray partial = scratchFloats(C);
        List<Launch> launches = new ArrayList<>();
        launches.add(new Launch("tokens", Grids.elements(C), 12,
                (g, id) -> g.task(id, TornadoEmbeddingKernels::embeddingBackwardTokens, k, dwte, partial, dout, tokens,
                        wte, wpe, scale, N, T, C, V)));
        launches.add(new Launch("positions", Grids.elements(T * C), 7,
                (g, id) -> g.task(id, TornadoEmbeddingKernels::embeddingBackwardPositions, k, dwpe, dout, scale, B, T,
                        C)));
        if (e.dscale() != null) {
            FloatArray dscale = f(e.dscale());
            launches.add(new Launch("dscale", Grids.oneGroup(), 4,
                    (g, id) -> g.task(id, TornadoReductions::addSum, k, dscale, partial, C)));
        }
        return launches;
    }

    private static int kind(PointwiseNorm.Kind kind) {
        return kind == PointwiseNorm.Kind.DERF ? TornadoPointwiseNormKernels.DERF : TornadoPointwiseNormKernels.DYT;
    }

    private List<Launch> pointwiseNormForward(PointwiseNorm.Forward p) {
        KernelContext k = context;
        FloatArray out = f(p.out());
        FloatArray x = f(p.x());
        FloatArray alpha = f(p.alpha());
        FloatArray shift = p.shift() == null ? zero() : f(p.shift());
        FloatArray gamma = f(p.gamma());
        FloatArray beta = f(p.beta());
        int kind = kind(p.kind());
        int C = p.x().dim(-1);
        int n = p.x().size();
        return List.of(new Launch("forward", Grids.elements(n), 10,
                (g, id) -> g.task(id, TornadoPointwiseNormKernels::pointwiseForward, k, out, x, alpha, shift, gamma, beta,
                        kind, C, n)));
    }

    private List<Launch> pointwiseNormBackward(PointwiseNorm.Backward p) {
        KernelContext k = context;
        FloatArray dx = f(p.dx());
        FloatArray dalpha = f(p.dalpha());
        FloatArray dshift = p.dshift() == null ? unused() : f(p.dshift());
        int hasShift = p.dshift() == null ? 0 : 1;
        FloatArray dout = f(p.dout());
        FloatArray x = f(p.x());
        FloatArray alpha = f(p.alpha());
        FloatArray shift = p.shift() == null ? zero() : f(p.shift());
        FloatArray gamma = f(p.gamma());
        int kind = kind(p.kind());
        int C = p.x().dim(-1);
        int rows = p.x().rows();
        int chunks = chunks(rows);
        int groups = Grids.ceilDiv(chunks * C, Grids.GROUP);
        FloatArray partialGamma = scratchFloats(chunks * C);
        FloatArray partialBeta = scratchFloats(chunks * C);
        FloatArray partialScalars = scratchFloats(2 * groups);
        return List.of(
                new Launch("fused", Grids.groups(groups, Grids.GROUP), 13,
                        (g, id) -> g.task(id, TornadoPointwiseNormKernels::pointwiseBackward, k, dx, partialGamma,
                                partialBeta, partialScalars, dout, x, alpha, shift, gamma, kind, C, rows)),
                addColumnSums(f(p.dgamma()), partialGamma, chunks, C),
                addColumnSums(f(p.dbeta()), partialBeta, chunks, C),
                new Launch("scalars", Grids.oneGroup(), 6,
                        (g, id) -> g.task(id, TornadoReductions::addPairSums, k, dalpha, dshift, partialScalars, groups,
                                hasShift)));
    }

    private List<Launch> layerNormForward(LayerNorm.Forward l) {
        KernelContext k = context;
        FloatArray out = f(l.out());
        FloatArray mean = f(l.mean());
        FloatArray rstd = f(l.rstd());
        FloatArray x = f(l.x());
        FloatArray gamma = f(l.gamma());
        FloatArray beta = f(l.beta());
        float eps = l.eps();
        int C = l.x().dim(-1);
        return List.of(new Launch("rows", Grids.groups(l.x().rows(), Grids.GROUP), 9,
                (g, id) -> g.task(id, TornadoLayerNormKernels::layerNormForward, k, out, mean, rstd, x, gamma, beta, eps,
                        C)));
    }

    private List<Launch> layerNormBackward(LayerNorm.Backward l) {
        KernelContext k = context;
        FloatArray dx = f(l.dx());
        FloatArray dout = f(l.dout());
        FloatArray x = f(l.x());
        FloatArray mean = f(l.mean());
        FloatArray rstd = f(l.rstd());
        FloatArray gamma = f(l.gamma());
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        int chunks = chunks(rows);
        FloatArray partialGamma = scratchFloats(chunks * C);
        FloatArray partialBeta = scratchFloats(chunks * C);
        return List.of(
                new Launch("rows", Grids.groups(rows, Grids.GROUP), 8,
                        (g, id) -> g.task(id, TornadoLayerNormKernels::layerNormBackwardRows, k, dx, dout, x, mean, rstd,
                                gamma, C)),
                new Launch("partials", Grids.elements(chunks * C), 9,
                        (g, id) -> g.task(id, TornadoLayerNormKernels::layerNormParamPartials, k, partialGamma,
                                partialBeta, dout, x, mean, rstd, rows, C)),
                addColumnSums(f(l.dgamma()), partialGamma, chunks, C),
                addColumnSums(f(l.dbeta()), partialBeta, chunks, C));
    }

    private List<Launch> rmsNormForward(RmsNorm.Forward r) {
        KernelContext k = context;
        FloatArray out = f(r.out());
        FloatArray rstd = f(r.rstd());
        FloatArray x = f(r.x());
        FloatArray gamma = f(r.gamma());
        float eps = r.eps();
        int C = r.x().dim(-1);
        return List.of(new Launch("rows", Grids.groups(r.x().rows(), Grids.GROUP), 7,
                (g, id) -> g.task(id, TornadoRmsNormKernels::rmsNormForward, k, out, rstd, x, gamma, eps, C)));
    }

    private List<Launch> rmsNormBackward(RmsNorm.Backward r) {
        KernelContext k = context;
        FloatArray dx = f(r.dx());
        FloatArray dout = f(r.dout());
        FloatArray x = f(r.x());
        FloatArray rstd = f(r.rstd());
        FloatArray gamma = f(r.gamma());
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        int chunks = chunks(rows);
        FloatArray partialGamma = scratchFloats(chunks * C);
        return List.of(
                new Launch("rows", Grids.groups(rows, Grids.GROUP), 7,
                        (g, id) -> g.task(id, TornadoRmsNormKernels::rmsNormBackwardRows, k, dx, dout, x, rstd, gamma, C)),
                new Launch("partials", Grids.elements(chunks * C), 7,
                        (g, id) -> g.task(id, TornadoRmsNormKernels::rmsNormParamPartials, k, partialGamma, dout, x, rstd,
                                rows, C)),
                addColumnSums(f(r.dgamma()), partialGamma, chunks, C));
    }

    /** C[M,N] (+)= A·B (+ bias), A(i,k) = a[i·aRow + k·aCol], B(k,j) = b[k·bRow + j·bCol]: see TornadoMatmulKernels. */
    private Launch gemm(String step, FloatArray c, FloatArray a, FloatArray b, FloatArray bias, int M, int N, int K,
                        int aRow, int aCol, int bRow, int bCol, boolean accumulate) {
        KernelContext k = context;
        FloatArray biasOrUnused = bias == null ? unused() : bias;
        int hasBias = bias == null ? 0 : 1;
        int acc = accumulate ? 1 : 0;
        return new Launch(step, Grids.blocks(M, N, TornadoMatmulKernels.BLOCK, TornadoMatmulKernels.SIDE), 14,
                (g, id) -> g.task(id, TornadoMatmulKernels::gemmTiled, k, c, a, b, biasOrUnused, M, N, K, aRow, aCol,
                        bRow, bCol, acc, hasBias));
    }

    private List<Launch> matmulForward(Matmul.Forward m) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        return List.of(gemm("gemm", f(m.out()), f(m.x()), f(m.w()), m.bias() == null ? null : f(m.bias()), n, oc, ic,
                ic, 1, 1, ic, false));
    }

    private List<Launch> matmulBackward(Matmul.Backward m) {
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        FloatArray dout = f(m.dout());
        List<Launch> launches = new ArrayList<>();
        if (m.dx() != null) {
            launches.add(gemm("dx", f(m.dx()), dout, f(m.w()), null, n, ic, oc, oc, 1, ic, 1, true));
        }
        if (m.dw() != null) {
            launches.add(gemm("dw", f(m.dw()), dout, f(m.x()), null, oc, ic, n, 1, oc, ic, 1, true));
        }
        if (m.dbias() != null) {
            KernelContext k = context;
            int chunks = chunks(n);
            FloatArray partial = scratchFloats(chunks * oc);
            launches.add(new Launch("dbiasPartials", Grids.elements(chunks * oc), 5,
                    (g, id) -> g.task(id, TornadoReductions::columnPartials, k, partial, dout, n, oc)));
            launches.add(addColumnSums(f(m.dbias()), partial, chunks, oc));
        }
        return launches;
    }

    private List<Launch> attentionForward(Attention.Forward a) {
        KernelContext k = context;
        FloatArray out = f(a.out());
        FloatArray lse = f(a.lse());
        FloatArray qkv = f(a.qkv());
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        return List.of(new Launch("forward", attentionTiles(a.qkv().dim(0) * NH, T), 8,
                (g, id) -> g.task(id, TornadoAttentionKernels::attentionForward, k, out, lse, qkv, T, C, NH, hs)));
    }

    /** One work-group of TILE work-items per (batch, head) pair and tile of TILE rows. */
    private static WorkerGrid attentionTiles(int batchHeads, int T) {
        int tile = TornadoAttentionKernels.TILE;
        return Grids.groups(batchHeads * Grids.ceilDiv(T, tile), tile);
    }

    private List<Launch> attentionBackward(Attention.Backward a) {
        KernelContext k = context;
        FloatArray dqkv = f(a.dqkv());
        FloatArray dout = f(a.dout());
        FloatArray qkv = f(a.qkv());
        FloatArray out = f(a.out());
        FloatArray lse = f(a.lse());
        int B = a.qkv().dim(0);
        int T = a.qkv().dim(1);
        int C = a.qkv().dim(2) / 3;
        int NH = a.heads();
        int hs = C / NH;
        int rows = B * NH * T;
        FloatArray rowDots = scratchFloats(rows);
        WorkerGrid tiles = attentionTiles(B * NH, T);
        return List.of(
                new Launch("rowDots", Grids.elements(rows), 8,
                        (g, id) -> g.task(id, TornadoAttentionKernels::attentionRowDots, k, rowDots, dout, out, B, T, C,
                                NH)),
                new Launch("dq", tiles, 10,
                        (g, id) -> g.task(id, TornadoAttentionKernels::attentionBackwardQuery, k, dqkv, dout, qkv, lse,
                                rowDots, T, C, NH, hs)),
                new Launch("dkv", tiles, 10,
                        (g, id) -> g.task(id, TornadoAttentionKernels::attentionBackwardKeys, k, dqkv, dout, qkv, lse,
                                rowDots, T, C, NH, hs)));
    }

    private List<Launch> crossEntropy(CrossEntropy ce) {
        KernelContext k = context;
        FloatArray loss = f(ce.loss());
        FloatArray correct = ce.correct() == null ? unused() : f(ce.correct());
        int withCorrect = ce.correct() == null ? 0 : 1;
        FloatArray logits = f(ce.logits());
        IntArray targets = i(ce.targets());
        float scale = ce.scale();
        int N = ce.logits().rows();
        int V = ce.logits().dim(-1);
        FloatArray count = scratchFloats(1);
        FloatArray rowLoss = scratchFloats(N);
        FloatArray rowHit = scratchFloats(N);
        List<Launch> launches = new ArrayList<>();
        launches.add(new Launch("count", Grids.oneGroup(), 4,
                (g, id) -> g.task(id, TornadoCrossEntropyKernels::crossEntropyCount, k, count, targets, N)));
        if (ce.dlogits() == null || ce.dlogits() == ce.logits()) {
            int withGrad = ce.dlogits() == null ? 0 : 1;
            launches.add(new Launch("rows", Grids.groups(N, Grids.GROUP), 9,
                    (g, id) -> g.task(id, TornadoCrossEntropyKernels::crossEntropyRowsInPlace, k, rowLoss, rowHit, logits,
                            targets, count, scale, withGrad, V)));
        } else {
            FloatArray dlogits = f(ce.dlogits());
            launches.add(new Launch("rows", Grids.groups(N, Grids.GROUP), 10,
                    (g, id) -> g.task(id, TornadoCrossEntropyKernels::crossEntropyRows, k, rowLoss, rowHit, dlogits,
                            logits, targets, count, scale, 1, V)));
        }
        launches.add(new Launch("finish", Grids.oneGroup(), 9,
                (g, id) -> g.task(id, TornadoCrossEntropyKernels::crossEntropyFinish, k, loss, correct, rowLoss, rowHit,
                        count, scale, withCorrect, N)));
        return launches;
    }
}
