package org.derf4j.kernels.cpu;

import static org.derf4j.kernels.cpu.CpuCompiler.f;
import static org.derf4j.kernels.cpu.CpuCompiler.i;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.derf4j.kernels.CrossEntropy;

/**
 * Fused softmax cross-entropy over rows {@code [from, to)} of {@code logits[N,V]}. Each call returns the sum
 * of −log p[target] over its rows and stores its count of correct argmaxes in {@code hits[slot]}; the
 * caller adds the chunks in order, which keeps the loss deterministic. {@code dlogits} may be null, or
 * may be {@code logits} itself: each row is read fully before it is overwritten.
 */
final class CrossEntropyKernels {
    private CrossEntropyKernels() {
    }

    private static final VectorSpecies<Float> S = Lanes.S;

    /** The number of rows with a target, after checking every target is below V. */
    static int countTargets(int[] targets, int n, int vocab) {
        int valid = 0;
        for (int i = 0; i < n; i++) {
            int t = targets[i];
            if (t >= vocab) {
                throw CrossEntropy.badTarget(t, i, vocab);
            }
            if (t >= 0) {
                valid++;
            }
        }
        return valid;
    }

    // gradScale = scale / (number of rows with a target)
    static double rowsReference(float[] dlogits, float[] logits, int[] targets, float gradScale, int V, int from,
                                int to, int[] hits, int slot) {
        double loss = 0;
        int correct = 0;
        for (int row = from; row < to; row++) {
            int o = row * V;
            int target = targets[row];
            float max = Float.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int j = 0; j < V; j++) {
                if (logits[o + j] > max) {
                    max = logits[o + j];
                    argmax = j;
                }
            }
            double sum = 0;
            for (int j = 0; j < V; j++) {
                sum += Math.exp(logits[o + j] - max);
            }
            if (target >= 0) {
                loss += Math.log(sum) - (logits[o + target] - max);
                correct += argmax == target ? 1 : 0;
            }
            if (dlogits != null) {
                float rowScale = target >= 0 ? gradScale : 0f;
                for (int j = 0; j < V; j++) {
                    float p = (float) (Math.exp(logits[o + j] - max) / sum);
                    dlogits[o + j] = rowScale * (p - (j == target ? 1f : 0f));
                }
            }
        }
        hits[slot] = correct;
        return loss;
    }

    /** rowsReference, with {@link Exp}'s exp; {@code lanes} is a scratch row for {@link Lanes#sum(float[])}. */
    static double rows(float[] dlogits, float[] logits, int[] targets, float gradScale, int V, int from, int to,
                       int[] hits, int slot, float[] lanes) {
        double loss = 0;
        int correct = 0;
        int bound = S.loopBound(V);
        for (int row = from; row < to; row++) {
            int o = row * V;
            int target = targets[row];
            // pass 1: max and the first index that reaches it
            FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < bound; j += S.length()) {
                vmax = vmax.max(FloatVector.fromArray(S, logits, o + j));
            }
            float max = vmax.reduceLanes(VectorOperators.MAX);
            for (int j = bound; j < V; j++) {
                max = Math.max(max, logits[o + j]);
            }
            int argmax = firstIndexOf(logits, o, V, max);
            float targetLogit = target >= 0 ? logits[o + target] : 0f;
            // pass 2: Σ exp(l − max); with dlogits, keep the exponentials there
            FloatVector vsum = FloatVector.zero(S);
            for (int j = 0; j < bound; j += S.length()) {
                FloatVector e = Exp.exp(FloatVector.fromArray(S, logits, o + j).sub(max));
                if (dlogits != null) {
                    e.intoArray(dlogits, o + j);
                }
                vsum = vsum.add(e);
            }
            vsum.intoArray(lanes, 0);
            float sum = Lanes.sum(lanes);
            for (int j = bound; j < V; j++) {
                float e = (float) Math.exp(logits[o + j] - max);
                if (dlogits != null) {
                    dlogits[o + j] = e;
                }
                sum += e;
            }
            if (target >= 0) {
                loss += Math.log(sum) - (targetLogit - max);
                correct += argmax == target ? 1 : 0;
            }
            if (dlogits != null) {
                // pass 3: p·scale, minus scale at the target
                float rowScale = target >= 0 ? gradScale : 0f;
                float k = rowScale / sum;
                for (int j = 0; j < bound; j += S.length()) {
                    FloatVector.fromArray(S, dlogits, o + j).mul(k).intoArray(dlogits, o + j);
                }
                for (int j = bound; j < V; j++) {
                    dlogits[o + j] *= k;
                }
                if (target >= 0) {
                    dlogits[o + target] -= rowScale;
                }
            }
        }
        hits[slot] = correct;
        return loss;
    }

    private static int firstIndexOf(float[] a, int offset, int n, float value) {
        int bound = S.loopBound(n);
        for (int j = 0; j < bound; j += S.length()) {
            VectorMask<Float> eq = FloatVector.fromArray(S, a, offset + j).compare(VectorOperators.EQ, value);
            if (eq.anyTrue()) {
                return j + eq.firstTrue();
            }
        }
        for (int j = bound; j < n; j++) {
            if (a[offset + j] == value) {
                return j;
            }
        }
        return 0; // only when every logit is NaN
    }

    /**
     * The loss over rows in {@code REDUCTION_CHUNKS} chunks, each chunk's sum and hits added in order after
     * the loop. The valid-target count (and the check of every target) runs first, on the caller's thread.
     */
    static Runnable compile(CrossEntropy ce, CpuCompiler c) {
        float[] loss = f(ce.loss());
        float[] correct = CpuCompiler.orNull(ce.correct());
        float[] dlogits = CpuCompiler.orNull(ce.dlogits());
        float[] logits = f(ce.logits());
        int[] targets = i(ce.targets());
        float scale = ce.scale();
        int n = ce.logits().rows();
        int V = ce.logits().dim(-1);
        int chunkRows = CpuCompiler.reductionChunkRows(n);
        int chunks = ThreadTeam.chunks(n, chunkRows);
        double[] partLoss = new double[chunks];
        int[] hits = new int[chunks];
        float[] gradScale = new float[1];
        float[][] lanes = Lanes.scratch(chunks);
        Runnable rows = c.parallel(n, chunkRows,
                (from, to, chunk) -> partLoss[chunk] = rowsReference(dlogits, logits, targets, gradScale[0], V, from,
                        to, hits, chunk),
                (from, to, chunk) -> partLoss[chunk] = rows(dlogits, logits, targets, gradScale[0], V, from, to, hits,
                        chunk, lanes[chunk]));
        int used = c.usedChunks(n, chunkRows);
        return () -> {
            int valid = countTargets(targets, n, V);
            gradScale[0] = valid == 0 ? 0f : scale / valid;
            rows.run();
            int hit = 0;
            for (int k = 0; k < used; k++) {
                hit += hits[k];
            }
            if (valid > 0) {
                loss[0] += (float) (scale * CpuCompiler.sumInOrder(partLoss, used) / valid);
            }
            if (correct != null) {
                correct[0] += hit;
            }
        };
    }
}
