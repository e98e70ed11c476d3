package org.derf4j.training.distributed;

import java.lang.foreign.MemorySegment;

/** A rank of a job that MPI runs: {@link Mpi}'s calls on MPI_COMM_WORLD behind {@link Collective}. */
final class MpiCollective implements Collective {

    private final int rank;
    private final int size;

    /** Initializes MPI; one per process, since MPI starts once. */
    MpiCollective() {
        Mpi.initThread();
        this.rank = Mpi.rank();
        this.size = Mpi.size();
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void allReduceSum(MemorySegment floats) {
        if (floats.byteSize() % Float.BYTES != 0) {
            throw new IllegalArgumentException("allReduceSum: " + floats.byteSize() + " bytes are not whole floats");
        }
        Mpi.allReduceSumInPlace(checked("allReduceSum", floats, Float.BYTES), (int) (floats.byteSize() / Float.BYTES));
    }

    @Override
    public void broadcast(MemorySegment bytes) {
        Mpi.broadcastBytes(checked("broadcast", bytes, 1), (int) bytes.byteSize(), 0);
    }

    /** MPI reads native memory, and counts its elements in an int. */
    private static MemorySegment checked(String operation, MemorySegment buffer, int elementBytes) {
        if (!buffer.isNative()) {
            throw new IllegalArgumentException(operation + ": MPI needs an off-heap (native) segment, got " + buffer);
        }
        if (buffer.byteSize() / elementBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(operation + ": " + buffer.byteSize() / elementBytes
                    + " elements are more than one MPI call can count (2^31 − 1)");
        }
        return buffer;
    }

    @Override
    public String describe() {
        return Mpi.version() + " (" + Mpi.libraryName() + "), rank " + rank + " of " + size;
    }
}
