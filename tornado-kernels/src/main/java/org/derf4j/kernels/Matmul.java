package org.derf4j.kernels;

import java.util.List;

/**
 * A Linear layer: {@code out = x·wᵀ + bias}, with PyTorch's weight layout {@code w[OC,IC]}.
 *
 * <p>Its forward and backward are the three GEMM shapes a Linear layer needs:
 * <pre>
 *   forward   out[N,OC]  = x[N,IC] · w[OC,IC]ᵀ      (+ bias[OC])
 *   backward  dx[N,IC]  += dout[N,OC] · w[OC,IC]
 *             dw[OC,IC] += dout[N,OC]ᵀ · x[N,IC]
 *             dbias[OC] += Σ_N dout[N,OC]
 * </pre>
 * x and dout may have any leading dimensions; N is their product.
 */
public final class Matmul {
    private Matmul() {
    }

    private static void checkWeight(Class<?> op, Tensor x, Tensor w) {
        Check.f32(op, "x", x);
        Check.f32(op, "w", w);
        Check.rank(op, "w", w, 2, "[OC,IC]");
        if (w.dim(1) != x.dim(-1)) {
            throw Check.fail(op, "w must have shape [OC," + x.dim(-1) + "] (IC = x's last dimension), got "
                    + java.util.Arrays.toString(w.shape()));
        }
    }

    /** Leading dimensions of {@code x} with the last one replaced by {@code last}. */
    private static int[] withLast(Tensor x, int last) {
        int[] s = x.shape();
        s[s.length - 1] = last;
        return s;
    }

    /** {@code out[N,OC] = x[N,IC]·w[OC,IC]ᵀ + bias[OC]}; bias may be null. */
    public record Forward(Tensor out, Tensor x, Tensor w, Tensor bias) implements Op {
        public Forward {
            checkWeight(Forward.class, x, w);
            Check.shape(Forward.class, "out", out, "x's leading dimensions, then w's OC", withLast(x, w.dim(0)));
            Check.distinct(Forward.class, "out", out, "x", x);
            if (bias != null) {
                Check.shape(Forward.class, "bias", bias, "w's OC", w.dim(0));
            }
        }

        @Override
        public List<Tensor> reads() {
            return Op.present(x, w, bias);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out);
        }
    }

    /** Adds into {@code dx}, {@code dw} and {@code dbias}; any of the three may be null when it is not needed. */
    public record Backward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) implements Op {
        public Backward {
            checkWeight(Backward.class, x, w);
            Check.shape(Backward.class, "dout", dout, "x's leading dimensions, then w's OC", withLast(x, w.dim(0)));
            if (dx != null) {
                Check.sameShape(Backward.class, "dx", dx, "x", x);
                Check.distinct(Backward.class, "dx", dx, "x", x);
                Check.distinct(Backward.class, "dx", dx, "dout", dout); // same shape when IC = OC
            }
            if (dw != null) {
                Check.sameShape(Backward.class, "dw", dw, "w", w);
                Check.distinct(Backward.class, "dw", dw, "w", w);
            }
            if (dbias != null) {
                Check.shape(Backward.class, "dbias", dbias, "w's OC", w.dim(0));
            }
            if (dx == null && dw == null && dbias == null) {
                throw Check.fail(Backward.class, "at least one of dx, dw, dbias must be given");
            }
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout, x, w);
        }

        @Override
        public List<Tensor> writes() {
            return Op.present(dx, dw, dbias);
        }
    }
}
