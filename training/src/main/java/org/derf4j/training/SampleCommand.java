package org.derf4j.training;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.training.data.Rng;
import org.derf4j.training.data.Tokenizer;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.GptConfig;
import org.derf4j.transformer.GptPass;
import org.derf4j.transformer.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./derf sample}: text from a checkpoint, token by token, with temperature and top-k. */
@Command(name = "sample", mixinStandardHelpOptions = true, description = "Generate text from a checkpoint.")
final class SampleCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
            description = "a run directory (its latest checkpoint) or a checkpoint directory")
    Path checkpoint;

    @Option(names = "--prompt", description = "text to continue (default: the tokenizer's own)") String prompt;

    @Option(names = "--tokens", description = "tokens to generate (default ${DEFAULT-VALUE})") int tokens = 200;

    @Option(names = "--temperature", description = "softmax temperature; 0 takes the most likely token "
            + "(default ${DEFAULT-VALUE})") float temperature = 0.8f;

    @Option(names = "--top-k", description = "sample among the k most likely tokens, 0 for all "
            + "(default ${DEFAULT-VALUE})") int topK = 40;

    @Option(names = "--seed", description = "sampling seed (default ${DEFAULT-VALUE})") long seed = 1;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        if (tokens < 0 || temperature < 0 || topK < 0) {
            throw new IllegalArgumentException("--tokens, --temperature and --top-k must be ≥ 0");
        }
        Checkpoints.Loaded ckpt = Checkpoints.loadAny(checkpoint);
        GptConfig config = Json.GSON.fromJson(ckpt.state().get("model"), GptConfig.class);
        Tokenizer tokenizer = Tokenizer.fromJson(ckpt.state().getAsJsonObject("tokenizer"));
        int[] context = tokenizer.encode(prompt != null ? prompt : tokenizer.defaultPrompt());
        if (context.length == 0) {
            throw new IllegalArgumentException("--prompt is empty");
        }
        int t = config.context();
        int v = config.vocab();
        Rng rng = new Rng(seed);
        try (Backend device = backend.open(); Gpt model = new Gpt(device, config);
             GptPass pass = model.pass(1, t, false)) {
            model.weights().upload(ckpt.model(), "checkpoint '" + ckpt.dir() + "'");
            Graph.Builder g = Graph.builder("sample").input(pass.tokens()).output(pass.logits());
            pass.recordForward(g);
            int[] window = new int[t];
            float[] logits = new float[t * v];
            int[] text = Arrays.copyOf(context, context.length + tokens);
            int length = context.length;
            try (Executable forward = device.compile(g.build())) {
                for (int i = 0; i < tokens; i++) {
                    int n = Math.min(length, t); // the newest t tokens; the causal mask ignores the rest
                    Arrays.fill(window, 0);
                    System.arraycopy(text, length - n, window, 0, n);
                    device.upload(pass.tokens(), window);
                    forward.run();
                    device.download(pass.logits(), logits);
                    text[length++] = pick(logits, (n - 1) * v, v, rng);
                }
            }
            System.out.println(tokenizer.decode(text, 0, length));
        }
        return 0;
    }

    /** A token from the logits at {@code offset}: argmax at temperature 0, else softmax sampling among the top k. */
    private int pick(float[] logits, int offset, int v, Rng rng) {
        if (temperature == 0) {
            int best = 0;
            for (int j = 1; j < v; j++) {
                best = logits[offset + j] > logits[offset + best] ? j : best;
            }
            return best;
        }
        float[] row = Arrays.copyOfRange(logits, offset, offset + v);
        float cutoff = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < v) {
            float[] sorted = row.clone();
            Arrays.sort(sorted);
            cutoff = sorted[v - topK];
        }
        float max = Float.NEGATIVE_INFINITY;
        for (float x : row) {
            max = Math.max(max, x);
        }
        double[] p = new double[v];
        double sum = 0;
        for (int j = 0; j < v; j++) {
            p[j] = row[j] < cutoff ? 0 : Math.exp((row[j] - max) / temperature);
            sum += p[j];
        }
        double r = rng.nextDouble() * sum;
        for (int j = 0; j < v; j++) {
            r -= p[j];
            if (r < 0) {
                return j;
            }
        }
        return v - 1;
    }
}
