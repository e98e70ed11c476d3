package org.derf4j.kernels;

import java.util.List;

/** The residual connection: {@code out = a + b}. */
public final class Residual {
    private Residual() {
    }

    /** {@code out = a + b}; out may be a (in place). */
    public record Forward(Tensor out, Tensor a, Tensor b) implements Op {
        public Forward {
            Check.f32(Forward.class, "a", a);
            Check.sameShape(Forward.class, "b", b, "a", a);
            Check.sameShape(Forward.class, "out", out, "a", a);
            Check.distinct(Forward.class, "out", out, "b", b);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(a, b);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(out);
        }
    }

    /** {@code da += dout; db += dout}. */
    public record Backward(Tensor da, Tensor db, Tensor dout) implements Op {
        public Backward {
            Check.f32(Backward.class, "dout", dout);
            Check.sameShape(Backward.class, "da", da, "dout", dout);
            Check.sameShape(Backward.class, "db", db, "dout", dout);
            Check.distinct(Backward.class, "da", da, "db", db);
            Check.distinct(Backward.class, "da", da, "dout", dout);
            Check.distinct(Backward.class, "db", db, "dout", dout);
        }

        @Override
        public List<Tensor> reads() {
            return List.of(dout);
        }

        @Override
        public List<Tensor> writes() {
            return List.of(da, db);
        }
    }
}
