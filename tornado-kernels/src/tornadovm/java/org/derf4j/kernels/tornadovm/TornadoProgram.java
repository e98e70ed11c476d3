package org.derf4j.kernels.tornadovm;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.Tensor;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Graphs compiled together into one TornadoVM execution plan, whose device buffers they share.
 *
 * <h2>The plan</h2>
 * <pre>
 *   plan = [ resident_0 … resident_k | g0 segment 0, g0 segment 1, … | g1 segment 0, … ]
 *
 *   resident_j   transferToDevice(EVERY_EXECUTION, its share of the buffers)   hold(b) per buffer
 *                consumeFromDevice(the buffers of resident_0 … resident_j−1)    persistOnDevice(its share)
 *   segment      consumeFromDevice(every buffer of the plan)
 *                transferToDevice(EVERY_EXECUTION, the graph's declared inputs, as host aliases)  [first segment]
 *                copy alias → input buffer, then the ops' kernels in order                 (≤ 64 tasks)
 *                persistOnDevice(every buffer of the plan)
 * </pre>
 * Every buffer (tensors and kernel scratch) is allocated once, by the resident graphs, which own it: they
 * run first and hand their device pointers on; each graph that runs next takes the pointers of every buffer
 * from the graph that ran before it ({@code consumeFromDevice}: TornadoVM copies them from the last executed
 * task graph). Because every graph holds every buffer of the plan, the pointers survive any order of
 * execution — zero_grad, micro_step × k, update, evaluate — and nothing is copied between graphs. A graph of
 * more than {@value #TASKS_PER_GRAPH} kernels is cut into segments, one task graph each, executed in order:
 * TornadoVM's code for one task graph has a fixed size.
 *
 * <h2>Host traffic</h2>
 * <ul>
 *   <li>Declared inputs: streamed every replay, into a second array over the same host memory (a different
 *       object, so a different device buffer), then copied on the device into the tensor's buffer.</li>
 *   <li>Downloads (declared outputs, checkpoints, tests): read on demand ({@code transferToHost} on the
 *       resident graph, whose buffers are {@code persistOnDevice}, i.e. UNDER_DEMAND); never after a
 *       replay unless the host asks.</li>
 *   <li>Uploads of other tensors (initial weights, a checkpoint): the resident graphs stream every buffer
 *       ({@code EVERY_EXECUTION}), so executing them pushes the host copies. That happens before the first
 *       replay, and again only if the host changed a tensor after it (its buffers newer than the host are
 *       copied back first, so nothing is lost).</li>
 *   <li>Tensors shared with another program are copied through the host when the other one wrote them last
 *       ({@link TornadoTensor#owner}). The trainer compiles its four graphs together so this never happens
 *       in a training loop; it happens for eager {@code backend.run(ops)} calls, which compile a program each.</li>
 * </ul>
 */
final class TornadoProgram {

    /**
     * Kernels per task graph. TornadoVM executes a task graph and then waits for the device, so each task graph
     * is a host sync: they should be few. Its limits: the high-level code of a task graph is a fixed 8 KiB,
     * {@value #HIGH_LEVEL_BYTES_PER_TASK} bytes plus {@value #HIGH_LEVEL_BYTES_PER_ARGUMENT} per argument per
     * task, and its bytecode buffer, which {@link TornadoBackend} enlarges when TornadoVM starts.
     */
    static final int TASKS_PER_GRAPH = 64;
    private static final int HIGH_LEVEL_BYTES = 7680;
    private static final int HIGH_LEVEL_BYTES_PER_TASK = 15;
    private static final int HIGH_LEVEL_BYTES_PER_ARGUMENT = 5;
    /** Buffers held per resident graph. */
    private static final int BUFFERS_PER_RESIDENT_GRAPH = 64;

    private final TornadoBackend backend;
    private final List<Graph> graphs;
    private final TornadoExecutionPlan plan;
    private final int residentGraphs;
    /** Per graph, the plan indices of its segments, in order. */
    private final List<int[]> segments = new ArrayList<>();
    /** Per graph, the checks of host-side data (token ids, targets) made before a replay. */
    private final List<List<Runnable>> hostChecks = new ArrayList<>();
    private final Set<TornadoTensor> tensors = new LinkedHashSet<>();
    /** For each tensor, the host version its buffer in this plan holds; meaningless while this plan owns it. */
    private final Map<TornadoTensor, Long> synced = new HashMap<>();
    private TornadoExecutionResult residentResult;
    private int openExecutables;
    private boolean closed;

    TornadoProgram(TornadoBackend backend, int id, List<Graph> graphs, boolean printKernels) {
        this.backend = backend;
        this.graphs = List.copyOf(graphs);
        KernelContext context = new KernelContext();
        TornadoCompiler compiler = new TornadoCompiler(context);
        GridScheduler grids = new GridScheduler();

        // Phase 1: every op becomes launches; the compiler allocates the kernels' scratch buffers.
        List<List<Named>> launches = new ArrayList<>();
        List<List<Object>> aliases = new ArrayList<>();
        for (Graph g : graphs) {
            List<Named> named = new ArrayList<>();
            List<Runnable> checks = new ArrayList<>();
            List<Object> streamed = new ArrayList<>();
            int input = 0;
            for (Tensor t : g.inputs()) {
                TornadoNativeArray alias = tensor(t).hostAlias();
                streamed.add(alias);
                named.add(new Named(TaskIds.inputTask(input++), compiler.stage(tensor(t), alias)));
            }
            for (int i = 0; i < g.ops().size(); i++) {
                Op op = g.ops().get(i);
                List<Launch> opLaunches = compiler.launches(op);
                for (int l = 0; l < opLaunches.size(); l++) {
                    named.add(new Named(TaskIds.task(i, op.name(), l, opLaunches.get(l).step()), opLaunches.get(l)));
                }
                Runnable check = compiler.hostCheck(op);
                if (check != null) {
                    checks.add(check);
                }
            }
            for (Tensor t : g.tensors()) {
                tensors.add(tensor(t));
            }
            tensors.addAll(g.inputs().stream().map(TornadoProgram::tensor).toList());
            launches.add(named);
            aliases.add(streamed);
            hostChecks.add(checks);
        }
        List<TornadoNativeArray> buffers = new ArrayList<>();
        tensors.forEach(t -> buffers.add(t.array()));
        buffers.addAll(compiler.scratch());
        Object[] all = buffers.toArray();

        // Phase 2: the resident graphs, then each graph's segments.
        List<ImmutableTaskGraph> taskGraphs = new ArrayList<>();
        for (int from = 0; from < buffers.size(); from += BUFFERS_PER_RESIDENT_GRAPH) {
            int to = Math.min(buffers.size(), from + BUFFERS_PER_RESIDENT_GRAPH);
            String name = TaskIds.residentGraph(id, taskGraphs.size());
            TaskGraph tg = new TaskGraph(name);
            if (from > 0) {
                tg.consumeFromDevice(buffers.subList(0, from).toArray());
            }
            Object[] own = buffers.subList(from, to).toArray();
            tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, own);
            for (int i = from; i < to; i++) {
                String task = TaskIds.residentTask(i);
                compiler.hold(buffers.get(i)).task().addTo(tg, task);
                grids.addWorkerGrid(TaskIds.key(name, task), Grids.single());
            }
            tg.persistOnDevice(own);
            taskGraphs.add(tg.snapshot());
        }
        residentGraphs = taskGraphs.size();
        for (int gi = 0; gi < graphs.size(); gi++) {
            List<Named> named = launches.get(gi);
            List<Integer> indices = new ArrayList<>();
            for (int from = 0; from < named.size(); ) {
                int to = segmentEnd(named, from);
                String name = TaskIds.graph(id, graphs.get(gi).name(), indices.size());
                TaskGraph tg = new TaskGraph(name).consumeFromDevice(all);
                if (from == 0 && !aliases.get(gi).isEmpty()) {
                    tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, aliases.get(gi).toArray());
                }
                for (Named n : named.subList(from, to)) {
                    n.launch().task().addTo(tg, n.taskId());
                    grids.addWorkerGrid(TaskIds.key(name, n.taskId()), n.launch().grid());
                }
                tg.persistOnDevice(all);
                indices.add(taskGraphs.size());
                taskGraphs.add(tg.snapshot());
                from = to;
            }
            segments.add(indices.stream().mapToInt(Integer::intValue).toArray());
        }
        plan = new TornadoExecutionPlan(taskGraphs.toArray(ImmutableTaskGraph[]::new));
        plan.withGridScheduler(grids);
        if (printKernels) {
            plan.withPrintKernel();
        }
    }

    /** The end of the segment that starts at {@code from}: as many launches as one task graph holds. */
    private static int segmentEnd(List<Named> named, int from) {
        int bytes = 0;
        int to = from;
        while (to < named.size() && to - from < TASKS_PER_GRAPH) {
            bytes += HIGH_LEVEL_BYTES_PER_TASK + HIGH_LEVEL_BYTES_PER_ARGUMENT * named.get(to).launch().arguments();
            if (bytes > HIGH_LEVEL_BYTES) {
                break;
            }
            to++;
        }
        return to;
    }

    /** A launch with its task id. */
    private record Named(String taskId, Launch launch) {
    }

    private static TornadoTensor tensor(Tensor t) {
        return (TornadoTensor) t;
    }

    /** One executable per graph; the plan is freed when the last of them is closed. */
    List<Executable> executables() {
        List<Executable> list = new ArrayList<>();
        for (int gi = 0; gi < graphs.size(); gi++) {
            list.add(new GraphExecutable(gi));
        }
        openExecutables = list.size();
        return list;
    }

    private final class GraphExecutable implements Executable {
        private final int index;
        private boolean closedHere;

        GraphExecutable(int index) {
            this.index = index;
        }

        @Override
        public Graph graph() {
            return graphs.get(index);
        }

        @Override
        public void run() {
            if (closedHere) {
                throw new IllegalStateException("graph " + graph().name() + " was closed");
            }
            TornadoProgram.this.run(index);
        }

        @Override
        public void close() {
            if (!closedHere) {
                closedHere = true;
                if (--openExecutables == 0) {
                    TornadoProgram.this.close();
                }
            }
        }
    }

    /** Replays graph {@code gi}: brings its tensors up to date in this plan, then executes its segments. */
    void run(int gi) {
        if (closed) {
            throw new IllegalStateException("graph " + graphs.get(gi).name() + " was closed");
        }
        Graph g = graphs.get(gi);
        Set<TornadoTensor> used = new LinkedHashSet<>();
        g.tensors().forEach(t -> used.add(tensor(t)));
        g.inputs().forEach(t -> used.add(tensor(t)));
        pullFromOtherPrograms(used);
        List<TornadoTensor> staleInputs = new ArrayList<>();
        boolean stale = residentResult == null;
        for (TornadoTensor t : used) {
            boolean input = g.inputs().contains(t);
            if (input && t.owner == this) {
                staleInputs.add(t); // the device holds newer values than the host: keep them
            } else if (!input && t.owner == null && synced.getOrDefault(t, -1L) != t.hostVersion) {
                stale = true;
            }
        }
        if (!staleInputs.isEmpty()) {
            pull(staleInputs);
        }
        if (stale) {
            pushAll();
        }
        hostChecks.get(gi).forEach(Runnable::run);
        for (int segment : segments.get(gi)) {
            plan.withGraph(segment).execute();
        }
        for (Tensor t : g.inputs()) {
            synced.put(tensor(t), tensor(t).hostVersion);
        }
        for (Op op : g.ops()) {
            for (Tensor t : op.writes()) {
                tensor(t).owner = this;
            }
        }
    }

    /** Copies to the host the tensors whose newest values are in another program's buffers. */
    private void pullFromOtherPrograms(Set<TornadoTensor> used) {
        Map<TornadoProgram, List<TornadoTensor>> byOwner = new LinkedHashMap<>();
        for (TornadoTensor t : used) {
            if (t.owner != null && t.owner != this) {
                byOwner.computeIfAbsent(t.owner, o -> new ArrayList<>()).add(t);
            }
        }
        byOwner.forEach(TornadoProgram::pull);
    }

    /** Executes the resident graphs, which stream every host copy to its buffer, keeping newer device values. */
    private void pushAll() {
        List<TornadoTensor> owned = tensors.stream().filter(t -> t.owner == this).toList();
        if (!owned.isEmpty()) {
            pull(owned);
        }
        for (int k = 0; k < residentGraphs; k++) {
            residentResult = plan.withGraph(k).execute();
        }
        for (TornadoTensor t : tensors) {
            synced.put(t, t.hostVersion);
        }
    }

    /** Copies the tensors' buffers of this plan to their host copies, which become the newest. */
    void pull(List<TornadoTensor> list) {
        Object[] arrays = list.stream().filter(t -> !t.isClosed()).map(TornadoTensor::array).toArray();
        if (arrays.length > 0) {
            plan.withGraph(residentGraphs - 1);
            residentResult.transferToHost(arrays);
        }
        for (TornadoTensor t : list) {
            t.owner = null;
            t.hostVersion++;
            synced.put(t, t.hostVersion);
        }
    }

    /** Copies back what only this plan's buffers hold, then frees the device memory. Idempotent. */
    void close() {
        if (closed) {
            return;
        }
        List<TornadoTensor> owned = tensors.stream().filter(t -> t.owner == this).toList();
        if (!owned.isEmpty()) {
            pull(owned);
        }
        closed = true;
        try {
            plan.close();
        } catch (Exception e) {
            throw new IllegalStateException("tornadovm: freeing the device memory of a plan failed", e);
        }
        backend.closed(this);
    }
}
