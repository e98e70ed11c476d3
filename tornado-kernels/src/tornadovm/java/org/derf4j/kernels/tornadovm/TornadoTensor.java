package org.derf4j.kernels.tornadovm;

import java.lang.foreign.ValueLayout;
import java.lang.foreign.MemorySegment;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Tensor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * A tensor as TornadoVM sees it: an off-heap {@link FloatArray} or {@link IntArray}, the host copy, whose
 * identity TornadoVM uses to find the device buffer of each execution plan that holds it.
 *
 * <p>Where the newest values are is tracked here, so that the host copies only what it must:
 * {@link #owner} is the program whose device buffer is newer than the host copy (null when the host copy is
 * the newest), and {@link #hostVersion} counts the changes of the host copy, so that each program knows
 * whether its own device buffer still matches it. See {@link TornadoProgram}.
 */
final class TornadoTensor extends Tensor {
    private final TornadoBackend backend;
    private final TornadoNativeArray array;
    /** The program whose device buffer holds newer values than the host copy, or null. */
    TornadoProgram owner;
    /** Incremented every time the host copy changes (an upload, or a copy back from a device). */
    long hostVersion;

    TornadoTensor(TornadoBackend backend, String name, DType dtype, int[] shape) {
        super(name, dtype, shape);
        this.backend = backend;
        this.array = dtype == DType.F32 ? new FloatArray(size()) : new IntArray(size());
    }

    /** The host copy, as TornadoVM's task graphs take it. */
    TornadoNativeArray array() {
        return array;
    }

    FloatArray floats() {
        return (FloatArray) array;
    }

    IntArray ints() {
        return (IntArray) array;
    }

    /**
     * A second {@link FloatArray} or {@link IntArray} over the same host memory: a different object, hence a
     * different device buffer. A graph streams it in every replay and copies it into the tensor's own buffer
     * on the device, which is how a declared input reaches a buffer that stays on the device.
     */
    TornadoNativeArray hostAlias() {
        MemorySegment all = array.getSegmentWithHeader();
        return dtype() == DType.F32 ? FloatArray.fromSegmentShallow(all) : IntArray.fromSegmentShallow(all);
    }

    /** Host memory as a segment of the values, without TornadoVM's array header. */
    MemorySegment values() {
        return array.getSegment();
    }

    void write(float[] src) {
        MemorySegment.copy(src, 0, values(), ValueLayout.JAVA_FLOAT, 0, src.length);
    }

    void write(int[] src) {
        MemorySegment.copy(src, 0, values(), ValueLayout.JAVA_INT, 0, src.length);
    }

    void read(float[] dst) {
        MemorySegment.copy(values(), ValueLayout.JAVA_FLOAT, 0, dst, 0, dst.length);
    }

    void read(int[] dst) {
        MemorySegment.copy(values(), ValueLayout.JAVA_INT, 0, dst, 0, dst.length);
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    protected void release() {
        // The off-heap memory goes with the arrays to the garbage collector once no plan holds them.
        backend.released(this);
    }
}
