package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static org.derf4j.kernels.tornadovm.TornadoCompiler.i;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.Embedding;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * Token + position embedding with a scale (see {@link org.derf4j.kernels.Embedding}). Token ids are checked on
 * the host before a replay; the kernels also clamp them, so that a bad id can never read out of bounds.
 * The backward scatters without atomics, so it is deterministic:
 * <pre>
 *   embeddingBackwardTokens     one work-item per channel c, rows in order: dwte[tok, c] += s·dout;
 *                               partial[c] = Σ dout·(wte[tok] + wpe[t]) for dscale
 *   embeddingBackwardPositions  one work-item per (t, c): dwpe[t, c] += s·Σ_b dout[b, t, c]
 *   addSum                      dscale += Σ_c partial[c]
 * </pre>
 */
public final class TornadoEmbeddingKernels {
    private TornadoEmbeddingKernels() {
    }

    private static int token(IntArray tokens, int row, int V) {
        int tok = tokens.get(row);
        return tok < 0 ? 0 : tok >= V ? V - 1 : tok;
    }

    // out[row, c] = s·(wte[tokens[row], c] + wpe[row mod T, c]); one work-item per element
    public static void embeddingForward(KernelContext k, FloatArray out, IntArray tokens, FloatArray wte,
                                        FloatArray wpe, FloatArray scale, int T, int C, int V, int n) {
        int i = k.globalIdx;
        if (i < n) {
            int row = i / C;
            int c = i % C;
            out.set(i, scale.get(0) * (wte.get(token(tokens, row, V) * C + c) + wpe.get((row % T) * C + c)));
        }
    }

    public static void embeddingBackwardTokens(KernelContext k, FloatArray dwte, FloatArray partial, FloatArray dout,
                                               IntArray tokens, FloatArray wte, FloatArray wpe, FloatArray scale,
                                               int N, int T, int C, int V) {
        int c = k.globalIdx;
        if (c < C) {
            float s = scale.get(0);
            float ds = 0f;
            for (int row = 0; row < N; row++) {
                int w = token(tokens, row, V) * C + c;
                float g = dout.get(row * C + c);
                dwte.set(w, dwte.get(w) + s * g);
                ds += g * (wte.get(w) + wpe.get((row % T) * C + c));
            }
            partial.set(c, ds);
        }
    }

    public static void embeddingBackwardPositions(KernelContext k, FloatArray dwpe, FloatArray dout, FloatArray scale,
                                                  int B, int T, int C) {
        int i = k.globalIdx;
        if (i < T * C) {
            float g = 0f;
            for (int b = 0; b < B; b++) {
                g += dout.get(b * T * C + i);
            }
            dwpe.set(i, dwpe.get(i) + scale.get(0) * g);
        }
    }

    static List<Launch> launches(Embedding.Forward e, TornadoCompiler c) {
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int n = e.out().size();
        return List.of(new Launch("embed", Grids.elements(n), id -> createPackage(id,
                TornadoEmbeddingKernels::embeddingForward, c.context(), f(e.out()), i(e.tokens()), f(e.wte()),
                f(e.wpe()), c.orOne(e.scale()), T, C, V, n)));
    }

    static List<Launch> launches(Embedding.Backward e, TornadoCompiler c) {
        int B = e.tokens().dim(0);
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int N = B * T;
        FloatArray scale = c.orOne(e.scale());
        FloatArray partial = c.scratchFloats(C);
        List<Launch> launches = new ArrayList<>();
        launches.add(new Launch("tokens", Grids.elements(C), id -> createPackage(id,
                TornadoEmbeddingKernels::embeddingBackwardTokens, c.context(), f(e.dwte()), partial, f(e.dout()),
                i(e.tokens()), f(e.wte()), f(e.wpe()), scale, N, T, C, V)));
        launches.add(new Launch("positions", Grids.elements(T * C), id -> createPackage(id,
                TornadoEmbeddingKernels::embeddingBackwardPositions, c.context(), f(e.dwpe()), f(e.dout()), scale, B,
                T, C)));
        if (e.dscale() != null) {
            launches.add(new Launch("dscale", Grids.oneGroup(), id -> createPackage(id, TornadoReductions::addSum,
                    c.context(), f(e.dscale()), partial, C)));
        }
        return launches;
    }
}
