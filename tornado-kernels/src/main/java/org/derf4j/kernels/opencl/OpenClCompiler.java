package org.derf4j.kernels.opencl;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntSupplier;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.CrossEntropy;
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
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * Turns each op record into the steps a replay enqueues: an exhaustive switch that hands each op to the
 * {@code steps} method beside its kernels ({@code OpenClXxxKernels.steps(op, compiler)}), and what those methods
 * share: launch sizes from the device's limits, scratch buffers, and buffers that stand for absent tensors.
 *
 * <p>A step is a kernel {@link Launch} (program, kernel, arguments, NDRange), a {@link Fill} (Zero), or a
 * {@link Host} action run before the op's kernels are enqueued (checks of token ids and targets, which a kernel
 * cannot report). Launches only name their program here; {@link #buildPrograms} builds the ones the device lacks,
 * all at once, and {@link OpenClExecutable} creates the kernels and sets their arguments.
 */
final class OpenClCompiler {

    /** Work-items of the 1D kernels, and the size of their reduction trees: a power of two. */
    static final int MAX_GROUP = 256;

    /**
     * Rows one work-item sums in the first pass of a reduction over rows (dγ, dβ, dbias): the partial sums of such
     * chunks are then added in chunk order. A constant, so the bits do not depend on the device.
     */
    static final int ROWS_PER_CHUNK = 32;

    /** {@link #MAX_GROUP}, or the largest power of two the device allows in a work-group. */
    static int group(OpenClDevice device) {
        int g = MAX_GROUP;
        while (g > 1 && g > device.maxWorkGroupSize) {
            g /= 2;
        }
        return g;
    }

    /** What a replay does for one op, in order. */
    sealed interface Step permits Launch, Fill, Host {
    }

    /**
     * One kernel launch: {@code args} are tensors, {@link Buffer}s, Integers and Floats, in the kernel's order;
     * {@code global} and {@code local} the NDRange (1 or 2 dimensions). When {@code groupsAtRun} is given, a
     * replay reads the number of work-groups along dimension 0 from it, after the op's host step set it.
     */
    record Launch(String step, Program program, String kernel, List<Object> args, long[] global, long[] local,
                  IntSupplier groupsAtRun) implements Step {
    }

    /** Zeroes a tensor ({@link Zero}). */
    record Fill(OpenClTensor tensor) implements Step {
    }

    /** Runs on the host before the op's kernels are enqueued, at every replay. */
    record Host(Runnable action) implements Step {
    }

    /** A device buffer that is not a tensor: scratch, or a constant for an absent tensor. */
    record Buffer(MemorySegment mem, String name) {
    }

    /** An op and its steps. */
    record OpSteps(Op op, List<Step> steps) {
    }

    private final OpenClBackend backend;
    final int group;
    private final Scratch scratch = new Scratch();
    private final Set<Program> programs = new LinkedHashSet<>();
    private Buffer zero;
    private Buffer one;
    private Buffer noClip;
    private Buffer unused;

    OpenClCompiler(OpenClBackend backend) {
        this.backend = backend;
        this.group = backend.group();
    }

    OpSteps steps(Op op) {
        List<Step> steps = switch (op) {
            case Zero z -> OpenClMemoryKernels.steps(z, this);
            case Embedding.Forward e -> OpenClEmbeddingKernels.steps(e, this);
            case Embedding.Backward e -> OpenClEmbeddingKernels.steps(e, this);
            case PointwiseNorm.Forward p -> switch (p.kind()) {
                case DERF -> OpenClDerfKernels.steps(p, this);
                case DYT -> OpenClDytKernels.steps(p, this);
            };
            case PointwiseNorm.Backward p -> switch (p.kind()) {
                case DERF -> OpenClDerfKernels.steps(p, this);
                case DYT -> OpenClDytKernels.steps(p, this);
            };
            case LayerNorm.Forward l -> OpenClLayerNormKernels.steps(l, this);
            case LayerNorm.Backward l -> OpenClLayerNormKernels.steps(l, this);
            case RmsNorm.Forward r -> OpenClRmsNormKernels.steps(r, this);
            case RmsNorm.Backward r -> OpenClRmsNormKernels.steps(r, this);
            case Matmul.Forward m -> OpenClMatmulKernels.steps(m, this);
            case Matmul.Backward m -> OpenClMatmulKernels.steps(m, this);
            case Gelu.Forward g -> OpenClGeluKernels.steps(g, this);
            case Gelu.Backward g -> OpenClGeluKernels.steps(g, this);
            case Attention.Forward a -> OpenClAttentionKernels.steps(a, this);
            case Attention.Backward a -> OpenClAttentionKernels.steps(a, this);
            case Residual.Forward r -> OpenClResidualKernels.steps(r, this);
            case Residual.Backward r -> OpenClResidualKernels.steps(r, this);
            case CrossEntropy ce -> OpenClCrossEntropyKernels.steps(ce, this);
            case GradClip g -> OpenClAdamWKernels.steps(g, this);
            case AdamW a -> OpenClAdamWKernels.steps(a, this);
        };
        for (Step s : steps) {
            if (s instanceof Launch l) {
                programs.add(l.program());
            }
        }
        return new OpSteps(op, steps);
    }

    /**
     * Builds the programs the launches need that this device has not built yet, after announcing on
     * {@code progress} how many and how many kernels they hold.
     */
    void buildPrograms(Consumer<String> progress) {
        OpenClDevice device = backend.openClDevice();
        List<Program> missing = programs.stream().filter(p -> !device.isBuilt(p)).toList();
        if (missing.isEmpty()) {
            return;
        }
        int kernels = missing.stream().mapToInt(p -> p.kernels().size()).sum();
        progress.accept(String.format("compiling %d kernels (%d OpenCL programs) for %s…", kernels, missing.size(),
                device.name));
        for (Program p : missing) {
            device.program(p, group);
        }
    }

    /** The scratch buffers allocated so far; each executable compiled with this compiler holds them. */
    Scratch scratch() {
        return scratch;
    }

    OpenClBackend backend() {
        return backend;
    }

    // ---------------------------------------------------------------- launches

    /** A 1D launch of {@code groups} work-groups of {@code local} work-items. */
    static Launch launch(String step, Program program, String kernel, long groups, long local, Object... args) {
        return new Launch(step, program, kernel, List.of(args), new long[] {groups * local}, new long[] {local}, null);
    }

    /** A 1D launch whose number of work-groups a host step sets before every replay. */
    static Launch launchAtRun(String step, Program program, String kernel, IntSupplier groups, long local,
                              Object... args) {
        return new Launch(step, program, kernel, List.of(args), new long[] {local}, new long[] {local}, groups);
    }

    /** A 2D launch of {@code groupsX × groupsY} work-groups of {@code localX × localY}. */
    static Launch launch2d(String step, Program program, String kernel, long groupsX, long groupsY, long localX,
                           long localY, Object... args) {
        return new Launch(step, program, kernel, List.of(args), new long[] {groupsX * localX, groupsY * localY},
                new long[] {localX, localY}, null);
    }

    /** Work-groups of {@link #group} work-items for one work-item per element of {@code [0, n)}. */
    long groupsFor(long n) {
        return ceilDiv(n, group);
    }

    /**
     * Work-groups for the float4 element-wise kernels: work-item i takes elements [4i, 4i + 4) while they are all
     * below n, and work-item n/4 the last n mod 4; so n/4 + 1 work-items.
     */
    long groupsForVectors(long n) {
        return ceilDiv(n / 4 + 1, group);
    }

    /**
     * Work-items of a work-group that reduces one row of {@code width} loads: a power of two, 32 at least (a
     * warp: fewer would idle SIMD lanes a GPU has anyway), {@link #group} at most.
     */
    int rowGroup(int width) {
        int g = 32;
        while (g < group && g < width) {
            g *= 2;
        }
        return Math.min(g, group);
    }

    /**
     * Work-items that reduce one row in the row kernels ({@code row_sum} in common.cl): 32, a warp on NVIDIA (half a
     * wavefront on AMD), or the whole work-group on a device that allows fewer.
     */
    int lanes() {
        return Math.min(32, group);
    }

    /**
     * A 2D launch of the row kernels: rows of {@link #lanes()} work-items, {@code group / lanes} of them per
     * work-group, so that a work-group reduces several rows at once (a CPU device runs a work-group's work-items in a
     * loop, and pays per work-group and per barrier), and {@code groups} work-groups along dimension 1.
     */
    static Launch rows(String step, Program program, String kernel, OpenClCompiler c, long groups, Object... args) {
        return launch2d(step, program, kernel, 1, groups, c.lanes(), c.group / c.lanes(), args);
    }

    /** Work-groups of {@link #rows} that give each of {@code rows} rows a row of lanes. */
    long groupsForRows(long rows) {
        return ceilDiv(rows, group / lanes());
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** 4 where rows of {@code width} floats hold whole float4s, else 1: the VEC a program is built with. */
    static int vec(int width) {
        return width % 4 == 0 ? 4 : 1;
    }

    // ---------------------------------------------------------------- buffers

    static MemorySegment buffer(Tensor t) {
        return ((OpenClTensor) t).buffer();
    }

    static OpenClTensor tensor(Tensor t) {
        return (OpenClTensor) t;
    }

    /** A zero-filled scratch buffer of {@code floats} floats (at least one), freed with the executables. */
    Buffer scratchFloats(long floats, String name) {
        Buffer b = new Buffer(backend.newBuffer(4 * Math.max(1, floats), "scratch " + name), name);
        scratch.buffers.add(b.mem());
        return b;
    }

    /** A scratch buffer holding {@code values}. */
    private Buffer constant(String name, float... values) {
        Buffer b = scratchFloats(values.length, name);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(4L * values.length);
            MemorySegment.copy(values, 0, host, JAVA_FLOAT, 0, values.length);
            OpenCl.enqueueWrite(backend.queue(), b.mem(), host, "constant " + name);
            // The write is not blocking: wait before the arena frees its source. Compile time only.
            OpenCl.finish(backend.queue(), "constant " + name);
        }
        return b;
    }

    /** The tensor, or {0}: the shift of a kind without one. */
    Object orZero(Tensor t) {
        if (t != null) {
            return t;
        }
        if (zero == null) {
            zero = constant("zero", 0f);
        }
        return zero;
    }

    /** The tensor, or {1}: the scale of an embedding without one. */
    Object orOne(Tensor t) {
        if (t != null) {
            return t;
        }
        if (one == null) {
            one = constant("one", 1f);
        }
        return one;
    }

    /** The tensor, or {0, 1}: the clip stats of an AdamW without clipping. */
    Object orNoClip(Tensor t) {
        if (t != null) {
            return t;
        }
        if (noClip == null) {
            noClip = constant("no-clip", 0f, 1f);
        }
        return noClip;
    }

    /** The tensor, or for an absent output a buffer the kernel never touches (it takes a {@link #present} flag). */
    Object orUnused(Tensor t) {
        if (t != null) {
            return t;
        }
        if (unused == null) {
            unused = scratchFloats(1, "unused");
        }
        return unused;
    }

    /** 1 where the optional tensor is given, 0 where it is absent. */
    static int present(Tensor t) {
        return t == null ? 0 : 1;
    }

    /** Program defines, in order. */
    static Map<String, String> defines(Object... keyValues) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], String.valueOf(keyValues[i + 1]));
        }
        return m;
    }

    /** A program of one file (after common.cl) with no defines. */
    static Program program(String name, String... kernels) {
        return new Program(name, List.of(name + ".cl"), Map.of(), Arrays.asList(kernels));
    }

    /**
     * The scratch buffers of one compilation, shared by the executables compiled together and freed when the last
     * of them closes.
     */
    static final class Scratch {
        private final List<MemorySegment> buffers = new ArrayList<>();
        private int holders;

        void hold() {
            holders++;
        }

        void release() {
            if (--holders == 0) {
                buffers.forEach(OpenCl::releaseBuffer);
                buffers.clear();
            }
        }
    }
}
