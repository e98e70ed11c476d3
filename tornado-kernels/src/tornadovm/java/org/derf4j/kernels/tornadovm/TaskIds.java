package org.derf4j.kernels.tornadovm;

/**
 * Names of task graphs and tasks, in one place: each is built here once and used both for
 * {@code TaskGraph.task(...)} and for the {@code GridScheduler} key {@code graph.task}, so the two cannot
 * drift apart. TornadoVM puts these names into generated code and logs, so they keep to
 * {@code [A-Za-z0-9_]}.
 *
 * <pre>
 *   segment  p{program}_g{graph}_{graph name}_{segment}   e.g. p3_g1_micro_step_2
 *   task     op{index}_{Op}_{launch}_{step}                e.g. op17_MatmulForward_0_gemm
 *   key      {segment}.{task}                              e.g. p3_g1_micro_step_2.op17_MatmulForward_0_gemm
 *   resident graphs  p{program}_resident_{k}, tasks hold_{i}; hubs p{program}_hub_{k};
 *   primers          p{program}_primer_g{graph}_{segment}; a hub's or primer's one task is hold_0
 *   input staging    input{i}, first in a graph's first segment
 * </pre>
 */
final class TaskIds {
    private TaskIds() {
    }

    static String graph(int program, int graph, String graphName, int segment) {
        return "p" + program + "_g" + graph + "_" + identifier(graphName) + "_" + segment;
    }

    static String residentGraph(int program, int k) {
        return "p" + program + "_resident_" + k;
    }

    static String hubGraph(int program, int k) {
        return "p" + program + "_hub_" + k;
    }

    static String primerGraph(int program, int graph, int segment) {
        return "p" + program + "_primer_g" + graph + "_" + segment;
    }

    static String task(int opIndex, String opName, int launch, String step) {
        return "op" + opIndex + "_" + identifier(opName) + "_" + launch + "_" + identifier(step);
    }

    static String inputTask(int input) {
        return "input" + input;
    }

    static String residentTask(int arrayIndex) {
        return "hold_" + arrayIndex;
    }

    /** The GridScheduler key of a task. */
    static String key(String graph, String task) {
        return graph + "." + task;
    }

    private static String identifier(String s) {
        return s.replaceAll("[^A-Za-z0-9_]", "");
    }
}
