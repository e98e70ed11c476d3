package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.derf4j.kernels.PointwiseNorm;
import org.jfree.data.xy.YIntervalSeries;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** compare's figures over seeds: the generalization table of the built-in task, the bands of the plot. */
class CompareTest {

    @TempDir
    Path dir;

    private static RunLog.Row eval(long step, String split, double accuracy) {
        return new RunLog.Row(step, split, 1.0, accuracy, Double.NaN, Double.NaN, Double.NaN, Map.of());
    }

    private static RunLog.Row trainStep(long step, double loss) {
        return new RunLog.Row(step, "train", loss, Double.NaN, 1.0, 1e-3, 1000, Map.of());
    }

    private static CompareCommand.Run run(long seed, double trainAcc, double valAcc, RunLog.Row... rows) {
        Trainer.Summary s = new Trainer.Summary(100, new Trainer.Evaluation(0.1, trainAcc),
                new Trainer.Evaluation(0.5, valAcc), 1000, null);
        return new CompareCommand.Run(PointwiseNorm.Kind.DERF, seed, s, 123, List.of(rows));
    }

    @Test
    void stepToSolvedCountsTheSeedsThatGotThere() {
        // A training step with accuracy ≥ 99% would not count: only evaluations do.
        CompareCommand.Run a = run(1, 1, 0.995, trainStep(10, 0.1), eval(10, "val", 0.5), eval(20, "val", 0.991),
                eval(30, "val", 0.98), eval(40, "val", 0.995));
        CompareCommand.Run b = run(2, 1, 0.999, eval(10, "val", 0.6), eval(20, "val", 0.9), eval(30, "val", 0.999),
                eval(30, "train", 1.0));
        CompareCommand.Run c = run(3, 1, 0.7, eval(10, "val", 0.4), eval(20, "val", 0.7), eval(30, "train", 0.999));
        assertEquals(20, CompareReport.firstStepAtOrAbove(a.rows(), "val", 0.99).orElseThrow());
        assertEquals("25 ± 7 (2/3)", CompareReport.stepToSolved(List.of(a, b, c), 40));
        assertEquals("not reached in 40 (0/1)", CompareReport.stepToSolved(List.of(c), 40));
        assertEquals("30 (1/1)", CompareReport.stepToSolved(List.of(b), 40));
        assertEquals(0.995, CompareReport.bestAccuracy(a.rows(), "val"));
        assertEquals("2.00 ± 1.00", CompareReport.meanStd(new double[] {1, 2, 3}, "%.2f"));
    }

    @Test
    void theBandIsTheMeanPlusOrMinusOneStandardDeviation() {
        TreeMap<Long, Double> s1 = new TreeMap<>(Map.of(10L, 1.0, 20L, 2.0));
        TreeMap<Long, Double> s2 = new TreeMap<>(Map.of(10L, 3.0, 20L, 2.0));
        YIntervalSeries band = ComparePlot.band("derf", List.of(s1, s2), 0, Double.POSITIVE_INFINITY);
        assertEquals(2, band.getItemCount());
        assertEquals(2.0, band.getYValue(0), 1e-12);
        assertEquals(2.0 - Math.sqrt(2), band.getYLowValue(0), 1e-12);
        assertEquals(2.0 + Math.sqrt(2), band.getYHighValue(0), 1e-12);
        assertEquals(2.0, band.getYLowValue(1), 1e-12);
    }

    @Test
    void anAccuracyBandStaysWithinZeroAndOne() {
        // One seed solved the task, one did not: mean 0.5, std 0.64.
        TreeMap<Long, Double> solved = new TreeMap<>(Map.of(10L, 0.95));
        TreeMap<Long, Double> stuck = new TreeMap<>(Map.of(10L, 0.05));
        YIntervalSeries band = ComparePlot.band("layernorm", List.of(solved, stuck), 0, 1);
        assertEquals(0.5, band.getYValue(0), 1e-12);
        assertEquals(0.0, band.getYLowValue(0));
        assertEquals(1.0, band.getYHighValue(0));
    }

    @Test
    void anAblationOneOfTheNormsCannotTakeIsRefusedBeforeAnythingTrains() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run("compare", "--no-shift", "--steps", "1", "--out", dir.resolve("c").toString());
        } finally {
            System.setErr(saved);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, text);
        assertTrue(text.contains("--no-shift needs a norm with a shift s (derf), got dyt; choose --norms"), text);
        assertTrue(Files.notExists(dir.resolve("c")), "refused before any run trained");
    }

    @Test
    void compareWithoutDataReportsGeneralizationOverSeeds() throws Exception {
        Path out = dir.resolve("cmp");
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
        System.setErr(TrainerTest.quiet());
        int code;
        try {
            code = Main.run("compare", "--modulus", "7", "--layers", "1", "--width", "16", "--heads", "2",
                    "--batch", "16", "--steps", "12", "--eval-every", "4", "--seeds", "2", "--norms", "derf,layernorm",
                    "--backend", "cpu", "--out", out.toString());
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        assertEquals(0, code, stdout.toString(StandardCharsets.UTF_8));
        String md = Files.readString(out.resolve("compare.md"));
        assertTrue(md.contains("| norm | params | step to 99% val acc | best val acc | final train acc | final val acc "
                + "| train − val acc | final val loss |"), md);
        assertTrue(md.contains("40% for training"), "compare's own training fraction: " + md);
        assertTrue(md.contains("seeds: [1337, 1338]"), md);
        assertTrue(md.lines().anyMatch(l -> l.startsWith("| derf |") && l.contains("/2)") && l.contains(" ± ")), md);
        assertTrue(Files.size(out.resolve("compare.png")) > 1000);
        // Both splits are evaluated at every evaluation, for the train curve and the gap.
        List<String> metrics = Files.readAllLines(out.resolve("layernorm-seed1338/metrics.jsonl"));
        assertEquals(3, metrics.stream().filter(l -> l.contains("\"split\":\"train\"") && l.contains("accuracy"))
                .count(), "train evaluations at steps 4 and 8, and at the end");
    }
}
