package org.derf4j.training;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.derf4j.kernels.Backend;
import org.derf4j.training.data.Dataset;
import org.derf4j.training.distributed.Collective;
import org.derf4j.training.distributed.World;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./derf train}: one run, from scratch or resumed, ending with the final train and val metrics. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a GPT. With no options: the built-in task a+b mod 97 (grokking), a 2-layer Derf",
                "model, on the best backend here, for 1–4 minutes on 2 cores."})
final class TrainCommand implements Callable<Integer> {

    @Mixin
    ConfigOptions options;

    @Mixin
    BackendOptions backend;

    @Option(names = "--out", paramLabel = "DIR",
            description = "run directory for metrics.jsonl and checkpoints (default runs/<time>-<norm>)")
    Path out;

    @Option(names = "--resume", description = "continue the run in --out from its latest checkpoint")
    boolean resume;

    @Override
    public Integer call() throws Exception {
        // Under mpirun or srun, this process is one rank of a data-parallel job; otherwise the only one.
        Collective world = World.join();
        boolean lead = world.rank() == 0;
        Checkpoints.Loaded checkpoint = null;
        TrainConfig config;
        if (resume) {
            if (out == null) {
                throw new IllegalArgumentException("--resume needs --out, the run directory to continue");
            }
            checkpoint = Checkpoints.loadLatest(out);
            config = options.resolveForResume(TrainConfig.fromJson(checkpoint.state().getAsJsonObject("train")));
        } else {
            config = options.resolve();
            out = out != null ? out : defaultRunDir(config);
            if (Files.isDirectory(out.resolve("checkpoints"))) {
                throw new IllegalArgumentException("'" + out + "' already holds a run; continue it with --resume or "
                        + "choose another --out");
            }
        }
        Dataset data = Datasets.open(config, checkpoint);
        try (Backend device = backend.open();
             RunLog log = lead ? new RunLog(out, checkpoint == null ? 0 : checkpoint.state().get("step").getAsLong(),
                     System.err, "") : new RunLog(null, 0, new PrintStream(OutputStream.nullOutputStream()), "");
             Trainer trainer = new Trainer(config, data, device, world, log::message)) {
            log.message("data: " + data.describe());
            log.message(String.format(Locale.ROOT, "model: %s, %d layers, width %d, %d heads, %,d parameters",
                    config.norm().id(), config.layers(), config.width(), config.heads(), trainer.model().weights().count()));
            log.message("backend: " + device.name() + " (" + device.device() + ")");
            if (world.size() > 1) {
                log.message(String.format(Locale.ROOT, "data-parallel: %s; a step trains on %d ranks × %d × %d = %d "
                                + "sequences (ranks × batch × accumulation)", world.describe(), world.size(),
                        config.batch(), config.accumulation(), world.size() * config.batch() * config.accumulation()));
            }
            if (checkpoint != null) {
                trainer.restore(checkpoint);
                log.message("resumed from " + checkpoint.dir() + " at step " + trainer.step());
            } else {
                trainer.initialize();
            }
            log.message("run directory: " + out);
            Trainer.Summary s = trainer.train(out, log);
            if (!lead) {
                return 0;
            }
            System.out.printf(Locale.ROOT,
                    "final (step %d): train loss %.4f, accuracy %.2f%% | val loss %.4f, accuracy %.2f%% | %s tok/s%n",
                    s.steps(), s.train().loss(), 100 * s.train().accuracy(), s.val().loss(), 100 * s.val().accuracy(),
                    RunLog.human(s.tokensPerSecond()));
            System.out.println("checkpoint: " + s.checkpoint());
        }
        return 0;
    }

    private static Path defaultRunDir(TrainConfig config) {
        return Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-"
                + config.norm().id());
    }
}
