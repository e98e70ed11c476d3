package org.derf4j.kernels;

import java.util.List;

/**
 * Point-wise normalizers: {@code y = γ ⊙ f(α·x + s) + β}, applied to each element on its own.
 *
 * <ul>
 *   <li>{@link Kind#DERF}: f = erf, with the learnable shift s (Chen et al. 2025, "Stronger
 *       Normalization-Free Transformers").</li>
 *   <li>{@link Kind#DYT}: f = tanh and no shift (Zhu et al. 2025, "Transformers without Normalization").</li>
 * </ul>
 * α and s are scalars ({@code [1]}) per layer; γ and β are per channel ({@code [C]}). The forward is one
 * pass over x. The backward recomputes f from x, so nothing but x is saved.
 */
public final class PointwiseNorm {
    private PointwiseNorm() {
    }

    /**
     * The squashing function f, and whether the layer has a shift. Each kind has one kernel file per backend
     * (see {@code tornado-kernels/README.md}, "Adding a norm").
     */
    public enum Kind implements Norm {
        /** f = erf, with shift s. */
        DERF,
        /** f = tanh, no shift. */
        DYT;

        public boolean hasShift() {
            return switch (this) {
                case DERF -> true;
                case DYT -> false;
            };
        }
    }

    private static void checkParams(Class<?> op, Kind kind, Tensor x, Tensor alpha, Tensor shift, Tensor gamma) {
        if (kind == null) {
            throw Check.fail(op, "kind must not be null");
        }
        Check.f32(op, "x", x);
        Check.scalar(op, "alpha", alpha);
        if (kind.hasShift()) {
            Check.scalar(op, "shift", shift);
        } else {
            Check.absent(op, "shift", shift, kind + " has no shift");
        }
        Check.shape(op, "gamma", gamma, "x's last dimension", x.dim(-1));
    }

    /** {@code out[N,C] = gamma[C] ⊙ f(alpha[1]·x[N,C] + shift[1]) + beta[C]}; x may have any leading dims. */
    public record Forward(Kind kind, Tensor out, Tensor x, Tensor alpha, Tensor shift, Tensor gamma, Tensor beta)
            implements Op {
        public Forward {
            checkParams(Forward.class, kind, x, alpha, shift, gamma);
            Check.shape(Forward.class, "beta", beta, "x's last dimension", x.dim(-1));
            Check.sameShape(Forward.class, "out", out, "x", x);
            Check.distinct(Forward.class, "out", out, "x", x);
        }

        @Override
        public List<Tensor> reads() {
            return Op.present(x, alpha, shift, gamma, beta);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out);
        }
    }

    /**
     * Adds the gradients of {@code Forward} given {@code dout}: with z = α·x + s,
     * {@code dx += dout·γ·f'(z)·α}, {@code dgamma += Σ_rows dout·f(z)}, {@code dbeta += Σ_rows dout},
     * {@code dalpha += Σ dout·γ·f'(z)·x}, {@code dshift += Σ dout·γ·f'(z)}. Reductions are deterministic.
     */
    public record Backward(Kind kind, Tensor dx, Tensor dalpha, Tensor dshift, Tensor dgamma, Tensor dbeta,
                           Tensor dout, Tensor x, Tensor alpha, Tensor shift, Tensor gamma) implements Op {
        public Backward {
            checkParams(Backward.class, kind, x, alpha, shift, gamma);
            Check.sameShape(Backward.class, "dout", dout, "x", x);
            Check.sameShape(Backward.class, "dx", dx, "x", x);
            Check.scalar(Backward.class, "dalpha", dalpha);
            if (kind.hasShift()) {
                Check.scalar(Backward.class, "dshift", dshift);
            } else {
                Check.absent(Backward.class, "dshift", dshift, kind + " has no shift");
            }
            Check.shape(Backward.class, "dgamma", dgamma, "x's last dimension", x.dim(-1));
            Check.shape(Backward.class, "dbeta", dbeta, "x's last dimension", x.dim(-1));
            Check.distinct(Backward.class, "dx", dx, "dout", dout);
            Check.distinct(Backward.class, "dx", dx, "x", x);
            Check.distinct(Backward.class, "dgamma", dgamma, "dbeta", dbeta);
            Check.distinct(Backward.class, "dgamma", dgamma, "gamma", gamma);
            Check.distinct(Backward.class, "dalpha", dalpha, "dshift", dshift);
            Check.distinct(Backward.class, "dalpha", dalpha, "alpha", alpha);
            Check.distinct(Backward.class, "dshift", dshift, "shift", shift);
        }

        @Override
        public List<Tensor> reads() {
            return Op.present(dout, x, alpha, shift, gamma);
        }

        @Override
        public List<Tensor> writes() {
            return Op.present(dx, dalpha, dshift, dgamma, dbeta);
        }
    }
}
