package org.derf4j.training;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogarithmicAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ./derf plot}: fields of metrics.jsonl from one or more runs, against the step, one panel per
 * field pattern. For the per-layer statistics ({@link LayerStats}) and any other field a training step writes;
 * {@code val.loss}, {@code val.accuracy}, {@code train.loss} and {@code train.accuracy} name the evaluations.
 */
@Command(name = "plot", mixinStandardHelpOptions = true,
        description = {"Plot metrics.jsonl fields of runs against the step, one panel per --fields pattern.",
                "e.g. ./derf plot runs/a runs/b --fields loss,'rms_out.h.*.ln_1',attn_entropy.h.0 --out a.png"})
final class PlotCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN", arity = "1..*", description = "run directories (each holds metrics.jsonl)")
    List<Path> runs;

    @Option(names = "--fields", split = ",", required = true, paramLabel = "PATTERN",
            description = "fields to plot; * matches any characters (e.g. rms_out.*); one panel per pattern")
    List<String> fields;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "the PNG to write")
    Path out;

    @Option(names = "--max-step", paramLabel = "N", description = "plot steps up to N only") Long maxStep;

    @Option(names = "--log-y", description = "logarithmic y axes") boolean logY;

    @Option(names = "--labels", split = ",", paramLabel = "NAME",
            description = "a legend name per run (default: the run directory's name)")
    List<String> labels;

    @Option(names = "--title", description = "the chart's title") String title = "";

    @Option(names = "--size", split = "x", paramLabel = "WxH", description = "image size (default 900x700)")
    List<Integer> size = List.of(900, 700);

    private static final Color[] COLORS = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C),
            new Color(0x9467BD), new Color(0xFF7F0E), new Color(0x8C564B), new Color(0xE377C2), new Color(0x7F7F7F),
            new Color(0xBCBD22), new Color(0x17BECF)};

    @Override
    public Integer call() throws IOException {
        if (labels != null && labels.size() != runs.size()) {
            throw new IllegalArgumentException("--labels names " + labels.size() + " runs, but " + runs.size()
                    + " were given");
        }
        if (size.size() != 2 || size.get(0) < 100 || size.get(1) < 100) {
            throw new IllegalArgumentException("--size must be WIDTHxHEIGHT, each at least 100, got " + size);
        }
        List<List<JsonObject>> rows = new ArrayList<>();
        for (Path run : runs) {
            rows.add(read(run));
        }
        System.setProperty("java.awt.headless", "true");
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(new NumberAxis("step"));
        for (String pattern : fields) {
            XYSeriesCollection data = new XYSeriesCollection();
            List<Integer> runOf = new ArrayList<>();
            for (int i = 0; i < runs.size(); i++) {
                String label = labels != null ? labels.get(i) : runs.get(i).getFileName().toString();
                Map<String, XYSeries> series = series(rows.get(i), pattern, label);
                for (XYSeries s : series.values()) {
                    data.addSeries(s);
                    runOf.add(i);
                }
            }
            if (data.getSeriesCount() == 0) {
                throw new IllegalArgumentException("no run has a field matching '" + pattern + "'");
            }
            NumberAxis y = logY ? new LogarithmicAxis(pattern) : new NumberAxis(pattern);
            y.setAutoRangeIncludesZero(false);
            XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
            // One colour per run; a run's several fields (a pattern's matches) differ by dash.
            Map<Integer, Integer> nth = new LinkedHashMap<>();
            for (int s = 0; s < runOf.size(); s++) {
                int k = nth.merge(runOf.get(s), 1, Integer::sum) - 1;
                r.setSeriesPaint(s, COLORS[runOf.get(s) % COLORS.length]);
                r.setSeriesStroke(s, k == 0 ? new BasicStroke(1.5f) : new BasicStroke(1.5f, BasicStroke.CAP_BUTT,
                        BasicStroke.JOIN_MITER, 10f, new float[] {2f + 3f * k, 3f}, 0f));
            }
            XYPlot p = new XYPlot(data, null, y, r);
            p.setBackgroundPaint(Color.WHITE);
            p.setDomainGridlinePaint(Color.LIGHT_GRAY);
            p.setRangeGridlinePaint(Color.LIGHT_GRAY);
            plot.add(p, 1);
        }
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(out.toFile(), chart, size.get(0), size.get(1));
        System.out.println("wrote " + out);
        return 0;
    }

    private static List<JsonObject> read(Path run) throws IOException {
        Path file = Files.isDirectory(run) ? run.resolve("metrics.jsonl") : run;
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("'" + run + "' holds no metrics.jsonl");
        }
        List<JsonObject> rows = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                rows.add(JsonParser.parseString(line).getAsJsonObject());
            }
        }
        return rows;
    }

    /** The series of each field matching {@code pattern}, in the order fields first appear. */
    private Map<String, XYSeries> series(List<JsonObject> rows, String pattern, String label) {
        Pattern p = Pattern.compile(glob(pattern));
        Map<String, XYSeries> out = new LinkedHashMap<>();
        Set<String> names = new LinkedHashSet<>();
        for (JsonObject o : rows) {
            names.addAll(fieldsOf(o).keySet());
        }
        List<String> matched = names.stream().filter(n -> p.matcher(n).matches()).toList();
        for (JsonObject o : rows) {
            long step = o.get("step").getAsLong();
            if (maxStep != null && step > maxStep) {
                continue;
            }
            Map<String, JsonElement> f = fieldsOf(o);
            for (String name : matched) {
                JsonElement v = f.get(name);
                if (v != null && v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber()) {
                    String key = matched.size() == 1 ? label : label + " " + name;
                    out.computeIfAbsent(name, k -> new XYSeries(key, true, true)).addOrUpdate(step, v.getAsDouble());
                }
            }
        }
        return out;
    }

    /** A row's plottable fields: a training step's own, or an evaluation's as split.loss and split.accuracy. */
    private static Map<String, JsonElement> fieldsOf(JsonObject o) {
        Map<String, JsonElement> f = new LinkedHashMap<>();
        String split = o.get("split").getAsString();
        if (o.has("lr")) {
            o.keySet().stream().filter(k -> !k.equals("step") && !k.equals("split")).forEach(k -> f.put(k, o.get(k)));
        } else {
            f.put(split + ".loss", o.get("loss"));
            if (o.has("accuracy")) {
                f.put(split + ".accuracy", o.get("accuracy"));
            }
        }
        return f;
    }

    private static String glob(String pattern) {
        StringBuilder sb = new StringBuilder();
        for (char ch : pattern.toCharArray()) {
            sb.append(ch == '*' ? ".*" : Pattern.quote(String.valueOf(ch)));
        }
        return sb.toString();
    }
}
