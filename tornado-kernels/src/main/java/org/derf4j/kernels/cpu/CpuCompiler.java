package org.derf4j.kernels.cpu;

import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.Op;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Residual;
import org.derf4j.kernels.RmsNorm;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.Zero;

/**
 * Turns each op record into a kernel the cpu backend can replay. Everything a kernel needs (arrays, sizes,
 * scratch, the loop bodies handed to the {@link ThreadTeam}) is bound here, once, so a replay allocates
 * nothing. Scalars that change between replays (α, s, the embedding scale, AdamW's hyper-parameters) are
 * read from their arrays when the kernel runs.
 */
final class CpuCompiler {

    /** Elements per chunk for element-wise work: big enough to amortise a dispatch, small enough to balance. */
    private static final int ELEMENTS_PER_CHUNK = 1 << 15;
    /**
     * Chunks for ops that reduce over rows (dγ, dβ, dα): a number that depends on the shape only, never on
     * the thread count, so the sums are the same bits on any machine with the same vector width.
     */
    private static final int REDUCTION_CHUNKS = 64;
    /**
     * Attention chunks per thread: enough for the team's hand-out to balance uneven work, few enough that
     * the scratch (one per chunk) stays small.
     */
    private static final int ATTENTION_CHUNKS_PER_THREAD = 4;
    private static final float[] ONE = {1f};

    private final ThreadTeam team;
    private final boolean reference;

    CpuCompiler(ThreadTeam team, boolean reference) {
        this.team = team;
        this.reference = reference;
    }

    /** One loop body over {@code [from, to)}, the {@code chunk}-th of its loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int from, int to, int chunk);
    }

    Runnable compile(Op op) {
        return switch (op) {
            case Zero z -> zero(z.tensors());
            case Embedding.Forward e -> embeddingForward(e);
            case Embedding.Backward e -> embeddingBackward(e);
            case PointwiseNorm.Forward p -> pointwiseNormForward(p);
            case PointwiseNorm.Backward p -> pointwiseNormBackward(p);
            case LayerNorm.Forward l -> layerNormForward(l);
            case LayerNorm.Backward l -> layerNormBackward(l);
            case RmsNorm.Forward r -> rmsNormForward(r);
            case RmsNorm.Backward r -> rmsNormBackward(r);
            case Matmul.Forward m -> matmulForward(m);
            case Matmul.Backward m -> matmulBackward(m);
            case Gelu.Forward g -> geluForward(g);
            case Gelu.Backward g -> geluBackward(g);
            case Attention.Forward a -> attentionForward(a);
            case Attention.Backward a -> attentionBackward(a);
            case Residual.Forward r -> residualForward(r);
            case Residual.Backward r -> residualBackward(r);
            case CrossEntropy c -> crossEntropy(c);
            case GradClip g -> gradClip(g);
            case AdamW a -> adamW(a);
        };
    }

    // ---------------------------------------------------------------- loops

    /** Runs {@code body} over {@code [0, n)} in chunks of {@code chunkSize}: on the team, or in one call for the reference. */
    private Runnable parallel(int n, int chunkSize, RangeBody body) {
        if (reference) {
            return () -> body.run(0, n, 0);
        }
        int chunks = ThreadTeam.chunks(n, chunkSize);
        ThreadTeam.Body b = c -> body.run(c * chunkSize, Math.min(n, (c + 1) * chunkSize), c);
        return () -> team.run(chunks, b);
    }

    /** {@link #parallel(int, int, RangeBody)} of one kernel's reference or fast version, chosen here once. */
    private Runnable parallel(int n, int chunkSize, RangeBody referenceBody, RangeBody fastBody) {
        return parallel(n, chunkSize, reference ? referenceBody : fastBody);
    }

    /** Rows per chunk for row-wise work on rows of {@code width} elements. */
    private static int rowsPerChunk(int width) {
        return Math.max(1, ELEMENTS_PER_CHUNK / Math.max(1, width));
    }

    /** Rows per chunk for a reduction over {@code rows}, in {@link #REDUCTION_CHUNKS} chunks or fewer. */
    private static int reductionChunkRows(int rows) {
        return Math.max(1, ThreadTeam.chunks(rows, REDUCTION_CHUNKS));
    }

    private static float[] f(Tensor t) {
        return ((CpuTensor) t).floats();
    }

    private static int[] i(Tensor t) {
        return ((CpuTensor) t).ints();
    }

    /** The tensor's array, or {@code {1}} when the tensor is absent (an optional scale). */
    private static float[] orOne(Tensor t) {
        return t == null ? ONE : f(t);
    }

    // ---------------------------------------------------------------- ops

    private Runnable zero(List<Tensor> tensors) {
        Runnable[] fills = tensors.stream().map(t -> {
            CpuTensor c = (CpuTensor) t;
            if (t.dtype() == DType.I32) {
                int[] a = c.ints();
                return (Runnable) () -> Arrays.fill(a, 0);
            }
            float[] a = c.floats();
            return parallel(a.length, ELEMENTS_PER_CHUNK, (from, to, chunk) -> Arrays.fill(a, from, to, 0f));
        }).toArray(Runnable[]::new);
        return () -> {
            for (Runnable r : fills) {
                r.run();
            }
        };
    }

    private Runnable embeddingForward(Embedding.Forward e) {
        float[] out = f(e.out());
        int[] tokens = i(e.tokens());
        float[] wte = f(e.wte());
        float[] wpe = f(e.wpe());
        float[] scale = orOne(e.scale());
        int n = e.tokens().size();
        int t = e.tokens().dim(1);
        int c = e.wte().dim(1);
        int v = e.wte().dim(0);
        return parallel(n, rowsPerChunk(c),
                (from, to, chunk) -> EmbeddingKernels.forwardReference(out, tokens, wte, wpe, scale[0], t, c, v, from,
                        to),
                (from, to, chunk) -> EmbeddingKernels.forward(out, tokens, wte, wpe, scale[0], t, c, v, from, to));
    }

    private Runnable embeddingBackward(Embedding.Backward e) {
        float[] dwte = f(e.dwte());
        float[] dwpe = f(e.dwpe());
        float[] dscale = e.dscale() == null ? null : f(e.dscale());
        float[] dout = f(e.dout());
        int[] tokens = i(e.tokens());
        float[] wte = f(e.wte());
        float[] wpe = f(e.wpe());
        float[] scale = orOne(e.scale());
        int n = e.tokens().size();
        int t = e.tokens().dim(1);
        int c = e.wte().dim(1);
        int v = e.wte().dim(0);
        // Each chunk owns a slice of channels, so the scatter needs no atomics.
        int channelsPerChunk = 64;
        double[] partial = new double[ThreadTeam.chunks(c, channelsPerChunk)];
        float[][] lanes = Lanes.scratch(partial.length);
        Runnable scatter = parallel(c, channelsPerChunk, (c0, c1, chunk) -> partial[chunk] = reference
                ? EmbeddingKernels.backwardReference(dwte, dwpe, dout, tokens, wte, wpe, scale[0], n, t, c, v, c0, c1)
                : EmbeddingKernels.backward(dwte, dwpe, dout, tokens, wte, wpe, scale[0], n, t, c, v, c0, c1,
                        lanes[chunk]));
        return () -> {
            Arrays.fill(partial, 0);
            scatter.run();
            if (dscale != null) {
                dscale[0] += (float) sumInOrder(partial);
            }
        };
    }

    private Runnable pointwiseNormForward(PointwiseNorm.Forward p) {
        PointwiseNorm.Kind kind = p.kind();
        float[] out = f(p.out());
        float[] x = f(p.x());
        float[] alpha = f(p.alpha());
        float[] shift = p.shift() == null ? new float[1] : f(p.shift());
        float[] gamma = f(p.gamma());
        float[] beta = f(p.beta());
        int c = p.x().dim(-1);
        // One lambda per kernel, so that C2 compiles the Derf and DyT kernels apart (see PointwiseNormKernels).
        RangeBody body;
        if (reference) {
            body = (from, to, chunk) ->
                    PointwiseNormKernels.forwardReference(kind, out, x, alpha[0], shift[0], gamma, beta, c, from, to);
        } else if (kind == PointwiseNorm.Kind.DERF) {
            body = (from, to, chunk) ->
                    PointwiseNormKernels.forwardDerf(out, x, alpha[0], shift[0], gamma, beta, c, from, to);
        } else {
            body = (from, to, chunk) -> PointwiseNormKernels.forwardDyt(out, x, alpha[0], gamma, beta, c, from, to);
        }
        return parallel(p.x().rows(), rowsPerChunk(c), body);
    }

    private Runnable pointwiseNormBackward(PointwiseNorm.Backward p) {
        PointwiseNorm.Kind kind = p.kind();
        float[] dx = f(p.dx());
        float[] dalpha = f(p.dalpha());
        float[] dshift = p.dshift() == null ? null : f(p.dshift());
        float[] dgamma = f(p.dgamma());
        float[] dbeta = f(p.dbeta());
        float[] dout = f(p.dout());
        float[] x = f(p.x());
        float[] alpha = f(p.alpha());
        float[] shift = p.shift() == null ? new float[1] : f(p.shift());
        float[] gamma = f(p.gamma());
        int c = p.x().dim(-1);
        int rows = p.x().rows();
        int chunkRows = reductionChunkRows(rows);
        int chunks = ThreadTeam.chunks(rows, chunkRows);
        float[][] partGamma = new float[chunks][c];
        float[][] partBeta = new float[chunks][c];
        double[][] partScalars = new double[chunks][2];
        float[][] lanes = Lanes.scratch(chunks);
        IntConsumer clear = chunk -> {
            Arrays.fill(partGamma[chunk], 0f);
            Arrays.fill(partBeta[chunk], 0f);
            Arrays.fill(partScalars[chunk], 0);
        };
        // One lambda per kernel, so that C2 compiles the Derf and DyT kernels apart (see PointwiseNormKernels).
        RangeBody kernel;
        if (reference) {
            kernel = (from, to, chunk) -> {
                clear.accept(chunk);
                PointwiseNormKernels.backwardReference(kind, dx, partGamma[chunk], partBeta[chunk],
                        partScalars[chunk], dout, x, alpha[0], shift[0], gamma, c, from, to);
            };
        } else if (kind == PointwiseNorm.Kind.DERF) {
            kernel = (from, to, chunk) -> {
                clear.accept(chunk);
                PointwiseNormKernels.backwardDerf(dx, partGamma[chunk], partBeta[chunk], partScalars[chunk], dout,
                        x, alpha[0], shift[0], gamma, c, from, to, lanes[chunk]);
            };
        } else {
            kernel = (from, to, chunk) -> {
                clear.accept(chunk);
                PointwiseNormKernels.backwardDyt(dx, partGamma[chunk], partBeta[chunk], partScalars[chunk], dout,
                        x, alpha[0], gamma, c, from, to, lanes[chunk]);
            };
        }
        Runnable body = parallel(rows, chunkRows, kernel);
        int usedChunks = reference ? 1 : chunks;
        return () -> {
            body.run();
            double sa = 0;
            double ss = 0;
            for (int k = 0; k < usedChunks; k++) {
                addInto(dgamma, partGamma[k]);
                addInto(dbeta, partBeta[k]);
                sa += partScalars[k][0];
                ss += partScalars[k][1];
            }
            dalpha[0] += (float) sa;
            if (dshift != null) {
                dshift[0] += (float) ss;
            }
        };
    }

    private Runnable layerNormForward(LayerNorm.Forward l) {
        float[] out = f(l.out());
        float[] mean = f(l.mean());
        float[] rstd = f(l.rstd());
        float[] x = f(l.x());
        float[] gamma = f(l.gamma());
        float[] beta = f(l.beta());
        float eps = l.eps();
        int c = l.x().dim(-1);
        int rows = l.x().rows();
        int chunkRows = rowsPerChunk(c);
        float[][] lanes = Lanes.scratch(ThreadTeam.chunks(rows, chunkRows));
        return parallel(rows, chunkRows,
                (from, to, chunk) -> LayerNormKernels.forwardReference(out, mean, rstd, x, gamma, beta, eps, c, from,
                        to),
                (from, to, chunk) -> LayerNormKernels.forward(out, mean, rstd, x, gamma, beta, eps, c, from, to,
                        lanes[chunk]));
    }

    private Runnable layerNormBackward(LayerNorm.Backward l) {
        float[] dx = f(l.dx());
        float[] dgamma = f(l.dgamma());
        float[] dbeta = f(l.dbeta());
        float[] dout = f(l.dout());
        float[] x = f(l.x());
        float[] mean = f(l.mean());
        float[] rstd = f(l.rstd());
        float[] gamma = f(l.gamma());
        int c = l.x().dim(-1);
        int rows = l.x().rows();
        int chunkRows = reductionChunkRows(rows);
        int chunks = ThreadTeam.chunks(rows, chunkRows);
        float[][] partGamma = new float[chunks][c];
        float[][] partBeta = new float[chunks][c];
        float[][] lanes = Lanes.scratch(chunks);
        Runnable body = parallel(rows, chunkRows,
                (from, to, chunk) -> LayerNormKernels.backwardReference(dx, zeroed(partGamma[chunk]),
                        zeroed(partBeta[chunk]), dout, x, mean, rstd, gamma, c, from, to),
                (from, to, chunk) -> LayerNormKernels.backward(dx, zeroed(partGamma[chunk]),
                        zeroed(partBeta[chunk]), dout, x, mean, rstd, gamma, c, from, to, lanes[chunk]));
        int usedChunks = reference ? 1 : chunks;
        return () -> {
            body.run();
            for (int k = 0; k < usedChunks; k++) {
                addInto(dgamma, partGamma[k]);
                addInto(dbeta, partBeta[k]);
            }
        };
    }

    private Runnable rmsNormForward(RmsNorm.Forward r) {
        float[] out = f(r.out());
        float[] rstd = f(r.rstd());
        float[] x = f(r.x());
        float[] gamma = f(r.gamma());
        float eps = r.eps();
        int c = r.x().dim(-1);
        int rows = r.x().rows();
        int chunkRows = rowsPerChunk(c);
        float[][] lanes = Lanes.scratch(ThreadTeam.chunks(rows, chunkRows));
        return parallel(rows, chunkRows,
                (from, to, chunk) -> RmsNormKernels.forwardReference(out, rstd, x, gamma, eps, c, from, to),
                (from, to, chunk) -> RmsNormKernels.forward(out, rstd, x, gamma, eps, c, from, to, lanes[chunk]));
    }

    private Runnable rmsNormBackward(RmsNorm.Backward r) {
        float[] dx = f(r.dx());
        float[] dgamma = f(r.dgamma());
        float[] dout = f(r.dout());
        float[] x = f(r.x());
        float[] rstd = f(r.rstd());
        float[] gamma = f(r.gamma());
        int c = r.x().dim(-1);
        int rows = r.x().rows();
        int chunkRows = reductionChunkRows(rows);
        int chunks = ThreadTeam.chunks(rows, chunkRows);
        float[][] partGamma = new float[chunks][c];
        float[][] lanes = Lanes.scratch(chunks);
        Runnable body = parallel(rows, chunkRows,
                (from, to, chunk) -> RmsNormKernels.backwardReference(dx, zeroed(partGamma[chunk]), dout, x, rstd,
                        gamma, c, from, to),
                (from, to, chunk) -> RmsNormKernels.backward(dx, zeroed(partGamma[chunk]), dout, x, rstd, gamma, c,
                        from, to, lanes[chunk]));
        int usedChunks = reference ? 1 : chunks;
        return () -> {
            body.run();
            for (int k = 0; k < usedChunks; k++) {
                addInto(dgamma, partGamma[k]);
            }
        };
    }

    private Runnable matmulForward(Matmul.Forward m) {
        float[] out = f(m.out());
        float[] x = f(m.x());
        float[] w = f(m.w());
        float[] bias = m.bias() == null ? null : f(m.bias());
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        if (reference) {
            return parallel(n, rowsPerChunk(oc), (from, to, chunk) -> {
                Sgemm.reference(Sgemm.Layout.NT, to - from, oc, ic, x, from * ic, ic, w, 0, ic, out, from * oc, oc,
                        false);
                if (bias != null) {
                    MatmulKernels.addBiasReference(out, bias, oc, 0, oc, from, to);
                }
            });
        }
        Runnable product = Sgemm.onTeam(team, Sgemm.Layout.NT, n, oc, ic, x, 0, ic, w, 0, ic, out, 0, oc, false);
        if (bias == null) {
            return product;
        }
        Runnable addBias = parallel(n, rowsPerChunk(oc), (from, to, chunk) ->
                MatmulKernels.addBias(out, bias, oc, from, to));
        return () -> {
            product.run();
            addBias.run();
        };
    }

    private Runnable matmulBackward(Matmul.Backward m) {
        float[] dx = m.dx() == null ? null : f(m.dx());
        float[] dw = m.dw() == null ? null : f(m.dw());
        float[] dbias = m.dbias() == null ? null : f(m.dbias());
        float[] dout = f(m.dout());
        float[] x = f(m.x());
        float[] w = f(m.w());
        int n = m.x().rows();
        int ic = m.x().dim(-1);
        int oc = m.w().dim(0);
        Runnable nothing = () -> { };
        // dx += dout·w (NN) and dw += doutᵀ·x (TN). In the reference, dx rows are independent, and so are dw
        // and dbias rows (one per output feature); the fast GEMM splits its own work.
        Runnable inputGrad = dx == null ? nothing : reference
                ? parallel(n, rowsPerChunk(ic), (from, to, chunk) -> Sgemm.reference(Sgemm.Layout.NN, to - from, ic,
                        oc, dout, from * oc, oc, w, 0, ic, dx, from * ic, ic, true))
                : Sgemm.onTeam(team, Sgemm.Layout.NN, n, ic, oc, dout, 0, oc, w, 0, ic, dx, 0, ic, true);
        Runnable weightGrad = dw == null ? nothing : reference
                ? parallel(oc, rowsPerChunk(n), (from, to, chunk) -> Sgemm.reference(Sgemm.Layout.TN, to - from, ic,
                        n, dout, from, oc, x, 0, ic, dw, from * ic, ic, true))
                : Sgemm.onTeam(team, Sgemm.Layout.TN, oc, ic, n, dout, 0, oc, x, 0, ic, dw, 0, ic, true);
        // Each output feature's sum runs over the rows in order on one thread: deterministic.
        Runnable biasGrad = dbias == null ? nothing : reference
                ? parallel(oc, rowsPerChunk(n), (from, to, chunk) ->
                        MatmulKernels.biasGradReference(dbias, dout, n, oc, from, to))
                : parallel(oc, MatmulKernels.biasGradChunkWidth(n, ELEMENTS_PER_CHUNK), (from, to, chunk) ->
                        MatmulKernels.biasGrad(dbias, dout, n, oc, from, to));
        return () -> {
            inputGrad.run();
            weightGrad.run();
            biasGrad.run();
        };
    }

    private Runnable geluForward(Gelu.Forward g) {
        float[] out = f(g.out());
        float[] x = f(g.x());
        return parallel(x.length, ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> GeluKernels.forwardReference(out, x, from, to),
                (from, to, chunk) -> GeluKernels.forward(out, x, from, to));
    }

    private Runnable geluBackward(Gelu.Backward g) {
        float[] dx = f(g.dx());
        float[] dout = f(g.dout());
        float[] x = f(g.x());
        return parallel(x.length, ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> GeluKernels.backwardReference(dx, dout, x, from, to),
                (from, to, chunk) -> GeluKernels.backward(dx, dout, x, from, to));
    }

    private Runnable attentionForward(Attention.Forward a) {
        float[] out = f(a.out());
        float[] lse = f(a.lse());
        float[] qkv = f(a.qkv());
        int b = a.qkv().dim(0);
        int t = a.qkv().dim(1);
        int c = a.qkv().dim(2) / 3;
        int nh = a.heads();
        int pairs = b * nh;
        if (reference) {
            float[] scores = new float[t];
            return parallel(pairs, 1, (from, to, chunk) -> {
                for (int bh = from; bh < to; bh++) {
                    AttentionKernels.forwardReference(out, lse, qkv, t, c, nh, bh, scores);
                }
            });
        }
        // A work item is a group of query tiles of one head, which packs the head's keys and values once for
        // all of them: whole heads when there are enough to share out, smaller groups when a few heads must
        // fill the team. Later groups see more keys; they come first, so that the team's hand-out of chunks
        // balances the causal triangle.
        int chunks = ATTENTION_CHUNKS_PER_THREAD * team.threads();
        int tiles = ThreadTeam.chunks(t, AttentionKernels.BQ);
        int tilesPerItem = Math.clamp(pairs * tiles / chunks, 1, tiles);
        int groups = ThreadTeam.chunks(tiles, tilesPerItem);
        int items = pairs * groups;
        int itemsPerChunk = ThreadTeam.chunks(items, chunks);
        AttentionKernels.ForwardScratch[] scratch =
                new AttentionKernels.ForwardScratch[ThreadTeam.chunks(items, itemsPerChunk)];
        Arrays.setAll(scratch, k -> new AttentionKernels.ForwardScratch(t, c / nh));
        return parallel(items, itemsPerChunk, (from, to, chunk) -> {
            for (int item = from; item < to; item++) {
                int group = groups - 1 - item / pairs;
                AttentionKernels.forwardTiled(out, lse, qkv, t, c, nh, item % pairs, group * tilesPerItem,
                        Math.min(tiles, (group + 1) * tilesPerItem), scratch[chunk]);
            }
        });
    }

    private Runnable attentionBackward(Attention.Backward a) {
        float[] dqkv = f(a.dqkv());
        float[] dout = f(a.dout());
        float[] qkv = f(a.qkv());
        float[] out = f(a.out());
        float[] lse = f(a.lse());
        int b = a.qkv().dim(0);
        int t = a.qkv().dim(1);
        int c = a.qkv().dim(2) / 3;
        int nh = a.heads();
        int pairs = b * nh;
        if (reference) {
            return parallel(pairs, 1, (from, to, chunk) -> {
                for (int bh = from; bh < to; bh++) {
                    AttentionKernels.backwardReference(dqkv, dout, qkv, out, lse, t, c, nh, bh);
                }
            });
        }
        // A head's dQ, dK and dV are written by the one call that owns the head, in a fixed order: no races,
        // and the same bits for any number of threads.
        int pairsPerChunk = ThreadTeam.chunks(pairs, ATTENTION_CHUNKS_PER_THREAD * team.threads());
        AttentionKernels.BackwardScratch[] scratch =
                new AttentionKernels.BackwardScratch[ThreadTeam.chunks(pairs, pairsPerChunk)];
        Arrays.setAll(scratch, k -> new AttentionKernels.BackwardScratch(t, c / nh));
        return parallel(pairs, pairsPerChunk, (from, to, chunk) -> {
            for (int bh = from; bh < to; bh++) {
                AttentionKernels.backwardTiled(dqkv, dout, qkv, out, lse, t, c, nh, bh, scratch[chunk]);
            }
        });
    }

    private Runnable residualForward(Residual.Forward r) {
        float[] out = f(r.out());
        float[] a = f(r.a());
        float[] b = f(r.b());
        return parallel(a.length, ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> ResidualKernels.forwardReference(out, a, b, from, to),
                (from, to, chunk) -> ResidualKernels.forward(out, a, b, from, to));
    }

    private Runnable residualBackward(Residual.Backward r) {
        float[] da = f(r.da());
        float[] db = f(r.db());
        float[] dout = f(r.dout());
        return parallel(dout.length, ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> ResidualKernels.backwardReference(da, db, dout, from, to),
                (from, to, chunk) -> ResidualKernels.backward(da, db, dout, from, to));
    }

    private Runnable crossEntropy(CrossEntropy ce) {
        float[] loss = f(ce.loss());
        float[] correct = ce.correct() == null ? null : f(ce.correct());
        float[] dlogits = ce.dlogits() == null ? null : f(ce.dlogits());
        float[] logits = f(ce.logits());
        int[] targets = i(ce.targets());
        float scale = ce.scale();
        int n = ce.logits().rows();
        int v = ce.logits().dim(-1);
        int chunkRows = reductionChunkRows(n);
        int chunks = ThreadTeam.chunks(n, chunkRows);
        double[] partLoss = new double[chunks];
        int[] hits = new int[chunks];
        float[] gradScale = new float[1];
        float[][] lanes = Lanes.scratch(chunks);
        Runnable rows = parallel(n, chunkRows, (from, to, chunk) -> partLoss[chunk] = reference
                ? CrossEntropyKernels.rowsReference(dlogits, logits, targets, gradScale[0], v, from, to, hits, chunk)
                : CrossEntropyKernels.rows(dlogits, logits, targets, gradScale[0], v, from, to, hits, chunk,
                        lanes[chunk]));
        int usedChunks = reference ? 1 : chunks;
        return () -> {
            int valid = CrossEntropyKernels.countTargets(targets, n, v);
            gradScale[0] = valid == 0 ? 0f : scale / valid;
            rows.run();
            double sum = 0;
            int hit = 0;
            for (int k = 0; k < usedChunks; k++) {
                sum += partLoss[k];
                hit += hits[k];
            }
            if (valid > 0) {
                loss[0] += (float) (scale * sum / valid);
            }
            if (correct != null) {
                correct[0] += hit;
            }
        };
    }

    private Runnable gradClip(GradClip g) {
        float[] stats = f(g.stats());
        float maxNorm = g.maxNorm();
        Segments segments = new Segments(g.grads(), reference ? Integer.MAX_VALUE : ELEMENTS_PER_CHUNK);
        double[] partial = new double[segments.count()];
        float[][] lanes = Lanes.scratch(segments.count());
        Runnable sums = parallel(segments.count(), 1, (from, to, chunk) -> {
            for (int s = from; s < to; s++) {
                float[] a = segments.array(s);
                partial[s] = reference
                        ? AdamWKernels.sumSquaresReference(a, segments.from(s), segments.to(s))
                        : AdamWKernels.sumSquares(a, segments.from(s), segments.to(s), lanes[chunk]);
            }
        });
        return () -> {
            sums.run();
            float norm = (float) Math.sqrt(sumInOrder(partial));
            stats[0] = norm;
            stats[1] = GradClip.clipFactor(norm, maxNorm);
        };
    }

    private Runnable adamW(AdamW a) {
        float[] p = f(a.param());
        float[] g = f(a.grad());
        float[] m = f(a.m());
        float[] v = f(a.v());
        float[] hyper = f(a.hyper());
        float[] clip = a.clip() == null ? null : f(a.clip());
        boolean decay = a.decay();
        return parallel(p.length, ELEMENTS_PER_CHUNK,
                (from, to, chunk) -> AdamWKernels.stepReference(p, g, m, v, hyper, clipFactor(clip), decay, from, to),
                (from, to, chunk) -> AdamWKernels.step(p, g, m, v, hyper, clipFactor(clip), decay, from, to));
    }

    // ---------------------------------------------------------------- helpers

    /** {@code a}, filled with zeros: a chunk's partial sums start afresh on every replay. */
    private static float[] zeroed(float[] a) {
        Arrays.fill(a, 0f);
        return a;
    }

    /** The factor GradClip left for the step (1 without clipping), read when the step runs. */
    private static float clipFactor(float[] clip) {
        return clip == null ? 1f : clip[1];
    }

    private static void addInto(float[] dst, float[] src) {
        for (int k = 0; k < dst.length; k++) {
            dst[k] += src[k];
        }
    }

    private static double sumInOrder(double[] partial) {
        double s = 0;
        for (double p : partial) {
            s += p;
        }
        return s;
    }

    /** Several float tensors cut into chunks of at most {@code chunkSize} elements, one flat list. */
    private static final class Segments {
        private final float[][] arrays;
        private final int[] from;
        private final int[] to;

        Segments(List<Tensor> tensors, int chunkSize) {
            int count = 0;
            for (Tensor t : tensors) {
                count += ThreadTeam.chunks(t.size(), chunkSize);
            }
            arrays = new float[count][];
            from = new int[count];
            to = new int[count];
            int s = 0;
            for (Tensor t : tensors) {
                float[] a = f(t);
                for (int start = 0; start < a.length; start += chunkSize) {
                    arrays[s] = a;
                    from[s] = start;
                    to[s] = (int) Math.min(a.length, (long) start + chunkSize);
                    s++;
                }
            }
        }

        int count() {
            return arrays.length;
        }

        float[] array(int s) {
            return arrays[s];
        }

        int from(int s) {
            return from[s];
        }

        int to(int s) {
            return to[s];
        }
    }
}
