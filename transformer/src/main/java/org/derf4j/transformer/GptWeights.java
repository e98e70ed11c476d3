package org.derf4j.transformer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.PointwiseNorm;

/**
 * Every parameter of a {@link Gpt}, in a fixed order, with nanoGPT's names so that a PyTorch user can load
 * a checkpoint into nanoGPT (patched as in the Derf paper's code).
 *
 * <p>The LM head is tied to the token embedding ({@code lm_head.weight} is {@code transformer.wte.weight}),
 * as in GPT-2, nanoGPT and the paper: it saves V·C parameters, which dominate small models.
 */
public final class GptWeights implements AutoCloseable {

    /** A norm layer's parameters; α and s are null where the kind has none, β for RMSNorm. */
    public record NormLayer(Norm kind, Parameter alpha, Parameter shift, Parameter gamma, Parameter beta) {
    }

    /** How a parameter starts: N(0, std²), or every element {@code constant} when std is NaN. */
    private record Init(float std, float constant) {
    }

    /** A Linear layer: {@code weight[OC,IC]}, {@code bias[OC]}. */
    public record Linear(Parameter weight, Parameter bias) {
    }

    /** One Transformer block. */
    public record Block(NormLayer ln1, Linear qkv, Linear attnProj, NormLayer ln2, Linear fc, Linear proj) {
    }

    private final GptConfig config;
    private final List<Parameter> all = new ArrayList<>();
    private final List<Init> inits = new ArrayList<>();
    private final Backend backend;
    private final Parameter wte;
    private final Parameter wpe;
    private final Parameter embeddingScale;
    private final List<Block> blocks;
    private final NormLayer lnf;

    public GptWeights(Backend backend, GptConfig config) {
        this.backend = backend;
        this.config = config;
        int c = config.width();
        // GPT-2 init: N(0, 0.02²), residual projections N(0, (0.02/√(2L))²).
        float std = 0.02f;
        float residualStd = (float) (0.02 / Math.sqrt(2.0 * config.layers()));
        wte = normal("transformer.wte.weight", std, true, config.vocab(), c);
        wpe = normal("transformer.wpe.weight", std, true, config.context(), c);
        List<Block> bs = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            String p = "transformer.h." + l + ".";
            NormLayer ln1 = norm(p + "ln_1.", config.alphaAttn());
            Linear qkv = linear(p + "attn.c_attn.", std, 3 * c, c);
            Linear attnProj = linear(p + "attn.c_proj.", residualStd, c, c);
            NormLayer ln2 = norm(p + "ln_2.", config.alphaMlp());
            Linear fc = linear(p + "mlp.c_fc.", std, 4 * c, c);
            Linear proj = linear(p + "mlp.c_proj.", residualStd, c, 4 * c);
            bs.add(new Block(ln1, qkv, attnProj, ln2, fc, proj));
        }
        blocks = Collections.unmodifiableList(bs);
        lnf = norm("transformer.ln_f.", config.alphaFinal());
        embeddingScale = config.norm() instanceof PointwiseNorm.Kind
                ? constant("shared_scale", config.embeddingScale(), 1)
                : null;
    }

    /** Fills every parameter from {@code seed} (host RNG, so every backend starts from the same bits). */
    public void initialize(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < all.size(); i++) {
            Parameter p = all.get(i);
            float[] v = new float[p.size()];
            Init init = inits.get(i);
            if (Float.isNaN(init.std())) {
                Arrays.fill(v, init.constant());
            } else {
                for (int k = 0; k < v.length; k++) {
                    v[k] = (float) (init.std() * rng.nextGaussian());
                }
            }
            backend.upload(p.value(), v);
        }
    }

    /** Downloads every parameter, in checkpoint order. */
    public List<Safetensors.Entry> download() {
        List<Safetensors.Entry> out = new ArrayList<>(all.size());
        for (Parameter p : all) {
            float[] v = new float[p.size()];
            backend.download(p.value(), v);
            out.add(new Safetensors.Entry(p.name(), p.shape(), v));
        }
        return out;
    }

    /**
     * Uploads weights read from a checkpoint. Every parameter must be present with its exact shape, and
     * nothing else may be: a mismatch means the checkpoint is for another model.
     */
    public void upload(Map<String, Safetensors.Entry> entries, String source) {
        for (Parameter p : all) {
            Safetensors.Entry e = entries.get(p.name());
            if (e == null) {
                throw new IllegalArgumentException(source + ": missing tensor '" + p.name() + "' of shape "
                        + Arrays.toString(p.shape()));
            }
            if (!Arrays.equals(e.shape(), p.shape())) {
                throw new IllegalArgumentException(source + ": tensor '" + p.name() + "' has shape "
                        + Arrays.toString(e.shape()) + ", the model expects " + Arrays.toString(p.shape()));
            }
        }
        if (entries.size() != all.size()) {
            List<String> extra = entries.keySet().stream()
                    .filter(n -> all.stream().noneMatch(p -> p.name().equals(n))).toList();
            throw new IllegalArgumentException(source + ": unexpected tensors " + extra
                    + " (a checkpoint of a different model?)");
        }
        for (Parameter p : all) {
            backend.upload(p.value(), entries.get(p.name()).values());
        }
    }

    public GptConfig config() {
        return config;
    }

    /** Every parameter in checkpoint order. */
    public List<Parameter> all() {
        return Collections.unmodifiableList(all);
    }

    public long count() {
        long n = 0;
        for (Parameter p : all) {
            n += p.size();
        }
        return n;
    }

    public Parameter wte() {
        return wte;
    }

    public Parameter wpe() {
        return wpe;
    }

    /** The learnable scale on the embedding sum (Derf and DyT), or null. */
    public Parameter embeddingScale() {
        return embeddingScale;
    }

    public List<Block> blocks() {
        return blocks;
    }

    public NormLayer lnf() {
        return lnf;
    }

    /** ln_1, ln_2 or ln_f: point-wise kinds have α (and s if they shift), RMSNorm has no β. */
    private NormLayer norm(String prefix, float alphaInit) {
        Norm kind = config.norm();
        int c = config.width();
        return switch (kind) {
            case PointwiseNorm.Kind k -> new NormLayer(k, constant(prefix + "alpha", alphaInit, 1),
                    k.hasShift() ? constant(prefix + "shift", 0f, 1) : null, constant(prefix + "weight", 1f, c),
                    constant(prefix + "bias", 0f, c));
            case Norm.Statistical.LAYERNORM -> new NormLayer(kind, null, null, constant(prefix + "weight", 1f, c),
                    constant(prefix + "bias", 0f, c));
            case Norm.Statistical.RMSNORM -> new NormLayer(kind, null, null, constant(prefix + "weight", 1f, c),
                    null);
        };
    }

    private Linear linear(String prefix, float std, int out, int in) {
        return new Linear(normal(prefix + "weight", std, true, out, in), constant(prefix + "bias", 0f, out));
    }

    private Parameter normal(String name, float std, boolean decay, int... shape) {
        return add(name, decay, std, 0f, shape);
    }

    private Parameter constant(String name, float value, int... shape) {
        return add(name, false, Float.NaN, value, shape);
    }

    private Parameter add(String name, boolean decay, float std, float value, int... shape) {
        Parameter p = new Parameter(name, backend.allocate(name, shape), backend.allocate("grad:" + name, shape),
                decay);
        all.add(p);
        inits.add(new Init(std, value));
        return p;
    }

    @Override
    public void close() {
        for (Parameter p : all) {
            p.value().close();
            p.grad().close();
        }
    }
}
