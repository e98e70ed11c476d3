package org.derf4j.kernels.tornadovm;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * DyT, {@code y = γ ⊙ tanh(α·x) + β}; tanh' is {@link TornadoFunctions#sech2}, which keeps its accuracy where
 * 1 − tanh² would cancel. DyT has no shift: s reads a buffer that holds 0, and ds goes nowhere. Launched as
 * {@link TornadoPointwiseNormKernels} describes.
 */
public final class TornadoDytKernels {
    private TornadoDytKernels() {
    }

    // out[i] = γ[c]·tanh(α·x[i] + s) + β[c], c = i mod C; one work-item per element
    public static void dytForward(KernelContext k, FloatArray out, FloatArray x, FloatArray alpha, FloatArray shift,
                                  FloatArray gamma, FloatArray beta, int C, int n) {
        int i = k.globalIdx;
        if (i < n) {
            int c = i % C;
            out.set(i, gamma.get(c) * TornadoMath.tanh(alpha.get(0) * x.get(i) + shift.get(0)) + beta.get(c));
        }
    }

    // see TornadoPointwiseNormKernels.Backward for the partials' layout; dx added in place
    public static void dytBackward(KernelContext k, FloatArray dx, FloatArray partialGamma, FloatArray partialBeta,
                                   FloatArray partialScalars, FloatArray dout, FloatArray x, FloatArray alpha,
                                   FloatArray shift, FloatArray gamma, int C, int rows) {
        int idx = k.globalIdx;
        int chunks = (rows + TornadoReductions.ROWS_PER_CHUNK - 1) / TornadoReductions.ROWS_PER_CHUNK;
        float a = alpha.get(0);
        float s = shift.get(0);
        float sumAlpha = 0f;
        float sumShift = 0f;
        if (idx < chunks * C) {
            int chunk = idx / C;
            int c = idx % C;
            float gc = gamma.get(c);
            float sumGamma = 0f;
            float sumBeta = 0f;
            int end = Math.min(rows, (chunk + 1) * TornadoReductions.ROWS_PER_CHUNK);
            for (int row = chunk * TornadoReductions.ROWS_PER_CHUNK; row < end; row++) {
                int i = row * C + c;
                float xi = x.get(i);
                float d = dout.get(i);
                float z = a * xi + s;
                float g = d * gc * TornadoFunctions.sech2(z); // dL/dz
                dx.set(i, dx.get(i) + g * a);
                sumGamma += d * TornadoMath.tanh(z);
                sumBeta += d;
                sumAlpha += g * xi;
                sumShift += g;
            }
            partialGamma.set(idx, sumGamma);
            partialBeta.set(idx, sumBeta);
        }
        float groupAlpha = TornadoReductions.groupSum(k, sumAlpha);
        float groupShift = TornadoReductions.groupSum(k, sumShift);
        if (k.localIdx == 0) {
            partialScalars.set(2 * k.groupIdx, groupAlpha);
            partialScalars.set(2 * k.groupIdx + 1, groupShift);
        }
    }

    static List<Launch> launches(PointwiseNorm.Forward p, TornadoCompiler c) {
        return TornadoPointwiseNormKernels.launches(p, c, TornadoDytKernels::dytForward);
    }

    static List<Launch> launches(PointwiseNorm.Backward p, TornadoCompiler c) {
        return TornadoPointwiseNormKernels.launches(p, c, TornadoDytKernels::dytBackward);
    }
}
