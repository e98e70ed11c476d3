package org.derf4j.kernels.opencl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClCompiler.Fill;
import org.derf4j.kernels.opencl.OpenClCompiler.Host;
import org.derf4j.kernels.opencl.OpenClCompiler.Launch;
import org.derf4j.kernels.opencl.OpenClCompiler.OpSteps;
import org.derf4j.kernels.opencl.OpenClCompiler.Step;

/**
 * A graph compiled for the opencl backend: one kernel object per launch, its arguments set once here, and its
 * NDRange in native memory. {@link #run()} enqueues every step in order on the backend's in-order queue and
 * returns without waiting; the order of the queue is the order of the graph.
 */
final class OpenClExecutable implements Executable {

    /** One step, ready to enqueue. */
    private interface Ready {
        void enqueue();
    }

    private final OpenClBackend backend;
    private final Graph graph;
    private final OpenClCompiler.Scratch scratch;
    /** NDRange sizes and fill patterns, for the executable's lifetime; shared, as JMH may replay on another thread. */
    private final Arena arena = Arena.ofShared();
    private final List<MemorySegment> kernels = new ArrayList<>();
    private final Ready[] steps;
    private boolean closed;

    OpenClExecutable(OpenClBackend backend, Graph graph, List<OpSteps> ops, OpenClCompiler.Scratch scratch) {
        this.backend = backend;
        this.graph = graph;
        this.scratch = scratch;
        scratch.hold();
        List<Ready> list = new ArrayList<>();
        try {
            for (OpSteps op : ops) {
                for (Step s : op.steps()) {
                    list.add(switch (s) {
                        case Launch l -> launch(op.op().name(), l);
                        case Fill f -> fill(op.op().name(), f.tensor());
                        case Host h -> h.action()::run;
                    });
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        steps = list.toArray(Ready[]::new);
    }

    /** Creates the launch's kernel, sets its arguments and checks its work-group against the kernel's limit. */
    private Ready launch(String opName, Launch l) {
        OpenClDevice device = backend.openClDevice();
        String what = opName + ", kernel " + l.kernel() + " (" + l.step() + ")";
        MemorySegment kernel = OpenCl.createKernel(device.program(l.program(), backend.group()), l.kernel(),
                l.program().toString());
        kernels.add(kernel);
        try (Arena args = Arena.ofConfined()) {
            for (int i = 0; i < l.args().size(); i++) {
                OpenCl.setArg(kernel, i, argument(args, l.args().get(i)), what);
            }
        }
        long localItems = 1;
        for (long d : l.local()) {
            localItems *= d;
        }
        long limit = OpenCl.kernelWorkGroupSize(kernel, device.id, what);
        if (localItems > limit) {
            throw new IllegalStateException(what + ": needs work-groups of " + localItems + " work-items, but "
                    + device.name + " allows this kernel only " + limit);
        }
        int dims = l.global().length;
        MemorySegment global = arena.allocate(JAVA_LONG, dims);
        MemorySegment local = arena.allocate(JAVA_LONG, dims);
        for (int d = 0; d < dims; d++) {
            global.setAtIndex(JAVA_LONG, d, l.global()[d]);
            local.setAtIndex(JAVA_LONG, d, l.local()[d]);
        }
        MemorySegment queue = backend.queue();
        IntSupplier groups = l.groupsAtRun();
        if (groups == null) {
            return () -> OpenCl.enqueueKernel(queue, kernel, dims, global, local, what);
        }
        long local0 = l.local()[0];
        return () -> {
            int n = groups.getAsInt();
            if (n > 0) {
                global.setAtIndex(JAVA_LONG, 0, n * local0);
                OpenCl.enqueueKernel(queue, kernel, dims, global, local, what);
            }
        };
    }

    private static MemorySegment argument(Arena arena, Object arg) {
        return switch (arg) {
            case Tensor t -> arena.allocateFrom(ADDRESS, OpenClCompiler.buffer(t));
            case Buffer b -> arena.allocateFrom(ADDRESS, b.mem());
            case Integer i -> arena.allocateFrom(JAVA_INT, i);
            case Float f -> arena.allocateFrom(JAVA_FLOAT, f);
            default -> throw new IllegalArgumentException("no kernel argument of type " + arg.getClass());
        };
    }

    private Ready fill(String opName, OpenClTensor t) {
        MemorySegment pattern = arena.allocate(JAVA_INT); // 0.0f and 0 are both four zero bytes
        MemorySegment queue = backend.queue();
        MemorySegment buffer = t.buffer();
        long bytes = 4L * t.size();
        String what = opName + " of " + t;
        return () -> OpenCl.enqueueFill(queue, buffer, pattern, bytes, what);
    }

    @Override
    public Graph graph() {
        return graph;
    }

    @Override
    public void run() {
        if (closed) {
            throw new IllegalStateException("graph " + graph.name() + " was closed");
        }
        for (Ready step : steps) {
            step.enqueue();
        }
        OpenCl.flush(backend.queue());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // OpenCL keeps kernels and buffers until the commands queued on them have run, and read the NDRange sizes
        // as they were enqueued: nothing here waits for the device.
        kernels.forEach(OpenCl::releaseKernel);
        kernels.clear();
        scratch.release();
        arena.close();
        backend.closed(this);
    }
}
