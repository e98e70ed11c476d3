package org.derf4j.kernels.tornadovm;

import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

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
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Turns each op record into kernel launches: an exhaustive switch that hands each op to the
 * {@code launches} method beside its kernels ({@code TornadoXxxKernels.launches(op, compiler)}), and the
 * helpers those methods share. A launch names a static kernel method, its buffers and sizes, and its worker
 * grid. Sizes become constants in the generated code (TornadoVM inlines scalar arguments); scalars that change
 * between replays (α, s, the embedding scale, AdamW's hyper-parameters, the clip factor) are read from their
 * device buffers by the kernels.
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
     * The launches of {@code op}, and into {@code uses} the buffers they use: its tensors and the scratch they
     * were given. A task graph declares exactly these, which keeps it within TornadoVM's limit of 1024 nodes
     * per task graph.
     */
    List<Launch> launches(Op op, Set<Object> uses) {
        used = uses;
        op.reads().forEach(t -> uses.add(((TornadoTensor) t).array()));
        op.writes().forEach(t -> uses.add(((TornadoTensor) t).array()));
        return switch (op) {
            case Zero z -> TornadoMemoryKernels.launches(z, this);
            case Residual.Forward r -> TornadoResidualKernels.launches(r, this);
            case Residual.Backward r -> TornadoResidualKernels.launches(r, this);
            case Gelu.Forward g -> TornadoGeluKernels.launches(g, this);
            case Gelu.Backward g -> TornadoGeluKernels.launches(g, this);
            case GradClip g -> TornadoAdamWKernels.launches(g, this);
            case AdamW a -> TornadoAdamWKernels.launches(a, this);
            case Embedding.Forward e -> TornadoEmbeddingKernels.launches(e, this);
            case Embedding.Backward e -> TornadoEmbeddingKernels.launches(e, this);
            case PointwiseNorm.Forward p -> switch (p.kind()) {
                case DERF -> TornadoDerfKernels.launches(p, this);
                case DYT -> TornadoDytKernels.launches(p, this);
            };
            case PointwiseNorm.Backward p -> switch (p.kind()) {
                case DERF -> TornadoDerfKernels.launches(p, this);
                case DYT -> TornadoDytKernels.launches(p, this);
            };
            case LayerNorm.Forward l -> TornadoLayerNormKernels.launches(l, this);
            case LayerNorm.Backward l -> TornadoLayerNormKernels.launches(l, this);
            case RmsNorm.Forward r -> TornadoRmsNormKernels.launches(r, this);
            case RmsNorm.Backward r -> TornadoRmsNormKernels.launches(r, this);
            case Matmul.Forward m -> TornadoMatmulKernels.launches(m, this);
            case Matmul.Backward m -> TornadoMatmulKernels.launches(m, this);
            case Attention.Forward a -> TornadoAttentionKernels.launches(a, this);
            case Attention.Backward a -> TornadoAttentionKernels.launches(a, this);
            case CrossEntropy c -> TornadoCrossEntropyKernels.launches(c, this);
        };
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

    /** Copies a declared input from its streamed host alias into its device buffer. */
    Launch stage(TornadoTensor t, TornadoNativeArray alias) {
        int n = t.size();
        return new Launch("input", Grids.elements(n), t.dtype() == DType.F32
                ? id -> createPackage(id, TornadoMemoryKernels::copyFloats, context, t.floats(), (FloatArray) alias, n)
                : id -> createPackage(id, TornadoMemoryKernels::copyInts, context, t.ints(), (IntArray) alias, n));
    }

    /** The no-op task by which a resident graph holds a buffer. */
    Launch hold(TornadoNativeArray buffer) {
        return new Launch("hold", Grids.single(), buffer instanceof FloatArray a
                ? id -> createPackage(id, TornadoMemoryKernels::holdFloats, context, a)
                : id -> createPackage(id, TornadoMemoryKernels::holdInts, context, (IntArray) buffer));
    }

    // ---------------------------------------------------------------- what the launches share

    /** The kernel context every kernel takes first. */
    KernelContext context() {
        return context;
    }

    static FloatArray f(Tensor t) {
        return ((TornadoTensor) t).floats();
    }

    static IntArray i(Tensor t) {
        return ((TornadoTensor) t).ints();
    }

    /** A zeroed scratch buffer of {@code n} floats (at least one), held on the device with the tensors. */
    FloatArray scratchFloats(int n) {
        FloatArray a = new FloatArray(Math.max(1, n));
        scratch.add(a);
        return use(a);
    }

    /** Records that the op being compiled uses {@code a}. */
    private FloatArray use(FloatArray a) {
        used.add(a);
        return a;
    }

    /** The tensor's buffer, or {0, 1}, the clip stats of an AdamW without clipping. */
    FloatArray clipOrNone(Tensor clip) {
        if (clip != null) {
            return f(clip);
        }
        if (noClip == null) {
            noClip = scratchFloats(2);
            noClip.set(1, 1f);
        }
        return use(noClip);
    }

    /** The tensor's buffer, or {0}: the shift of DyT, which has none. */
    FloatArray orZero(Tensor t) {
        if (t != null) {
            return f(t);
        }
        if (zero == null) {
            zero = scratchFloats(1);
        }
        return use(zero);
    }

    /** The tensor's buffer, or {1}: the scale of an embedding without one. */
    FloatArray orOne(Tensor t) {
        if (t != null) {
            return f(t);
        }
        if (one == null) {
            one = scratchFloats(1);
            one.set(0, 1f);
        }
        return use(one);
    }

    /**
     * The tensor's buffer, or a buffer for the absent arguments of a kernel (no bias, no correct count), which
     * it never reads or writes: kernels take a flag with it.
     */
    FloatArray orUnused(Tensor t) {
        if (t != null) {
            return f(t);
        }
        if (unused == null) {
            unused = scratchFloats(1);
        }
        return use(unused);
    }

    /** 1 where the optional tensor is given, 0 where it is absent: the flag that goes with {@link #orUnused}. */
    static int present(Tensor t) {
        return t == null ? 0 : 1;
    }

    /** Chunks of {@link TornadoReductions#ROWS_PER_CHUNK} rows in a sum over {@code rows} rows. */
    static int chunks(int rows) {
        return Grids.ceilDiv(rows, TornadoReductions.ROWS_PER_CHUNK);
    }

    /** dst[C] += the column sums of partial[chunks, C]. */
    Launch addColumnSums(Tensor dst, FloatArray partial, int chunks, int C) {
        return new Launch("addColumnSums", Grids.elements(C),
                id -> createPackage(id, TornadoReductions::addColumnSums, context, f(dst), partial, chunks, C));
    }
}
