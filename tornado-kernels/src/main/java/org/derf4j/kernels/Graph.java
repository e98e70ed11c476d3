package org.derf4j.kernels;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * An ordered list of ops over persistent tensors, recorded once and replayed many times.
 *
 * <p>A training step is one graph: forward, loss, backward, clipping and the optimizer. The graph also
 * declares the only host traffic allowed around a replay: {@link #inputs()} are uploaded by the host
 * before a replay (token ids, targets, the learning rate), {@link #outputs()} are downloaded after it
 * (the loss). Every other tensor stays on the device between replays. This is what lets each backend run
 * the step its own way:
 * <ul>
 *   <li>the cpu backend calls the ops one after another;</li>
 *   <li>the OpenCL backend enqueues all kernels on one in-order queue, with no host sync between them;</li>
 *   <li>the TornadoVM backend compiles the graph into task graphs once, transfers inputs with
 *       {@code EVERY_EXECUTION}, keeps everything else resident, and executes the plan per replay.</li>
 * </ul>
 */
public final class Graph {
    private final String name;
    private final List<Op> ops;
    private final Set<Tensor> inputs;
    private final Set<Tensor> outputs;

    private Graph(String name, List<Op> ops, Set<Tensor> inputs, Set<Tensor> outputs) {
        this.name = name;
        this.ops = List.copyOf(ops);
        this.inputs = Set.copyOf(inputs);
        this.outputs = Set.copyOf(outputs);
    }

    /** A graph of the given ops with no declared host traffic; handy for running ops eagerly. */
    public static Graph of(String name, Op... ops) {
        Builder b = builder(name);
        for (Op op : ops) {
            b.add(op);
        }
        return b.build();
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    public String name() {
        return name;
    }

    public List<Op> ops() {
        return ops;
    }

    /** Tensors the host may upload between replays. */
    public Set<Tensor> inputs() {
        return inputs;
    }

    /** Tensors the host may download after a replay. */
    public Set<Tensor> outputs() {
        return outputs;
    }

    /** Every tensor some op reads or writes, in first-use order. */
    public Set<Tensor> tensors() {
        Set<Tensor> all = new LinkedHashSet<>();
        for (Op op : ops) {
            all.addAll(op.reads());
            all.addAll(op.writes());
        }
        return all;
    }

    @Override
    public String toString() {
        return "Graph[" + name + ", " + ops.size() + " ops]";
    }

    /** Records ops in execution order. */
    public static final class Builder {
        private final String name;
        private final List<Op> ops = new ArrayList<>();
        private final Set<Tensor> inputs = new LinkedHashSet<>();
        private final Set<Tensor> outputs = new LinkedHashSet<>();

        private Builder(String name) {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("graph name must not be blank");
            }
            this.name = name;
        }

        public Builder add(Op op) {
            ops.add(Objects.requireNonNull(op, "op"));
            return this;
        }

        /** Declares tensors the host uploads before each replay. */
        public Builder input(Tensor... tensors) {
            for (Tensor t : tensors) {
                inputs.add(Objects.requireNonNull(t, "input tensor"));
            }
            return this;
        }

        /** Declares tensors the host downloads after each replay. */
        public Builder output(Tensor... tensors) {
            for (Tensor t : tensors) {
                outputs.add(Objects.requireNonNull(t, "output tensor"));
            }
            return this;
        }

        public Graph build() {
            return new Graph(name, ops, inputs, outputs);
        }
    }
}
