package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.RmsNorm;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * RMSNorm over the last dimension of x[N,C] (see {@link org.derf4j.kernels.RmsNorm}).
 * <pre>
 *   rmsNormForward        one work-group per row: Σ x² in a local-memory tree; out, rstd
 *   rmsNormBackwardRows   one work-group per row: Σ dnorm·norm in a tree; dx added
 *   rmsNormParamPartials  work-item (chunk of 32 rows, c): the chunk's Σ dout·norm
 *   addColumnSums         dγ += the chunks' partials, in order
 * </pre>
 */
public final class TornadoRmsNormKernels {
    private TornadoRmsNormKernels() {
    }

    public static void rmsNormForward(KernelContext k, FloatArray out, FloatArray rstd, FloatArray x, FloatArray gamma,
                                      float eps, int C) {
        int o = k.groupIdx * C;
        int lid = k.localIdx;
        float ss = 0f;
        for (int c = lid; c < C; c += Grids.GROUP) {
            float v = x.get(o + c);
            ss += v * v;
        }
        float r = 1f / TornadoMath.sqrt(TornadoReductions.groupSum(k, ss) / C + eps);
        for (int c = lid; c < C; c += Grids.GROUP) {
            out.set(o + c, x.get(o + c) * r * gamma.get(c));
        }
        if (lid == 0) {
            rstd.set(k.groupIdx, r);
        }
    }

    // dx += rstd·(dnorm − norm·mean(dnorm·norm)), norm = x·rstd, dnorm = dout·γ
    public static void rmsNormBackwardRows(KernelContext k, FloatArray dx, FloatArray dout, FloatArray x,
                                           FloatArray rstd, FloatArray gamma, int C) {
        int row = k.groupIdx;
        int o = row * C;
        int lid = k.localIdx;
        float r = rstd.get(row);
        float sdn = 0f;
        for (int c = lid; c < C; c += Grids.GROUP) {
            sdn += dout.get(o + c) * gamma.get(c) * x.get(o + c) * r;
        }
        float dnormNormMean = TornadoReductions.groupSum(k, sdn) / C;
        for (int c = lid; c < C; c += Grids.GROUP) {
            float norm = x.get(o + c) * r;
            dx.set(o + c, dx.get(o + c) + (dout.get(o + c) * gamma.get(c) - norm * dnormNormMean) * r);
        }
    }

    // partialGamma[chunk·C + c] = Σ dout·norm over the chunk's rows
    public static void rmsNormParamPartials(KernelContext k, FloatArray partialGamma, FloatArray dout, FloatArray x,
                                            FloatArray rstd, int rows, int C) {
        int idx = k.globalIdx;
        int chunks = (rows + TornadoReductions.ROWS_PER_CHUNK - 1) / TornadoReductions.ROWS_PER_CHUNK;
        if (idx < chunks * C) {
            int chunk = idx / C;
            int c = idx % C;
            float sg = 0f;
            int end = Math.min(rows, (chunk + 1) * TornadoReductions.ROWS_PER_CHUNK);
            for (int row = chunk * TornadoReductions.ROWS_PER_CHUNK; row < end; row++) {
                sg += dout.get(row * C + c) * x.get(row * C + c) * rstd.get(row);
            }
            partialGamma.set(idx, sg);
        }
    }

    static List<Launch> launches(RmsNorm.Forward r, TornadoCompiler c) {
        int C = r.x().dim(-1);
        return List.of(new Launch("rows", Grids.groups(r.x().rows(), Grids.GROUP), id -> createPackage(id,
                TornadoRmsNormKernels::rmsNormForward, c.context(), f(r.out()), f(r.rstd()), f(r.x()), f(r.gamma()),
                r.eps(), C)));
    }

    static List<Launch> launches(RmsNorm.Backward r, TornadoCompiler c) {
        int C = r.x().dim(-1);
        int rows = r.x().rows();
        int chunks = TornadoCompiler.chunks(rows);
        FloatArray partialGamma = c.scratchFloats(chunks * C);
        return List.of(
                new Launch("rows", Grids.groups(rows, Grids.GROUP), id -> createPackage(id,
                        TornadoRmsNormKernels::rmsNormBackwardRows, c.context(), f(r.dx()), f(r.dout()), f(r.x()),
                        f(r.rstd()), f(r.gamma()), C)),
                new Launch("partials", Grids.elements(chunks * C), id -> createPackage(id,
                        TornadoRmsNormKernels::rmsNormParamPartials, c.context(), partialGamma, f(r.dout()), f(r.x()),
                        f(r.rstd()), rows, C)),
                c.addColumnSums(r.dgamma(), partialGamma, chunks, C));
    }
}
