package org.derf4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.Residual;

/** The residual add and its backward, reference and Vector API side by side, over {@code [from, to)}. */
final class ResidualKernels {
    private ResidualKernels() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    // out = a + b
    static void forwardReference(float[] out, float[] a, float[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            out[i] = a[i] + b[i];
        }
    }

    // da += dout; db += dout
    static void backwardReference(float[] da, float[] db, float[] dout, int from, int to) {
        for (int i = from; i < to; i++) {
            da[i] += dout[i];
            db[i] += dout[i];
        }
    }

    static void forward(float[] out, float[] a, float[] b, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector.fromArray(S, a, i).add(FloatVector.fromArray(S, b, i)).intoArray(out, i);
        }
        forwardReference(out, a, b, i, to);
    }

    static void backward(float[] da, float[] db, float[] dout, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector g = FloatVector.fromArray(S, dout, i);
            FloatVector.fromArray(S, da, i).add(g).intoArray(da, i);
            FloatVector.fromArray(S, db, i).add(g).intoArray(db, i);
        }
        backwardReference(da, db, dout, i, to);
    }

    static Runnable compile(Residual.Forward r, CpuCompiler c) {
        return c.elementwise(ResidualKernels::forwardReference, ResidualKernels::forward, r.out(), r.a(), r.b());
    }

    static Runnable compile(Residual.Backward r, CpuCompiler c) {
        return c.elementwise(ResidualKernels::backwardReference, ResidualKernels::backward, r.da(), r.db(),
                r.dout());
    }
}
