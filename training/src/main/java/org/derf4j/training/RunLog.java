package org.derf4j.training;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A run's metrics: appended to {@code metrics.jsonl} in the run directory (one JSON object per line),
 * kept in memory for {@code compare}, and shown on the console as a progress bar (on a terminal) or as a
 * line every few percent (in a log).
 */
public final class RunLog implements AutoCloseable {

    /**
     * One measurement: split is "train" or "val"; accuracy, the gradient norm, lr and throughput are NaN where
     * not measured; {@code stats} holds a training step's per-layer statistics ({@link LayerStats}), or nothing.
     */
    public record Row(long step, String split, double loss, double accuracy, double gradNorm, double lr,
                      double tokensPerSecond, Map<String, Double> stats) {
        public Row {
            stats = Collections.unmodifiableMap(new LinkedHashMap<>(stats));
        }
    }

    /** The fields of a row that are not statistics. */
    private static final Set<String> BASE_FIELDS = Set.of("step", "split", "loss", "accuracy", "grad_norm", "lr",
            "tokens_per_s");

    private final List<Row> rows = new ArrayList<>();
    private final BufferedWriter out;
    private final PrintStream console;
    private final boolean terminal;
    private final String label;
    private long lastLine = -1;

    /**
     * Opens the log of {@code runDir} (null: no file). On resume, rows after {@code resumeStep} are
     * dropped, since the resumed run will write them again.
     */
    public RunLog(Path runDir, long resumeStep, PrintStream console, String label) throws IOException {
        this.console = console;
        this.label = label;
        this.terminal = console == System.err && System.console() != null && System.console().isTerminal();
        if (runDir == null) {
            out = null;
            return;
        }
        Files.createDirectories(runDir);
        Path file = runDir.resolve("metrics.jsonl");
        List<String> keep = new ArrayList<>();
        if (resumeStep > 0 && Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                if (o.get("step").getAsLong() <= resumeStep) {
                    keep.add(line);
                    rows.add(fromJson(o));
                }
            }
        }
        Files.write(file, keep, StandardCharsets.UTF_8);
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    public List<Row> rows() {
        return List.copyOf(rows);
    }

    /**
     * A training step: loss, gradient norm (before clipping), learning rate, throughput, and the time the rest
     * of the run needs.
     */
    public void train(long step, int steps, double loss, double gradNorm, double lr, double tokensPerSecond,
                      double etaSeconds) {
        train(step, steps, loss, gradNorm, lr, tokensPerSecond, etaSeconds, Map.of());
    }

    /** A training step with its per-layer statistics, written as fields of its row. */
    public void train(long step, int steps, double loss, double gradNorm, double lr, double tokensPerSecond,
                      double etaSeconds, Map<String, Double> stats) {
        record(new Row(step, "train", loss, Double.NaN, gradNorm, lr, tokensPerSecond, stats));
        String text = String.format(Locale.ROOT,
                "%sstep %d/%d %s loss %.4f | grad norm %.3f | lr %.2e | %s tok/s | ETA %s", label, step, steps,
                bar(step, steps), loss, gradNorm, lr, human(tokensPerSecond), duration(etaSeconds));
        if (terminal) {
            console.print("\r" + text + "\u001b[K");
        } else if (step == steps || lastLine < 0 || step - lastLine >= Math.max(1, steps / 20)) {
            console.println(text);
            lastLine = step;
        }
    }

    /** An evaluation of a split. */
    public void eval(long step, String split, double loss, double accuracy) {
        record(new Row(step, split, loss, accuracy, Double.NaN, Double.NaN, Double.NaN, Map.of()));
        message(String.format(Locale.ROOT, "step %d: %s loss %.4f, accuracy %.2f%%", step, split, loss,
                accuracy * 100));
    }

    /** A line of its own, below the progress bar. */
    public void message(String text) {
        if (terminal) {
            console.print("\r\u001b[K");
        }
        console.println(label + text);
    }

    private void record(Row row) {
        rows.add(row);
        if (out == null) {
            return;
        }
        JsonObject o = new JsonObject();
        o.addProperty("step", row.step());
        o.addProperty("split", row.split());
        o.addProperty("loss", row.loss());
        if (!Double.isNaN(row.accuracy())) {
            o.addProperty("accuracy", row.accuracy());
        }
        if (!Double.isNaN(row.gradNorm())) {
            o.addProperty("grad_norm", row.gradNorm());
        }
        if (!Double.isNaN(row.lr())) {
            o.addProperty("lr", row.lr());
        }
        if (!Double.isNaN(row.tokensPerSecond())) { // not on a run's first step: see Trainer.train
            o.addProperty("tokens_per_s", row.tokensPerSecond());
        }
        row.stats().forEach((k, v) -> {
            if (BASE_FIELDS.contains(k)) {
                throw new IllegalArgumentException("a statistic may not be called '" + k + "'");
            }
            o.addProperty(k, v);
        });
        try {
            out.write(o.toString());
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metrics.jsonl", e);
        }
    }

    private static Row fromJson(JsonObject o) {
        return new Row(o.get("step").getAsLong(), o.get("split").getAsString(), o.get("loss").getAsDouble(),
                o.has("accuracy") ? o.get("accuracy").getAsDouble() : Double.NaN,
                o.has("grad_norm") ? o.get("grad_norm").getAsDouble() : Double.NaN,
                o.has("lr") ? o.get("lr").getAsDouble() : Double.NaN,
                o.has("tokens_per_s") ? o.get("tokens_per_s").getAsDouble() : Double.NaN, statsOf(o));
    }

    private static Map<String, Double> statsOf(JsonObject o) {
        Map<String, Double> stats = new LinkedHashMap<>();
        for (String k : o.keySet()) {
            if (!BASE_FIELDS.contains(k)) {
                stats.put(k, o.get(k).getAsDouble());
            }
        }
        return stats;
    }

    private static String bar(long step, int steps) {
        int width = 20;
        int filled = (int) (width * step / Math.max(1, steps));
        return "[" + "=".repeat(filled) + (filled < width ? ">" + " ".repeat(width - filled - 1) : "") + "]";
    }

    /** A throughput in few digits; "?" when not measured yet. */
    static String human(double v) {
        return Double.isNaN(v) ? "?" : v >= 1e6 ? String.format(Locale.ROOT, "%.2fM", v / 1e6)
                : v >= 1e3 ? String.format(Locale.ROOT, "%.1fk", v / 1e3) : String.format(Locale.ROOT, "%.0f", v);
    }

    static String duration(double seconds) {
        if (!Double.isFinite(seconds)) {
            return "?";
        }
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s / 60 % 60)
                : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
    }

    @Override
    public void close() throws IOException {
        if (terminal) {
            console.println();
        }
        if (out != null) {
            out.close();
        }
    }
}
