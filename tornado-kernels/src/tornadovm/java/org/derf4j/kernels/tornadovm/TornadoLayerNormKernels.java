package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.LayerNorm;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * LayerNorm over the last dimension of x[N,C] (see {@link org.derf4j.kernels.LayerNorm}).
 * <pre>
 *   layerNormForward       one work-group per row: mean, then variance, in local-memory trees; out, mean, rstd
 *   layerNormBackwardRows  one work-group per row: Σ dnorm and Σ dnorm·norm in trees; dx added
 *   layerNormParamPartials work-item (chunk of 32 rows, c): the chunk's Σ dout·norm and Σ dout
 *   addColumnSums ×2       dγ, dβ += the chunks' partials, in order
 * </pre>
 */
public final class TornadoLayerNormKernels {
    private TornadoLayerNormKernels() {
    }

    public static void layerNormForward(KernelContext k, FloatArray out, FloatArray mean, FloatArray rstd, FloatArray x,
                                        FloatArray gamma, FloatArray beta, float eps, int C) {
        int o = k.groupIdx * C;
        int lid = k.localIdx;
        float s = 0f;
        for (int c = lid; c < C; c += Grids.GROUP) {
            s += x.get(o + c);
        }
        float m = TornadoReductions.groupSum(k, s) / C;
        float q = 0f;
        for (int c = lid; c < C; c += Grids.GROUP) {
            float d = x.get(o + c) - m;
            q += d * d;
        }
        float r = 1f / TornadoMath.sqrt(TornadoReductions.groupSum(k, q) / C + eps);
        for (int c = lid; c < C; c += Grids.GROUP) {
            out.set(o + c, (x.get(o + c) - m) * r * gamma.get(c) + beta.get(c));
        }
        if (lid == 0) {
            mean.set(k.groupIdx, m);
            rstd.set(k.groupIdx, r);
        }
    }

    // dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)), norm = (x − mean)·rstd, dnorm = dout·γ
    public static void layerNormBackwardRows(KernelContext k, FloatArray dx, FloatArray dout, FloatArray x,
                                             FloatArray mean, FloatArray rstd, FloatArray gamma, int C) {
        int row = k.groupIdx;
        int o = row * C;
        int lid = k.localIdx;
        float m = mean.get(row);
        float r = rstd.get(row);
        float sd = 0f;
        float sdn = 0f;
        for (int c = lid; c < C; c += Grids.GROUP) {
            float norm = (x.get(o + c) - m) * r;
            float dnorm = dout.get(o + c) * gamma.get(c);
            sd += dnorm;
            sdn += dnorm * norm;
        }
        float dnormMean = TornadoReductions.groupSum(k, sd) / C;
        float dnormNormMean = TornadoReductions.groupSum(k, sdn) / C;
        for (int c = lid; c < C; c += Grids.GROUP) {
            float norm = (x.get(o + c) - m) * r;
            float dnorm = dout.get(o + c) * gamma.get(c);
            dx.set(o + c, dx.get(o + c) + (dnorm - dnormMean - norm * dnormNormMean) * r);
        }
    }

    // partialGamma[chunk·C + c] = Σ dout·norm, partialBeta[…] = Σ dout, over the chunk's rows
    public static void layerNormParamPartials(KernelContext k, FloatArray partialGamma, FloatArray partialBeta,
                                              FloatArray dout, FloatArray x, FloatArray mean, FloatArray rstd,
                                              int rows, int C) {
        int idx = k.globalIdx;
        int chunks = (rows + TornadoReductions.ROWS_PER_CHUNK - 1) / TornadoReductions.ROWS_PER_CHUNK;
        if (idx < chunks * C) {
            int chunk = idx / C;
            int c = idx % C;
            float sg = 0f;
            float sb = 0f;
            int end = Math.min(rows, (chunk + 1) * TornadoReductions.ROWS_PER_CHUNK);
            for (int row = chunk * TornadoReductions.ROWS_PER_CHUNK; row < end; row++) {
                float d = dout.get(row * C + c);
                sg += d * (x.get(row * C + c) - mean.get(row)) * rstd.get(row);
                sb += d;
            }
            partialGamma.set(idx, sg);
            partialBeta.set(idx, sb);
        }
    }

    static List<Launch> launches(LayerNorm.Forward l, TornadoCompiler c) {
        int C = l.x().dim(-1);
        return List.of(new Launch("rows", Grids.groups(l.x().rows(), Grids.GROUP), id -> createPackage(id,
                TornadoLayerNormKernels::layerNormForward, c.context(), f(l.out()), f(l.mean()), f(l.rstd()),
                f(l.x()), f(l.gamma()), f(l.beta()), l.eps(), C)));
    }

    static List<Launch> launches(LayerNorm.Backward l, TornadoCompiler c) {
        int C = l.x().dim(-1);
        int rows = l.x().rows();
        int chunks = TornadoCompiler.chunks(rows);
        FloatArray partialGamma = c.scratchFloats(chunks * C);
        FloatArray partialBeta = c.scratchFloats(chunks * C);
        return List.of(
                new Launch("rows", Grids.groups(rows, Grids.GROUP), id -> createPackage(id,
                        TornadoLayerNormKernels::layerNormBackwardRows, c.context(), f(l.dx()), f(l.dout()), f(l.x()),
                        f(l.mean()), f(l.rstd()), f(l.gamma()), C)),
                new Launch("partials", Grids.elements(chunks * C), id -> createPackage(id,
                        TornadoLayerNormKernels::layerNormParamPartials, c.context(), partialGamma, partialBeta,
                        f(l.dout()), f(l.x()), f(l.mean()), f(l.rstd()), rows, C)),
                c.addColumnSums(l.dgamma(), partialGamma, chunks, C),
                c.addColumnSums(l.dbeta(), partialBeta, chunks, C));
    }
}
