package org.derf4j.training;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.ToDoubleFunction;
import org.derf4j.kernels.Norm;

/**
 * The table {@code compare} writes to compare.md: per norm, mean ± standard deviation over seeds. On text,
 * the final losses and accuracies and the val − train loss gap; on the built-in task, the figures of
 * generalization: when validation accuracy first reaches {@link #SOLVED}, the best validation accuracy, and the
 * final train − val accuracy gap.
 */
final class CompareReport {
    private CompareReport() {
    }

    /** The validation accuracy at which the built-in task counts as solved. */
    static final double SOLVED = 0.99;

    static String markdown(TrainConfig c, List<CompareCommand.Run> runs, String dataLine, String deviceLine) {
        StringBuilder sb = new StringBuilder();
        sb.append("# derf4j compare\n\n");
        sb.append("- data: ").append(dataLine).append('\n');
        sb.append(String.format(Locale.ROOT, "- model: %d layers, width %d, %d heads; %d steps of batch %d × %d%n",
                c.layers(), c.width(), c.heads(), c.steps(), c.batch(), c.accumulation()));
        sb.append(String.format(Locale.ROOT, "- recipe %s: lr %.1e → %.1e after %d warm-up steps, AdamW β %.2f/%.3f, "
                        + "weight decay %.2f, clip %.1f; α init %.2f/%.2f/%.2f (attn/mlp/final)%s%n",
                c.recipe().id(), c.lr(), c.minLr(), c.warmup(), c.beta1(), c.beta2(), c.weightDecay(), c.gradClip(),
                c.alphaAttn(), c.alphaMlp(), c.alphaFinal(), ablations(c)));
        sb.append("- seeds: ").append(runs.stream().map(CompareCommand.Run::seed).distinct().toList()).append('\n');
        sb.append("- backend: ").append(deviceLine).append("\n\n");
        Map<Norm, List<CompareCommand.Run>> byNorm = new LinkedHashMap<>();
        runs.forEach(r -> byNorm.computeIfAbsent(r.norm(), k -> new ArrayList<>()).add(r));
        if (c.data() == null) {
            generalization(sb, c, byNorm);
        } else {
            text(sb, byNorm);
        }
        return sb.toString();
    }

    private static String ablations(TrainConfig c) {
        return (c.freezeAlpha() ? "; α frozen at its init" : "") + (c.noShift() ? "; no shift s" : "");
    }

    private static void text(StringBuilder sb, Map<Norm, List<CompareCommand.Run>> byNorm) {
        sb.append("| norm | params | train loss | val loss | val − train | train acc | val acc | tokens/s |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        byNorm.forEach((norm, rs) -> sb.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %s | %s | %s | %s |%n",
                norm.id(), rs.get(0).parameters(),
                meanStd(rs, r -> r.summary().train().loss(), 1, "%.4f"),
                meanStd(rs, r -> r.summary().val().loss(), 1, "%.4f"),
                meanStd(rs, r -> r.summary().val().loss() - r.summary().train().loss(), 1, "%.4f"),
                meanStd(rs, r -> r.summary().train().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().val().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().tokensPerSecond(), 1, "%.0f"))));
        sb.append("\nValues are mean ± standard deviation over seeds; losses and accuracies are measured on the ")
                .append("whole evaluation set of each split after the last step.\n");
    }

    private static void generalization(StringBuilder sb, TrainConfig c, Map<Norm, List<CompareCommand.Run>> byNorm) {
        sb.append(String.format(Locale.ROOT, "| norm | params | step to %.0f%% val acc | best val acc | final train acc "
                + "| final val acc | train − val acc | final val loss |%n", SOLVED * 100));
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        byNorm.forEach((norm, rs) -> sb.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %s | %s | %s | %s |%n",
                norm.id(), rs.get(0).parameters(), stepToSolved(rs, c.steps()),
                meanStd(rs, r -> bestAccuracy(r.rows(), "val"), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().train().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().val().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().train().accuracy() - r.summary().val().accuracy(), 100, "%.2f"),
                meanStd(rs, r -> r.summary().val().loss(), 1, "%.4f"))));
        sb.append(String.format(Locale.ROOT, "%nValues are mean ± standard deviation over seeds (each seed also draws "
                + "its own train/val split of the equations). \"Step to %.0f%%\" is the first evaluation (every %d "
                + "steps) at which validation accuracy reached %.0f%%; its mean and deviation are over the seeds "
                + "that reached it, and the count says how many did (a seed that did not reach it within %d steps "
                + "is left out of the mean, not counted as %d). The train − val gap is in accuracy points after the "
                + "last step.%n", SOLVED * 100, c.evalEvery(), SOLVED * 100, c.steps(), c.steps()));
    }

    /** "1250 ± 180 (3/3)", "900 ± 50 (2/3)", "900 (1/3)" or "not reached (0/3)". */
    static String stepToSolved(List<CompareCommand.Run> rs, int steps) {
        List<Double> reached = new ArrayList<>();
        for (CompareCommand.Run r : rs) {
            OptionalLong s = firstStepAtOrAbove(r.rows(), "val", SOLVED);
            s.ifPresent(v -> reached.add((double) v));
        }
        String count = " (" + reached.size() + "/" + rs.size() + ")";
        if (reached.isEmpty()) {
            return "not reached in " + steps + count;
        }
        return meanStd(reached.stream().mapToDouble(Double::doubleValue).toArray(), "%.0f") + count;
    }

    /** The first step whose evaluation of {@code split} had accuracy ≥ {@code threshold}. */
    static OptionalLong firstStepAtOrAbove(List<RunLog.Row> rows, String split, double threshold) {
        return rows.stream().filter(r -> isEval(r, split) && r.accuracy() >= threshold).mapToLong(RunLog.Row::step)
                .min();
    }

    /** The best accuracy of any evaluation of {@code split}. */
    static double bestAccuracy(List<RunLog.Row> rows, String split) {
        return rows.stream().filter(r -> isEval(r, split)).mapToDouble(RunLog.Row::accuracy).max().orElse(Double.NaN);
    }

    /** An evaluation row (not a training step's, which has a learning rate) of {@code split}. */
    static boolean isEval(RunLog.Row r, String split) {
        return r.split().equals(split) && Double.isNaN(r.lr());
    }

    static String meanStd(List<CompareCommand.Run> rs, ToDoubleFunction<CompareCommand.Run> f, double scale,
                          String format) {
        return meanStd(rs.stream().mapToDouble(r -> f.applyAsDouble(r) * scale).toArray(), format);
    }

    /** "mean ± sample standard deviation", or the value alone for one sample. */
    static String meanStd(double[] v, String format) {
        double mean = mean(v);
        if (v.length == 1) {
            return String.format(Locale.ROOT, format, mean);
        }
        return String.format(Locale.ROOT, format + " ± " + format, mean, std(v));
    }

    static double mean(double[] v) {
        double sum = 0;
        for (double x : v) {
            sum += x;
        }
        return sum / v.length;
    }

    /** The sample standard deviation (n − 1); 0 for a single value. */
    static double std(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double mean = mean(v);
        double sum = 0;
        for (double x : v) {
            sum += (x - mean) * (x - mean);
        }
        return Math.sqrt(sum / (v.length - 1));
    }
}
