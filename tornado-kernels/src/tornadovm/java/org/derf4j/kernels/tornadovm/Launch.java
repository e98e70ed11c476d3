package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid;

/**
 * One kernel launch, recorded by {@link TornadoCompiler} before the task graphs exist: the step's name
 * within its op, the worker grid it needs, and how to add it to a task graph under a given task id.
 *
 * @param step what the launch does within its op, e.g. {@code gemm} or {@code partials}
 * @param grid its global and local sizes
 * @param arguments how many arguments the kernel takes, which sizes TornadoVM's bytecode for the launch
 * @param task adds the kernel, with its arguments bound, to a task graph
 */
record Launch(String step, WorkerGrid grid, int arguments, Task task) {

    /** Adds one kernel call to a task graph; the lambda binds the method and its arguments. */
    @FunctionalInterface
    interface Task {
        void addTo(TaskGraph graph, String taskId);
    }
}
