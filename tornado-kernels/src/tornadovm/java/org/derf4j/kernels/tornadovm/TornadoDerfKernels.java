package org.derf4j.kernels.tornadovm;

import java.util.List;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.cpu.Erf;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Derf, {@code y = γ ⊙ erf(α·x + s) + β}: erf is the cpu backend's {@link Erf#erf(float)} (TornadoMath has
 * none), erf' = 2/√π·exp(−z²). Launched as {@link TornadoPointwiseNormKernels} describes.
 */
public final class TornadoDerfKernels {
    private TornadoDerfKernels() {
    }

    // out[i] = γ[c]·erf(α·x[i] + s) + β[c], c = i mod C; one work-item per element
    public static void derfForward(KernelContext k, FloatArray out, FloatArray x, FloatArray alpha, FloatArray shift,
                                   FloatArray gamma, FloatArray beta, int C, int n) {
        int i = k.globalIdx;
        if (i < n) {
            int c = i % C;
            out.set(i, gamma.get(c) * Erf.erf(alpha.get(0) * x.get(i) + shift.get(0)) + beta.get(c));
        }
    }

    // see TornadoPointwiseNormKernels.Backward for the partials' layout; dx added in place
    public static void derfBackward(KernelContext k, FloatArray dx, FloatArray partialGamma, FloatArray partialBeta,
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
                float g = d * gc * (Erf.TWO_OVER_SQRT_PI * TornadoMath.exp(-z * z)); // dL/dz
                dx.set(i, dx.get(i) + g * a);
                sumGamma += d * Erf.erf(z);
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
        return TornadoPointwiseNormKernels.launches(p, c, TornadoDerfKernels::derfForward);
    }

    static List<Launch> launches(PointwiseNorm.Backward p, TornadoCompiler c) {
        return TornadoPointwiseNormKernels.launches(p, c, TornadoDerfKernels::derfBackward);
    }
}
