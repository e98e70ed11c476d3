package org.derf4j.kernels.cpu;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.PointwiseNorm.Kind;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;

/**
 * One transformer block with every op in it, as a whole training step: zero the gradients, forward, loss,
 * backward, clip, AdamW. The numbers are not trained to anything; the graph exists to exercise a backend
 * the way a training loop does (many ops, replayed, with the host uploading the step's hyper-parameters
 * and downloading the loss).
 *
 * <pre>
 *   x0 = scale·(wte[tokens] + wpe)            Embedding
 *   n1 = Derf(x0)                             PointwiseNorm
 *   qkv = n1·Wqkvᵀ + b; att = Attention(qkv); proj = att·Wprojᵀ + b
 *   x1 = x0 + proj;  n2 = LayerNorm(x1);  h = GELU(n2·Wfcᵀ + b);  fc2 = h·Wfc2ᵀ + b;  mlp = DyT(fc2)
 *   x2 = x1 + mlp;   nf = RmsNorm(x2);    logits = nf·wteᵀ (tied)
 *   loss = CrossEntropy(logits, targets), dlogits in place
 * </pre>
 *
 * Both pointwise norms are in it (DyT on the MLP branch, as a sandwich norm), so that every fast kernel runs
 * in one step, each with the JIT profile it has in a process that uses both.
 */
final class TinyModel implements AutoCloseable {

    /** Sizes: batch B, sequence T (position table MAX_T), channels C, heads NH, vocabulary V. */
    record Dims(int B, int T, int MAX_T, int C, int NH, int V) {
        /**
         * The fast backend splits every reduction into many chunks: 99 rows, C = 96 (two 64-channel embedding
         * chunks), a 384×96 weight (two GradClip segments), B·NH = 12 attention chunks.
         */
        static final Dims CHUNKED = new Dims(3, 33, 40, 96, 4, 301);
        /**
         * Small enough for the interpreter (-Xint), yet rows of C = 38 and V = 37 have whole vectors and
         * leftover columns at any vector width, and heads of HS = 19 pad the attention tiles.
         */
        static final Dims SMALL = new Dims(2, 9, 12, 38, 2, 37);
    }

    private final Backend backend;
    private final int vocab;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    final Tensor tokens;
    final Tensor targets;
    final Tensor hyper;
    final Tensor loss;
    final Tensor stats;
    final Graph step;

    TinyModel(Backend backend) {
        this(backend, Dims.CHUNKED);
    }

    TinyModel(Backend backend, Dims dims) {
        this.backend = backend;
        int B = dims.B();
        int T = dims.T();
        int C = dims.C();
        int NH = dims.NH();
        int V = dims.V();
        vocab = V;
        tokens = allocate("tokens", DType.I32, B, T);
        targets = allocate("targets", DType.I32, B, T);
        hyper = f("hyper", AdamW.HYPER_SIZE);
        loss = f("loss", 1);
        Tensor correct = f("correct", 1);
        stats = f("stats", 2);

        // parameters, each with its gradient; matrices are decayed, the rest not
        List<Tensor> params = new ArrayList<>();
        List<Tensor> grads = new ArrayList<>();
        List<Boolean> decayed = new ArrayList<>();
        Tensor[] wte = param(params, grads, decayed, true, "wte", V, C);
        Tensor[] wpe = param(params, grads, decayed, false, "wpe", dims.MAX_T(), C);
        Tensor[] scale = param(params, grads, decayed, false, "scale", 1);
        Tensor[] alpha = param(params, grads, decayed, false, "alpha", 1);
        Tensor[] shift = param(params, grads, decayed, false, "shift", 1);
        Tensor[] gamma1 = param(params, grads, decayed, false, "gamma1", C);
        Tensor[] beta1 = param(params, grads, decayed, false, "beta1", C);
        Tensor[] wqkv = param(params, grads, decayed, true, "wqkv", 3 * C, C);
        Tensor[] bqkv = param(params, grads, decayed, false, "bqkv", 3 * C);
        Tensor[] wproj = param(params, grads, decayed, true, "wproj", C, C);
        Tensor[] bproj = param(params, grads, decayed, false, "bproj", C);
        Tensor[] gamma2 = param(params, grads, decayed, false, "gamma2", C);
        Tensor[] beta2 = param(params, grads, decayed, false, "beta2", C);
        Tensor[] wfc = param(params, grads, decayed, true, "wfc", 4 * C, C);
        Tensor[] bfc = param(params, grads, decayed, false, "bfc", 4 * C);
        Tensor[] wfc2 = param(params, grads, decayed, true, "wfc2", C, 4 * C);
        Tensor[] bfc2 = param(params, grads, decayed, false, "bfc2", C);
        Tensor[] alpha3 = param(params, grads, decayed, false, "alpha3", 1);
        Tensor[] gamma3 = param(params, grads, decayed, false, "gamma3", C);
        Tensor[] beta3 = param(params, grads, decayed, false, "beta3", C);
        Tensor[] gammaf = param(params, grads, decayed, false, "gammaf", C);

        // activations and their gradients
        Tensor x0 = f("x0", B, T, C);
        Tensor n1 = f("n1", B, T, C);
        Tensor qkv = f("qkv", B, T, 3 * C);
        Tensor att = f("att", B, T, C);
        Tensor lse = f("lse", B, NH, T);
        Tensor proj = f("proj", B, T, C);
        Tensor x1 = f("x1", B, T, C);
        Tensor n2 = f("n2", B, T, C);
        Tensor mean2 = f("mean2", B, T);
        Tensor rstd2 = f("rstd2", B, T);
        Tensor fc = f("fc", B, T, 4 * C);
        Tensor h = f("h", B, T, 4 * C);
        Tensor fc2 = f("fc2", B, T, C);
        Tensor mlp = f("mlp", B, T, C);
        Tensor x2 = f("x2", B, T, C);
        Tensor nf = f("nf", B, T, C);
        Tensor rstdf = f("rstdf", B, T);
        Tensor logits = f("logits", B, T, V);
        Tensor dx0 = f("dx0", B, T, C);
        Tensor dn1 = f("dn1", B, T, C);
        Tensor dqkv = f("dqkv", B, T, 3 * C);
        Tensor datt = f("datt", B, T, C);
        Tensor dproj = f("dproj", B, T, C);
        Tensor dx1 = f("dx1", B, T, C);
        Tensor dn2 = f("dn2", B, T, C);
        Tensor dfc = f("dfc", B, T, 4 * C);
        Tensor dh = f("dh", B, T, 4 * C);
        Tensor dfc2 = f("dfc2", B, T, C);
        Tensor dmlp = f("dmlp", B, T, C);
        Tensor dx2 = f("dx2", B, T, C);
        Tensor dnf = f("dnf", B, T, C);

        List<Tensor> cleared = new ArrayList<>(List.of(loss, correct, dx0, dn1, dqkv, datt, dproj, dx1, dn2, dfc,
                dh, dfc2, dmlp, dx2, dnf));
        cleared.addAll(grads);
        Graph.Builder g = Graph.builder("tiny-step").input(tokens, targets, hyper).output(loss, correct, stats);
        g.add(new Zero(cleared));
        // forward
        g.add(new Embedding.Forward(x0, tokens, wte[0], wpe[0], scale[0]));
        g.add(new PointwiseNorm.Forward(Kind.DERF, n1, x0, alpha[0], shift[0], gamma1[0], beta1[0]));
        g.add(new Matmul.Forward(qkv, n1, wqkv[0], bqkv[0]));
        g.add(new Attention.Forward(att, lse, qkv, NH));
        g.add(new Matmul.Forward(proj, att, wproj[0], bproj[0]));
        g.add(new Residual.Forward(x1, x0, proj));
        g.add(new LayerNorm.Forward(n2, mean2, rstd2, x1, gamma2[0], beta2[0]));
        g.add(new Matmul.Forward(fc, n2, wfc[0], bfc[0]));
        g.add(new Gelu.Forward(h, fc));
        g.add(new Matmul.Forward(fc2, h, wfc2[0], bfc2[0]));
        g.add(new PointwiseNorm.Forward(Kind.DYT, mlp, fc2, alpha3[0], null, gamma3[0], beta3[0]));
        g.add(new Residual.Forward(x2, x1, mlp));
        g.add(new RmsNorm.Forward(nf, rstdf, x2, gammaf[0]));
        g.add(new Matmul.Forward(logits, nf, wte[0], null));
        g.add(new CrossEntropy(loss, correct, logits, logits, targets, 1f));
        // backward, adding into the gradients cleared above
        g.add(new Matmul.Backward(dnf, wte[1], null, logits, nf, wte[0]));
        g.add(new RmsNorm.Backward(dx2, gammaf[1], dnf, x2, rstdf, gammaf[0]));
        g.add(new Residual.Backward(dx1, dmlp, dx2));
        g.add(new PointwiseNorm.Backward(Kind.DYT, dfc2, alpha3[1], null, gamma3[1], beta3[1], dmlp, fc2, alpha3[0],
                null, gamma3[0]));
        g.add(new Matmul.Backward(dh, wfc2[1], bfc2[1], dfc2, h, wfc2[0]));
        g.add(new Gelu.Backward(dfc, dh, fc));
        g.add(new Matmul.Backward(dn2, wfc[1], bfc[1], dfc, n2, wfc[0]));
        g.add(new LayerNorm.Backward(dx1, gamma2[1], beta2[1], dn2, x1, mean2, rstd2, gamma2[0]));
        g.add(new Residual.Backward(dx0, dproj, dx1));
        g.add(new Matmul.Backward(datt, wproj[1], bproj[1], dproj, att, wproj[0]));
        g.add(new Attention.Backward(dqkv, datt, qkv, att, lse, NH));
        g.add(new Matmul.Backward(dn1, wqkv[1], bqkv[1], dqkv, n1, wqkv[0]));
        g.add(new PointwiseNorm.Backward(Kind.DERF, dx0, alpha[1], shift[1], gamma1[1], beta1[1], dn1, x0, alpha[0],
                shift[0], gamma1[0]));
        g.add(new Embedding.Backward(wte[1], wpe[1], scale[1], dx0, tokens, wte[0], wpe[0], scale[0]));
        // update
        g.add(new GradClip(stats, 1f, grads));
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            g.add(new AdamW(p, grads.get(i), f("m." + p.name(), p.shape()), f("v." + p.name(), p.shape()), hyper,
                    stats, decayed.get(i)));
        }
        step = g.build();
    }

    private Tensor allocate(String name, DType dtype, int... shape) {
        Tensor t = backend.allocate(name, dtype, shape);
        tensors.put(name, t);
        return t;
    }

    private Tensor f(String name, int... shape) {
        return allocate(name, DType.F32, shape);
    }

    /** A parameter and its gradient, {param, grad}. */
    private Tensor[] param(List<Tensor> params, List<Tensor> grads, List<Boolean> decayed, boolean decay,
                           String name, int... shape) {
        Tensor p = f(name, shape);
        Tensor g = f("d" + name, shape);
        params.add(p);
        grads.add(g);
        decayed.add(decay);
        return new Tensor[] {p, g};
    }

    /** Fills every tensor from {@code rng}: parameters and state with small random values, ids in range. */
    void randomize(SplittableRandom rng) {
        for (Tensor t : tensors.values()) {
            if (t.dtype() == DType.I32) {
                int[] ids = new int[t.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = t == targets && i % 7 == 3 ? -1 : rng.nextInt(vocab);
                }
                backend.upload(t, ids);
            } else {
                float[] v = new float[t.size()];
                boolean nonNegative = t.name().startsWith("v.");
                for (int i = 0; i < v.length; i++) {
                    double x = 0.3 * rng.nextGaussian();
                    v[i] = (float) (nonNegative ? x * x : x);
                }
                backend.upload(t, v);
            }
        }
        float[] h = new float[AdamW.HYPER_SIZE];
        AdamW.hyper(h, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
        backend.upload(hyper, h);
    }

    /** Every tensor's contents as raw bits, by name: for bit-for-bit comparisons. */
    Map<String, int[]> bits() {
        Map<String, int[]> all = new LinkedHashMap<>();
        for (Tensor t : tensors.values()) {
            int[] bits = new int[t.size()];
            if (t.dtype() == DType.I32) {
                backend.download(t, bits);
            } else {
                float[] v = new float[t.size()];
                backend.download(t, v);
                for (int i = 0; i < v.length; i++) {
                    bits[i] = Float.floatToRawIntBits(v[i]);
                }
            }
            all.put(t.name(), bits);
        }
        return all;
    }

    Tensor tensor(String name) {
        return tensors.get(name);
    }

    @Override
    public void close() {
        tensors.values().forEach(Tensor::close);
    }
}
