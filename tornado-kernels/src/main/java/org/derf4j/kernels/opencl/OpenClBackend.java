package org.derf4j.kernels.opencl;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.derf4j.kernels.AbstractBackend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.Tensor;

/**
 * The opencl backend: hand-written OpenCL C kernels ({@code resources/.../opencl/*.cl}) called through Java's FFM
 * API ({@link OpenCl}). Tensors are device buffers; a compiled graph is a list of kernels whose arguments were set
 * once, and a replay enqueues them all on one in-order queue, with no host sync between them.
 *
 * <h2>Host traffic</h2>
 * <ul>
 *   <li>An upload copies the host array into native memory and enqueues a non-blocking write from it: it does not
 *       wait for the kernels before it. The native copies are freed when the queue has drained (at the next
 *       download or {@link #synchronize()}), or after {@value #STAGING_LIMIT} bytes of them, with a finish.</li>
 *   <li>A download is a blocking read: the only place the host waits for the device, besides
 *       {@link #synchronize()} and close.</li>
 *   <li>Host steps of a replay (checking token ids and targets, the embedding backward's buckets) read the host's
 *       copy of the int32 tensors (see {@link OpenClTensor}), never the device.</li>
 * </ul>
 * Programs are built once per device and JVM ({@link OpenClDevice}); work-group sizes come from the device's
 * limits ({@link OpenClCompiler#group}).
 */
public final class OpenClBackend extends AbstractBackend<OpenClTensor> {

    /** Bytes of upload copies after which the backend waits for the queue and frees them. */
    static final long STAGING_LIMIT = 256L << 20;

    private final OpenClDevice device;
    private final MemorySegment queue;
    private final int group;
    /** Native copies of uploads that the queue may still be reading. */
    private final List<Arena> staging = new ArrayList<>();
    private long stagingBytes;
    private final Set<OpenClExecutable> executables = new LinkedHashSet<>();
    private boolean queueReleased;

    OpenClBackend(OpenClDevice device) {
        super(OpenClTensor.class);
        this.device = device;
        this.group = OpenClCompiler.group(device);
        this.queue = OpenCl.createQueue(device.context(), device.id);
    }

    @Override
    public String name() {
        return "opencl";
    }

    @Override
    public String device() {
        return "OpenCL " + device.describe();
    }

    /** Every OpenCL platform and device here, the one in use marked. */
    @Override
    public List<String> devices() {
        return OpenClDevice.all().stream().map(d -> d.describe() + (d == device ? ", in use" : "")).toList();
    }

    /**
     * This backend's OpenCL handles, for calling another OpenCL library (CLBlast, say) on the same device and queue:
     * work it enqueues there runs in order with this backend's kernels. They stay this backend's: do not release them.
     */
    public record Handles(MemorySegment context, MemorySegment device, MemorySegment queue) {
    }

    public Handles handles() {
        return new Handles(device.context(), device.id, queue);
    }

    /** The {@code cl_mem} of one of this backend's tensors, for another OpenCL library (see {@link #handles()}). */
    public MemorySegment buffer(Tensor t) {
        return own("buffer", t).buffer();
    }

    OpenClDevice openClDevice() {
        return device;
    }

    MemorySegment queue() {
        return queue;
    }

    int group() {
        return group;
    }

    /** A zero-filled device buffer of {@code bytes} (at least 4). */
    MemorySegment newBuffer(long bytes, String what) {
        MemorySegment buffer = OpenCl.createBuffer(device.context(), Math.max(4, bytes), what);
        try (Arena arena = Arena.ofConfined()) {
            OpenCl.enqueueFill(queue, buffer, arena.allocate(JAVA_INT), Math.max(4, bytes), "zeroing " + what);
        }
        return buffer;
    }

    @Override
    protected OpenClTensor newTensor(String name, DType dtype, int[] shape) {
        return new OpenClTensor(this, name, dtype, shape);
    }

    void released(OpenClTensor t) {
        forget(t);
    }

    @Override
    protected void uploadChecked(OpenClTensor dst, float[] src) {
        MemorySegment host = stage(4L * src.length);
        MemorySegment.copy(src, 0, host, JAVA_FLOAT, 0, src.length);
        OpenCl.enqueueWrite(queue, dst.buffer(), host, "upload to " + dst);
    }

    @Override
    protected void uploadChecked(OpenClTensor dst, int[] src) {
        System.arraycopy(src, 0, dst.ints(), 0, src.length);
        dst.changed();
        upload(dst.buffer(), src, "upload to " + dst);
    }

    /** Enqueues a write of {@code src} into {@code buffer} (a tensor's, or a host step's scratch). */
    void upload(MemorySegment buffer, int[] src, String what) {
        MemorySegment host = stage(4L * src.length);
        MemorySegment.copy(src, 0, host, JAVA_INT, 0, src.length);
        OpenCl.enqueueWrite(queue, buffer, host, what);
    }

    /** Native memory for an upload, alive until the queue has drained. */
    private MemorySegment stage(long bytes) {
        if (stagingBytes + bytes > STAGING_LIMIT) {
            synchronize();
        }
        Arena arena = Arena.ofShared();
        staging.add(arena);
        stagingBytes += bytes;
        return arena.allocate(Math.max(4, bytes), 16);
    }

    @Override
    protected void downloadChecked(OpenClTensor src, float[] dst) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment.copy(readBlocking(src, dst.length, arena), JAVA_FLOAT, 0, dst, 0, dst.length);
        }
    }

    @Override
    protected void downloadChecked(OpenClTensor src, int[] dst) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment.copy(readBlocking(src, dst.length, arena), JAVA_INT, 0, dst, 0, dst.length);
        }
    }

    /** The first {@code count} words of {@code src} in host memory of {@code arena}, once the queue has drained. */
    private MemorySegment readBlocking(OpenClTensor src, int count, Arena arena) {
        MemorySegment host = arena.allocate(4L * count, 16);
        OpenCl.readBlocking(queue, src.buffer(), host, "download of " + src
                + " (an error here may come from any kernel enqueued before it)");
        drained();
        return host;
    }

    /** Waits for everything enqueued, then frees the upload copies. */
    @Override
    public void synchronize() {
        OpenCl.finish(queue, "waiting for the enqueued kernels");
        drained();
    }

    /** The queue has run everything enqueued so far: no upload copy is in use any more. */
    private void drained() {
        staging.forEach(Arena::close);
        staging.clear();
        stagingBytes = 0;
    }

    @Override
    protected Executable compileChecked(Graph graph) {
        return compileChecked(List.of(graph), line -> { }).getFirst();
    }

    /**
     * Turns every op into its launches, builds the programs this device has not built yet (announced on
     * {@code progress}), then creates the kernels and sets their arguments.
     */
    @Override
    protected List<Executable> compileChecked(List<Graph> graphs, Consumer<String> progress) {
        OpenClCompiler compiler = new OpenClCompiler(this);
        List<List<OpenClCompiler.OpSteps>> planned = new ArrayList<>();
        for (Graph g : graphs) {
            List<OpenClCompiler.OpSteps> ops = new ArrayList<>();
            for (Op op : g.ops()) {
                ops.add(compiler.steps(op));
            }
            planned.add(ops);
        }
        compiler.buildPrograms(progress);
        List<Executable> list = new ArrayList<>();
        for (int i = 0; i < graphs.size(); i++) {
            OpenClExecutable e = new OpenClExecutable(this, graphs.get(i), planned.get(i), compiler.scratch());
            executables.add(e);
            list.add(e);
        }
        return list;
    }

    void closed(OpenClExecutable e) {
        executables.remove(e);
    }

    @Override
    protected void closeDevice() {
        for (OpenClExecutable e : new ArrayList<>(executables)) {
            e.close();
        }
        if (!queueReleased) {
            queueReleased = true;
            OpenCl.finish(queue, "closing the backend");
            drained();
            OpenCl.releaseQueue(queue);
        }
    }
}
