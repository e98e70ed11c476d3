package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.common.TaskPackage;

/**
 * One kernel launch, recorded by an op's {@code launches} method before the task graphs exist: the step's
 * name within its op, the worker grid it needs, and the kernel call, which {@link TornadoProgram} turns into a
 * task under the id it gives it.
 *
 * @param step   what the launch does within its op, e.g. {@code gemm} or {@code partials}
 * @param grid   its global and local sizes
 * @param kernel the kernel method with its arguments bound
 */
record Launch(String step, WorkerGrid grid, Kernel kernel) {

    /**
     * A kernel call as a TornadoVM task, e.g. {@code id -> createPackage(id, Kernels::gelu, k, out, x, n)}:
     * TornadoVM's overloads type-check the arguments against the method, and the package knows their number
     * ({@link TaskPackage#getTaskType()}), which sizes the task graph's bytecode.
     */
    @FunctionalInterface
    interface Kernel {
        TaskPackage at(String taskId);
    }
}
