package org.derf4j.kernels;

import java.util.Arrays;

/**
 * A dense, row-major tensor that lives on a backend's device.
 *
 * <p>A tensor is created by {@link Backend#allocate}, filled by {@link Backend#upload}, read by
 * {@link Backend#download} and released by {@link #close()}. The host never touches device memory
 * directly; that is what lets the same model run on a CPU, an OpenCL queue or a TornadoVM task graph.
 * A tensor that is never closed shows up in {@link Backend#liveTensors()}.
 */
public abstract class Tensor implements AutoCloseable {
    private final String name;
    private final DType dtype;
    private final int[] shape;
    private final int size;
    private volatile boolean closed;

    protected Tensor(String name, DType dtype, int... shape) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("tensor name must not be blank");
        }
        if (shape.length == 0) {
            throw new IllegalArgumentException("tensor '" + name + "': shape must have at least one dimension");
        }
        long n = 1;
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor '" + name + "': every dimension must be positive, got "
                        + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + name + "': " + n + " elements exceed the 2^31 limit of one buffer");
        }
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.size = (int) n;
    }

    public final String name() {
        return name;
    }

    public final DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public final int[] shape() {
        return shape.clone();
    }

    public final int rank() {
        return shape.length;
    }

    /** Dimension {@code i}; negative {@code i} counts from the end, so {@code dim(-1)} is the innermost. */
    public final int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    /** Number of elements. */
    public final int size() {
        return size;
    }

    /** Number of rows when the innermost dimension is taken as the row: {@code size() / dim(-1)}. */
    public final int rows() {
        return size / dim(-1);
    }

    public abstract Backend backend();

    public final boolean isClosed() {
        return closed;
    }

    /** Throws if this tensor has been closed; backends call it before touching the storage. */
    public final void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tensor " + this + " is closed");
        }
    }

    /** Releases the device memory. Idempotent. */
    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            release();
        }
    }

    /** Frees the backend storage; called once. */
    protected abstract void release();

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + (dtype == DType.F32 ? "" : ":" + dtype);
    }
}
