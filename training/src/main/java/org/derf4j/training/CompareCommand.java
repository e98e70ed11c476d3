package org.derf4j.training;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Norm;
import org.derf4j.training.data.Dataset;
import org.derf4j.training.distributed.Collective;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ./derf compare}: the same model, data order and seeds once per norm, then a markdown table and a
 * plot of the train and validation curves.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Train the same model once per norm (same seeds, same data order); write compare.md and "
                + "compare.png.")
final class CompareCommand implements Callable<Integer> {

    @Mixin
    ConfigOptions options;

    @Option(names = "--norms", split = ",", paramLabel = "NORM",
            description = "norms to compare, comma-separated (default derf,dyt,layernorm,rmsnorm)")
    List<Norm> norms = Norm.values();

    @Option(names = "--seeds", description = "seeds per norm, from --seed upwards (default ${DEFAULT-VALUE})")
    int seeds = 1;

    @Mixin
    BackendOptions backend;

    @Option(names = "--out", paramLabel = "DIR", description = "output directory (default runs/compare-<time>)")
    Path out;

    /** One finished run. */
    record Run(Norm norm, long seed, Trainer.Summary summary, long parameters, List<RunLog.Row> rows) {
    }

    @Override
    public Integer call() throws Exception {
        if (options.norm != null) {
            throw new IllegalArgumentException("compare sets the norm itself; use --norms instead of --norm");
        }
        if (seeds <= 0) {
            throw new IllegalArgumentException("--seeds must be positive, got " + seeds);
        }
        TrainConfig base = options.resolve();
        Path dir = out != null ? out : Path.of("runs", "compare-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        // Like train, compare never writes over an earlier run: a second call with the same --out would mix
        // its checkpoints and metrics into the first one's.
        for (Norm norm : norms) {
            for (int s = 0; s < seeds; s++) {
                Path runDir = runDir(dir, norm, base.seed() + s);
                if (Files.exists(runDir)) {
                    throw new IllegalArgumentException("'" + dir + "' already holds a run (" + runDir.getFileName()
                            + "); choose another --out");
                }
            }
        }
        Files.createDirectories(dir);
        List<Run> runs = new ArrayList<>();
        String dataLine;
        String deviceLine;
        try (Backend device = backend.open()) {
            deviceLine = device.name() + " (" + device.device() + ")";
            dataLine = Datasets.open(base, null).describe();
            for (Norm norm : norms) {
                for (int s = 0; s < seeds; s++) {
                    Map<String, Object> change = new LinkedHashMap<>();
                    change.put("norm", norm);
                    change.put("seed", base.seed() + s);
                    TrainConfig config = base.with(change);
                    Dataset data = Datasets.open(config, null);
                    Path runDir = runDir(dir, norm, config.seed());
                    String label = "[" + norm.id() + " seed " + config.seed() + "] ";
                    try (RunLog log = new RunLog(runDir, 0, System.err, label);
                         Trainer trainer = new Trainer(config, data, device, Collective.single(), log::message)) {
                        trainer.initialize();
                        Trainer.Summary summary = trainer.train(runDir, log);
                        runs.add(new Run(norm, config.seed(), summary, trainer.model().weights().count(), log.rows()));
                    }
                }
            }
        }
        String table = table(base, runs, dataLine, deviceLine);
        Files.writeString(dir.resolve("compare.md"), table, StandardCharsets.UTF_8);
        ComparePlot.write(dir.resolve("compare.png"), runs, dataLine);
        System.out.print(table);
        System.out.println("wrote " + dir.resolve("compare.md") + " and " + dir.resolve("compare.png"));
        return 0;
    }

    private static Path runDir(Path dir, Norm norm, long seed) {
        return dir.resolve(norm.id() + "-seed" + seed);
    }

    static String table(TrainConfig c, List<Run> runs, String dataLine, String deviceLine) {
        StringBuilder sb = new StringBuilder();
        sb.append("# derf4j compare\n\n");
        sb.append("- data: ").append(dataLine).append('\n');
        sb.append(String.format(Locale.ROOT, "- model: %d layers, width %d, %d heads; %d steps of batch %d × %d, "
                        + "lr %.1e → %.1e, weight decay %.2f, seeds %s%n", c.layers(), c.width(), c.heads(), c.steps(),
                c.batch(), c.accumulation(), c.lr(), c.minLr(), c.weightDecay(),
                runs.stream().map(Run::seed).distinct().toList()));
        sb.append("- backend: ").append(deviceLine).append("\n\n");
        sb.append("| norm | params | train loss | val loss | train acc | val acc | tokens/s |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|\n");
        Map<Norm, List<Run>> byNorm = new LinkedHashMap<>();
        runs.forEach(r -> byNorm.computeIfAbsent(r.norm(), k -> new ArrayList<>()).add(r));
        byNorm.forEach((norm, rs) -> sb.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %s | %s | %s |%n",
                norm.id(), rs.get(0).parameters(),
                meanStd(rs, r -> r.summary().train().loss(), 1, "%.4f"),
                meanStd(rs, r -> r.summary().val().loss(), 1, "%.4f"),
                meanStd(rs, r -> r.summary().train().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().val().accuracy(), 100, "%.2f%%"),
                meanStd(rs, r -> r.summary().tokensPerSecond(), 1, "%.0f"))));
        sb.append("\nValues are mean ± standard deviation over seeds; losses and accuracies are measured on the ")
                .append("whole evaluation set of each split after the last step.\n");
        return sb.toString();
    }

    private static String meanStd(List<Run> rs, java.util.function.ToDoubleFunction<Run> f, double scale,
                                  String format) {
        double mean = rs.stream().mapToDouble(f).average().orElse(Double.NaN) * scale;
        if (rs.size() == 1) {
            return String.format(Locale.ROOT, format, mean);
        }
        double var = rs.stream().mapToDouble(r -> Math.pow(f.applyAsDouble(r) * scale - mean, 2)).sum()
                / (rs.size() - 1);
        return String.format(Locale.ROOT, format + " ± " + format, mean, Math.sqrt(var));
    }
}
