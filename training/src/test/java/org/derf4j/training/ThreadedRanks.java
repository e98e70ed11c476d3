package org.derf4j.training;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Phaser;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.derf4j.training.distributed.Collective;

/**
 * A data-parallel job whose ranks are threads of this JVM, for tests that need no MPI. A rank posts a heap
 * copy of its buffer (its segment may be confined to its thread), waits for every rank, and reads what it
 * needs. The sum adds the ranks' values in rank order, the same order on every rank, so that every rank
 * gets the same bits, as MPI's all-reduce gives them.
 */
final class ThreadedRanks {

    /** What one rank runs; returns its result. */
    interface Body<T> {
        T run(Collective world) throws Exception;
    }

    /** Thrown in the ranks that a failing rank left waiting. */
    static final class LeftWaiting extends IllegalStateException {
        LeftWaiting(String message) {
            super(message);
        }
    }

    private final int size;
    private final Phaser phaser;
    private final float[][] floats;
    private final byte[][] bytes;

    private ThreadedRanks(int size) {
        this.size = size;
        this.phaser = new Phaser(size);
        this.floats = new float[size][];
        this.bytes = new byte[size][];
    }

    /**
     * Runs {@code body} on {@code size} ranks at once; returns each rank's result, in rank order, or throws
     * what a failing rank threw. A failing rank ends the job's phaser, so that no other rank waits for it.
     */
    static <T> List<T> run(int size, Body<T> body) throws Exception {
        ThreadedRanks job = new ThreadedRanks(size);
        ExecutorService threads = Executors.newFixedThreadPool(size);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                Collective world = job.rank(r);
                futures.add(threads.submit(() -> {
                    try {
                        return body.run(world);
                    } catch (Throwable e) {
                        job.phaser.forceTermination();
                        throw e;
                    }
                }));
            }
            List<T> results = new ArrayList<>();
            Throwable failure = null;
            for (Future<T> f : futures) {
                try {
                    results.add(f.get(5, TimeUnit.MINUTES));
                } catch (ExecutionException e) {
                    // The rank that failed, rather than the ranks it left waiting.
                    if (failure == null || failure instanceof LeftWaiting) {
                        failure = e.getCause();
                    }
                }
            }
            if (failure instanceof Exception e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            return results;
        } finally {
            threads.shutdownNow();
        }
    }

    private Collective rank(int rank) {
        return new Collective() {
            @Override
            public int rank() {
                return rank;
            }

            @Override
            public int size() {
                return size;
            }

            @Override
            public void allReduceSum(MemorySegment segment) {
                floats[rank] = segment.toArray(JAVA_FLOAT);
                await();
                float[] sum = new float[floats[rank].length];
                for (float[] each : floats) {
                    for (int i = 0; i < sum.length; i++) {
                        sum[i] += each[i];
                    }
                }
                await(); // every rank has read every rank's values: the next collective may post new ones
                MemorySegment.copy(sum, 0, segment, JAVA_FLOAT, 0, sum.length);
            }

            @Override
            public void broadcast(MemorySegment segment) {
                bytes[rank] = segment.toArray(JAVA_BYTE);
                await();
                MemorySegment.copy(bytes[0], 0, segment, JAVA_BYTE, 0, bytes[0].length);
                await();
            }

            @Override
            public String describe() {
                return "thread rank " + rank + " of " + size;
            }
        };
    }

    private void await() {
        try {
            if (phaser.awaitAdvanceInterruptibly(phaser.arrive(), 1, TimeUnit.MINUTES) < 0) {
                throw new LeftWaiting("another rank failed");
            }
        } catch (InterruptedException | TimeoutException e) {
            throw new LeftWaiting("another rank hung: " + e);
        }
    }
}
