package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.Gelu;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/** GELU, tanh form (see {@link org.derf4j.kernels.Gelu}); one work-item per element. */
public final class TornadoGeluKernels {
    private TornadoGeluKernels() {
    }

    /** √(2/π). */
    private static final float K = 0.7978845608028654f;
    private static final float CUBIC = 0.044715f;

    // out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    public static void geluForward(KernelContext k, FloatArray out, FloatArray x, int n) {
        int i = k.globalIdx;
        if (i < n) {
            float v = x.get(i);
            float u = K * (v + CUBIC * v * v * v);
            out.set(i, 0.5f * v * (1f + TornadoMath.tanh(u)));
        }
    }

    // dx += dout · gelu'(x)
    public static void geluBackward(KernelContext k, FloatArray dx, FloatArray dout, FloatArray x, int n) {
        int i = k.globalIdx;
        if (i < n) {
            float v = x.get(i);
            float u = K * (v + CUBIC * v * v * v);
            float dudx = K * (1f + 3f * CUBIC * v * v);
            float grad = 0.5f * (1f + TornadoMath.tanh(u)) + 0.5f * v * TornadoFunctions.sech2(u) * dudx;
            dx.set(i, dx.get(i) + dout.get(i) * grad);
        }
    }

    static List<Launch> launches(Gelu.Forward g, TornadoCompiler c) {
        int n = g.x().size();
        return List.of(new Launch("gelu", Grids.elements(n), id -> createPackage(id, TornadoGeluKernels::geluForward,
                c.context(), f(g.out()), f(g.x()), n)));
    }

    static List<Launch> launches(Gelu.Backward g, TornadoCompiler c) {
        int n = g.x().size();
        return List.of(new Launch("gelu", Grids.elements(n), id -> createPackage(id, TornadoGeluKernels::geluBackward,
                c.context(), f(g.dx()), f(g.dout()), f(g.x()), n)));
    }
}
