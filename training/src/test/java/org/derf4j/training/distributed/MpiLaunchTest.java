package org.derf4j.training.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Which environments start MPI, and which local rank each gives. */
class MpiLaunchTest {

    @Test
    void eachLauncherIsRecognizedByWhatItSets() {
        assertEquals(Optional.of(new MpiLaunch("OMPI_COMM_WORLD_SIZE=4", 1)), MpiLaunch.detect(Map.of(
                "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_LOCAL_RANK", "1")));
        assertEquals(Optional.of(new MpiLaunch("PMIX_RANK=5", 2)), MpiLaunch.detect(Map.of(
                "PMIX_RANK", "5", "SLURM_STEP_NUM_TASKS", "8", "SLURM_PROCID", "5", "SLURM_LOCALID", "2")));
        assertEquals(Optional.of(new MpiLaunch("PMI_SIZE=2", 0)), MpiLaunch.detect(Map.of(
                "PMI_SIZE", "2", "PMI_RANK", "0", "MPI_LOCALRANKID", "0")));
        assertEquals(Optional.of(new MpiLaunch("PMI_SIZE=2", -1)), MpiLaunch.detect(Map.of("PMI_SIZE", "2")),
                "a launcher that gives no local rank");
    }

    @Test
    void aProcessStartedOnItsOwnDoesNotStartMpi() {
        assertEquals(Optional.empty(), MpiLaunch.detect(Map.of("PATH", "/usr/bin", "HOME", "/root")));
        // A Slurm batch script, or a step of one task, is one process too.
        assertEquals(Optional.empty(), MpiLaunch.detect(Map.of("SLURM_JOB_ID", "7", "SLURM_NTASKS", "4",
                "SLURM_PROCID", "0")));
        assertEquals(Optional.empty(), MpiLaunch.detect(Map.of("SLURM_STEP_NUM_TASKS", "1", "SLURM_PROCID", "0")));
    }

    @Test
    void aSlurmStepOfSeveralTasksWithoutPmiIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MpiLaunch.detect(Map.of(
                "SLURM_STEP_NUM_TASKS", "4", "SLURM_PROCID", "2")));
        for (String part : new String[] {"task 2 of a Slurm step of 4 tasks", "srun --mpi=pmix"}) {
            assertTrue(e.getMessage().contains(part), "lacks '" + part + "': " + e.getMessage());
        }
    }

    @Test
    void aLocalRankThatIsNotANumberIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MpiLaunch.detect(Map.of(
                "OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_LOCAL_RANK", "x")));
        assertEquals("OMPI_COMM_WORLD_LOCAL_RANK=x is not a local rank (an integer)", e.getMessage());
    }
}
