package org.derf4j.kernels;

import java.util.List;

/**
 * Token + position embedding, with the optional learnable scale that the Derf paper's language models
 * put on the sum (initialised to √C):
 * {@code out[b,t,:] = scale · (wte[tokens[b,t],:] + wpe[t,:])}.
 *
 * <p>Token ids must lie in {@code [0,V)}; backends check this where it costs nothing and otherwise
 * clamp, never reading out of bounds.
 */
public final class Embedding {
    private Embedding() {
    }

    /** The error every backend reports for a token id outside {@code [0,V)}. */
    public static IllegalArgumentException badToken(int token, int row, int vocab) {
        return new IllegalArgumentException("Embedding: token id " + token + " at row " + row + " is outside [0,"
                + vocab + ")");
    }

    private static void check(Class<?> op, Tensor tokens, Tensor wte, Tensor wpe, Tensor scale) {
        Check.i32(op, "tokens", tokens);
        Check.rank(op, "tokens", tokens, 2, "[B,T]");
        Check.f32(op, "wte", wte);
        Check.rank(op, "wte", wte, 2, "[V,C]");
        Check.f32(op, "wpe", wpe);
        Check.rank(op, "wpe", wpe, 2, "[maxT,C]");
        if (wpe.dim(1) != wte.dim(1)) {
            throw Check.fail(op, "wpe must have shape [maxT," + wte.dim(1) + "] (C from wte), got "
                    + java.util.Arrays.toString(wpe.shape()));
        }
        if (tokens.dim(1) > wpe.dim(0)) {
            throw Check.fail(op, "tokens has T = " + tokens.dim(1) + " positions but wpe only " + wpe.dim(0)
                    + " (the context length)");
        }
        if (scale != null) {
            Check.scalar(op, "scale", scale);
        }
    }

    /** Writes {@code out[B,T,C]}; {@code scale} may be null (no scale). */
    public record Forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, Tensor scale) implements Op {
        public Forward {
            check(Forward.class, tokens, wte, wpe, scale);
            Check.shape(Forward.class, "out", out, "[B,T] from tokens, C from wte", tokens.dim(0), tokens.dim(1),
                    wte.dim(1));
        }

        @Override
        public List<Tensor> reads() {
            return Op.present(tokens, wte, wpe, scale);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out);
        }
    }

    /**
     * Scatters {@code scale·dout} into {@code dwte} rows by token and into {@code dwpe} rows by position,
     * and adds {@code Σ dout·(wte[tok]+wpe[t])} into {@code dscale}. Deterministic: no atomics.
     * {@code scale} and {@code dscale} are both null or both given.
     */
    public record Backward(Tensor dwte, Tensor dwpe, Tensor dscale, Tensor dout, Tensor tokens, Tensor wte,
                           Tensor wpe, Tensor scale) implements Op {
        public Backward {
            check(Backward.class, tokens, wte, wpe, scale);
            Check.sameShape(Backward.class, "dwte", dwte, "wte", wte);
            Check.sameShape(Backward.class, "dwpe", dwpe, "wpe", wpe);
            Check.shape(Backward.class, "dout", dout, "[B,T] from tokens, C from wte", tokens.dim(0), tokens.dim(1),
                    wte.dim(1));
            if (scale == null) {
                Check.absent(Backward.class, "dscale", dscale, "there is no scale");
            } else {
                Check.scalar(Backward.class, "dscale", dscale);
            }
            Check.distinct(Backward.class, "dwte", dwte, "wte", wte);
            Check.distinct(Backward.class, "dwpe", dwpe, "wpe", wpe);
            Check.distinct(Backward.class, "dscale", dscale, "scale", scale);
        }

        @Override
        public List<Tensor> reads() {
            return Op.present(dout, tokens, wte, wpe, scale);
        }

        @Override
        public List<Tensor> writes() {
            return Op.present(dwte, dwpe, dscale);
        }
    }
}
