package org.derf4j.kernels;

import java.util.List;

/**
 * LayerNorm over the last dimension: {@code y = (x − mean)·rstd ⊙ γ + β}, with
 * {@code rstd = 1/sqrt(var + eps)} and the biased variance, as in PyTorch.
 */
public final class LayerNorm {
    private LayerNorm() {
    }

    /** PyTorch's default epsilon. */
    public static final float DEFAULT_EPS = 1e-5f;

    /** Writes {@code out[N,C]}, and saves {@code mean[N]} and {@code rstd[N]} for the backward. */
    public record Forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, float eps)
            implements Op {
        public Forward {
            Check.f32(Forward.class, "x", x);
            Check.sameShape(Forward.class, "out", out, "x", x);
            Check.distinct(Forward.class, "out", out, "x", x);
            Check.elements(Forward.class, "mean", mean, DType.F32, x.rows(), "one per row of x");
            Check.elements(Forward.class, "rstd", rstd, DType.F32, x.rows(), "one per row of x");
            Check.distinct(Forward.class, "mean", mean, "rstd", rstd);
            Check.shape(Forward.class, "gamma", gamma, "x's last dimension", x.dim(-1));
            Check.shape(Forward.class, "beta", beta, "x's last dimension", x.dim(-1));
            if (!(eps > 0)) {
                throw Check.fail(Forward.class, "eps must be positive, got " + eps);
            }
        }

        public Forward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta) {
            this(out, mean, rstd, x, gamma, beta, DEFAULT_EPS);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(x, gamma, beta);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out, mean, rstd);
        }
    }

    /** Adds into {@code dx}, {@code dgamma} and {@code dbeta}, from the saved mean and rstd. */
    public record Backward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd,
                           Tensor gamma) implements Op {
        public Backward {
            Check.f32(Backward.class, "x", x);
            Check.sameShape(Backward.class, "dout", dout, "x", x);
            Check.sameShape(Backward.class, "dx", dx, "x", x);
            Check.distinct(Backward.class, "dx", dx, "dout", dout);
            Check.distinct(Backward.class, "dx", dx, "x", x);
            Check.elements(Backward.class, "mean", mean, DType.F32, x.rows(), "one per row of x");
            Check.elements(Backward.class, "rstd", rstd, DType.F32, x.rows(), "one per row of x");
            Check.shape(Backward.class, "gamma", gamma, "x's last dimension", x.dim(-1));
            Check.shape(Backward.class, "dgamma", dgamma, "x's last dimension", x.dim(-1));
            Check.shape(Backward.class, "dbeta", dbeta, "x's last dimension", x.dim(-1));
            Check.distinct(Backward.class, "dgamma", dgamma, "dbeta", dbeta);
            Check.distinct(Backward.class, "dgamma", dgamma, "gamma", gamma);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout, x, mean, rstd, gamma);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(dx, dgamma, dbeta);
        }
    }
}
