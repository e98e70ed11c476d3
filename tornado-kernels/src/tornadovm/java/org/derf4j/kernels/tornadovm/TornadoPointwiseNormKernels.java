package org.derf4j.kernels.tornadovm;

import org.derf4j.kernels.cpu.Erf;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Derf and DyT, {@code y = γ ⊙ f(α·x + s) + β} (see {@link org.derf4j.kernels.PointwiseNorm}); {@code kind} is
 * {@link #DERF} (f = erf, the same {@link Erf#erf(float)} as the cpu backend) or {@link #DYT} (f = tanh, no
 * shift: s reads a zero). The backward is one fused pass over x and dout:
 * <pre>
 *   pointwiseBackward   work-item (chunk of 32 rows, channel c): recomputes z, f(z), f'(z);
 *                       dx += dout·γ·f'(z)·α in place; writes the chunk's dγ and dβ partials;
 *                       a local-memory tree per work-group → partial {dα, ds}
 *   addColumnSums ×2    dγ, dβ += the chunks' partials, in order
 *   addPairSums         dα, ds += the work-groups' partials, in order
 * </pre>
 */
public final class TornadoPointwiseNormKernels {
    private TornadoPointwiseNormKernels() {
    }

    static final int DERF = 0;
    static final int DYT = 1;

    /** 2/√π, the slope of erf at 0. */
    private static final float TWO_OVER_SQRT_PI = 1.1283791670955126f;

    private static float f(int kind, float z) {
        return kind == DERF ? Erf.erf(z) : TornadoMath.tanh(z);
    }

    /** f'(z): 2/√π·exp(−z²) for erf, 1 − tanh²(z) for tanh. */
    private static float fPrime(int kind, float z) {
        return kind == DERF ? TWO_OVER_SQRT_PI * TornadoMath.exp(-z * z) : TornadoFunctions.sech2(z);
    }

    // out[i] = γ[c]·f(α·x[i] + s) + β[c], c = i mod C; one work-item per element
    public static void pointwiseForward(KernelContext k, FloatArray out, FloatArray x, FloatArray alpha,
                                        FloatArray shift, FloatArray gamma, FloatArray beta, int kind, int C, int n) {
        int i = k.globalIdx;
        if (i < n) {
            int c = i % C;
            out.set(i, gamma.get(c) * f(kind, alpha.get(0) * x.get(i) + shift.get(0)) + beta.get(c));
        }
    }

    // partialGamma/Beta[chunk·C + c], partialScalars[2·group + {0: dα, 1: ds}]; dx added in place
    public static void pointwiseBackward(KernelContext k, FloatArray dx, FloatArray partialGamma,
                                         FloatArray partialBeta, FloatArray partialScalars, FloatArray dout,
                                         FloatArray x, FloatArray alpha, FloatArray shift, FloatArray gamma, int kind,
                                         int C, int rows) {
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
                float g = d * gc * fPrime(kind, z); // dL/dz
                dx.set(i, dx.get(i) + g * a);
                sumGamma += d * f(kind, z);
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
}
