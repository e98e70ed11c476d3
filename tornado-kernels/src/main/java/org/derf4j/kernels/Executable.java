package org.derf4j.kernels;

/**
 * A {@link Graph} compiled for one backend, ready to be replayed.
 *
 * <p>{@link #run()} launches every op of the graph in order. A queueing backend may return before the
 * work is done; {@link Backend#download} waits for it. Replaying allocates no device memory.
 */
public interface Executable extends AutoCloseable {

    Graph graph();

    /** Runs the whole graph once. */
    void run();

    /** Releases compiled kernels and scratch memory. The graph's tensors belong to the caller and stay. */
    @Override
    void close();
}
