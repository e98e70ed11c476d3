package org.derf4j.kernels;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.derf4j.kernels.PointwiseNorm.Kind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every op record rejects wrong shapes, wrong dtypes, nulls, forbidden aliasing and bad sizes when it is
 * built, with an IllegalArgumentException that names the op, the argument, and what was expected and given.
 * The checks live in the records, so one backend's tensors are enough to test them for all backends.
 */
class OpArgumentTest {

    // The key to the sizes: B batch, T positions, C channels, V vocabulary, NH heads, N = B·T rows.
    static final int B = 2;
    static final int T = 5;
    static final int C = 12;
    static final int V = 11;
    static final int MAX_T = 8;
    static final int NH = 3;
    static final int N = B * T;

    private Backend backend;

    @BeforeEach
    void open() {
        backend = Backends.open("cpu-reference");
    }

    @AfterEach
    void close() {
        backend.close();
    }

    private Tensor f(String name, int... shape) {
        return backend.allocate(name, shape);
    }

    private Tensor i32(String name, int... shape) {
        return backend.allocate(name, DType.I32, shape);
    }

    /** Building the op throws an IllegalArgumentException that starts with "Op.Name: " and contains every part. */
    private static void rejects(String op, Supplier<Op> build, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, build::get,
                () -> op + " accepted arguments it should reject: " + Arrays.toString(parts));
        String message = e.getMessage();
        assertTrue(message.startsWith(op + ": "), () -> "message does not start with the op's name: " + message);
        for (String part : parts) {
            assertTrue(message.contains(part), () -> "message lacks '" + part + "': " + message);
        }
    }

    private static void accepts(Supplier<Op> build) {
        assertDoesNotThrow(build::get);
    }

    @Test
    void zero() {
        Tensor a = f("a", 3);
        accepts(() -> Zero.of(a, i32("ids", 2)));
        rejects("Zero", Zero::of, "tensors must not be empty");
        rejects("Zero", () -> Zero.of(a, null), "tensors[1] must not be null");
        rejects("Zero", () -> new Zero(null), "tensors must not be null");
    }

    @Test
    void embedding() {
        Tensor tokens = i32("tokens", B, T);
        Tensor wte = f("wte", V, C);
        Tensor wpe = f("wpe", MAX_T, C);
        Tensor scale = f("scale", 1);
        Tensor out = f("out", B, T, C);
        Tensor dwte = f("dwte", V, C);
        Tensor dwpe = f("dwpe", MAX_T, C);
        Tensor dscale = f("dscale", 1);
        String fw = "Embedding.Forward";
        String bw = "Embedding.Backward";
        accepts(() -> new Embedding.Forward(out, tokens, wte, wpe, scale));
        accepts(() -> new Embedding.Forward(out, tokens, wte, wpe, null));
        accepts(() -> new Embedding.Forward(f("out8", B, MAX_T, C), i32("t8", B, MAX_T), wte, wpe, null));
        accepts(() -> new Embedding.Backward(dwte, dwpe, dscale, out, tokens, wte, wpe, scale));
        accepts(() -> new Embedding.Backward(dwte, dwpe, null, out, tokens, wte, wpe, null));

        rejects(fw, () -> new Embedding.Forward(out, f("ftokens", B, T), wte, wpe, scale),
                "tokens must be I32, got F32");
        rejects(fw, () -> new Embedding.Forward(out, null, wte, wpe, scale), "tokens must not be null");
        rejects(fw, () -> new Embedding.Forward(out, i32("t3", B, T, 1), wte, wpe, scale),
                "tokens must have rank 2 [B,T], got shape [2, 5, 1]");
        rejects(fw, () -> new Embedding.Forward(out, tokens, f("wte1", V * C), wpe, scale),
                "wte must have rank 2 [V,C], got shape [132]");
        rejects(fw, () -> new Embedding.Forward(out, tokens, wte, f("wpe13", MAX_T, C + 1), scale),
                "wpe must have shape [maxT,12] (C from wte), got [8, 13]");
        rejects(fw, () -> new Embedding.Forward(f("out9", B, 9, C), i32("t9", B, 9), wte, wpe, scale),
                "tokens has T = 9 positions but wpe only 8");
        rejects(fw, () -> new Embedding.Forward(out, tokens, wte, wpe, f("scale2", 2)),
                "scale must have shape [1]", "got [2]");
        rejects(fw, () -> new Embedding.Forward(f("out13", B, T, C + 1), tokens, wte, wpe, scale),
                "out must have shape [2, 5, 12]", "got [2, 5, 13]");
        rejects(fw, () -> new Embedding.Forward(null, tokens, wte, wpe, scale), "out must not be null");

        rejects(bw, () -> new Embedding.Backward(dwte, dwpe, dscale, out, tokens, wte, wpe, null),
                "dscale must be null (there is no scale)");
        rejects(bw, () -> new Embedding.Backward(dwte, dwpe, null, out, tokens, wte, wpe, scale),
                "dscale must not be null");
        rejects(bw, () -> new Embedding.Backward(f("dwte10", V - 1, C), dwpe, dscale, out, tokens, wte, wpe, scale),
                "dwte must have shape [11, 12] (same as wte), got [10, 12]");
        rejects(bw, () -> new Embedding.Backward(dwte, f("dwpe7", MAX_T - 1, C), dscale, out, tokens, wte, wpe,
                scale), "dwpe must have shape [8, 12] (same as wpe), got [7, 12]");
        rejects(bw, () -> new Embedding.Backward(dwte, dwpe, dscale, f("dout", N, C), tokens, wte, wpe, scale),
                "dout must have shape [2, 5, 12]", "got [10, 12]");
        rejects(bw, () -> new Embedding.Backward(wte, dwpe, dscale, out, tokens, wte, wpe, scale),
                "dwte and wte must be different tensors");
        rejects(bw, () -> new Embedding.Backward(dwte, wpe, dscale, out, tokens, wte, wpe, scale),
                "dwpe and wpe must be different tensors");
        rejects(bw, () -> new Embedding.Backward(dwte, dwpe, scale, out, tokens, wte, wpe, scale),
                "dscale and scale must be different tensors");
    }

    @Test
    void pointwiseNorm() {
        Tensor x = f("x", B, T, C);
        Tensor out = f("out", B, T, C);
        Tensor alpha = f("alpha", 1);
        Tensor shift = f("shift", 1);
        Tensor gamma = f("gamma", C);
        Tensor beta = f("beta", C);
        Tensor dx = f("dx", B, T, C);
        Tensor dout = f("dout", B, T, C);
        Tensor dalpha = f("dalpha", 1);
        Tensor dshift = f("dshift", 1);
        Tensor dgamma = f("dgamma", C);
        Tensor dbeta = f("dbeta", C);
        String fw = "PointwiseNorm.Forward";
        String bw = "PointwiseNorm.Backward";
        accepts(() -> new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, shift, gamma, beta));
        accepts(() -> new PointwiseNorm.Forward(Kind.DYT, out, x, alpha, null, gamma, beta));
        accepts(() -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, dgamma, dbeta, dout, x, alpha, shift,
                gamma));
        accepts(() -> new PointwiseNorm.Backward(Kind.DYT, dx, dalpha, null, dgamma, dbeta, dout, x, alpha, null,
                gamma));

        rejects(fw, () -> new PointwiseNorm.Forward(null, out, x, alpha, shift, gamma, beta), "kind must not be null");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DYT, out, x, alpha, shift, gamma, beta),
                "shift must be null (DYT has no shift)");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, null, gamma, beta),
                "shift must not be null");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, i32("ix", B, T, C), alpha, shift, gamma, beta),
                "x must be F32, got I32");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, x, f("alpha2", 2), shift, gamma, beta),
                "alpha must have shape [1] (a learnable scalar), got [2]");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, f("shiftC", C), gamma, beta),
                "shift must have shape [1] (a learnable scalar), got [12]");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, shift, f("gamma11", C - 1), beta),
                "gamma must have shape [12] (x's last dimension), got [11]");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, out, x, alpha, shift, gamma, f("betaT", T)),
                "beta must have shape [12] (x's last dimension), got [5]");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, f("outN", N, C), x, alpha, shift, gamma, beta),
                "out must have shape [2, 5, 12] (same as x), got [10, 12]");
        rejects(fw, () -> new PointwiseNorm.Forward(Kind.DERF, x, x, alpha, shift, gamma, beta),
                "out and x must be different tensors");

        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DYT, dx, dalpha, dshift, dgamma, dbeta, dout, x, alpha,
                null, gamma), "dshift must be null (DYT has no shift)");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, null, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dshift must not be null");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, f("dalphaC", C), dshift, dgamma, dbeta, dout, x,
                alpha, shift, gamma), "dalpha must have shape [1]", "got [12]");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, f("dg1", 1), dbeta, dout, x,
                alpha, shift, gamma), "dgamma must have shape [12] (x's last dimension), got [1]");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, dgamma, null, dout, x, alpha,
                shift, gamma), "dbeta must not be null");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, dgamma, dbeta, f("dout4", B, T,
                C, 1), x, alpha, shift, gamma), "dout must have shape [2, 5, 12] (same as x), got [2, 5, 12, 1]");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dout, dalpha, dshift, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dx and dout must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, x, dalpha, dshift, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dx and x must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, dgamma, dgamma, dout, x, alpha,
                shift, gamma), "dgamma and dbeta must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dshift, gamma, dbeta, dout, x, alpha,
                shift, gamma), "dgamma and gamma must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, dalpha, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dalpha and dshift must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, alpha, dshift, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dalpha and alpha must be different tensors");
        rejects(bw, () -> new PointwiseNorm.Backward(Kind.DERF, dx, dalpha, shift, dgamma, dbeta, dout, x, alpha,
                shift, gamma), "dshift and shift must be different tensors");
    }

    @Test
    void layerNorm() {
        Tensor x = f("x", B, T, C);
        Tensor out = f("out", B, T, C);
        Tensor mean = f("mean", B, T);
        Tensor rstd = f("rstd", N);
        Tensor gamma = f("gamma", C);
        Tensor beta = f("beta", C);
        Tensor dx = f("dx", B, T, C);
        Tensor dout = f("dout", B, T, C);
        Tensor dgamma = f("dgamma", C);
        Tensor dbeta = f("dbeta", C);
        String fw = "LayerNorm.Forward";
        String bw = "LayerNorm.Backward";
        accepts(() -> new LayerNorm.Forward(out, mean, rstd, x, gamma, beta));
        accepts(() -> new LayerNorm.Backward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma));

        rejects(fw, () -> new LayerNorm.Forward(out, mean, rstd, x, gamma, beta, 0f), "eps must be positive, got 0.0");
        rejects(fw, () -> new LayerNorm.Forward(out, mean, rstd, x, gamma, beta, Float.NaN), "eps must be positive");
        rejects(fw, () -> new LayerNorm.Forward(out, f("mean9", N - 1), rstd, x, gamma, beta),
                "mean must have 10 elements (one per row of x), got shape [9]");
        rejects(fw, () -> new LayerNorm.Forward(out, mean, i32("irstd", N), x, gamma, beta),
                "rstd must be F32, got I32");
        rejects(fw, () -> new LayerNorm.Forward(out, mean, rstd, x, f("g13", C + 1), beta),
                "gamma must have shape [12] (x's last dimension), got [13]");
        rejects(fw, () -> new LayerNorm.Forward(out, mean, rstd, x, gamma, null), "beta must not be null");
        rejects(fw, () -> new LayerNorm.Forward(f("outT", B, C, T), mean, rstd, x, gamma, beta),
                "out must have shape [2, 5, 12] (same as x), got [2, 12, 5]");
        rejects(fw, () -> new LayerNorm.Forward(x, mean, rstd, x, gamma, beta), "out and x must be different tensors");
        rejects(fw, () -> new LayerNorm.Forward(out, rstd, rstd, x, gamma, beta),
                "mean and rstd must be different tensors");

        rejects(bw, () -> new LayerNorm.Backward(dx, dgamma, dbeta, f("dout13", B, T, C + 1), x, mean, rstd, gamma),
                "dout must have shape [2, 5, 12] (same as x), got [2, 5, 13]");
        rejects(bw, () -> new LayerNorm.Backward(dx, dgamma, dbeta, dout, x, f("mean2", N, 2), rstd, gamma),
                "mean must have 10 elements (one per row of x), got shape [10, 2]");
        rejects(bw, () -> new LayerNorm.Backward(dx, f("dgT", T), dbeta, dout, x, mean, rstd, gamma),
                "dgamma must have shape [12] (x's last dimension), got [5]");
        rejects(bw, () -> new LayerNorm.Backward(dout, dgamma, dbeta, dout, x, mean, rstd, gamma),
                "dx and dout must be different tensors");
        rejects(bw, () -> new LayerNorm.Backward(x, dgamma, dbeta, dout, x, mean, rstd, gamma),
                "dx and x must be different tensors");
        rejects(bw, () -> new LayerNorm.Backward(dx, dgamma, dgamma, dout, x, mean, rstd, gamma),
                "dgamma and dbeta must be different tensors");
        rejects(bw, () -> new LayerNorm.Backward(dx, gamma, dbeta, dout, x, mean, rstd, gamma),
                "dgamma and gamma must be different tensors");
    }

    @Test
    void rmsNorm() {
        Tensor x = f("x", N, C);
        Tensor out = f("out", N, C);
        Tensor rstd = f("rstd", N);
        Tensor gamma = f("gamma", C);
        Tensor dx = f("dx", N, C);
        Tensor dout = f("dout", N, C);
        Tensor dgamma = f("dgamma", C);
        String fw = "RmsNorm.Forward";
        String bw = "RmsNorm.Backward";
        accepts(() -> new RmsNorm.Forward(out, rstd, x, gamma));
        accepts(() -> new RmsNorm.Backward(dx, dgamma, dout, x, rstd, gamma));

        rejects(fw, () -> new RmsNorm.Forward(out, rstd, x, gamma, -1e-5f), "eps must be positive, got -1.0E-5");
        rejects(fw, () -> new RmsNorm.Forward(out, f("rstdC", C), x, gamma),
                "rstd must have 10 elements (one per row of x), got shape [12]");
        rejects(fw, () -> new RmsNorm.Forward(out, rstd, x, f("gN", N)),
                "gamma must have shape [12] (x's last dimension), got [10]");
        rejects(fw, () -> new RmsNorm.Forward(out, rstd, null, gamma), "x must not be null");
        rejects(fw, () -> new RmsNorm.Forward(x, rstd, x, gamma), "out and x must be different tensors");

        rejects(bw, () -> new RmsNorm.Backward(f("dxB", B, T, C), dgamma, dout, x, rstd, gamma),
                "dx must have shape [10, 12] (same as x), got [2, 5, 12]");
        rejects(bw, () -> new RmsNorm.Backward(dx, dgamma, dout, x, rstd, i32("ig", C)), "gamma must be F32, got I32");
        rejects(bw, () -> new RmsNorm.Backward(dout, dgamma, dout, x, rstd, gamma),
                "dx and dout must be different tensors");
        rejects(bw, () -> new RmsNorm.Backward(x, dgamma, dout, x, rstd, gamma), "dx and x must be different tensors");
        rejects(bw, () -> new RmsNorm.Backward(dx, gamma, dout, x, rstd, gamma),
                "dgamma and gamma must be different tensors");
    }

    @Test
    void matmul() {
        int ic = C;
        int oc = 3 * C;
        Tensor x = f("x", B, T, ic);
        Tensor w = f("w", oc, ic);
        Tensor bias = f("bias", oc);
        Tensor out = f("out", B, T, oc);
        Tensor dx = f("dx", B, T, ic);
        Tensor dw = f("dw", oc, ic);
        Tensor dbias = f("dbias", oc);
        String fw = "Matmul.Forward";
        String bw = "Matmul.Backward";
        accepts(() -> new Matmul.Forward(out, x, w, bias));
        accepts(() -> new Matmul.Forward(out, x, w, null));
        accepts(() -> new Matmul.Backward(dx, dw, dbias, out, x, w));
        accepts(() -> new Matmul.Backward(null, dw, null, out, x, w));

        rejects(fw, () -> new Matmul.Forward(out, x, f("wT", ic, oc), bias),
                "w must have shape [OC,12] (IC = x's last dimension), got [12, 36]");
        rejects(fw, () -> new Matmul.Forward(out, x, f("w3", oc, ic, 1), bias), "w must have rank 2 [OC,IC]",
                "got shape [36, 12, 1]");
        rejects(fw, () -> new Matmul.Forward(f("outN", N, oc), x, w, bias),
                "out must have shape [2, 5, 36] (x's leading dimensions, then w's OC), got [10, 36]");
        rejects(fw, () -> new Matmul.Forward(out, x, w, f("biasIC", ic)),
                "bias must have shape [36] (w's OC), got [12]");
        rejects(fw, () -> new Matmul.Forward(out, i32("ix", B, T, ic), w, bias), "x must be F32, got I32");
        Tensor square = f("square", ic, ic);
        rejects(fw, () -> new Matmul.Forward(x, x, square, null), "out and x must be different tensors");

        rejects(bw, () -> new Matmul.Backward(null, null, null, out, x, w), "at least one of dx, dw, dbias");
        rejects(bw, () -> new Matmul.Backward(dx, dw, dbias, f("dout35", B, T, oc - 1), x, w),
                "dout must have shape [2, 5, 36] (x's leading dimensions, then w's OC), got [2, 5, 35]");
        rejects(bw, () -> new Matmul.Backward(f("dxN", N, ic), dw, dbias, out, x, w),
                "dx must have shape [2, 5, 12] (same as x), got [10, 12]");
        rejects(bw, () -> new Matmul.Backward(dx, f("dwT", ic, oc), dbias, out, x, w),
                "dw must have shape [36, 12] (same as w), got [12, 36]");
        rejects(bw, () -> new Matmul.Backward(dx, dw, f("db1", 1), out, x, w),
                "dbias must have shape [36] (w's OC), got [1]");
        rejects(bw, () -> new Matmul.Backward(x, dw, dbias, out, x, w), "dx and x must be different tensors");
        rejects(bw, () -> new Matmul.Backward(dx, w, dbias, out, x, w), "dw and w must be different tensors");
        Tensor dout = f("dout", B, T, ic);
        rejects(bw, () -> new Matmul.Backward(dout, null, null, dout, x, square),
                "dx and dout must be different tensors");
    }

    @Test
    void gelu() {
        Tensor x = f("x", N, C);
        Tensor out = f("out", N, C);
        Tensor dx = f("dx", N, C);
        Tensor dout = f("dout", N, C);
        accepts(() -> new Gelu.Forward(out, x));
        accepts(() -> new Gelu.Backward(dx, dout, x));

        rejects("Gelu.Forward", () -> new Gelu.Forward(f("out1", N * C), x),
                "out must have shape [10, 12] (same as x), got [120]");
        rejects("Gelu.Forward", () -> new Gelu.Forward(out, i32("ix", N, C)), "x must be F32, got I32");
        rejects("Gelu.Forward", () -> new Gelu.Forward(null, x), "out must not be null");
        rejects("Gelu.Forward", () -> new Gelu.Forward(x, x), "out and x must be different tensors");
        rejects("Gelu.Backward", () -> new Gelu.Backward(dx, f("dout13", N, C + 1), x),
                "dout must have shape [10, 12] (same as x), got [10, 13]");
        rejects("Gelu.Backward", () -> new Gelu.Backward(f("dx9", N - 1, C), dout, x),
                "dx must have shape [10, 12] (same as x), got [9, 12]");
        rejects("Gelu.Backward", () -> new Gelu.Backward(dout, dout, x), "dx and dout must be different tensors");
        rejects("Gelu.Backward", () -> new Gelu.Backward(x, dout, x), "dx and x must be different tensors");
    }

    @Test
    void attention() {
        Tensor qkv = f("qkv", B, T, 3 * C);
        Tensor out = f("out", B, T, C);
        Tensor lse = f("lse", B, NH, T);
        Tensor dqkv = f("dqkv", B, T, 3 * C);
        Tensor dout = f("dout", B, T, C);
        String fw = "Attention.Forward";
        String bw = "Attention.Backward";
        accepts(() -> new Attention.Forward(out, lse, qkv, NH));
        accepts(() -> new Attention.Backward(dqkv, dout, qkv, out, lse, NH));

        rejects(fw, () -> new Attention.Forward(out, lse, qkv, 5), "heads must be positive and divide C = 12, got 5");
        rejects(fw, () -> new Attention.Forward(out, lse, qkv, 0), "heads must be positive", "got 0");
        rejects(fw, () -> new Attention.Forward(out, lse, f("qkv35", B, T, 35), NH),
                "qkv's last dimension must be 3C, a multiple of 3, got 35");
        rejects(fw, () -> new Attention.Forward(out, lse, f("qkv2", N, 3 * C), NH),
                "qkv must have rank 3 [B,T,3C], got shape [10, 36]");
        rejects(fw, () -> new Attention.Forward(f("out3C", B, T, 3 * C), lse, qkv, NH),
                "out must have shape [2, 5, 12] ([B,T,C] from qkv), got [2, 5, 36]");
        rejects(fw, () -> new Attention.Forward(out, f("lseT", B, T, NH), qkv, NH),
                "lse must have shape [2, 3, 5] ([B,NH,T] from qkv and heads), got [2, 5, 3]");
        rejects(fw, () -> new Attention.Forward(out, lse, null, NH), "qkv must not be null");

        rejects(bw, () -> new Attention.Backward(dqkv, f("doutC", B, T, C + 3), qkv, out, lse, NH),
                "dout must have shape [2, 5, 12] (same as out), got [2, 5, 15]");
        rejects(bw, () -> new Attention.Backward(f("dqkvC", B, T, C), dout, qkv, out, lse, NH),
                "dqkv must have shape [2, 5, 36] (same as qkv), got [2, 5, 12]");
        rejects(bw, () -> new Attention.Backward(qkv, dout, qkv, out, lse, NH),
                "dqkv and qkv must be different tensors");
        rejects(bw, () -> new Attention.Backward(dqkv, dout, qkv, out, lse, 4),
                "lse must have shape [2, 4, 5] ([B,NH,T] from qkv and heads), got [2, 3, 5]");
    }

    @Test
    void residual() {
        Tensor a = f("a", N, C);
        Tensor b = f("b", N, C);
        Tensor out = f("out", N, C);
        Tensor da = f("da", N, C);
        Tensor db = f("db", N, C);
        Tensor dout = f("dout", N, C);
        accepts(() -> new Residual.Forward(out, a, b));
        accepts(() -> new Residual.Forward(a, a, b));
        accepts(() -> new Residual.Backward(da, db, dout));

        rejects("Residual.Forward", () -> new Residual.Forward(out, a, f("bT", C, N)),
                "b must have shape [10, 12] (same as a), got [12, 10]");
        rejects("Residual.Forward", () -> new Residual.Forward(f("outB", B, T, C), a, b),
                "out must have shape [10, 12] (same as a), got [2, 5, 12]");
        rejects("Residual.Forward", () -> new Residual.Forward(out, null, b), "a must not be null");
        rejects("Residual.Forward", () -> new Residual.Forward(b, a, b), "out and b must be different tensors");
        rejects("Residual.Backward", () -> new Residual.Backward(da, f("db1", N, 1), dout),
                "db must have shape [10, 12] (same as dout), got [10, 1]");
        rejects("Residual.Backward", () -> new Residual.Backward(da, db, i32("idout", N, C)),
                "dout must be F32, got I32");
        rejects("Residual.Backward", () -> new Residual.Backward(da, da, dout), "da and db must be different tensors");
        rejects("Residual.Backward", () -> new Residual.Backward(dout, db, dout),
                "da and dout must be different tensors");
        rejects("Residual.Backward", () -> new Residual.Backward(da, dout, dout),
                "db and dout must be different tensors");
    }

    @Test
    void crossEntropy() {
        Tensor logits = f("logits", B, T, V);
        Tensor targets = i32("targets", B, T);
        Tensor loss = f("loss", 1);
        Tensor correct = f("correct", 1);
        Tensor dlogits = f("dlogits", B, T, V);
        String op = "CrossEntropy";
        accepts(() -> new CrossEntropy(loss, correct, dlogits, logits, targets, 0.5f));
        accepts(() -> new CrossEntropy(loss, correct, logits, logits, targets, 0.5f));
        accepts(() -> new CrossEntropy(loss, null, null, logits, i32("flat", N), 1f));
        accepts(() -> CrossEntropy.loss(loss, correct, logits, targets));

        rejects(op, () -> new CrossEntropy(loss, correct, dlogits, logits, f("ftargets", B, T), 1f),
                "targets must be I32, got F32");
        rejects(op, () -> new CrossEntropy(loss, correct, dlogits, logits, i32("t9", N - 1), 1f),
                "targets must have 10 elements (one per row of logits), got shape [9]");
        rejects(op, () -> new CrossEntropy(f("loss2", 2), correct, dlogits, logits, targets, 1f),
                "loss must have shape [1]", "got [2]");
        rejects(op, () -> new CrossEntropy(null, correct, dlogits, logits, targets, 1f), "loss must not be null");
        rejects(op, () -> new CrossEntropy(loss, f("correctB", B), dlogits, logits, targets, 1f),
                "correct must have shape [1]", "got [2]");
        rejects(op, () -> new CrossEntropy(loss, correct, f("dlogitsN", N, V), logits, targets, 1f),
                "dlogits must have shape [2, 5, 11] (same as logits), got [10, 11]");
        rejects(op, () -> new CrossEntropy(loss, correct, dlogits, null, targets, 1f), "logits must not be null");
        rejects(op, () -> new CrossEntropy(loss, correct, dlogits, logits, targets, Float.NaN),
                "scale must be finite, got NaN");
        rejects(op, () -> new CrossEntropy(loss, correct, dlogits, logits, targets, Float.POSITIVE_INFINITY),
                "scale must be finite, got Infinity");
        rejects(op, () -> new CrossEntropy(loss, loss, dlogits, logits, targets, 1f),
                "loss and correct must be different tensors");
    }

    @Test
    void gradClip() {
        Tensor stats = f("stats", 2);
        Tensor g1 = f("g1", 37);
        Tensor g2 = f("g2", 3, 5);
        String op = "GradClip";
        accepts(() -> new GradClip(stats, 1f, List.of(g1, g2)));
        accepts(() -> new GradClip(stats, 0f, List.of(g1)));

        rejects(op, () -> new GradClip(f("stats3", 3), 1f, List.of(g1)),
                "stats must have shape [2] ({norm, clip factor}), got [3]");
        rejects(op, () -> new GradClip(null, 1f, List.of(g1)), "stats must not be null");
        rejects(op, () -> new GradClip(stats, -1f, List.of(g1)), "maxNorm must be finite and ≥ 0", "got -1.0");
        rejects(op, () -> new GradClip(stats, Float.NaN, List.of(g1)), "maxNorm must be finite", "got NaN");
        rejects(op, () -> new GradClip(stats, Float.POSITIVE_INFINITY, List.of(g1)), "got Infinity");
        rejects(op, () -> new GradClip(stats, 1f, List.of()), "grads must not be empty");
        rejects(op, () -> new GradClip(stats, 1f, null), "grads must not be null");
        rejects(op, () -> new GradClip(stats, 1f, Arrays.asList(g1, null)), "grads[1] must not be null");
        rejects(op, () -> new GradClip(stats, 1f, List.of(g1, i32("ids", 4))), "grads[1] must be F32, got I32");
    }

    @Test
    void adamW() {
        Tensor p = f("p", 7, 3);
        Tensor g = f("g", 7, 3);
        Tensor m = f("m", 7, 3);
        Tensor v = f("v", 7, 3);
        Tensor hyper = f("hyper", AdamW.HYPER_SIZE);
        Tensor clip = f("clip", 2);
        String op = "AdamW";
        accepts(() -> new AdamW(p, g, m, v, hyper, clip, true));
        accepts(() -> new AdamW(p, g, m, v, hyper, null, false));

        rejects(op, () -> new AdamW(p, f("g21", 21), m, v, hyper, clip, true),
                "grad must have shape [7, 3] (same as param), got [21]");
        rejects(op, () -> new AdamW(p, g, f("m37", 3, 7), v, hyper, clip, true),
                "m must have shape [7, 3] (same as param), got [3, 7]");
        rejects(op, () -> new AdamW(p, g, m, f("v73", 7, 3, 1), hyper, clip, true),
                "v must have shape [7, 3] (same as param), got [7, 3, 1]");
        rejects(op, () -> new AdamW(p, g, m, v, f("hyper6", 6), clip, true),
                "hyper must have shape [7] (AdamW.HYPER_SIZE values), got [6]");
        rejects(op, () -> new AdamW(p, g, m, v, hyper, f("clip1", 1), true),
                "clip must have shape [2] (GradClip's stats), got [1]");
        rejects(op, () -> new AdamW(i32("ip", 7, 3), g, m, v, hyper, clip, true), "param must be F32, got I32");
        rejects(op, () -> new AdamW(p, g, m, v, null, clip, true), "hyper must not be null");
        rejects(op, () -> new AdamW(p, p, m, v, hyper, clip, true), "param and grad must be different tensors");
        rejects(op, () -> new AdamW(p, g, p, v, hyper, clip, true), "param and m must be different tensors");
        rejects(op, () -> new AdamW(p, g, m, p, hyper, clip, true), "param and v must be different tensors");
        rejects(op, () -> new AdamW(p, g, g, v, hyper, clip, true), "grad and m must be different tensors");
        rejects(op, () -> new AdamW(p, g, m, g, hyper, clip, true), "grad and v must be different tensors");
        rejects(op, () -> new AdamW(p, g, m, m, hyper, clip, true), "m and v must be different tensors");
    }

    /** Every op record has a test above: a new op in {@link Op}'s permits list fails here until it gets one. */
    @Test
    void everyOpIsCovered() {
        List<String> tested = List.of("Zero", "Embedding.Forward", "Embedding.Backward", "PointwiseNorm.Forward",
                "PointwiseNorm.Backward", "LayerNorm.Forward", "LayerNorm.Backward", "RmsNorm.Forward",
                "RmsNorm.Backward", "Matmul.Forward", "Matmul.Backward", "Gelu.Forward", "Gelu.Backward",
                "Attention.Forward", "Attention.Backward", "Residual.Forward", "Residual.Backward", "CrossEntropy",
                "GradClip", "AdamW");
        List<String> ops = Arrays.stream(Op.class.getPermittedSubclasses()).map(Op::opName).toList();
        assertTrue(tested.containsAll(ops) && ops.containsAll(tested),
                () -> "ops " + ops + " vs tested " + tested);
    }
}
