package org.derf4j.training;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Zero;
import org.derf4j.training.distributed.Collective;
import org.derf4j.training.distributed.GradientAllReduce;
import org.derf4j.training.distributed.RankCheck;
import org.derf4j.training.distributed.RankShard;
import org.derf4j.training.data.Dataset;
import org.derf4j.training.data.Dataset.Split;
import org.derf4j.training.data.Rng;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.GptConfig;
import org.derf4j.transformer.GptPass;
import org.derf4j.transformer.Json;
import org.derf4j.transformer.Parameter;

/**
 * Trains a {@link Gpt} on a {@link Dataset}. Four graphs are compiled once, together, at construction, and
 * replayed:
 * <pre>
 *   zero_grad   clear every gradient, the loss and the correct count
 *   micro_step  upload tokens and targets → forward → loss and dlogits → backward   (× accumulation)
 *               (N ranks: one all-reduce sums the gradients and the loss of every rank, on the host)
 *   update      global grad norm and clip factor → AdamW on every parameter
 *   evaluate    forward → loss and correct count, over fixed batches of a split
 * </pre>
 * Every {@code statsEvery} steps, {@link LayerStats} downloads one batch's activations, the gradients and the
 * norms' scalars and measures them on the host; the graphs stay as they are.
 * A step reads back three floats: the loss, to log it and to stop at the first NaN or Inf, and the gradient
 * norm with its clip factor, which the update graph computed on the device.
 *
 * <p>As one rank of N in a data-parallel job ({@link Collective}), the trainer takes its share of each
 * global batch of N × batch sequences ({@link RankShard}), weighs its loss by 1/N, and sums the gradients
 * with the other ranks before the update: every rank then takes the same AdamW step and holds the same
 * weights, bit for bit. Rank 0 alone evaluates and writes checkpoints.
 */
public final class Trainer implements AutoCloseable {

    /** What one optimizer step reads back: its mean loss, and the global gradient norm before clipping. */
    public record StepResult(float loss, float gradNorm) {
    }

    /** Mean loss and accuracy over a split's evaluation batches. */
    public record Evaluation(double loss, double accuracy) {
    }

    /** How a run ended. */
    public record Summary(long steps, Evaluation train, Evaluation val, double tokensPerSecond, Path checkpoint) {
    }

    /** The loss stopped being finite; nothing was saved after the last good checkpoint. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(long step, float loss, Path lastCheckpoint) {
            super("loss became " + loss + " at step " + step + "; training stopped. "
                    + (lastCheckpoint == null ? "No checkpoint had been written in this run."
                    : "The last good checkpoint is " + lastCheckpoint + " (continue with --resume)."));
        }
    }

    /** Keeps the data stream apart from the stream that initialises the weights. */
    private static final long DATA_STREAM = 0x5DEECE66DL;

    private final TrainConfig config;
    private final Dataset data;
    private final Backend backend;
    private final Collective world;
    private final GradientAllReduce gradients;
    private final Gpt model;
    private final AdamWOptimizer optimizer;
    private final GptPass trainPass;
    private final GptPass evalPass;
    private final Executable zeroGrad;
    private final Executable microStep;
    private final Executable update;
    private final Executable evaluate;
    private final int[] tokens;
    private final int[] targets;
    private final float[] scalar = new float[1];
    private final LayerStats stats;
    private Rng rng;
    private long step;

    public Trainer(TrainConfig config, Dataset data, Backend backend) {
        this(config, data, backend, Collective.single(), line -> { });
    }

    /**
     * Rank {@code world.rank()} of a data-parallel job of {@code world.size()} ranks; {@code progress} hears, in
     * lines of their own, that the backend compiles device kernels, and how long that took (nothing when there is
     * nothing to compile).
     */
    public Trainer(TrainConfig config, Dataset data, Backend backend, Collective world, Consumer<String> progress) {
        this.config = config;
        this.data = RankShard.of(data, world, config.batch());
        this.backend = backend;
        this.world = world;
        GptConfig modelConfig = config.model(data.tokenizer().vocabSize(), data.seqLen());
        this.model = new Gpt(backend, modelConfig);
        List<Parameter> params = model.weights().all();
        this.optimizer = new AdamWOptimizer(backend, params, config.frozenParameters(model.weights()),
                config.optimizer());
        int b = config.batch();
        int t = data.seqLen();
        this.trainPass = model.pass(b, t, true);
        this.evalPass = model.pass(b, t, false);
        this.tokens = new int[b * t];
        this.targets = new int[b * t];
        this.stats = config.statsEvery() > 0 ? new LayerStats(backend, model, trainPass) : null;

        Graph.Builder zero = Graph.builder("zero_grad").add(new Zero(params.stream().map(Parameter::grad).toList()));
        trainPass.recordClearMetrics(zero);
        Graph.Builder micro = Graph.builder("micro_step").input(trainPass.tokens(), trainPass.targets())
                .output(trainPass.loss());
        trainPass.recordForward(micro);
        trainPass.recordLossAndBackward(micro, 1f / (config.accumulation() * world.size()));
        Graph.Builder upd = Graph.builder("update");
        optimizer.recordUpdate(upd);
        Graph.Builder eval = Graph.builder("evaluate").input(evalPass.tokens(), evalPass.targets())
                .output(evalPass.loss(), evalPass.correct());
        evalPass.recordClearMetrics(eval);
        evalPass.recordForward(eval);
        evalPass.recordLoss(eval);
        // Compiled together: a backend whose device memory belongs to a compiled unit keeps the weights,
        // gradients and moments on the device between these four graphs. Kernels are built or JIT-compiled here,
        // before the first step, with a line of their own.
        long compileStart = System.nanoTime();
        boolean[] announced = {false};
        List<Executable> compiled = backend.compile(List.of(zero.build(), micro.build(), upd.build(), eval.build()),
                line -> {
                    announced[0] = true;
                    progress.accept(line);
                });
        if (announced[0]) {
            progress.accept(String.format(Locale.ROOT, "compiled in %.1f s", (System.nanoTime() - compileStart) / 1e9));
        }
        this.zeroGrad = compiled.get(0);
        this.microStep = compiled.get(1);
        this.update = compiled.get(2);
        this.evaluate = compiled.get(3);
        this.gradients = new GradientAllReduce(backend, world, params.stream().map(Parameter::grad).toList(),
                trainPass.loss());
    }

    public Gpt model() {
        return model;
    }

    public long step() {
        return step;
    }

    /** A fresh run: weights from the seed, the data stream at its start. */
    public void initialize() {
        model.weights().initialize(config.seed());
        rng = new Rng(config.seed() ^ DATA_STREAM);
        step = 0;
    }

    /** Continues from a checkpoint of this very config: weights, AdamW moments, step and data stream. */
    public void restore(Checkpoints.Loaded checkpoint) {
        String source = "checkpoint '" + checkpoint.dir() + "'";
        GptConfig saved = Json.GSON.fromJson(checkpoint.state().get("model"), GptConfig.class);
        if (!model.config().equals(saved)) {
            throw new IllegalArgumentException(source + " holds a model " + saved + ", this run builds "
                    + model.config());
        }
        int ranks = checkpoint.state().has("world_size") ? checkpoint.state().get("world_size").getAsInt() : 1;
        if (ranks != world.size()) {
            throw new IllegalArgumentException(source + " was written by a run on " + ranks + " rank(s), and this run"
                    + " has " + world.size() + ". The global batch and the data each rank sees depend on the number of"
                    + " ranks: resume " + (ranks == 1 ? "in one process, without mpirun" : "on " + ranks + " ranks (mpirun"
                    + " -np " + ranks + ")") + ", or start a new run");
        }
        model.weights().upload(checkpoint.model(), source);
        optimizer.uploadState(checkpoint.optimizer(), source);
        step = checkpoint.state().get("step").getAsLong();
        rng = new Rng(checkpoint.state().get("data_rng").getAsLong());
    }

    /** Trains to {@code config.steps()}, evaluating, logging and checkpointing into {@code runDir} (null: no files). */
    public Summary train(Path runDir, RunLog log) throws IOException {
        LrSchedule schedule = config.schedule();
        long tokensPerStep = (long) config.batch() * world.size() * data.seqLen() * config.accumulation();
        boolean lead = world.rank() == 0;
        RankCheck.requireSame(world, "at the start", this::facts);
        Path checkpoint = null;
        double stepSeconds = 0;
        long stepsTimed = 0;
        // The first step of a run also pays for what drivers compile on first use (PoCL builds each kernel's
        // work-group function when it first runs, the JVM compiles the host code): tok/s and the ETA count from
        // the step after it, "?" until then.
        boolean firstStep = true;
        while (step < config.steps()) {
            float lr = schedule.at(step);
            long started = System.nanoTime();
            StepResult result = step(lr);
            if (!Float.isFinite(result.loss())) {
                throw new DivergedException(step, result.loss(), checkpoint);
            }
            if (!firstStep) {
                stepSeconds += (System.nanoTime() - started) / 1e9;
                stepsTimed++;
            }
            firstStep = false;
            double tokensPerSecond = stepsTimed == 0 ? Double.NaN : tokensPerStep * stepsTimed / stepSeconds;
            // Statistics after the first step too, where the init shows; measured outside the step's timing, and
            // only where they are logged (rank 0: its own batch's activations, the all-reduced gradients).
            Map<String, Double> layerStats = lead && stats != null && (step == 1 || step % config.statsEvery() == 0)
                    ? stats.measure() : Map.of();
            log.train(step, config.steps(), result.loss(), result.gradNorm(), lr, tokensPerSecond,
                    stepsTimed == 0 ? Double.NaN : (config.steps() - step) * stepSeconds / stepsTimed, layerStats);

            boolean last = step == config.steps();
            if (lead && !last && config.evalEvery() > 0 && step % config.evalEvery() == 0) {
                // Both splits, so that the train − val gap can be followed along the run.
                Evaluation train = evaluate(Split.TRAIN);
                log.eval(step, "train", train.loss(), train.accuracy());
                Evaluation val = evaluate(Split.VAL);
                log.eval(step, "val", val.loss(), val.accuracy());
            }
            if (lead && runDir != null
                    && (last || config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0)) {
                checkpoint = save(runDir);
            }
        }
        RankCheck.requireSame(world, "at the end", this::facts);
        if (world.size() > 1) {
            log.message("all " + world.size() + " ranks hold the same weights and optimizer state; "
                    + gradients.describeCost());
        }
        Evaluation train = lead ? evaluate(Split.TRAIN) : new Evaluation(Double.NaN, Double.NaN);
        Evaluation val = lead ? evaluate(Split.VAL) : new Evaluation(Double.NaN, Double.NaN);
        log.eval(step, "train", train.loss(), train.accuracy());
        log.eval(step, "val", val.loss(), val.accuracy());
        return new Summary(step, train, val, stepsTimed == 0 ? Double.NaN : tokensPerStep * stepsTimed / stepSeconds,
                checkpoint);
    }

    /**
     * One optimizer step at learning rate {@code lr}: clear the gradients, forward and backward over
     * {@code accumulation} micro-batches, clip and update. Returns the step's mean loss and gradient norm, the
     * values read back from the device.
     */
    public StepResult step(float lr) {
        zeroGrad.run();
        for (int k = 0; k < config.accumulation(); k++) {
            data.trainBatch(rng, config.batch(), tokens, targets);
            backend.upload(trainPass.tokens(), tokens);
            backend.upload(trainPass.targets(), targets);
            microStep.run();
        }
        gradients.run();
        optimizer.prepare(step + 1, lr);
        update.run();
        backend.download(trainPass.loss(), scalar);
        step++;
        return new StepResult(scalar[0], optimizer.lastGradNorm());
    }

    /** Mean loss and accuracy over the split's fixed evaluation batches, weighted by targets. */
    public Evaluation evaluate(Split split) {
        double lossSum = 0;
        double correct = 0;
        long counted = 0;
        for (int i = 0; i < data.evalBatches(split, config.batch()); i++) {
            data.evalBatch(split, i, config.batch(), tokens, targets);
            int valid = 0;
            for (int target : targets) {
                valid += target >= 0 ? 1 : 0;
            }
            if (valid == 0) {
                continue;
            }
            backend.upload(evalPass.tokens(), tokens);
            backend.upload(evalPass.targets(), targets);
            evaluate.run();
            backend.download(evalPass.loss(), scalar);
            lossSum += (double) scalar[0] * valid;
            backend.download(evalPass.correct(), scalar);
            correct += scalar[0];
            counted += valid;
        }
        return new Evaluation(lossSum / counted, correct / counted);
    }

    /** Writes a checkpoint of the current step; returns its directory. */
    public Path save(Path runDir) throws IOException {
        JsonObject state = new JsonObject();
        state.add("model", Json.GSON.toJsonTree(model.config()));
        state.add("train", config.toJson());
        state.add("tokenizer", data.tokenizer().toJson());
        state.addProperty("data_rng", rng.state());
        state.addProperty("backend", backend.name());
        state.addProperty("world_size", world.size());
        return Checkpoints.save(runDir, step, state, model.weights().download(), optimizer.downloadState());
    }

    /** What every rank of a job must hold alike, checked at the start and at the end of a run. */
    private JsonObject facts() {
        JsonObject facts = new JsonObject();
        facts.add("train", config.toJson());
        facts.addProperty("data", data.describe());
        facts.add("tokenizer", data.tokenizer().toJson());
        facts.addProperty("backend", backend.name());
        facts.addProperty("step", step);
        facts.addProperty("data_rng", rng.state());
        facts.addProperty("weights_sha256", RankCheck.sha256(model.weights().download()));
        facts.addProperty("optimizer_sha256", RankCheck.sha256(optimizer.downloadState()));
        return facts;
    }

    @Override
    public void close() {
        gradients.close();
        zeroGrad.close();
        microStep.close();
        update.close();
        evaluate.close();
        trainPass.close();
        evalPass.close();
        optimizer.close();
        model.close();
    }
}
