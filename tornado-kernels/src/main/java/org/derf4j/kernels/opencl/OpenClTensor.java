package org.derf4j.kernels.opencl;

import java.lang.foreign.MemorySegment;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Tensor;

/**
 * A tensor in a device buffer ({@code cl_mem}), zero-filled when allocated.
 *
 * <p>An int32 tensor (token ids, targets) also keeps the host's last upload: no op writes one but {@code Zero},
 * so that copy is the device's contents, and the backend checks token ids and targets against V on the host
 * before a replay, where a kernel could not report them, and builds the embedding backward's buckets from it.
 */
final class OpenClTensor extends Tensor {
    private final OpenClBackend backend;
    private final MemorySegment buffer;
    private final int[] ints;
    /** Counts the changes of {@link #ints}: a host step rebuilds what it derived from them when this moves. */
    private long version;

    OpenClTensor(OpenClBackend backend, String name, DType dtype, int[] shape) {
        super(name, dtype, shape);
        this.backend = backend;
        this.buffer = backend.newBuffer(4L * size(), "tensor " + this);
        this.ints = dtype == DType.I32 ? new int[size()] : null;
    }

    /** The device buffer. */
    MemorySegment buffer() {
        checkOpen();
        return buffer;
    }

    /** An int32 tensor's values, as the host last set them. */
    int[] ints() {
        checkOpen();
        return ints;
    }

    long version() {
        return version;
    }

    /** Called whenever {@link #ints} changed. */
    void changed() {
        version++;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    protected void release() {
        // OpenCL frees the memory once the kernels queued on it have run.
        OpenCl.releaseBuffer(buffer);
        backend.released(this);
    }
}
