package org.derf4j.training;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Zero;
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
 *   update      global grad norm and clip factor → AdamW on every parameter
 *   evaluate    forward → loss and correct count, over fixed batches of a split
 * </pre>
 * A step reads back three floats: the loss, to log it and to stop at the first NaN or Inf, and the gradient
 * norm with its clip factor, which the update graph computed on the device.
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
    private Rng rng;
    private long step;

    public Trainer(TrainConfig config, Dataset data, Backend backend) {
        this(config, data, backend, line -> { });
    }

    /**
     * As {@link #Trainer(TrainConfig, Dataset, Backend)}; {@code progress} hears, in lines of their own, that the
     * backend compiles device kernels, and how long that took (nothing when there is nothing to compile).
     */
    public Trainer(TrainConfig config, Dataset data, Backend backend, Consumer<String> progress) {
        this.config = config;
        this.data = data;
        this.backend = backend;
        GptConfig modelConfig = config.model(data.tokenizer().vocabSize(), data.seqLen());
        this.model = new Gpt(backend, modelConfig);
        List<Parameter> params = model.weights().all();
        this.optimizer = new AdamWOptimizer(backend, params, config.optimizer());
        int b = config.batch();
        int t = data.seqLen();
        this.trainPass = model.pass(b, t, true);
        this.evalPass = model.pass(b, t, false);
        this.tokens = new int[b * t];
        this.targets = new int[b * t];

        Graph.Builder zero = Graph.builder("zero_grad").add(new Zero(params.stream().map(Parameter::grad).toList()));
        trainPass.recordClearMetrics(zero);
        Graph.Builder micro = Graph.builder("micro_step").input(trainPass.tokens(), trainPass.targets())
                .output(trainPass.loss());
        trainPass.recordForward(micro);
        trainPass.recordLossAndBackward(micro, 1f / config.accumulation());
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
        model.weights().upload(checkpoint.model(), source);
        optimizer.uploadState(checkpoint.optimizer(), source);
        step = checkpoint.state().get("step").getAsLong();
        rng = new Rng(checkpoint.state().get("data_rng").getAsLong());
    }

    /** Trains to {@code config.steps()}, evaluating, logging and checkpointing into {@code runDir} (null: no files). */
    public Summary train(Path runDir, RunLog log) throws IOException {
        LrSchedule schedule = config.schedule();
        long tokensPerStep = (long) config.batch() * data.seqLen() * config.accumulation();
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
            log.train(step, config.steps(), result.loss(), result.gradNorm(), lr, tokensPerSecond,
                    stepsTimed == 0 ? Double.NaN : (config.steps() - step) * stepSeconds / stepsTimed);

            boolean last = step == config.steps();
            if (!last && config.evalEvery() > 0 && step % config.evalEvery() == 0) {
                Evaluation val = evaluate(Split.VAL);
                log.eval(step, "val", val.loss(), val.accuracy());
            }
            if (runDir != null && (last || config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0)) {
                checkpoint = save(runDir);
            }
        }
        Evaluation train = evaluate(Split.TRAIN);
        Evaluation val = evaluate(Split.VAL);
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
        return Checkpoints.save(runDir, step, state, model.weights().download(), optimizer.downloadState());
    }

    @Override
    public void close() {
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
