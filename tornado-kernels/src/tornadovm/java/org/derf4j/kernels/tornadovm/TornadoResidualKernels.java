package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.Residual;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/** The residual add and its backward; one work-item per element. */
public final class TornadoResidualKernels {
    private TornadoResidualKernels() {
    }

    // out = a + b
    public static void residualForward(KernelContext k, FloatArray out, FloatArray a, FloatArray b, int n) {
        int i = k.globalIdx;
        if (i < n) {
            out.set(i, a.get(i) + b.get(i));
        }
    }

    // a += b: the in-place form (TornadoVM cannot take one buffer as two arguments of a task)
    public static void residualAddInPlace(KernelContext k, FloatArray a, FloatArray b, int n) {
        int i = k.globalIdx;
        if (i < n) {
            a.set(i, a.get(i) + b.get(i));
        }
    }

    // da += dout; db += dout
    public static void residualBackward(KernelContext k, FloatArray da, FloatArray db, FloatArray dout, int n) {
        int i = k.globalIdx;
        if (i < n) {
            float g = dout.get(i);
            da.set(i, da.get(i) + g);
            db.set(i, db.get(i) + g);
        }
    }

    static List<Launch> launches(Residual.Forward r, TornadoCompiler c) {
        int n = r.a().size();
        return List.of(r.out() == r.a()
                ? new Launch("addInPlace", Grids.elements(n), id -> createPackage(id,
                        TornadoResidualKernels::residualAddInPlace, c.context(), f(r.a()), f(r.b()), n))
                : new Launch("add", Grids.elements(n), id -> createPackage(id, TornadoResidualKernels::residualForward,
                        c.context(), f(r.out()), f(r.a()), f(r.b()), n)));
    }

    static List<Launch> launches(Residual.Backward r, TornadoCompiler c) {
        int n = r.dout().size();
        return List.of(new Launch("add", Grids.elements(n), id -> createPackage(id,
                TornadoResidualKernels::residualBackward, c.context(), f(r.da()), f(r.db()), f(r.dout()), n)));
    }
}
