package org.derf4j.kernels;

import java.util.List;

/**
 * GELU, tanh form (GPT-2's): {@code y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))},
 * PyTorch's {@code gelu(x, approximate='tanh')}.
 */
public final class Gelu {
    private Gelu() {
    }

    public record Forward(Tensor out, Tensor x) implements Op {
        public Forward {
            Check.f32(Forward.class, "x", x);
            Check.sameShape(Forward.class, "out", out, "x", x);
            Check.distinct(Forward.class, "out", out, "x", x);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(x);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out);
        }
    }

    /** {@code dx += dout·gelu'(x)}. */
    public record Backward(Tensor dx, Tensor dout, Tensor x) implements Op {
        public Backward {
            Check.f32(Backward.class, "x", x);
            Check.sameShape(Backward.class, "dout", dout, "x", x);
            Check.sameShape(Backward.class, "dx", dx, "x", x);
            Check.distinct(Backward.class, "dx", dx, "dout", dout);
            Check.distinct(Backward.class, "dx", dx, "x", x);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout, x);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(dx);
        }
    }
}
