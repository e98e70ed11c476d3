package org.derf4j.training;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.geom.Line2D;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import org.derf4j.kernels.Norm;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.DeviationRenderer;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * The compare plot (JFreeChart), one colour per norm, each curve the mean over seeds with a band of ± one
 * standard deviation around it:
 * <ul>
 *   <li>text: train loss (per step, smoothed) above, validation loss below;</li>
 *   <li>the built-in task: train accuracy above, validation accuracy below (from the evaluations).</li>
 * </ul>
 */
final class ComparePlot {
    private ComparePlot() {
    }

    private static final Color[] COLORS = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C),
            new Color(0x9467BD), new Color(0xFF7F0E), new Color(0x8C564B)};
    /** Smoothing of the per-step train loss: an exponential moving average, as TensorBoard draws it. */
    private static final double SMOOTHING = 0.9;

    /**
     * One panel: its axis label, the curve it draws from a run's rows (step → value), and the values that
     * quantity can take, to which its band is clipped (mean ± std of accuracies near 1 would pass 1).
     */
    record Panel(String label, Function<List<RunLog.Row>, TreeMap<Long, Double>> curve, double lowest,
                 double highest) {
    }

    static void write(Path file, List<CompareCommand.Run> runs, String title, boolean text) throws IOException {
        List<Panel> panels = text
                ? List.of(new Panel("train loss (EMA " + SMOOTHING + ")", ComparePlot::smoothedTrainLoss, 0,
                                Double.POSITIVE_INFINITY),
                        new Panel("validation loss", rows -> evaluations(rows, "val", RunLog.Row::loss), 0,
                                Double.POSITIVE_INFINITY))
                : List.of(new Panel("train accuracy", rows -> evaluations(rows, "train", RunLog.Row::accuracy), 0, 1),
                        new Panel("validation accuracy", rows -> evaluations(rows, "val", RunLog.Row::accuracy), 0,
                                1));
        write(file, runs, title, panels);
    }

    static void write(Path file, List<CompareCommand.Run> runs, String title, List<Panel> panels) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Norm> norms = runs.stream().map(CompareCommand.Run::norm).distinct().toList();
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(new NumberAxis("step"));
        for (Panel panel : panels) {
            YIntervalSeriesCollection data = new YIntervalSeriesCollection();
            for (Norm norm : norms) {
                data.addSeries(band(norm.id(), runs.stream().filter(r -> r.norm() == norm)
                        .map(r -> panel.curve().apply(r.rows())).toList(), panel.lowest(), panel.highest()));
            }
            plot.add(subplot(data, panel.label(), norms), 1);
        }
        // One legend entry per norm, whatever the number of subplots.
        LegendItemCollection legend = new LegendItemCollection();
        for (Norm norm : norms) {
            legend.add(new LegendItem(norm.id(), null, null, null, new Line2D.Double(-10, 0, 10, 0), stroke(norms, norm),
                    color(norms, norm)));
        }
        plot.setFixedLegendItems(legend);
        String seeds = runs.stream().map(CompareCommand.Run::seed).distinct().count() + " seeds";
        JFreeChart chart = new JFreeChart(title + " (mean ± std over " + seeds + ")", JFreeChart.DEFAULT_TITLE_FONT,
                plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 700);
    }

    /**
     * The mean and ± one sample standard deviation, step by step, of the seeds' curves, at the steps every curve
     * has (all of them, for runs of one config), the band clipped to [lowest, highest].
     */
    static YIntervalSeries band(String key, List<TreeMap<Long, Double>> curves, double lowest, double highest) {
        YIntervalSeries s = new YIntervalSeries(key);
        if (curves.isEmpty()) {
            return s;
        }
        for (Long step : curves.get(0).keySet()) {
            if (curves.stream().allMatch(c -> c.containsKey(step))) {
                double[] v = curves.stream().mapToDouble(c -> c.get(step)).toArray();
                double mean = CompareReport.mean(v);
                double std = CompareReport.std(v);
                s.add(step, mean, Math.max(lowest, mean - std), Math.min(highest, mean + std));
            }
        }
        return s;
    }

    static TreeMap<Long, Double> smoothedTrainLoss(List<RunLog.Row> rows) {
        TreeMap<Long, Double> out = new TreeMap<>();
        double ema = Double.NaN;
        for (RunLog.Row row : rows) {
            if (row.split().equals("train") && !Double.isNaN(row.lr())) {
                ema = Double.isNaN(ema) ? row.loss() : SMOOTHING * ema + (1 - SMOOTHING) * row.loss();
                out.put(row.step(), ema);
            }
        }
        return out;
    }

    /** A value of every evaluation of {@code split}; the last evaluation of a step wins. */
    static TreeMap<Long, Double> evaluations(List<RunLog.Row> rows, String split,
                                             ToDoubleFunction<RunLog.Row> value) {
        TreeMap<Long, Double> out = new TreeMap<>();
        for (RunLog.Row row : rows) {
            if (CompareReport.isEval(row, split)) {
                out.put(row.step(), value.applyAsDouble(row));
            }
        }
        return out;
    }

    private static Color color(List<Norm> norms, Norm norm) {
        return COLORS[norms.indexOf(norm) % COLORS.length];
    }

    /** Every other norm dashed, so that curves lying on top of each other (LayerNorm, RMSNorm) both show. */
    private static BasicStroke stroke(List<Norm> norms, Norm norm) {
        return norms.indexOf(norm) % 2 == 0 ? new BasicStroke(1.5f)
                : new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f);
    }

    private static XYPlot subplot(YIntervalSeriesCollection data, String label, List<Norm> norms) {
        NumberAxis y = new NumberAxis(label);
        y.setAutoRangeIncludesZero(false);
        DeviationRenderer r = new DeviationRenderer(true, false);
        r.setAlpha(0.2f);
        r.setDrawSeriesLineAsPath(true); // one path per series, so a dash pattern runs along the whole curve
        for (int i = 0; i < norms.size(); i++) {
            r.setSeriesPaint(i, color(norms, norms.get(i)));
            r.setSeriesFillPaint(i, color(norms, norms.get(i)));
            r.setSeriesStroke(i, stroke(norms, norms.get(i)));
        }
        XYPlot p = new XYPlot(data, null, y, r);
        p.setBackgroundPaint(Color.WHITE);
        p.setDomainGridlinePaint(Color.LIGHT_GRAY);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return p;
    }
}
