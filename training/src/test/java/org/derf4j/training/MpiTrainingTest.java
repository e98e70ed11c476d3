package org.derf4j.training;

import static org.derf4j.training.DataParallelTest.SUMMATION_ORDER_TOLERANCE;
import static org.derf4j.training.DataParallelTest.assertContains;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mpirun -np 2 … train}: two JVMs that train one model over Open MPI, as a user runs them. Needs
 * Open MPI's {@code mpirun} and {@code libmpi}: without them these tests are skipped and say why, except
 * in CI ({@code CI=true}), which installs Open MPI, where they fail. As root, mpirun runs only with
 * {@code OMPI_ALLOW_RUN_AS_ROOT=1} and {@code OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1}, which the tests give it.
 *
 * <p>One 2-rank run of 20 steps, shared by the tests, gives the losses, the end-of-run check of the weights
 * and the checkpoint of step 10 that a second 2-rank run resumes.
 */
class MpiTrainingTest {

    private static final int STEPS = 20;

    @TempDir
    static Path dir;

    private static Path data;
    private static Run twoRanks;

    /** What mpirun printed and how it ended, and the train losses rank 0 wrote. */
    record Run(int exitCode, String output, List<Double> losses) {
    }

    @BeforeAll
    static void trainOnTwoRanks() throws Exception {
        data = dir.resolve("text.txt");
        Files.writeString(data, TrainerTest.text(), StandardCharsets.UTF_8);
        if (mpirun().isEmpty()) {
            return;
        }
        twoRanks = mpirun(2, dir.resolve("two"), "--batch", "8", "--steps", Integer.toString(STEPS),
                "--checkpoint-every", "10");
        assertEquals(0, twoRanks.exitCode(), twoRanks.output());
    }

    @Test
    void twoRanksOfBatch8GiveTheLossesOfOneRankOfBatch16() throws IOException {
        requireMpi();
        List<Double> one = TrainerTest.trainLosses(TrainerTest.train(
                TrainerTest.tiny(data, STEPS, Map.of("batch", 16, "checkpointEvery", 10)), dir.resolve("one"), false));
        double worst = DataParallelTest.worstRelativeDifference(twoRanks.losses(), one);
        System.out.printf("mpirun -np 2 × batch 8 vs 1 × batch 16, %d steps: worst relative loss difference %.3g%n",
                STEPS, worst);
        assertTrue(worst <= SUMMATION_ORDER_TOLERANCE, "worst relative difference " + worst + "\n2 ranks: "
                + twoRanks.losses() + "\n1 rank:  " + one);
    }

    @Test
    void everyRankEndsWithTheSameWeights() {
        requireMpi();
        // Trainer's end-of-run check: rank 0 broadcasts the SHA-256 of its weights and AdamW moments, every
        // rank compares its own, and an all-reduce counts those that differ; only none lets a run end well.
        assertContains(twoRanks.output(), "data-parallel: Open MPI", "rank 0 of 2",
                "all 2 ranks hold the same weights and optimizer state");
    }

    @Test
    void aResumedTwoRankRunContinuesBitExactly() throws Exception {
        requireMpi();
        Path cut = dir.resolve("cut");
        Files.createDirectories(cut.resolve("checkpoints"));
        TrainerTest.copyTree(dir.resolve("two/checkpoints/step-00000010"), cut.resolve("checkpoints/step-00000010"));
        Files.writeString(cut.resolve("checkpoints/latest"), "step-00000010\n");
        Files.copy(dir.resolve("two/metrics.jsonl"), cut.resolve("metrics.jsonl"));

        Run resumed = mpirun(2, cut, "--resume");
        assertEquals(0, resumed.exitCode(), resumed.output());
        assertEquals(twoRanks.losses(), resumed.losses(), "steps 1..10 kept, 11..20 again, bit for bit:\n"
                + resumed.output());
    }

    @Test
    void aKilledRankEndsTheJobAndLeavesTheLastCheckpoint() throws Exception {
        requireMpi();
        Path run = dir.resolve("killed");
        Process job = start(2, run, "--batch", "8", "--steps", "100000", "--checkpoint-every", "2");
        Path output = run.resolveSibling("killed.out");
        try {
            long saved = waitForCheckpoint(job, run, 4, output);
            ProcessHandle rank1 = rank(job, 1).orElseThrow(() -> new AssertionError("no rank 1 among mpirun's children"));
            assertTrue(rank1.destroyForcibly(), "SIGKILL to rank 1");
            assertTrue(job.waitFor(60, TimeUnit.SECONDS), "mpirun still runs a minute after rank 1 died");
            String printed = Files.readString(output);
            assertNotEquals(0, job.exitValue(), printed);
            assertContains(printed, "rank 1");

            Checkpoints.Loaded last = Checkpoints.loadLatest(run); // verifies sizes and checksums
            assertTrue(last.state().get("step").getAsLong() >= saved, "latest went back: " + last.dir());
            assertEquals(2, last.state().get("world_size").getAsInt());
        } finally {
            job.descendants().forEach(ProcessHandle::destroyForcibly);
            job.destroyForcibly();
        }
    }

    @Test
    void aRankWhoseMpiLibraryIsMissingSaysSo() throws Exception {
        // No MPI needed: the environment of a rank that mpirun started, and a library that is not there.
        String java = ProcessHandle.current().info().command().orElseThrow();
        Path missing = dir.resolve("no-such-dir/libmpi.so.40");
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "train", "--steps", "1", "--out", dir.resolve("no-mpi").toString())
                .redirectErrorStream(true);
        pb.environment().putAll(Map.of("OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_RANK", "1",
                "DERF4J_MPI_LIBRARY", missing.toString()));
        Process p = pb.start();
        String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.waitFor(), printed);
        assertContains(printed, "derf train: this process was started as a rank of an MPI job "
                + "(OMPI_COMM_WORLD_SIZE=2) for data-parallel training, but no MPI library could be loaded ("
                + missing + ": cannot open shared object file", "apt install openmpi-bin", "DERF4J_MPI_LIBRARY");
        assertTrue(Files.notExists(dir.resolve("no-mpi")), "nothing was written");
    }

    /** Waits until rank 0 has written a checkpoint of at least {@code step}; returns its step. */
    private static long waitForCheckpoint(Process job, Path run, long step, Path output) throws Exception {
        Path latest = run.resolve("checkpoints/latest");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (!job.isAlive()) {
                fail("the job ended before its first checkpoints:\n" + Files.readString(output));
            }
            if (Files.exists(latest)) {
                long saved = Long.parseLong(Files.readString(latest).strip().substring("step-".length()));
                if (saved >= step) {
                    return saved;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no checkpoint of step " + step + " after 90 s:\n" + Files.readString(output));
    }

    /** The JVM mpirun started as rank {@code rank}: the descendant whose environment names it. */
    private static Optional<ProcessHandle> rank(Process job, int rank) {
        String mark = "OMPI_COMM_WORLD_RANK=" + rank;
        return job.descendants().filter(p -> {
            try {
                return Stream.of(Files.readString(Path.of("/proc", Long.toString(p.pid()), "environ"),
                        StandardCharsets.ISO_8859_1).split("\0")).anyMatch(mark::equals);
            } catch (IOException gone) {
                return false;
            }
        }).findFirst();
    }

    // ---- Running mpirun ----

    /** Trains with {@code mpirun -np ranks} into {@code runDir} and waits for the job to end. */
    private static Run mpirun(int ranks, Path runDir, String... options) throws Exception {
        Process job = start(ranks, runDir, options);
        Path output = runDir.resolveSibling(runDir.getFileName() + ".out");
        if (!job.waitFor(3, TimeUnit.MINUTES)) {
            job.descendants().forEach(ProcessHandle::destroyForcibly);
            job.destroyForcibly();
            fail("mpirun did not end within 3 minutes:\n" + Files.readString(output));
        }
        String printed = Files.readString(output);
        List<Double> losses = new ArrayList<>();
        if (Files.exists(runDir.resolve("metrics.jsonl"))) {
            for (String line : Files.readAllLines(runDir.resolve("metrics.jsonl"))) {
                JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                if (o.get("split").getAsString().equals("train") && o.has("lr")) {
                    losses.add(o.get("loss").getAsDouble());
                }
            }
        }
        return new Run(job.exitValue(), printed, losses);
    }

    /**
     * Starts {@code mpirun -np ranks java … Main train} on TrainerTest's tiny model, output to a file beside
     * {@code runDir}. Each rank gets one thread (the cpu backend's results do not depend on it), and may share
     * a core with the other (--oversubscribe: CI machines can have fewer cores than ranks), so a rank that
     * waits in a collective yields its core instead of polling.
     */
    private static Process start(int ranks, Path runDir, String... options) throws IOException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(mpirun().orElseThrow(), "-np", Integer.toString(ranks),
                "--oversubscribe", "--bind-to", "none", "--mca", "mpi_yield_when_idle", "1",
                java, "-XX:ActiveProcessorCount=1", "-Xmx512m", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "train", "--backend", "cpu", "--out", runDir.toString()));
        if (!List.of(options).contains("--resume")) {
            command.addAll(List.of("--data", data.toString(), "--layers", "1", "--heads", "2", "--width", "16",
                    "--context", "16", "--warmup", "2", "--lr", "3e-3", "--eval-every", "0", "--eval-batches", "2"));
        }
        command.addAll(List.of(options));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(runDir.resolveSibling(runDir.getFileName() + ".out").toFile());
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        return pb.start();
    }

    // ---- Whether MPI is here ----

    private static String whyNoMpi;
    private static Optional<String> mpirun;

    /** Open MPI's mpirun, or empty (and {@link #whyNoMpi} says why). */
    private static synchronized Optional<String> mpirun() {
        if (mpirun == null) {
            mpirun = findMpirun();
        }
        return mpirun;
    }

    private static Optional<String> findMpirun() {
        Optional<Path> onPath = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .map(d -> Path.of(d, "mpirun")).filter(Files::isExecutable).findFirst();
        if (onPath.isEmpty()) {
            whyNoMpi = "mpirun is not on PATH (install Open MPI: apt install openmpi-bin libopenmpi-dev)";
            return Optional.empty();
        }
        try {
            Process p = new ProcessBuilder(onPath.get().toString(), "--version").redirectErrorStream(true).start();
            String version = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.waitFor() != 0 || !version.contains("Open MPI")) {
                whyNoMpi = onPath.get() + " is not Open MPI's mpirun, which these tests drive: " + version;
                return Optional.empty();
            }
        } catch (IOException | InterruptedException e) {
            whyNoMpi = onPath.get() + " --version failed: " + e;
            return Optional.empty();
        }
        return Optional.of(onPath.get().toString());
    }

    /** Skips the test without MPI, or fails it in CI, where MPI is installed. */
    private static void requireMpi() {
        if (mpirun().isPresent()) {
            return;
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("CI=true, but " + whyNoMpi);
        }
        Assumptions.abort("skipped: " + whyNoMpi);
    }
}
