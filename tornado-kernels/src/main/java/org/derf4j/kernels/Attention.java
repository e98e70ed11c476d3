package org.derf4j.kernels;

import java.util.List;

/**
 * Causal multi-head self-attention, {@code softmax(Q·Kᵀ/√HS + mask)·V}, in the fused, memory-efficient
 * form: the T×T attention matrix is never stored. The forward saves only the log-sum-exp of each score
 * row, and the backward recomputes the probabilities from it (as FlashAttention does).
 *
 * <p>Layout, as GPT-2's fused projection writes it: {@code qkv[B,T,3C]} holds Q in channels
 * {@code [0,C)}, K in {@code [C,2C)} and V in {@code [2C,3C)}; head h owns channels {@code [h·HS,(h+1)·HS)}
 * of each, with {@code HS = C/NH}. The output {@code out[B,T,C]} has the heads side by side again.
 */
public final class Attention {
    private Attention() {
    }

    private static void checkQkv(Class<?> op, Tensor qkv, int heads) {
        Check.f32(op, "qkv", qkv);
        Check.rank(op, "qkv", qkv, 3, "[B,T,3C]");
        if (qkv.dim(2) % 3 != 0) {
            throw Check.fail(op, "qkv's last dimension must be 3C, a multiple of 3, got " + qkv.dim(2));
        }
        int c = qkv.dim(2) / 3;
        if (heads <= 0 || c % heads != 0) {
            throw Check.fail(op, "heads must be positive and divide C = " + c + ", got " + heads);
        }
    }

    private static void checkSaved(Class<?> op, Tensor out, Tensor lse, Tensor qkv, int heads) {
        int b = qkv.dim(0);
        int t = qkv.dim(1);
        int c = qkv.dim(2) / 3;
        Check.shape(op, "out", out, "[B,T,C] from qkv", b, t, c);
        Check.shape(op, "lse", lse, "[B,NH,T] from qkv and heads", b, heads, t);
    }

    /** Writes {@code out[B,T,C]} and the log-sum-exp {@code lse[B,NH,T]} of each causal score row. */
    public record Forward(Tensor out, Tensor lse, Tensor qkv, int heads) implements Op {
        public Forward {
            checkQkv(Forward.class, qkv, heads);
            checkSaved(Forward.class, out, lse, qkv, heads);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(qkv);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out, lse);
        }
    }

    /** Adds into {@code dqkv[B,T,3C]} from {@code dout[B,T,C]} and the forward's {@code out} and {@code lse}. */
    public record Backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads) implements Op {
        public Backward {
            checkQkv(Backward.class, qkv, heads);
            checkSaved(Backward.class, out, lse, qkv, heads);
            Check.sameShape(Backward.class, "dout", dout, "out", out);
            Check.sameShape(Backward.class, "dqkv", dqkv, "qkv", qkv);
            Check.distinct(Backward.class, "dqkv", dqkv, "qkv", qkv);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout, qkv, out, lse);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(dqkv);
        }
    }
}
