package org.derf4j.training.distributed;

import java.util.Optional;

/**
 * This process's place in its job: joined when a command first asks for it, and left when the process
 * exits. A process that no MPI launcher started ({@link MpiLaunch}) is a job of one, and never loads MPI.
 */
public final class World {
    private World() {
    }

    /** TornadoVM's default device index, read once when its runtime starts. */
    private static final String TORNADO_DEVICE = "tornado.device";

    private static Collective joined;

    /**
     * This process's collective: MPI's when a launcher started it, else a single process. Under MPI, a rank
     * also takes the TornadoVM device whose index is its local rank (one GPU per rank), unless
     * {@code -Dtornado.device} chose one.
     */
    public static synchronized Collective join() {
        if (joined == null) {
            joined = start(MpiLaunch.detect(System.getenv()));
        }
        return joined;
    }

    private static Collective start(Optional<MpiLaunch> launch) {
        if (launch.isEmpty()) {
            return Collective.single();
        }
        if (launch.get().localRank() >= 0 && System.getProperty(TORNADO_DEVICE) == null) {
            System.setProperty(TORNADO_DEVICE, Integer.toString(launch.get().localRank()));
        }
        try {
            return new MpiCollective();
        } catch (MpiException e) {
            throw new MpiException("this process was started as a rank of an MPI job (" + launch.get().evidence()
                    + ") for data-parallel training, but " + e.getMessage());
        }
    }

    /** For messages: "" for a job of one process, " (rank 1 of 2)" for a rank of several. */
    public static synchronized String label() {
        return joined == null || joined.size() == 1 ? "" : " (rank " + joined.rank() + " of " + joined.size() + ")";
    }

    /**
     * Ends this process's part in the job, just before the JVM exits with {@code code}. After a clean end (0)
     * every rank finalizes MPI, together. After an error, MPI_Abort ends every rank of the job, so that none
     * waits forever in a collective for this one; the error has been printed already. Returns {@code code}.
     */
    public static synchronized int leave(int code) {
        if (joined instanceof MpiCollective) {
            if (code == 0) {
                Mpi.finalizeMpi();
            } else {
                Mpi.abort(code);
            }
        }
        return code;
    }
}
