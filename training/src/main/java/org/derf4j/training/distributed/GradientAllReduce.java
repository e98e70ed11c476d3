package org.derf4j.training.distributed;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Tensor;

/**
 * Sums the gradients and the loss of every rank with one all-reduce per step, through the host: the round
 * trip that works on every backend, since it needs only {@link Backend#download} and {@link Backend#upload}.
 * <pre>
 *   flat[o_i .. o_i + size_i) ← gradient i      download, every gradient into its slice, back to back
 *   flat[P]                   ← loss            this rank's share of the step's loss
 *   allReduceSum(flat)                          MPI_Allreduce(MPI_IN_PLACE, flat, P + 1, MPI_FLOAT, MPI_SUM)
 *   gradient i, loss          ← flat            upload
 * </pre>
 * A sum is what the update needs because each rank already weighs its loss, and so its gradients, by
 * 1/(accumulation · ranks): the sum is the gradient of the mean loss over the global batch. The flat
 * buffer is off-heap (MPI reads native memory) and, like the host arrays the backend copies through (one
 * per distinct tensor size), allocated once: a step allocates nothing.
 */
public final class GradientAllReduce implements AutoCloseable {

    private final Backend backend;
    private final Collective world;
    private final List<Tensor> tensors;
    /** The host array each tensor is copied through; tensors of one size share one. */
    private final float[][] hostOf;
    private final Arena arena;
    private final MemorySegment flat;
    private long steps;
    private long copyNanos;
    private long reduceNanos;

    /**
     * Sums {@code gradients} and then {@code loss} (one value) over the ranks of {@code world} at each
     * {@link #run}. With one rank there is nothing to sum, and nothing is allocated.
     */
    public GradientAllReduce(Backend backend, Collective world, List<Tensor> gradients, Tensor loss) {
        this.backend = backend;
        this.world = world;
        this.tensors = new ArrayList<>();
        if (world.size() > 1) {
            tensors.addAll(gradients);
            tensors.add(loss);
        }
        this.hostOf = new float[tensors.size()][];
        Map<Integer, float[]> bySize = new HashMap<>();
        long floats = 0;
        for (int i = 0; i < tensors.size(); i++) {
            hostOf[i] = bySize.computeIfAbsent(tensors.get(i).size(), float[]::new);
            floats += tensors.get(i).size();
        }
        this.arena = Arena.ofShared(); // not confined: a trainer may be built on one thread and driven from another
        this.flat = arena.allocate(JAVA_FLOAT, floats);
    }

    /** Replaces every gradient and the loss with their sum over the ranks; with one rank, does nothing. */
    public void run() {
        if (tensors.isEmpty()) {
            return;
        }
        long started = System.nanoTime();
        long offset = 0;
        for (int i = 0; i < tensors.size(); i++) {
            float[] host = hostOf[i];
            backend.download(tensors.get(i), host);
            MemorySegment.copy(host, 0, flat, JAVA_FLOAT, offset, host.length);
            offset += (long) host.length * Float.BYTES;
        }
        long copied = System.nanoTime();
        world.allReduceSum(flat);
        long reduced = System.nanoTime();
        offset = 0;
        for (int i = 0; i < tensors.size(); i++) {
            float[] host = hostOf[i];
            MemorySegment.copy(flat, JAVA_FLOAT, offset, host, 0, host.length);
            backend.upload(tensors.get(i), host);
            offset += (long) host.length * Float.BYTES;
        }
        copyNanos += (copied - started) + (System.nanoTime() - reduced);
        reduceNanos += reduced - copied;
        steps++;
    }

    /** Floats summed per step: every gradient, and the loss. */
    public long floats() {
        return flat.byteSize() / Float.BYTES;
    }

    /**
     * One line on what the all-reduce cost so far, per step: the time in the collective (the transfer, and
     * any wait for a slower rank) and the time copying between the backend and the flat buffer.
     */
    public String describeCost() {
        double perStep = Math.max(1, steps);
        return String.format(Locale.ROOT, "all-reduce of %,d floats (%.1f MB) per step: %.2f ms in the collective"
                        + " and %.2f ms of host copies, on average over %d steps", floats(), flat.byteSize() / 1e6,
                reduceNanos / 1e6 / perStep, copyNanos / 1e6 / perStep, steps);
    }

    @Override
    public void close() {
        arena.close();
    }
}
