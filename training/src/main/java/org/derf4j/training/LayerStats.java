package org.derf4j.training;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.GptPass;
import org.derf4j.transformer.GptWeights;
import org.derf4j.transformer.Parameter;

/**
 * Per-layer statistics of one training step, for {@code metrics.jsonl}: what the norms receive and give, how
 * sharp attention is, where the gradient goes, and where α, s and the embedding scale are. They are measured
 * on the host from tensors downloaded through the {@link Backend} interface (so every backend gives them), only
 * on the steps that ask for them: the compiled step graphs are not touched.
 *
 * <p>Call {@link #measure} after a step's update. The activations are those of the step's last micro-batch,
 * computed with the weights before the update; the gradients are the step's (summed over micro-batches,
 * before clipping); α, s and the scale are the values after the update. Field names, with {@code <site>} one of
 * {@code h.<l>.ln_1}, {@code h.<l>.ln_2}, {@code ln_f}:
 * <pre>
 *   rms_in.&lt;site&gt;, rms_out.&lt;site&gt;   √mean(x²) of the norm's input and output over the whole [B,T,C] batch
 *   saturation.&lt;site&gt;               Derf, DyT: fraction of elements with |α·x + s| &gt; 2 (erf 0.995, tanh 0.964)
 *   attn_entropy.h.&lt;l&gt;               mean entropy (nats) of the attention rows of block l, over heads,
 *                                     positions and sequences (the first ENTROPY_BUDGET/T² sequences)
 *   attn_entropy_uniform              the same for uniform causal attention, mean over t of ln(t+1): the maximum
 *   rms.logits                        √mean(logit²) over the batch's rows (at most LOGIT_BUDGET/(V·C) of them)
 *   grad_norm.&lt;group&gt;                 ‖g‖₂ of a parameter group: wte, wpe, shared_scale, h.&lt;l&gt;.attn, h.&lt;l&gt;.mlp,
 *                                     h.&lt;l&gt;.ln_1, h.&lt;l&gt;.ln_2, ln_f (the groups' squares add up to grad_norm²)
 *   alpha.&lt;site&gt;, shift.&lt;site&gt;        Derf, DyT: α (and Derf's s)
 *   shared_scale                      Derf, DyT: the scale on the embedding sum
 * </pre>
 */
final class LayerStats {

    /** Multiply-adds (about) that one block's attention entropy may cost: sequences are sampled to fit. */
    static final long ENTROPY_BUDGET = 1L << 18;
    /** Multiply-adds (about) that the logits' RMS may cost. */
    static final long LOGIT_BUDGET = 1L << 26;
    /** |α·x + s| beyond this counts as saturated. */
    static final double SATURATION = 2.0;

    private final Backend backend;
    private final Gpt model;
    private final GptPass pass;
    private final float[] input;
    private final float[] output;
    private final float[] qkv;
    private final float[] one = new float[1];

    LayerStats(Backend backend, Gpt model, GptPass pass) {
        this.backend = backend;
        this.model = model;
        this.pass = pass;
        int rows = pass.batch() * pass.seqLen();
        int c = model.config().width();
        this.input = new float[rows * c];
        this.output = new float[rows * c];
        this.qkv = new float[rows * 3 * c];
    }

    /** The statistics of the step just run, in a fixed order. */
    Map<String, Double> measure() {
        Map<String, Double> out = new LinkedHashMap<>();
        int b = pass.batch();
        int t = pass.seqLen();
        int c = model.config().width();
        GptWeights w = model.weights();
        for (GptPass.NormSite site : pass.normSites()) {
            backend.download(site.input(), input);
            backend.download(site.output(), output);
            out.put("rms_in." + site.name(), rms(input));
            out.put("rms_out." + site.name(), rms(output));
            if (site.layer().kind() instanceof PointwiseNorm.Kind) {
                float alpha = scalar(site.layer().alpha());
                float shift = site.layer().shift() == null ? 0f : scalar(site.layer().shift());
                out.put("saturation." + site.name(), saturation(input, alpha, shift));
            }
        }
        for (int l = 0; l < model.config().layers(); l++) {
            backend.download(pass.qkv(l), qkv);
            out.put("attn_entropy.h." + l, attentionEntropy(qkv, b, t, c, model.config().heads(),
                    entropySequences(b, t)));
        }
        out.put("attn_entropy_uniform", uniformEntropy(t));
        // lnf, the last site downloaded, is still in output.
        out.put("rms.logits", logitRms(output, download(w.wte()), model.config().vocab(), c,
                (int) Math.min((long) b * t, Math.max(1, LOGIT_BUDGET / ((long) model.config().vocab() * c)))));
        for (Map.Entry<String, Double> g : gradientNorms(w.all()).entrySet()) {
            out.put("grad_norm." + g.getKey(), g.getValue());
        }
        for (GptPass.NormSite site : pass.normSites()) {
            if (site.layer().alpha() != null) {
                out.put("alpha." + site.name(), (double) scalar(site.layer().alpha()));
            }
            if (site.layer().shift() != null) {
                out.put("shift." + site.name(), (double) scalar(site.layer().shift()));
            }
        }
        if (w.embeddingScale() != null) {
            out.put("shared_scale", (double) scalar(w.embeddingScale()));
        }
        return out;
    }

    /** How many of a batch's sequences the entropy looks at: all that fit {@link #ENTROPY_BUDGET}, at least 1. */
    static int entropySequences(int batch, int seqLen) {
        return (int) Math.min(batch, Math.max(1, ENTROPY_BUDGET / ((long) seqLen * seqLen)));
    }

    /** The group of a parameter: {@code h.<l>.<attn|mlp|ln_1|ln_2>} inside blocks, else its first name part. */
    static String group(String parameterName) {
        String[] parts = parameterName.replaceFirst("^transformer\\.", "").split("\\.");
        return parts[0].equals("h") && parts.length >= 3 ? "h." + parts[1] + "." + parts[2] : parts[0];
    }

    /** ‖g‖₂ per {@link #group}, in parameter order. */
    Map<String, Double> gradientNorms(List<Parameter> params) {
        Map<String, Double> squares = new LinkedHashMap<>();
        for (Parameter p : params) {
            float[] g = new float[p.size()];
            backend.download(p.grad(), g);
            double sum = 0;
            for (float x : g) {
                sum += (double) x * x;
            }
            squares.merge(group(p.name()), sum, Double::sum);
        }
        squares.replaceAll((k, v) -> Math.sqrt(v));
        return squares;
    }

    static double rms(float[] x) {
        double sum = 0;
        for (float v : x) {
            sum += (double) v * v;
        }
        return Math.sqrt(sum / x.length);
    }

    static double saturation(float[] x, float alpha, float shift) {
        long n = 0;
        for (float v : x) {
            n += Math.abs((double) alpha * v + shift) > SATURATION ? 1 : 0;
        }
        return (double) n / x.length;
    }

    /**
     * The mean entropy, in nats, of the causal attention rows {@code softmax(q_t·k_s/√HS), s ≤ t} over the
     * first {@code sequences} sequences of {@code qkv[B,T,3C]} (the layout of {@link org.derf4j.kernels.Attention}),
     * every head and every position.
     */
    static double attentionEntropy(float[] qkv, int batch, int seqLen, int width, int heads, int sequences) {
        double[] scores = new double[seqLen];
        double total = 0;
        long rows = 0;
        for (int b = 0; b < Math.min(batch, sequences); b++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < seqLen; t++) {
                    double max = scores(qkv, b, h, t, seqLen, width, heads, scores);
                    // H = log Z − Σ p·(score − max), with Z = Σ exp(score − max) and p = exp(score − max)/Z.
                    double z = 0;
                    double weighted = 0;
                    for (int s = 0; s <= t; s++) {
                        double e = Math.exp(scores[s] - max);
                        z += e;
                        weighted += e * (scores[s] - max);
                    }
                    total += Math.log(z) - weighted / z;
                    rows++;
                }
            }
        }
        return total / rows;
    }

    /**
     * The causal attention scores {@code q_t·k_s/√HS}, s ≤ t, of sequence b and head h into {@code scores[0..t]};
     * returns their maximum.
     */
    static double scores(float[] qkv, int b, int h, int t, int seqLen, int width, int heads, double[] scores) {
        int hs = width / heads;
        double scale = 1.0 / Math.sqrt(hs);
        int q = (b * seqLen + t) * 3 * width + h * hs;
        double max = Double.NEGATIVE_INFINITY;
        for (int s = 0; s <= t; s++) {
            int k = (b * seqLen + s) * 3 * width + width + h * hs;
            double dot = 0;
            for (int d = 0; d < hs; d++) {
                dot += (double) qkv[q + d] * qkv[k + d];
            }
            scores[s] = dot * scale;
            max = Math.max(max, scores[s]);
        }
        return max;
    }

    /** The mean entropy of uniform causal attention over T positions: mean over t of ln(t+1). */
    static double uniformEntropy(int seqLen) {
        double sum = 0;
        for (int t = 0; t < seqLen; t++) {
            sum += Math.log(t + 1);
        }
        return sum / seqLen;
    }

    /** √mean(logit²) of the first {@code rows} rows of {@code lnf[rows,C]·wteᵀ} (the tied head). */
    static double logitRms(float[] lnf, float[] wte, int vocab, int width, int rows) {
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vocab; v++) {
                double dot = 0;
                for (int d = 0; d < width; d++) {
                    dot += (double) lnf[r * width + d] * wte[v * width + d];
                }
                sum += dot * dot;
            }
        }
        return Math.sqrt(sum / ((double) rows * vocab));
    }

    private float[] download(Parameter p) {
        float[] v = new float[p.size()];
        backend.download(p.value(), v);
        return v;
    }

    private float scalar(Parameter p) {
        backend.download(p.value(), one);
        return one[0];
    }
}
