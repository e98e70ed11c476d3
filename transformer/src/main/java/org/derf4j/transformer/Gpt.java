package org.derf4j.transformer;

import org.derf4j.kernels.Backend;

/**
 * A GPT-2-style decoder with switchable normalization: token and position embeddings (scaled by a
 * learnable scalar, initialised to √C, for Derf and DyT, as the Derf paper's language models do), pre-norm
 * blocks of causal multi-head attention and a 4× GELU MLP, a final norm and an LM head tied to the token
 * embedding.
 *
 * <p>The model is written against the backend interface only: its weights and activations live on the
 * backend's device, and its forward and backward passes are graphs of ops ({@link GptPass}).
 */
public final class Gpt implements AutoCloseable {
    private final Backend backend;
    private final GptConfig config;
    private final GptWeights weights;

    /** Allocates the weights (zero); call {@code weights().initialize(seed)} or load a checkpoint. */
    public Gpt(Backend backend, GptConfig config) {
        this.backend = backend;
        this.config = config;
        this.weights = new GptWeights(backend, config);
    }

    public Backend backend() {
        return backend;
    }

    public GptConfig config() {
        return config;
    }

    public GptWeights weights() {
        return weights;
    }

    /** Buffers for a pass over [batch, seqLen] tokens; with {@code training}, for the backward too. */
    public GptPass pass(int batch, int seqLen, boolean training) {
        return new GptPass(this, batch, seqLen, training);
    }

    @Override
    public void close() {
        weights.close();
    }
}
