package org.derf4j.kernels;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * What every backend shares: the registry of live tensors (for leak detection), and the checks on
 * transfers and graphs, so that all backends fail the same way on the same mistake.
 *
 * @param <T> the backend's own tensor type
 */
public abstract class AbstractBackend<T extends Tensor> implements Backend {
    private final Set<T> live = new LinkedHashSet<>();
    private final Class<T> tensorType;
    private boolean closed;

    protected AbstractBackend(Class<T> tensorType) {
        this.tensorType = tensorType;
    }

    /** Creates the backend tensor with zeroed storage. */
    protected abstract T newTensor(String name, DType dtype, int[] shape);

    protected abstract void uploadChecked(T dst, float[] src);

    protected abstract void uploadChecked(T dst, int[] src);

    protected abstract void downloadChecked(T src, float[] dst);

    protected abstract void downloadChecked(T src, int[] dst);

    protected abstract Executable compileChecked(Graph graph);

    /**
     * Compiles graphs that run interleaved, announcing slow work on {@code progress} (see
     * {@link Backend#compile(List, Consumer)}); by default each on its own, with nothing to announce.
     */
    protected List<Executable> compileChecked(List<Graph> graphs, Consumer<String> progress) {
        return graphs.stream().map(this::compileChecked).toList();
    }

    /** Releases the device; every tensor has already been closed. */
    protected abstract void closeDevice();

    @Override
    public final Tensor allocate(String name, DType dtype, int... shape) {
        checkOpen();
        T t = newTensor(name, dtype, shape);
        live.add(t);
        return t;
    }

    /** Called by a tensor's {@link Tensor#release()}. */
    protected final void forget(T tensor) {
        live.remove(tensor);
    }

    @Override
    public final void upload(Tensor dst, float[] src) {
        uploadChecked(checkTransfer("upload", dst, DType.F32, src.length), src);
    }

    @Override
    public final void upload(Tensor dst, int[] src) {
        uploadChecked(checkTransfer("upload", dst, DType.I32, src.length), src);
    }

    @Override
    public final void download(Tensor src, float[] dst) {
        downloadChecked(checkTransfer("download", src, DType.F32, dst.length), dst);
    }

    @Override
    public final void download(Tensor src, int[] dst) {
        downloadChecked(checkTransfer("download", src, DType.I32, dst.length), dst);
    }

    @Override
    public final Executable compile(Graph graph) {
        checkGraph(graph);
        return guarded(compileChecked(graph));
    }

    @Override
    public final List<Executable> compile(List<Graph> graphs) {
        return compile(graphs, line -> { });
    }

    @Override
    public final List<Executable> compile(List<Graph> graphs, Consumer<String> progress) {
        if (graphs == null || graphs.isEmpty() || graphs.stream().anyMatch(Objects::isNull)) {
            throw new IllegalArgumentException("compile: graphs must be a non-empty list without nulls, got " + graphs);
        }
        graphs.forEach(this::checkGraph);
        return compileChecked(graphs, progress).stream().map(this::guarded).toList();
    }

    private void checkGraph(Graph graph) {
        checkOpen();
        for (Tensor t : graph.tensors()) {
            own("graph " + graph.name(), t);
        }
    }

    private Executable guarded(Executable compiled) {
        return new OpenTensorsExecutable(compiled, compiled.graph().tensors().toArray(Tensor[]::new));
    }

    /**
     * Checks before every replay that the graph's tensors are still open: a compiled kernel holds the
     * tensors' storage, so without this a replay after {@link Tensor#close()} (or after the backend's
     * close, which also stops its threads) would run on released memory. A few volatile reads per replay.
     */
    private record OpenTensorsExecutable(Executable compiled, Tensor[] tensors) implements Executable {
        @Override
        public Graph graph() {
            return compiled.graph();
        }

        @Override
        public void run() {
            for (Tensor t : tensors) {
                if (t.isClosed()) {
                    throw new IllegalStateException("graph " + graph().name() + ": tensor " + t + " is closed");
                }
            }
            compiled.run();
        }

        @Override
        public void close() {
            compiled.close();
        }
    }

    @Override
    public final List<Tensor> liveTensors() {
        return new ArrayList<>(live);
    }

    @Override
    public final void close() {
        if (closed) {
            return;
        }
        for (T t : new ArrayList<>(live)) {
            t.close();
        }
        closed = true;
        closeDevice();
    }

    /** Casts to this backend's tensor type, checking that the tensor is ours and still open. */
    protected final T own(String where, Tensor t) {
        if (!tensorType.isInstance(t) || t.backend() != this) {
            throw new IllegalArgumentException(where + ": tensor " + t + " belongs to another backend ("
                    + t.backend().name() + "), not to this " + name() + " backend; copy it through the host");
        }
        t.checkOpen();
        return tensorType.cast(t);
    }

    private T checkTransfer(String what, Tensor t, DType dtype, int length) {
        checkOpen();
        T own = own(what, t);
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException(what + ": tensor " + t + " is " + t.dtype() + ", the host array is "
                    + dtype);
        }
        if (length != t.size()) {
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size()
                    + " elements, the host array " + length);
        }
        return own;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the " + name() + " backend is closed");
        }
    }
}
