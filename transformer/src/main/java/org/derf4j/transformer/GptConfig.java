package org.derf4j.transformer;

import org.derf4j.kernels.Norm;

/**
 * The shape of a GPT-2-style decoder.
 *
 * @param vocab      vocabulary size V
 * @param context    maximum sequence length (the number of position embeddings)
 * @param layers     number of Transformer blocks
 * @param heads      attention heads NH; must divide width
 * @param width      channels C
 * @param norm       the layer in place of ln_1, ln_2 and ln_f
 * @param alphaAttn  initial α of the norm before attention (Derf/DyT only)
 * @param alphaMlp   initial α of the norm before the MLP (Derf/DyT only)
 * @param alphaFinal initial α of the final norm (Derf/DyT only)
 * @param embeddingScale initial value of the learnable scale on the embedding sum (Derf/DyT only); 0 stands for
 *                   √width, the paper's init (and what a config saved before this field existed had)
 */
public record GptConfig(int vocab, int context, int layers, int heads, int width, Norm norm, float alphaAttn,
                        float alphaMlp, float alphaFinal, float embeddingScale) {

    /** The Derf paper's default α init. */
    public static final float DEFAULT_ALPHA = 0.5f;

    public GptConfig {
        positive("vocab", vocab);
        positive("context", context);
        positive("layers", layers);
        positive("heads", heads);
        positive("width", width);
        if (width % heads != 0) {
            throw new IllegalArgumentException("model config: heads (" + heads + ") must divide width (" + width
                    + ")");
        }
        if (norm == null) {
            throw new IllegalArgumentException("model config: norm must be one of "
                    + Norm.values().stream().map(Norm::id).toList());
        }
        finite("alphaAttn", alphaAttn);
        finite("alphaMlp", alphaMlp);
        finite("alphaFinal", alphaFinal);
        if (embeddingScale == 0f) {
            embeddingScale = (float) Math.sqrt(width);
        }
        if (!(embeddingScale > 0) || !Float.isFinite(embeddingScale)) {
            throw new IllegalArgumentException("model config: embeddingScale must be positive and finite, got "
                    + embeddingScale);
        }
        long perTensor = (long) 4 * width * width;
        long logits = (long) vocab * width;
        if (perTensor > Integer.MAX_VALUE - 8 || logits > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("model config: width " + width + " and vocab " + vocab
                    + " make a weight larger than one buffer (2^31 elements)");
        }
    }

    /** A config whose embedding scale starts at √width, the paper's init. */
    public GptConfig(int vocab, int context, int layers, int heads, int width, Norm norm, float alphaAttn,
                     float alphaMlp, float alphaFinal) {
        this(vocab, context, layers, heads, width, norm, alphaAttn, alphaMlp, alphaFinal, 0f);
    }

    /** A config with the default α inits. */
    public static GptConfig of(int vocab, int context, int layers, int heads, int width, Norm norm) {
        return new GptConfig(vocab, context, layers, heads, width, norm, DEFAULT_ALPHA, DEFAULT_ALPHA, DEFAULT_ALPHA);
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("model config: " + name + " must be positive, got " + v);
        }
    }

    private static void finite(String name, float v) {
        if (!Float.isFinite(v)) {
            throw new IllegalArgumentException("model config: " + name + " must be finite, got " + v);
        }
    }
}
