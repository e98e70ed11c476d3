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
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.common.TaskPackage;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Graphs compiled together into one TornadoVM execution plan, whose device buffers they share.
 *
 * <h2>The plan</h2>
 * <pre>
 *   resident_k   owns a share of the buffers: transferToDevice(EVERY_EXECUTION), a no-op task per buffer,
 *                persistOnDevice. Executing them all streams every host copy in.
 *   hub_k        holds resident_k's buffers (consumeFromDevice), transfers nothing: a cheap source of
 *                their device pointers.
 *   segment      the kernels of a graph, ≤ 64 in order (a graph of more is cut into several segments);
 *                consumes the buffers they use; streams the graph's declared inputs (first segment).
 *   primer       holds the buffers of one segment: collects their pointers from the hubs before the
 *                segment first runs.
 * </pre>
 * Every buffer (tensors and kernel scratch) is allocated once, by its resident graph. TornadoVM hands device
 * pointers from a task graph to the next one executed ({@code consumeFromDevice(source, objects)}, copied
 * when {@code source} is the task graph executed last), so each task graph declares, for every task graph of
 * the plan, the buffers it shares with it; a one-float token that every task graph holds keeps each of those
 * declarations non-empty (with none, TornadoVM would take every buffer from the last task graph, which may not
 * hold them). A segment's pointers are right after it runs once, and they never change: before its first run,
 * its primer runs after each hub it needs, then the segment runs after its primer. Task graphs hold only what
 * they use, because a task graph has at most 1024 nodes (about two per buffer it holds).
 *
 * <h2>Host traffic</h2>
 * <ul>
 *   <li>Declared inputs: streamed every replay, into a second array over the same host memory (a different
 *       object, so a different device buffer), then copied on the device into the tensor's buffer.</li>
 *   <li>Downloads (declared outputs, checkpoints, tests): read on demand ({@code transferToHost} on the
 *       tensor's resident graph, which holds its buffer {@code persistOnDevice}, i.e. UNDER_DEMAND); never
 *       after a replay unless the host asks.</li>
 *   <li>Weights and every other tensor: streamed by the resident graphs before the first replay, which is
 *       FIRST_EXECUTION's traffic; and again only if the host uploads a tensor after that (what only the
 *       device holds is copied back first, so nothing is lost).</li>
 *   <li>Tensors shared with another program are copied through the host when the other one wrote them last
 *       ({@link TornadoTensor#owner}). The trainer compiles its four graphs together so this never happens
 *       in a training loop; it happens for eager {@code backend.run(ops)} calls, which compile a program each.</li>
 * </ul>
 * Each execution of a task graph ends with TornadoVM waiting for the device, so a graph's segments are few.
 */
final class TornadoProgram {

    /** Kernels per segment. */
    static final int TASKS_PER_GRAPH = 64;
    /**
     * The high-level code of a task graph is a fixed 8 KiB: {@value #HIGH_LEVEL_BYTES_PER_TASK} bytes plus
     * {@value #HIGH_LEVEL_BYTES_PER_ARGUMENT} per argument per task. (Its bytecode buffer, also of fixed size,
     * is enlarged by {@link TornadoBackend} when TornadoVM starts.)
     */
    private static final int HIGH_LEVEL_BYTES = 7680;
    private static final int HIGH_LEVEL_BYTES_PER_TASK = 15;
    private static final int HIGH_LEVEL_BYTES_PER_ARGUMENT = 5;
    /**
     * Buffers per segment, and per resident graph. A task graph has at most 1024 nodes: one per buffer it
     * holds, then for each buffer a task uses one for its first use and one to keep or free it after, one per
     * task, one per write and one per distinct scalar argument.
     */
    private static final int BUFFERS_PER_GRAPH = 128;
    private static final int BUFFERS_PER_RESIDENT_GRAPH = 64;

    private final TornadoBackend backend;
    private final List<Graph> graphs;
    private final TornadoExecutionPlan plan;
    /** Tasks in the plan, each a kernel TornadoVM compiles: the ops' launches, and the no-ops that hold buffers. */
    private final int tasks;
    /** Plan indices: resident graph k is {@code k}, hub k is {@code residents + k}. */
    private final int residents;
    /** The resident graph that owns each buffer. */
    private final Map<Object, Integer> residentOf = new HashMap<>();
    /** Per graph, its segments, in order. */
    private final List<List<Segment>> segments = new ArrayList<>();
    /** Per graph, the checks of host-side data (token ids, targets) made before a replay. */
    private final List<List<Runnable>> hostChecks = new ArrayList<>();
    private final Set<TornadoTensor> tensors = new LinkedHashSet<>();
    /** For each tensor, the host version its buffer in this plan holds; meaningless while this plan owns it. */
    private final Map<TornadoTensor, Long> synced = new HashMap<>();
    private TornadoExecutionResult residentResult;
    private boolean hubsReady;
    private int openExecutables;
    private boolean closed;

    /** A segment: its plan index, its primer's, the hubs its buffers come from, and whether it has run. */
    private static final class Segment {
        final int index;
        final int primer;
        final int[] hubs;
        boolean primed;

        Segment(int index, int primer, int[] hubs) {
            this.index = index;
            this.primer = primer;
            this.hubs = hubs;
        }
    }

    /** The four kinds of task graph in a plan. */
    private enum Role {
        RESIDENT, HUB, SEGMENT, PRIMER
    }

    /**
     * A task graph being built: its name and role, what it holds, what it consumes, and the task graph whose
     * buffer pointers it may take ({@code source}: for a hub its resident graph, for a segment its primer).
     */
    private record Part(String name, Role role, Set<Object> holds, Set<Object> consumes, TaskGraph graph,
                        String source) {

        /**
         * Whether this task graph takes buffer pointers (not just the token) from {@code from}, when that ran
         * last: only from a task graph whose pointers are all right by then. A primer's are not while it is
         * being primed, so it passes on nothing but the token.
         */
        boolean trusts(Part from) {
            return switch (role) {
                case RESIDENT -> false;
                case HUB -> from.name.equals(source);
                case PRIMER -> from.role == Role.HUB;
                case SEGMENT -> from.role != Role.PRIMER || from.name.equals(source);
            };
        }
    }

    /** A launch as a task: its package (id, kernel, arguments), its worker grid, and the buffers of its op. */
    private record Named(TaskPackage task, WorkerGrid grid, Set<Object> uses) {

        /** Adds the task to {@code tg}, and its worker grid to the scheduler under the task's key. */
        void addTo(TaskGraph tg, String graphName, GridScheduler grids) {
            tg.addTask(task);
            grids.addWorkerGrid(TaskIds.key(graphName, task.getId()), grid);
        }
    }

    /** One graph as launches: declared inputs staged first, then each op's kernels, in order. */
    private record Compiled(List<Named> launches, List<Object> streamed, List<Runnable> hostChecks) {
    }

    TornadoProgram(TornadoBackend backend, int id, List<Graph> graphs, boolean printKernels) {
        this.backend = backend;
        this.graphs = List.copyOf(graphs);
        TornadoCompiler compiler = new TornadoCompiler(new KernelContext());
        GridScheduler grids = new GridScheduler();
        List<Compiled> compiled = graphs.stream().map(g -> compile(g, compiler)).toList();
        compiled.forEach(c -> hostChecks.add(c.hostChecks()));
        FloatArray token = new FloatArray(1);
        List<Part> parts = new ArrayList<>();
        residents = addResidentsAndHubs(parts, id, token, compiler, grids);
        for (int gi = 0; gi < graphs.size(); gi++) {
            segments.add(addSegments(parts, id, gi, compiled.get(gi), token, compiler, grids));
        }
        plan = plan(parts, token, grids, printKernels);
        tasks = grids.keySet().size();
    }

    int tasks() {
        return tasks;
    }

    /**
     * JIT-compiles every task graph of the plan now, rather than on its first execution, so that a trainer's
     * first step is not also the compilation (minutes on PoCL).
     */
    void precompile() {
        plan.withPreCompilation();
    }

    /** Step 1: a graph's ops become launches; the compiler allocates the kernels' scratch buffers. */
    private Compiled compile(Graph g, TornadoCompiler compiler) {
        List<Named> named = new ArrayList<>();
        List<Runnable> checks = new ArrayList<>();
        List<Object> streamed = new ArrayList<>();
        for (Tensor t : g.inputs()) {
            TornadoNativeArray alias = tensor(t).hostAlias();
            streamed.add(alias);
            Launch stage = compiler.stage(tensor(t), alias);
            named.add(new Named(stage.kernel().at(TaskIds.inputTask(streamed.size() - 1)), stage.grid(),
                    Set.of(tensor(t).array())));
            tensors.add(tensor(t));
        }
        for (int i = 0; i < g.ops().size(); i++) {
            Op op = g.ops().get(i);
            Set<Object> uses = new LinkedHashSet<>();
            List<Launch> opLaunches = compiler.launches(op, uses);
            for (int l = 0; l < opLaunches.size(); l++) {
                Launch launch = opLaunches.get(l);
                named.add(new Named(launch.kernel().at(TaskIds.task(i, op.name(), l, launch.step())), launch.grid(),
                        uses));
            }
            Runnable check = compiler.hostCheck(op);
            if (check != null) {
                checks.add(check);
            }
            op.reads().forEach(t -> tensors.add(tensor(t)));
            op.writes().forEach(t -> tensors.add(tensor(t)));
        }
        return new Compiled(named, streamed, checks);
    }

    /**
     * Step 2: the resident task graphs, which own every buffer (the token, the tensors, the kernels' scratch)
     * in shares of {@link #BUFFERS_PER_RESIDENT_GRAPH}, then a hub for each. Returns how many residents.
     */
    private int addResidentsAndHubs(List<Part> parts, int id, FloatArray token, TornadoCompiler compiler,
                                    GridScheduler grids) {
        List<Object> buffers = new ArrayList<>();
        buffers.add(token);
        tensors.forEach(t -> buffers.add(t.array()));
        buffers.addAll(compiler.scratch());
        for (int from = 0; from < buffers.size(); from += BUFFERS_PER_RESIDENT_GRAPH) {
            List<Object> own = buffers.subList(from, Math.min(buffers.size(), from + BUFFERS_PER_RESIDENT_GRAPH));
            String name = TaskIds.residentGraph(id, parts.size());
            TaskGraph tg = new TaskGraph(name).transferToDevice(DataTransferMode.EVERY_EXECUTION, own.toArray());
            for (int i = 0; i < own.size(); i++) {
                residentOf.put(own.get(i), parts.size());
                Launch hold = compiler.hold((TornadoNativeArray) own.get(i));
                new Named(hold.kernel().at(TaskIds.residentTask(from + i)), hold.grid(), Set.of()).addTo(tg, name,
                        grids);
            }
            tg.persistOnDevice(own.toArray());
            Set<Object> holds = new LinkedHashSet<>(own);
            holds.add(token);
            parts.add(new Part(name, Role.RESIDENT, holds, from == 0 ? Set.of() : Set.of(token), tg, null));
        }
        int count = parts.size();
        for (int k = 0; k < count; k++) {
            parts.add(holder(TaskIds.hubGraph(id, k), Role.HUB, parts.get(k).holds(), parts.get(k).name(), token,
                    compiler, grids));
        }
        return count;
    }

    /** Step 3: graph {@code gi}'s launches cut into segments, each followed by its primer. */
    private List<Segment> addSegments(List<Part> parts, int id, int gi, Compiled compiled, FloatArray token,
                                      TornadoCompiler compiler, GridScheduler grids) {
        List<Named> named = compiled.launches();
        List<Segment> graphSegments = new ArrayList<>();
        for (int from = 0; from < named.size(); ) {
            int to = segmentEnd(named, from);
            String name = TaskIds.graph(id, gi, graphs.get(gi).name(), graphSegments.size());
            Set<Object> uses = new LinkedHashSet<>();
            uses.add(token);
            named.subList(from, to).forEach(n -> uses.addAll(n.uses()));
            TaskGraph tg = new TaskGraph(name);
            if (from == 0 && !compiled.streamed().isEmpty()) {
                tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, compiled.streamed().toArray());
            }
            named.subList(from, to).forEach(n -> n.addTo(tg, name, grids));
            int index = parts.size();
            String primer = TaskIds.primerGraph(id, gi, graphSegments.size());
            parts.add(new Part(name, Role.SEGMENT, uses, uses, tg, primer));
            parts.add(holder(primer, Role.PRIMER, uses, null, token, compiler, grids));
            int[] hubs = uses.stream().mapToInt(residentOf::get).distinct().sorted().map(k -> residents + k)
                    .toArray();
            graphSegments.add(new Segment(index, index + 1, hubs));
            from = to;
        }
        return graphSegments;
    }

    /** Step 4: the pointer hand-over declarations of every task graph, then the plan of them all. */
    private static TornadoExecutionPlan plan(List<Part> parts, FloatArray token, GridScheduler grids,
                                             boolean printKernels) {
        List<ImmutableTaskGraph> snapshots = new ArrayList<>();
        for (Part p : parts) {
            if (!p.consumes().isEmpty()) {
                for (Part source : parts) {
                    Object[] taken = p.trusts(source) || source == p
                            ? p.consumes().stream().filter(source.holds()::contains).toArray() : new Object[] {token};
                    p.graph().consumeFromDevice(source.name(), taken);
                }
                p.graph().persistOnDevice(p.consumes().toArray());
            }
            snapshots.add(p.graph().snapshot());
        }
        TornadoExecutionPlan plan = new TornadoExecutionPlan(snapshots.toArray(ImmutableTaskGraph[]::new));
        plan.withGridScheduler(grids);
        if (printKernels) {
            plan.withPrintKernel();
        }
        return plan;
    }

    /** A task graph that holds {@code buffers} and runs nothing but a no-op on the token: a hub or a primer. */
    private static Part holder(String name, Role role, Set<Object> buffers, String source, FloatArray token,
                               TornadoCompiler compiler, GridScheduler grids) {
        TaskGraph tg = new TaskGraph(name);
        Launch hold = compiler.hold(token);
        new Named(hold.kernel().at(TaskIds.residentTask(0)), hold.grid(), Set.of()).addTo(tg, name, grids);
        return new Part(name, role, buffers, buffers, tg, source);
    }

    /** The end of the segment that starts at {@code from}: as many launches as one task graph holds. */
    private static int segmentEnd(List<Named> named, int from) {
        int bytes = 0;
        Set<Object> uses = new LinkedHashSet<>();
        int to = from;
        while (to < named.size() && to - from < TASKS_PER_GRAPH) {
            bytes += HIGH_LEVEL_BYTES_PER_TASK + HIGH_LEVEL_BYTES_PER_ARGUMENT * named.get(to).task().getTaskType();
            uses.addAll(named.get(to).uses());
            if (to > from && (bytes > HIGH_LEVEL_BYTES || uses.size() > BUFFERS_PER_GRAPH)) {
                break;
            }
            to++;
        }
        return to;
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
        for (Segment s : segments.get(gi)) {
            if (!s.primed) {
                for (int hub : s.hubs) {
                    plan.withGraph(hub).execute();
                    plan.withGraph(s.primer).execute();
                }
                s.primed = true;
            }
            plan.withGraph(s.index).execute();
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

    /**
     * Executes the resident graphs, which stream every host copy to its buffer, after copying back what only
     * the device holds. The first time, each hub runs right after its resident graph, to take its pointers.
     */
    private void pushAll() {
        List<TornadoTensor> owned = tensors.stream().filter(t -> t.owner == this).toList();
        if (!owned.isEmpty()) {
            pull(owned);
        }
        for (int k = 0; k < residents; k++) {
            residentResult = plan.withGraph(k).execute();
            if (!hubsReady) {
                plan.withGraph(residents + k).execute();
            }
        }
        hubsReady = true;
        for (TornadoTensor t : tensors) {
            synced.put(t, t.hostVersion);
        }
    }

    /** Copies the tensors' buffers of this plan to their host copies, which become the newest. */
    void pull(List<TornadoTensor> list) {
        Map<Integer, List<Object>> byResident = new LinkedHashMap<>();
        for (TornadoTensor t : list) {
            if (!t.isClosed()) {
                byResident.computeIfAbsent(residentOf.get(t.array()), k -> new ArrayList<>()).add(t.array());
            }
        }
        byResident.forEach((k, arrays) -> {
            plan.withGraph(k);
            residentResult.transferToHost(arrays.toArray());
        });
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
