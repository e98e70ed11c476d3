package org.derf4j.training;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.geom.Line2D;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.derf4j.kernels.Norm;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The compare plot: train loss (smoothed) above, validation loss below, one colour per norm (JFreeChart). */
final class ComparePlot {
    private ComparePlot() {
    }

    private static final Color[] COLORS = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C),
            new Color(0x9467BD), new Color(0xFF7F0E), new Color(0x8C564B)};
    /** Smoothing of the per-step train loss: an exponential moving average, as TensorBoard draws it. */
    private static final double SMOOTHING = 0.9;

    static void write(Path file, List<CompareCommand.Run> runs, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection train = new XYSeriesCollection();
        XYSeriesCollection val = new XYSeriesCollection();
        List<Norm> norms = runs.stream().map(CompareCommand.Run::norm).distinct().toList();
        for (CompareCommand.Run run : runs) {
            String key = run.norm().id() + " seed " + run.seed();
            XYSeries t = new XYSeries(key);
            XYSeries v = new XYSeries(key);
            double ema = Double.NaN;
            for (RunLog.Row row : run.rows()) {
                if (row.split().equals("train") && !Double.isNaN(row.lr())) {
                    ema = Double.isNaN(ema) ? row.loss() : SMOOTHING * ema + (1 - SMOOTHING) * row.loss();
                    t.add(row.step(), ema);
                } else if (row.split().equals("val")) {
                    v.add(row.step(), row.loss());
                }
            }
            train.addSeries(t);
            val.addSeries(v);
        }
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(new NumberAxis("step"));
        plot.add(subplot(train, "train loss (EMA " + SMOOTHING + ")", runs, norms, false), 1);
        plot.add(subplot(val, "validation loss", runs, norms, true), 1);
        // One legend entry per norm, whatever the number of seeds and subplots.
        LegendItemCollection legend = new LegendItemCollection();
        for (Norm norm : norms) {
            legend.add(new LegendItem(norm.id(), null, null, null, new Line2D.Double(-10, 0, 10, 0), stroke(norms, norm),
                    color(norms, norm)));
        }
        plot.setFixedLegendItems(legend);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 800);
    }

    private static Color color(List<Norm> norms, Norm norm) {
        return COLORS[norms.indexOf(norm) % COLORS.length];
    }

    /** Every other norm dashed, so that curves lying on top of each other (LayerNorm, RMSNorm) both show. */
    private static BasicStroke stroke(List<Norm> norms, Norm norm) {
        return norms.indexOf(norm) % 2 == 0 ? new BasicStroke(1.5f)
                : new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f);
    }

    private static XYPlot subplot(XYSeriesCollection data, String label, List<CompareCommand.Run> runs,
                                  List<Norm> norms, boolean points) {
        NumberAxis y = new NumberAxis(label);
        y.setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, points);
        r.setDrawSeriesLineAsPath(true); // one path per series, so a dash pattern runs along the whole curve
        for (int i = 0; i < runs.size(); i++) {
            r.setSeriesPaint(i, color(norms, runs.get(i).norm()));
            r.setSeriesStroke(i, stroke(norms, runs.get(i).norm()));
        }
        XYPlot p = new XYPlot(data, null, y, r);
        p.setBackgroundPaint(Color.WHITE);
        p.setDomainGridlinePaint(Color.LIGHT_GRAY);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return p;
    }
}
