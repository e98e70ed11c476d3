package org.derf4j.training;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
 * plot of the train and validation curves, mean ± standard deviation over seeds.
 *
 * <p>Without {@code --data} it compares generalization on the built-in task ({@link #GROKKING}: fewer
 * training equations than {@code train}'s default), evaluating often enough to see when each norm gets there.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Train the same model once per norm (same seeds, same data order); write compare.md and "
                + "compare.png (mean ± std over --seeds).",
                "Without --data: generalization on a+b mod 97 with 40% of the equations for training, 800 steps, "
                        + "evaluated every 50; 20 minutes for 4 norms × 3 seeds on 2 cores (Zen 3, AVX2), longer on a "
                        + "busy machine. With --train-fraction 0.3 validation accuracy follows train accuracy thousands "
                        + "of steps later (grokking): give it several thousand --steps, at several times the cost."})
final class CompareCommand implements Callable<Integer> {

    /**
     * The built-in task as compare runs it, unless options say otherwise: 40% of the equations for training
     * (train's default is 50%), evaluated every 50 steps: sized so that the default 12 runs take at most 30
     * minutes on 2 cores (20 on Zen 3, AVX2, 2026-12-02). At 30% validation accuracy lags train accuracy by
     * thousands of steps (LayerNorm fitted the training equations by step 500 and stood at 24% validation
     * accuracy at step 1500), which 12 runs cannot afford in that time; at 40% it lags in some splits only.
     */
    static final Map<String, Object> GROKKING = Map.of("trainFraction", 0.4, "steps", 800, "evalEvery", 50,
            "checkpointEvery", 0);

    @Mixin
    ConfigOptions options;

    @Option(names = "--norms", split = ",", paramLabel = "NORM",
            description = "norms to compare, comma-separated (default derf,dyt,layernorm,rmsnorm)")
    List<Norm> norms = Norm.values();

    @Option(names = "--seeds", description = "seeds per norm, from --seed upwards (default ${DEFAULT-VALUE})")
    int seeds = 3;

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
        TrainConfig base = options.data == null ? options.resolve(GROKKING) : options.resolve();
        Path dir = out != null ? out : Path.of("runs", "compare-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        // Every run's config first, so that an option one of the norms cannot take (--no-shift with layernorm)
        // stops the command before anything trains. Like train, compare never writes over an earlier run: a
        // second call with the same --out would mix its checkpoints and metrics into the first one's.
        List<TrainConfig> configs = new ArrayList<>();
        for (Norm norm : norms) {
            for (int s = 0; s < seeds; s++) {
                Map<String, Object> change = new LinkedHashMap<>();
                change.put("norm", norm);
                change.put("seed", base.seed() + s);
                TrainConfig config;
                try {
                    config = base.with(change);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(e.getMessage() + "; choose --norms that all take it");
                }
                Path runDir = runDir(dir, config);
                if (Files.exists(runDir)) {
                    throw new IllegalArgumentException("'" + dir + "' already holds a run (" + runDir.getFileName()
                            + "); choose another --out");
                }
                configs.add(config);
            }
        }
        Files.createDirectories(dir);
        List<Run> runs = new ArrayList<>();
        String dataLine;
        String deviceLine;
        try (Backend device = backend.open()) {
            deviceLine = device.name() + " (" + device.device() + ")";
            dataLine = Datasets.open(base, null).describe();
            for (TrainConfig config : configs) {
                Dataset data = Datasets.open(config, null);
                Path runDir = runDir(dir, config);
                String label = "[" + config.norm().id() + " seed " + config.seed() + "] ";
                try (RunLog log = new RunLog(runDir, 0, System.err, label);
                     Trainer trainer = new Trainer(config, data, device, Collective.single(), log::message)) {
                    trainer.initialize();
                    Trainer.Summary summary = trainer.train(runDir, log);
                    runs.add(new Run(config.norm(), config.seed(), summary, trainer.model().weights().count(),
                            log.rows()));
                }
            }
        }
        String table = CompareReport.markdown(base, runs, dataLine, deviceLine);
        Files.writeString(dir.resolve("compare.md"), table, StandardCharsets.UTF_8);
        ComparePlot.write(dir.resolve("compare.png"), runs, dataLine, base.data() != null);
        System.out.print(table);
        System.out.println("wrote " + dir.resolve("compare.md") + " and " + dir.resolve("compare.png"));
        return 0;
    }

    private static Path runDir(Path dir, TrainConfig config) {
        return dir.resolve(config.norm().id() + "-seed" + config.seed());
    }
}
