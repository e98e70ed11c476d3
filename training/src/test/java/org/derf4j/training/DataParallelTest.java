package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.training.data.Dataset;
import org.derf4j.training.distributed.Collective;
import org.derf4j.transformer.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training with its ranks as threads of this JVM ({@link ThreadedRanks}): the algorithm
 * (shards, one all-reduce, rank 0's duties, the checks between ranks) without MPI. {@link MpiTrainingTest}
 * runs the same over MPI, in processes.
 */
class DataParallelTest {

    /**
     * Worst relative difference allowed between the losses of 2 ranks × batch 8 and of 1 rank × batch 16
     * over 20 steps. The data and the arithmetic are the same except for one summation order: each weight
     * gradient sums its 256 rows as two sums of 128, added (the loss scales, 1/2 and the row counts, are
     * powers of two, so exact). That moves gradients by float32 ulps (ε = 1.2e-7), and AdamW carries them
     * into the losses: measured 1.03e-7, over threads and over MPI alike. The bound allows about 8 ulps. An
     * error in the method is far above it: both ranks training on rank 0's rows, tried once, gave 5.4e-3.
     */
    static final double SUMMATION_ORDER_TOLERANCE = 1e-6;

    @TempDir
    Path dir;

    /** What a rank ends with: the losses it logged and its weights. */
    record RankRun(List<Double> losses, List<Safetensors.Entry> weights) {
    }

    Path textFile() throws IOException {
        Path f = dir.resolve("text.txt");
        Files.writeString(f, TrainerTest.text(), StandardCharsets.UTF_8);
        return f;
    }

    /** One rank of a job: trains {@code config} into {@code runDir} (rank 0 writes it), resuming from it if asked. */
    static RankRun trainRank(TrainConfig config, Collective world, Path runDir, boolean resume) throws IOException {
        Checkpoints.Loaded ckpt = resume ? Checkpoints.loadLatest(runDir) : null;
        Dataset data = Datasets.open(config, ckpt);
        try (Backend backend = new CpuBackend(CpuBackend.Variant.FAST, 1);
             Trainer trainer = new Trainer(config, data, backend, world, line -> { });
             RunLog log = new RunLog(world.rank() == 0 ? runDir : null, ckpt == null ? 0 : ckpt.state().get("step")
                     .getAsLong(), TrainerTest.quiet(), "")) {
            if (ckpt == null) {
                trainer.initialize();
            } else {
                trainer.restore(ckpt);
            }
            trainer.train(runDir, log);
            return new RankRun(TrainerTest.trainLosses(log.rows()), trainer.model().weights().download());
        }
    }

    /** max over steps of |a − b| / |b|. */
    static double worstRelativeDifference(List<Double> a, List<Double> b) {
        assertEquals(b.size(), a.size(), "steps");
        double worst = 0;
        for (int i = 0; i < a.size(); i++) {
            worst = Math.max(worst, Math.abs(a.get(i) - b.get(i)) / Math.abs(b.get(i)));
        }
        return worst;
    }

    static void assertSameWeights(List<Safetensors.Entry> expected, List<Safetensors.Entry> actual, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).name(), actual.get(i).name(), what);
            assertArrayEquals(expected.get(i).values(), actual.get(i).values(), what + ": " + expected.get(i).name());
        }
    }

    @Test
    void twoRanksOfBatch8TrainLikeOneRankOfBatch16AndEndWithTheSameWeights() throws Exception {
        Path data = textFile();
        List<Double> one = TrainerTest.trainLosses(TrainerTest.train(TrainerTest.tiny(data, 20, Map.of("batch", 16)),
                dir.resolve("one"), false));
        TrainConfig half = TrainerTest.tiny(data, 20, Map.of("batch", 8));
        List<RankRun> ranks = ThreadedRanks.run(2, world -> trainRank(half, world, dir.resolve("two"), false));

        double worst = worstRelativeDifference(ranks.get(0).losses(), one);
        System.out.printf("2 thread ranks × batch 8 vs 1 × batch 16, 20 steps: worst relative loss difference %.3g%n",
                worst);
        assertTrue(worst <= SUMMATION_ORDER_TOLERANCE, "worst relative difference " + worst + "\n2 ranks: "
                + ranks.get(0).losses() + "\n1 rank:  " + one);
        assertSameWeights(ranks.get(0).weights(), ranks.get(1).weights(), "rank 1 against rank 0");
    }

    @Test
    void aResumedTwoRankRunContinuesBitExactly() throws Exception {
        TrainConfig config = TrainerTest.tiny(textFile(), 12, Map.of("checkpointEvery", 6));
        List<RankRun> whole = ThreadedRanks.run(2, world -> trainRank(config, world, dir.resolve("whole"), false));

        Path cut = dir.resolve("cut");
        Files.createDirectories(cut.resolve("checkpoints"));
        TrainerTest.copyTree(dir.resolve("whole/checkpoints/step-00000006"), cut.resolve("checkpoints/step-00000006"));
        Files.writeString(cut.resolve("checkpoints/latest"), "step-00000006\n");
        List<RankRun> resumed = ThreadedRanks.run(2, world -> trainRank(config, world, cut, true));

        assertEquals(whole.get(0).losses().subList(6, 12), resumed.get(0).losses(), "steps 7..12, bit for bit");
        assertSameWeights(whole.get(0).weights(), resumed.get(1).weights(), "resumed rank 1 against rank 0 of the whole run");
    }

    @Test
    void aCheckpointResumesOnlyOnItsNumberOfRanks() throws Exception {
        Path data = textFile();
        TrainConfig config = TrainerTest.tiny(data, 3, Map.of());
        Path twoRanks = dir.resolve("two");
        ThreadedRanks.run(2, world -> trainRank(config, world, twoRanks, false));
        IllegalArgumentException alone = assertThrows(IllegalArgumentException.class,
                () -> TrainerTest.train(config, twoRanks, true));
        assertContains(alone.getMessage(), "step-00000003", "written by a run on 2 rank(s), and this run has 1",
                "mpirun -np 2");

        Path oneRank = dir.resolve("one");
        TrainerTest.train(config, oneRank, false);
        List<String> refused = ThreadedRanks.run(2, world -> {
            try {
                trainRank(config, world, oneRank, true);
                return "resumed";
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        });
        assertContains(refused.get(1), "written by a run on 1 rank(s), and this run has 2", "in one process");
    }

    @Test
    void ranksStartedWithDifferentArgumentsStopBeforeTheFirstAllReduce() throws Exception {
        Path data = textFile();
        List<String> messages = ThreadedRanks.run(2, world -> {
            try {
                trainRank(TrainerTest.tiny(data, 4, Map.of("lr", world.rank() == 0 ? 3e-3f : 1e-3f)), world,
                        dir.resolve("run"), false);
                return "trained";
            } catch (IllegalStateException e) {
                return e.getMessage();
            }
        });
        assertContains(messages.get(0), "1 of 2 ranks differ from rank 0 at the start");
        assertContains(messages.get(1), "rank 1 differs from rank 0 at the start: train.lr: 0.003 on rank 0, 0.001 here.",
                "same arguments");
        assertTrue(Files.notExists(dir.resolve("run/checkpoints")), "no step was taken");
    }

    static void assertContains(String text, String... parts) {
        for (String p : parts) {
            assertTrue(text.contains(p), "lacks '" + p + "': " + text);
        }
    }
}
