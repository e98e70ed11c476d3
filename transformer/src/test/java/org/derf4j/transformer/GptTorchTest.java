package org.derf4j.transformer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.derf4j.kernels.Approx;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.HostTensor;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.TestBackends;
import org.derf4j.kernels.TorchReference;
import org.derf4j.kernels.Zero;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole model against a PyTorch GPT of the same architecture, built from our safetensors file: the
 * logits, the loss and the gradient of every parameter, for each norm, on every backend.
 */
class GptTorchTest {

    @TempDir
    Path dir;

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Norm.values().stream().map(k -> Arguments.of(p, k)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void logitsLossAndEveryGradientMatchPyTorch(BackendProvider provider, Norm norm) {
        // Odd sizes: head size 5, T = 13 below the context of 16, a batch of 3, vocabulary 29.
        GptConfig config = new GptConfig(29, 16, 2, 4, 20, norm, 0.7f, 0.4f, 0.9f);
        int batch = 3;
        int seqLen = 13;
        SplittableRandom rng = Seeds.random("gpt-" + norm);
        HostTensor tokens = HostTensor.ints("tokens", rng, 0, config.vocab(), batch, seqLen);
        HostTensor targets = HostTensor.ints("targets", rng, -1, config.vocab(), batch, seqLen); // some ignored
        Path weights = dir.resolve(provider.name() + "-" + norm.id() + ".safetensors");

        TestBackends.with(provider, backend -> {
            try (Gpt model = new Gpt(backend, config); GptPass pass = model.pass(batch, seqLen, true)) {
                randomizeWeights(model, rng, weights);
                backend.upload(pass.tokens(), tokens.ints());
                backend.upload(pass.targets(), targets.ints());
                Graph.Builder forward = Graph.builder("forward");
                pass.recordForward(forward);
                Graph.Builder backward = Graph.builder("backward");
                backward.add(new Zero(model.weights().all().stream().map(Parameter::grad).toList()));
                pass.recordClearMetrics(backward);
                pass.recordLossAndBackward(backward, 1f);
                float[] logits;
                try (Executable f = backend.compile(forward.build()); Executable b = backend.compile(backward.build())) {
                    f.run();
                    logits = HostTensor.download(backend, pass.logits());
                    b.run();
                }
                float[] loss = HostTensor.download(backend, pass.loss());

                TorchReference.Result ref = TorchReference.call("gpt")
                        .param("weights", weights.toString()).param("norm", norm.id())
                        .param("layers", config.layers()).param("heads", config.heads())
                        .input(tokens, targets).run();

                // float32 through ~25 ops with reductions over at most 4C = 80 or B·T = 39 terms: errors of a
                // few 1e-6 relative to each tensor's largest value; 1e-4 of it leaves a wide margin.
                double[] refLogits = ref.get("logits");
                Approx.of(1e-4 * Approx.maxAbs(refLogits), 1e-4).assertClose(norm + " logits", logits, refLogits);
                Approx.of(1e-5, 1e-5).assertClose(norm + " loss", loss, ref.get("loss"));
                for (Parameter p : model.weights().all()) {
                    double[] expected = ref.grad(p.name());
                    float[] got = HostTensor.download(backend, p.grad());
                    Approx.of(1e-4 * Approx.maxAbs(expected) + 1e-9, 1e-3).assertClose(norm + " grad " + p.name(), got,
                            expected);
                }
            }
        });
    }

    /** Moves every weight off its init (γ=1, β=0, s=0 would hide bugs) and writes them for PyTorch. */
    private static void randomizeWeights(Gpt model, SplittableRandom rng, Path file) {
        Backend backend = model.backend();
        model.weights().initialize(rng.nextLong());
        List<org.derf4j.transformer.Safetensors.Entry> entries = new ArrayList<>();
        for (org.derf4j.transformer.Safetensors.Entry e : model.weights().download()) {
            float[] v = e.values();
            for (int i = 0; i < v.length; i++) {
                v[i] += (float) (0.1 * Math.max(1, Math.abs(v[i])) * rng.nextGaussian());
            }
            entries.add(e);
        }
        model.weights().upload(entries.stream().collect(java.util.stream.Collectors.toMap(
                org.derf4j.transformer.Safetensors.Entry::name, e -> e)), "test weights");
        try {
            Safetensors.write(file, entries, Map.of("format", "pt"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertEquals(model.weights().all().size(), entries.size());
        assertEquals(true, Files.exists(file));
    }
}
