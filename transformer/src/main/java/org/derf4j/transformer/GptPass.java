package org.derf4j.transformer;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Norm;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;

/**
 * The device buffers of one forward (and, for training, backward) pass of a {@link Gpt} at a fixed batch
 * shape [B,T], and the ops that run it. The ops are recorded into a {@link Graph} once and replayed.
 *
 * <pre>
 *   forward                                         backward (one residual-gradient stream, dresid)
 *   resid[0] = scale·(wte[tokens] + wpe)            Embedding.Backward  ← dresid
 *   per layer l:                                    per layer, in reverse:
 *     ln1   = norm1(resid[l])                         dresid += norm1ᵀ(dln1)
 *     qkv   = ln1·Wqkvᵀ + b                           dln1   = (dqkv·Wqkv),  dWqkv += dqkvᵀ·ln1
 *     atty  = attention(qkv)   (saves lse)            dqkv   = attentionᵀ(datty)
 *     mid   = resid[l] + atty·Wprojᵀ + b              datty  = dresid·Wproj
 *     ln2   = norm2(mid)                              dresid += norm2ᵀ(dln2)
 *     fch   = ln2·Wfcᵀ + b;   gelu = GELU(fch)        dln2 = dfch·Wfc;  dfch = GELUᵀ(dgelu)
 *     resid[l+1] = mid + gelu·Wmlpᵀ + b               dgelu = dresid·Wmlp
 *   lnf = normf(resid[L]);  logits = lnf·wteᵀ         dresid = normfᵀ(dlnf); dlnf = dlogits·wte
 *   CrossEntropy: loss, and dlogits written over the logits
 * </pre>
 * The gradient of a residual sum reaches both branches unchanged, so one buffer {@code dresid} carries it
 * down the whole network: each norm's backward adds its dx into it (as llm.c does). The per-layer gradient
 * buffers are shared by all layers and cleared before each layer's backward.
 */
public final class GptPass implements AutoCloseable {

    /**
     * A norm layer as this pass runs it, for measurements: its name as in the checkpoint without the
     * {@code transformer.} prefix ({@code h.0.ln_1}, {@code h.0.ln_2}, ..., {@code ln_f}), its parameters, and its
     * input and output activations [B,T,C] as the last forward replay left them.
     */
    public record NormSite(String name, GptWeights.NormLayer layer, Tensor input, Tensor output) {
    }

    /** A norm layer's saved row statistics: LayerNorm has mean and rstd, RMSNorm rstd, Derf and DyT none. */
    private record NormStats(Tensor mean, Tensor rstd) {
    }

    private final Gpt model;
    private final GptConfig config;
    private final int batch;
    private final int seqLen;
    private final List<Tensor> owned = new ArrayList<>();

    private final Tensor tokens;
    private final Tensor targets;
    private final Tensor loss;
    private final Tensor correct;
    private final Tensor logits;
    // forward activations, per layer
    private final Tensor[] resid;
    private final Tensor[] ln1;
    private final NormStats[] ln1Stats;
    private final Tensor[] qkv;
    private final Tensor[] atty;
    private final Tensor[] lse;
    private final Tensor[] mid;
    private final Tensor[] ln2;
    private final NormStats[] ln2Stats;
    private final Tensor[] fch;
    private final Tensor[] gelu;
    private final Tensor branch;
    private final Tensor lnf;
    private final NormStats lnfStats;
    // backward buffers (training passes only), shared across layers
    private final Tensor dresid;
    private final Tensor dlnf;
    private final Tensor dln1;
    private final Tensor dqkv;
    private final Tensor datty;
    private final Tensor dln2;
    private final Tensor dfch;
    private final Tensor dgelu;

    GptPass(Gpt model, int batch, int seqLen, boolean training) {
        this.model = model;
        this.config = model.config();
        if (batch <= 0) {
            throw new IllegalArgumentException("batch must be positive, got " + batch);
        }
        if (seqLen <= 0 || seqLen > config.context()) {
            throw new IllegalArgumentException("sequence length must be in [1, context = " + config.context()
                    + "], got " + seqLen);
        }
        this.batch = batch;
        this.seqLen = seqLen;
        int layers = config.layers();
        int b = batch;
        int t = seqLen;
        int c = config.width();
        tokens = alloc("tokens", DType.I32, b, t);
        targets = alloc("targets", DType.I32, b, t);
        loss = alloc("loss", DType.F32, 1);
        correct = alloc("correct", DType.F32, 1);
        logits = alloc("logits", DType.F32, b, t, config.vocab());
        resid = new Tensor[layers + 1];
        ln1 = new Tensor[layers];
        ln1Stats = new NormStats[layers];
        qkv = new Tensor[layers];
        atty = new Tensor[layers];
        lse = new Tensor[layers];
        mid = new Tensor[layers];
        ln2 = new Tensor[layers];
        ln2Stats = new NormStats[layers];
        fch = new Tensor[layers];
        gelu = new Tensor[layers];
        resid[0] = alloc("resid.0", DType.F32, b, t, c);
        for (int l = 0; l < layers; l++) {
            ln1[l] = alloc("ln1." + l, DType.F32, b, t, c);
            ln1Stats[l] = stats("ln1." + l);
            qkv[l] = alloc("qkv." + l, DType.F32, b, t, 3 * c);
            atty[l] = alloc("atty." + l, DType.F32, b, t, c);
            lse[l] = alloc("lse." + l, DType.F32, b, config.heads(), t);
            mid[l] = alloc("mid." + l, DType.F32, b, t, c);
            ln2[l] = alloc("ln2." + l, DType.F32, b, t, c);
            ln2Stats[l] = stats("ln2." + l);
            fch[l] = alloc("fch." + l, DType.F32, b, t, 4 * c);
            gelu[l] = alloc("gelu." + l, DType.F32, b, t, 4 * c);
            resid[l + 1] = alloc("resid." + (l + 1), DType.F32, b, t, c);
        }
        branch = alloc("branch", DType.F32, b, t, c);
        lnf = alloc("lnf", DType.F32, b, t, c);
        lnfStats = stats("lnf");
        dresid = training ? alloc("dresid", DType.F32, b, t, c) : null;
        dlnf = training ? alloc("dlnf", DType.F32, b, t, c) : null;
        dln1 = training ? alloc("dln1", DType.F32, b, t, c) : null;
        dqkv = training ? alloc("dqkv", DType.F32, b, t, 3 * c) : null;
        datty = training ? alloc("datty", DType.F32, b, t, c) : null;
        dln2 = training ? alloc("dln2", DType.F32, b, t, c) : null;
        dfch = training ? alloc("dfch", DType.F32, b, t, 4 * c) : null;
        dgelu = training ? alloc("dgelu", DType.F32, b, t, 4 * c) : null;
    }

    public int batch() {
        return batch;
    }

    public int seqLen() {
        return seqLen;
    }

    /** Token ids [B,T], uploaded before each replay. */
    public Tensor tokens() {
        return tokens;
    }

    /** Next-token targets [B,T]; −1 marks a position without a target. */
    public Tensor targets() {
        return targets;
    }

    /** Mean cross-entropy [1], accumulated by each replay; cleared by {@link #recordClearMetrics}. */
    public Tensor loss() {
        return loss;
    }

    /** Number of positions whose argmax equals the target [1], accumulated like the loss. */
    public Tensor correct() {
        return correct;
    }

    /** Logits [B,T,V]; after a training replay they hold dlogits instead. */
    public Tensor logits() {
        return logits;
    }

    public boolean training() {
        return dresid != null;
    }

    /** Every norm layer in forward order: ln_1 and ln_2 of each block, then ln_f. */
    public List<NormSite> normSites() {
        GptWeights w = model.weights();
        List<NormSite> sites = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) {
            GptWeights.Block blk = w.blocks().get(l);
            sites.add(new NormSite("h." + l + ".ln_1", blk.ln1(), resid[l], ln1[l]));
            sites.add(new NormSite("h." + l + ".ln_2", blk.ln2(), mid[l], ln2[l]));
        }
        sites.add(new NormSite("ln_f", w.lnf(), resid[config.layers()], lnf));
        return sites;
    }

    /** The attention input of block {@code layer}, {@code qkv[B,T,3C]}, as the last forward replay left it. */
    public Tensor qkv(int layer) {
        return qkv[layer];
    }

    /** Clears the loss and the correct count, for the start of a step or an evaluation. */
    public void recordClearMetrics(Graph.Builder g) {
        g.add(Zero.of(loss, correct));
    }

    /** Forward from tokens to logits. */
    public void recordForward(Graph.Builder g) {
        GptWeights w = model.weights();
        g.add(new Embedding.Forward(resid[0], tokens, w.wte().value(), w.wpe().value(),
                valueOrNull(w.embeddingScale())));
        for (int l = 0; l < config.layers(); l++) {
            GptWeights.Block blk = w.blocks().get(l);
            normForward(g, blk.ln1(), ln1[l], ln1Stats[l], resid[l]);
            g.add(new Matmul.Forward(qkv[l], ln1[l], blk.qkv().weight().value(), blk.qkv().bias().value()));
            g.add(new Attention.Forward(atty[l], lse[l], qkv[l], config.heads()));
            g.add(new Matmul.Forward(branch, atty[l], blk.attnProj().weight().value(),
                    blk.attnProj().bias().value()));
            g.add(new Residual.Forward(mid[l], resid[l], branch));
            normForward(g, blk.ln2(), ln2[l], ln2Stats[l], mid[l]);
            g.add(new Matmul.Forward(fch[l], ln2[l], blk.fc().weight().value(), blk.fc().bias().value()));
            g.add(new Gelu.Forward(gelu[l], fch[l]));
            g.add(new Matmul.Forward(branch, gelu[l], blk.proj().weight().value(), blk.proj().bias().value()));
            g.add(new Residual.Forward(resid[l + 1], mid[l], branch));
        }
        normForward(g, w.lnf(), lnf, lnfStats, resid[config.layers()]);
        g.add(new Matmul.Forward(logits, lnf, w.wte().value(), null)); // tied LM head
    }

    /** Loss and correct count only, for evaluation. */
    public void recordLoss(Graph.Builder g) {
        g.add(CrossEntropy.loss(loss, correct, logits, targets));
    }

    /**
     * The fused loss and dlogits (weighted by {@code lossScale}, 1/accumulation steps), then the backward
     * pass, which adds into every parameter's gradient.
     */
    public void recordLossAndBackward(Graph.Builder g, float lossScale) {
        if (!training()) {
            throw new IllegalStateException("this pass was made for inference; make one with training = true");
        }
        GptWeights w = model.weights();
        g.add(new CrossEntropy(loss, correct, logits, logits, targets, lossScale));
        g.add(Zero.of(dresid, dlnf));
        g.add(new Matmul.Backward(dlnf, w.wte().grad(), null, logits, lnf, w.wte().value()));
        normBackward(g, w.lnf(), dresid, dlnf, resid[config.layers()], lnfStats);
        for (int l = config.layers() - 1; l >= 0; l--) {
            GptWeights.Block blk = w.blocks().get(l);
            g.add(Zero.of(dgelu, dfch, dln2, datty, dqkv, dln1));
            linearBackward(g, blk.proj(), dgelu, dresid, gelu[l]);
            g.add(new Gelu.Backward(dfch, dgelu, fch[l]));
            linearBackward(g, blk.fc(), dln2, dfch, ln2[l]);
            normBackward(g, blk.ln2(), dresid, dln2, mid[l], ln2Stats[l]);
            linearBackward(g, blk.attnProj(), datty, dresid, atty[l]);
            g.add(new Attention.Backward(dqkv, datty, qkv[l], atty[l], lse[l], config.heads()));
            linearBackward(g, blk.qkv(), dln1, dqkv, ln1[l]);
            normBackward(g, blk.ln1(), dresid, dln1, resid[l], ln1Stats[l]);
        }
        Parameter scale = w.embeddingScale();
        g.add(new Embedding.Backward(w.wte().grad(), w.wpe().grad(), gradOrNull(scale), dresid, tokens,
                w.wte().value(), w.wpe().value(), valueOrNull(scale)));
    }

    private void linearBackward(Graph.Builder g, GptWeights.Linear lin, Tensor dx, Tensor dout, Tensor x) {
        g.add(new Matmul.Backward(dx, lin.weight().grad(), lin.bias().grad(), dout, x, lin.weight().value()));
    }

    private void normForward(Graph.Builder g, GptWeights.NormLayer n, Tensor out, NormStats stats, Tensor x) {
        g.add(switch (n.kind()) {
            case PointwiseNorm.Kind kind -> new PointwiseNorm.Forward(kind, out, x, n.alpha().value(),
                    valueOrNull(n.shift()), n.gamma().value(), n.beta().value());
            case Norm.Statistical.LAYERNORM -> new LayerNorm.Forward(out, stats.mean(), stats.rstd(), x,
                    n.gamma().value(), n.beta().value());
            case Norm.Statistical.RMSNORM -> new RmsNorm.Forward(out, stats.rstd(), x, n.gamma().value());
        });
    }

    private void normBackward(Graph.Builder g, GptWeights.NormLayer n, Tensor dx, Tensor dout, Tensor x,
                              NormStats stats) {
        g.add(switch (n.kind()) {
            case PointwiseNorm.Kind kind -> new PointwiseNorm.Backward(kind, dx, n.alpha().grad(), gradOrNull(n.shift()),
                    n.gamma().grad(), n.beta().grad(), dout, x, n.alpha().value(), valueOrNull(n.shift()),
                    n.gamma().value());
            case Norm.Statistical.LAYERNORM -> new LayerNorm.Backward(dx, n.gamma().grad(), n.beta().grad(), dout, x,
                    stats.mean(), stats.rstd(), n.gamma().value());
            case Norm.Statistical.RMSNORM -> new RmsNorm.Backward(dx, n.gamma().grad(), dout, x, stats.rstd(),
                    n.gamma().value());
        });
    }

    private static Tensor valueOrNull(Parameter p) {
        return p == null ? null : p.value();
    }

    private static Tensor gradOrNull(Parameter p) {
        return p == null ? null : p.grad();
    }

    /** The row statistics a norm saves for its backward: LayerNorm's mean and rstd, RMSNorm's rstd. */
    private NormStats stats(String name) {
        int rows = batch * seqLen;
        return switch (config.norm()) {
            case PointwiseNorm.Kind kind -> null;
            case Norm.Statistical.LAYERNORM -> new NormStats(alloc(name + ".mean", DType.F32, rows),
                    alloc(name + ".rstd", DType.F32, rows));
            case Norm.Statistical.RMSNORM -> new NormStats(null, alloc(name + ".rstd", DType.F32, rows));
        };
    }

    private Tensor alloc(String name, DType dtype, int... shape) {
        Tensor t = model.backend().allocate(name, dtype, shape);
        owned.add(t);
        return t;
    }

    @Override
    public void close() {
        for (Tensor t : owned) {
            t.close();
        }
        owned.clear();
    }
}
