package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;
import static org.derf4j.kernels.cpu.CpuCompiler.i;
import static org.derf4j.kernels.cpu.CpuCompiler.orNull;
import static org.derf4j.kernels.cpu.CpuCompiler.orOne;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.Embedding;

/**
 * Token + position embedding with an optional scale, and its gradient scatter. The forward works on
 * rows (b,t) {@code [from, to)}; the backward on channels {@code [c0, c1)}, so that each chunk owns its slice
 * of dwte and dwpe and the scatter needs no atomics and gives the same bits every run.
 */
final class EmbeddingKernels {
    private EmbeddingKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;
    /** {@link Lanes#FMA}: fma, or multiply and add. */
    private static final boolean FMA = Lanes.FMA;

    static int token(int[] tokens, int row, int vocab) {
        int tok = tokens[row];
        if (tok < 0 || tok >= vocab) {
            throw Embedding.badToken(tok, row, vocab);
        }
        return tok;
    }

    // out[row,c] = scale · (wte[tokens[row],c] + wpe[row % T, c]) for rows [from, to)
    static void forwardReference(float[] out, int[] tokens, float[] wte, float[] wpe, float scale, int T, int C,
                                 int V, int from, int to) {
        for (int row = from; row < to; row++) {
            int w = token(tokens, row, V) * C;
            int p = (row % T) * C;
            for (int c = 0; c < C; c++) {
                out[row * C + c] = scale * (wte[w + c] + wpe[p + c]);
            }
        }
    }

    // dwte[tok, c] += scale·dout; dwpe[t, c] += scale·dout; returns Σ dout·(wte+wpe), for channels [c0, c1)
    static double backwardReference(float[] dwte, float[] dwpe, float[] dout, int[] tokens, float[] wte, float[] wpe,
                                    float scale, int N, int T, int C, int V, int c0, int c1) {
        double dscale = 0;
        for (int row = 0; row < N; row++) {
            int w = token(tokens, row, V) * C;
            int p = (row % T) * C;
            for (int c = c0; c < c1; c++) {
                float g = dout[row * C + c];
                dwte[w + c] += scale * g;
                dwpe[p + c] += scale * g;
                dscale += g * (wte[w + c] + wpe[p + c]);
            }
        }
        return dscale;
    }

    static void forward(float[] out, int[] tokens, float[] wte, float[] wpe, float scale, int T, int C, int V,
                        int from, int to) {
        for (int row = from; row < to; row++) {
            int w = token(tokens, row, V) * C;
            int p = (row % T) * C;
            int o = row * C;
            int c = 0;
            for (int bound = S.loopBound(C); c < bound; c += S.length()) {
                FloatVector.fromArray(S, wte, w + c).add(FloatVector.fromArray(S, wpe, p + c)).mul(scale)
                        .intoArray(out, o + c);
            }
            for (; c < C; c++) {
                out[o + c] = scale * (wte[w + c] + wpe[p + c]);
            }
        }
    }

    /** backwardReference; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static double backward(float[] dwte, float[] dwpe, float[] dout, int[] tokens, float[] wte, float[] wpe,
                           float scale, int N, int T, int C, int V, int c0, int c1, float[] lanes) {
        double dscale = 0;
        int vecEnd = c0 + S.loopBound(c1 - c0);
        for (int row = 0; row < N; row++) {
            int w = token(tokens, row, V) * C;
            int p = (row % T) * C;
            int o = row * C;
            FloatVector acc = FloatVector.zero(S);
            for (int c = c0; c < vecEnd; c += S.length()) {
                FloatVector g = FloatVector.fromArray(S, dout, o + c);
                FloatVector sg = g.mul(scale);
                FloatVector.fromArray(S, dwte, w + c).add(sg).intoArray(dwte, w + c);
                FloatVector.fromArray(S, dwpe, p + c).add(sg).intoArray(dwpe, p + c);
                FloatVector e = FloatVector.fromArray(S, wte, w + c).add(FloatVector.fromArray(S, wpe, p + c));
                acc = FMA ? g.fma(e, acc) : g.mul(e).add(acc);
            }
            acc.intoArray(lanes, 0);
            dscale += Lanes.sum(lanes);
        }
        return dscale + backwardReference(dwte, dwpe, dout, tokens, wte, wpe, scale, N, T, C, V, vecEnd, c1);
    }

    static Runnable compile(Embedding.Forward e, CpuCompiler c) {
        float[] out = f(e.out());
        int[] tokens = i(e.tokens());
        float[] wte = f(e.wte());
        float[] wpe = f(e.wpe());
        float[] scale = orOne(e.scale());
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        return c.parallel(e.tokens().size(), CpuCompiler.rowsPerChunk(C),
                (from, to, chunk) -> forwardReference(out, tokens, wte, wpe, scale[0], T, C, V, from, to),
                (from, to, chunk) -> forward(out, tokens, wte, wpe, scale[0], T, C, V, from, to));
    }

    static Runnable compile(Embedding.Backward e, CpuCompiler c) {
        float[] dwte = f(e.dwte());
        float[] dwpe = f(e.dwpe());
        float[] dscale = orNull(e.dscale());
        float[] dout = f(e.dout());
        int[] tokens = i(e.tokens());
        float[] wte = f(e.wte());
        float[] wpe = f(e.wpe());
        float[] scale = orOne(e.scale());
        int N = e.tokens().size();
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        // Each chunk owns a slice of channels, so the scatter needs no atomics.
        int channelsPerChunk = 64;
        double[] partial = new double[ThreadTeam.chunks(C, channelsPerChunk)];
        float[][] lanes = Lanes.scratch(partial.length);
        Runnable scatter = c.parallel(C, channelsPerChunk,
                (c0, c1, chunk) -> partial[chunk] = backwardReference(dwte, dwpe, dout, tokens, wte, wpe, scale[0],
                        N, T, C, V, c0, c1),
                (c0, c1, chunk) -> partial[chunk] = backward(dwte, dwpe, dout, tokens, wte, wpe, scale[0], N, T, C,
                        V, c0, c1, lanes[chunk]));
        return () -> {
            Arrays.fill(partial, 0);
            scatter.run();
            if (dscale != null) {
                dscale[0] += (float) CpuCompiler.sumInOrder(partial, partial.length);
            }
        };
    }
}
