package org.derf4j.training.distributed;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How an MPI launcher started this process, read from the environment it gives each rank. MPI is started
 * only where one did; everywhere else nothing loads MPI, and training is one process, as it always was.
 * <pre>
 *   launcher                                   what marks a rank             local rank
 *   Open MPI mpirun / mpiexec                  OMPI_COMM_WORLD_SIZE          OMPI_COMM_WORLD_LOCAL_RANK
 *   PMIx: Slurm srun --mpi=pmix, prterun       PMIX_RANK                     SLURM_LOCALID
 *   PMI: MPICH's mpiexec (Hydra), srun --mpi=pmi2   PMI_SIZE                 MPI_LOCALRANKID, SLURM_LOCALID
 * </pre>
 * The local rank, a rank's index among the ranks of its machine, chooses its GPU.
 *
 * @param evidence  the variable that showed the launch, with its value, for messages
 * @param localRank the rank's index on its machine, or −1 where the launcher does not say
 */
public record MpiLaunch(String evidence, int localRank) {

    private static final List<String> MARKS = List.of("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE");
    private static final List<String> LOCAL_RANKS = List.of("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
            "SLURM_LOCALID");

    /**
     * The launch that {@code env} shows, or empty for a process started on its own. Refuses a Slurm step of
     * several tasks without MPI's process management: each task would train alone, all into the same run.
     */
    public static Optional<MpiLaunch> detect(Map<String, String> env) {
        for (String mark : MARKS) {
            if (env.containsKey(mark)) {
                return Optional.of(new MpiLaunch(mark + "=" + env.get(mark), localRank(env)));
            }
        }
        String tasks = env.get("SLURM_STEP_NUM_TASKS");
        if (tasks != null && !tasks.equals("1")) {
            throw new IllegalStateException("this process is task " + env.getOrDefault("SLURM_PROCID", "?")
                    + " of a Slurm step of " + tasks + " tasks, started without MPI's process management (no "
                    + String.join(", ", MARKS) + " in the environment), so it cannot join the others. Start "
                    + "the step with srun --mpi=pmix (or --mpi=pmi2), or run one task: see README, 'Data-parallel"
                    + " training'");
        }
        return Optional.empty();
    }

    private static int localRank(Map<String, String> env) {
        for (String name : LOCAL_RANKS) {
            String value = env.get(name);
            if (value != null) {
                try {
                    return Integer.parseInt(value.strip());
                } catch (NumberFormatException e) {
                    throw new IllegalStateException(name + "=" + value + " is not a local rank (an integer)");
                }
            }
        }
        return -1;
    }
}
