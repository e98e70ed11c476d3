package org.derf4j.kernels;

import java.util.List;

/** RMSNorm over the last dimension: {@code y = x·rstd ⊙ γ}, with {@code rstd = 1/sqrt(mean(x²) + eps)}. */
public final class RmsNorm {
    private RmsNorm() {
    }

    public static final float DEFAULT_EPS = 1e-5f;

    /** Writes {@code out[N,C]} and saves {@code rstd[N]} for the backward. */
    public record Forward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, float eps) implements Op {
        public Forward {
            Check.f32(Forward.class, "x", x);
            Check.sameShape(Forward.class, "out", out, "x", x);
            Check.distinct(Forward.class, "out", out, "x", x);
            Check.elements(Forward.class, "rstd", rstd, DType.F32, x.rows(), "one per row of x");
            Check.shape(Forward.class, "gamma", gamma, "x's last dimension", x.dim(-1));
            if (!(eps > 0)) {
                throw Check.fail(Forward.class, "eps must be positive, got " + eps);
            }
        }

        public Forward(Tensor out, Tensor rstd, Tensor x, Tensor gamma) {
            this(out, rstd, x, gamma, DEFAULT_EPS);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(x, gamma);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out, rstd);
        }
    }

    /** Adds into {@code dx} and {@code dgamma}, from the saved rstd. */
    public record Backward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) implements Op {
        public Backward {
            Check.f32(Backward.class, "x", x);
            Check.sameShape(Backward.class, "dout", dout, "x", x);
            Check.sameShape(Backward.class, "dx", dx, "x", x);
            Check.distinct(Backward.class, "dx", dx, "dout", dout);
            Check.distinct(Backward.class, "dx", dx, "x", x);
            Check.elements(Backward.class, "rstd", rstd, DType.F32, x.rows(), "one per row of x");
            Check.shape(Backward.class, "gamma", gamma, "x's last dimension", x.dim(-1));
            Check.shape(Backward.class, "dgamma", dgamma, "x's last dimension", x.dim(-1));
            Check.distinct(Backward.class, "dgamma", dgamma, "gamma", gamma);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout, x, rstd, gamma);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(dx, dgamma);
        }
    }
}
