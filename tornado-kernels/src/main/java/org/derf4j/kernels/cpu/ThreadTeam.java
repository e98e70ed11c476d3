package org.derf4j.kernels.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads that runs the chunks of a parallel loop: the tiny wrapper that keeps thread
 * juggling out of the kernels.
 *
 * <p>{@link #run(int, Body)} calls {@code body.run(chunk)} once for every chunk in {@code [0, chunks)},
 * spread over the team, and returns when all are done. The calling thread works too. Which thread runs a
 * chunk varies; what a chunk computes does not, so a kernel that writes each chunk's partial result to its
 * own slot and then sums the slots in chunk order is deterministic whatever the number of threads.
 *
 * <p>A dispatch allocates nothing: bodies are built once, when a graph is compiled, and reused. Idle
 * workers spin briefly (steps launch kernels back to back) and then park.
 */
public final class ThreadTeam implements AutoCloseable {

    /** One parallel loop body; {@code chunk} is in {@code [0, chunks)}. */
    @FunctionalInterface
    public interface Body {
        void run(int chunk);
    }

    /** How long an idle worker spins before parking: steps launch kernels back to back. */
    private static final long SPIN_NANOS = 200_000;
    /** How long the caller spins for the workers to finish before yielding its core. */
    private static final int SPINS_BEFORE_YIELD = 2_000;

    private final Thread[] workers;
    private final AtomicInteger nextChunk = new AtomicInteger();
    private final AtomicInteger running = new AtomicInteger();
    private volatile int generation;
    private volatile boolean shutdown;
    private volatile Throwable failure;
    private Body body;
    private int chunks;

    /** A team of {@code threads} threads, the caller included. */
    public ThreadTeam(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("ThreadTeam: threads must be ≥ 1, got " + threads);
        }
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().daemon().name("derf4j-cpu-" + (i + 1)).unstarted(this::workLoop);
            workers[i].start();
        }
    }

    /** The number of threads, the caller included. */
    public int threads() {
        return workers.length + 1;
    }

    /** Runs {@code body} for every chunk in {@code [0, chunks)} and waits for all of them. */
    public void run(int chunks, Body body) {
        if (chunks <= 0) {
            return;
        }
        if (chunks == 1 || workers.length == 0) {
            for (int c = 0; c < chunks; c++) {
                body.run(c);
            }
            return;
        }
        this.body = body;
        this.chunks = chunks;
        nextChunk.set(0);
        running.set(workers.length);
        generation++; // volatile write publishes body and chunks to the workers
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        drain(body, chunks);
        // Workers usually finish within microseconds of the caller; past that, one of them has lost its
        // core (a busy machine), and spinning here would keep it from getting the core back.
        for (int spins = 0; running.get() != 0; spins++) {
            if (spins < SPINS_BEFORE_YIELD) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        this.body = null;
        Throwable t = failure;
        if (t != null) {
            failure = null;
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t);
        }
    }

    private void drain(Body b, int n) {
        for (int c = nextChunk.getAndIncrement(); c < n; c = nextChunk.getAndIncrement()) {
            try {
                b.run(c);
            } catch (Throwable t) {
                failure = t;
                nextChunk.set(n); // stop handing out chunks
            }
        }
    }

    private void workLoop() {
        int seen = 0;
        while (true) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen && !shutdown) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (shutdown) {
                return;
            }
            seen = generation;
            drain(body, chunks);
            running.decrementAndGet();
        }
    }

    /** Number of chunks of at most {@code chunkSize} that cover {@code n}; any chunk size up to Integer.MAX_VALUE. */
    public static int chunks(int n, int chunkSize) {
        return (int) (((long) n + chunkSize - 1) / chunkSize);
    }

    @Override
    public void close() {
        shutdown = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
