package org.derf4j.kernels;

import java.util.List;
import java.util.function.Consumer;

/**
 * A device that holds tensors and runs graphs of ops.
 *
 * <p>It is shaped for three kinds of runtime: one that calls each op at once (cpu), one that queues kernels
 * (OpenCL) and one that executes whole task graphs (TornadoVM). They all take the same {@link Graph}: see
 * {@code tornado-kernels/README.md} for the design.
 *
 * <p>A backend is not thread-safe: one thread drives it.
 */
public interface Backend extends AutoCloseable {

    /** Short name used on the command line: {@code cpu}, {@code cpu-reference}, {@code opencl}, {@code tornadovm}. */
    String name();

    /** The device in words, for logs. */
    String device();

    /** Every device this backend can see, one line each; by default just {@link #device()}. */
    default List<String> devices() {
        return List.of(device());
    }

    /** Allocates a zero-filled tensor. */
    Tensor allocate(String name, DType dtype, int... shape);

    /** Allocates a zero-filled float32 tensor. */
    default Tensor allocate(String name, int... shape) {
        return allocate(name, DType.F32, shape);
    }

    /** Copies {@code src} (exactly {@code dst.size()} values) to the device. */
    void upload(Tensor dst, float[] src);

    void upload(Tensor dst, int[] src);

    /** Waits for pending work, then copies the tensor into {@code dst} (exactly {@code src.size()} values). */
    void download(Tensor src, float[] dst);

    void download(Tensor src, int[] dst);

    /** Compiles a graph for replay. The tensors must belong to this backend. */
    Executable compile(Graph graph);

    /**
     * Compiles graphs that share tensors and run interleaved, such as a trainer's zero_grad, micro_step,
     * update and evaluate, as one unit; returns one executable per graph, in order. A backend whose device
     * memory belongs to a compiled unit (TornadoVM: one execution plan) keeps the shared tensors on the device
     * between these graphs; graphs compiled separately exchange them through the host.
     */
    List<Executable> compile(List<Graph> graphs);

    /**
     * {@link #compile(List)}, first telling {@code progress}, in one line, about work that takes noticeable time:
     * building or JIT-compiling device kernels ({@code compiling 42 kernels …}). It says nothing when there is
     * nothing to build (the cpu backend, or programs this device built before).
     */
    List<Executable> compile(List<Graph> graphs, Consumer<String> progress);

    /**
     * Waits until the device has run everything submitted so far. Only timing needs it (a benchmark's replay):
     * a download already waits for the work it reads. A no-op where {@link Executable#run()} is synchronous.
     */
    default void synchronize() {
    }

    /** Runs ops once, now. Convenient for tests and one-off work; a hot loop compiles a graph instead. */
    default void run(Op... ops) {
        try (Executable e = compile(Graph.of("eager", ops))) {
            e.run();
        }
    }

    /** Tensors allocated and not yet closed, oldest first: a non-empty list at shutdown is a leak. */
    List<Tensor> liveTensors();

    /** Releases every tensor still alive and the device itself. */
    @Override
    void close();
}
