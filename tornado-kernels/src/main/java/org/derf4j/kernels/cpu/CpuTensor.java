package org.derf4j.kernels.cpu;

import org.derf4j.kernels.Backend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Tensor;

/** A tensor in a Java array: the cpu backend's device memory is the heap. */
final class CpuTensor extends Tensor {
    private final CpuBackend backend;
    private float[] floats;
    private int[] ints;

    CpuTensor(CpuBackend backend, String name, DType dtype, int[] shape) {
        super(name, dtype, shape);
        this.backend = backend;
        if (dtype == DType.F32) {
            floats = new float[size()];
        } else {
            ints = new int[size()];
        }
    }

    float[] floats() {
        checkOpen();
        return floats;
    }

    int[] ints() {
        checkOpen();
        return ints;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    protected void release() {
        floats = null;
        ints = null;
        backend.released(this);
    }
}
