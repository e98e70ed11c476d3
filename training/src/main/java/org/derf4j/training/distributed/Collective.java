package org.derf4j.training.distributed;

import java.lang.foreign.MemorySegment;

/**
 * The ranks of a data-parallel job, as the trainer sees them: who this process is, how many there are, and
 * the two collective operations training needs. Every rank must make the same calls, in the same order,
 * with buffers of the same size: that is what makes them collective.
 *
 * <p>{@link #single()} is the job of one process, where both operations leave the buffer as it is and no MPI
 * is loaded; {@link World#join()} gives the process's own.
 */
public interface Collective {

    /** This process's rank, 0 ≤ rank < size; rank 0 logs, evaluates and writes checkpoints. */
    int rank();

    /** The number of ranks N. */
    int size();

    /** Replaces the float32 values of {@code floats} (native order) with their element-wise sum over every rank. */
    void allReduceSum(MemorySegment floats);

    /** Replaces the bytes of {@code bytes} on every rank with rank 0's. */
    void broadcast(MemorySegment bytes);

    /** One line for the log, e.g. "Open MPI v4.1.4, rank 0 of 2". */
    String describe();

    /** The job of one process: rank 0 of 1, and collectives that change nothing. */
    static Collective single() {
        return SingleProcess.INSTANCE;
    }

    /** A job of one process. */
    enum SingleProcess implements Collective {
        INSTANCE;

        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 1;
        }

        @Override
        public void allReduceSum(MemorySegment floats) {
            // The sum over one rank is the rank's own values.
        }

        @Override
        public void broadcast(MemorySegment bytes) {
            // Rank 0's bytes are already here.
        }

        @Override
        public String describe() {
            return "one process";
        }
    }
}
