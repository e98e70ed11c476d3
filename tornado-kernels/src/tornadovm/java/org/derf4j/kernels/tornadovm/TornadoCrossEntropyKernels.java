package org.derf4j.kernels.tornadovm;

import static org.derf4j.kernels.tornadovm.TornadoCompiler.f;
import static org.derf4j.kernels.tornadovm.TornadoCompiler.i;
import static uk.ac.manchester.tornado.api.common.TaskPackage.createPackage;

import java.util.List;
import org.derf4j.kernels.CrossEntropy;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * Fused softmax cross-entropy (see {@link org.derf4j.kernels.CrossEntropy}); targets are checked on the host.
 * <pre>
 *   crossEntropyCount        one work-group: n = the number of rows with a target, in a local-memory tree
 *   crossEntropyRows         one work-group per row: max and its first index, Σexp, in trees;
 *   (…InPlace: dlogits = logits)  rowLoss = −log p[target], rowHit = argmax == target,
 *                            dlogits = scale·(p − onehot)/n, written after the row is read
 *   crossEntropyFinish       one work-group: loss += scale·Σ rowLoss/n, correct += Σ rowHit, rows in order
 * </pre>
 */
public final class TornadoCrossEntropyKernels {
    private TornadoCrossEntropyKernels() {
    }

    public static void crossEntropyCount(KernelContext k, FloatArray count, IntArray targets, int N) {
        float valid = 0f;
        for (int i = k.localIdx; i < N; i += Grids.GROUP) {
            valid += targets.get(i) >= 0 ? 1f : 0f;
        }
        float total = TornadoReductions.groupSum(k, valid);
        if (k.localIdx == 0) {
            count.set(0, total);
        }
    }

    public static void crossEntropyRows(KernelContext k, FloatArray rowLoss, FloatArray rowHit, FloatArray dlogits,
                                        FloatArray logits, IntArray targets, FloatArray count, float scale,
                                        int withGrad, int V) {
        row(k, rowLoss, rowHit, dlogits, logits, targets, count, scale, withGrad, V);
    }

    // dlogits is logits: TornadoVM cannot take one buffer as two arguments of a task.
    public static void crossEntropyRowsInPlace(KernelContext k, FloatArray rowLoss, FloatArray rowHit,
                                               FloatArray logits, IntArray targets, FloatArray count, float scale,
                                               int withGrad, int V) {
        row(k, rowLoss, rowHit, logits, logits, targets, count, scale, withGrad, V);
    }

    private static void row(KernelContext k, FloatArray rowLoss, FloatArray rowHit, FloatArray dlogits,
                            FloatArray logits, IntArray targets, FloatArray count, float scale, int withGrad, int V) {
        float[] tree = k.allocateFloatLocalArray(Grids.GROUP);
        int[] first = k.allocateIntLocalArray(Grids.GROUP);
        int lid = k.localIdx;
        int row = k.groupIdx;
        int o = row * V;
        int target = targets.get(row);
        // max, and the first index that reaches it
        float max = -Float.MAX_VALUE; // no infinities: see TornadoFunctions.MASKED
        int arg = V;
        for (int j = lid; j < V; j += Grids.GROUP) {
            float l = logits.get(o + j);
            if (l > max) {
                max = l;
                arg = j;
            }
        }
        tree[lid] = max;
        first[lid] = arg;
        for (int s = Grids.GROUP / 2; s > 0; s /= 2) {
            k.localBarrier();
            if (lid < s) {
                float other = tree[lid + s];
                int otherArg = first[lid + s];
                if (other > tree[lid] || (other == tree[lid] && otherArg < first[lid])) {
                    tree[lid] = other;
                    first[lid] = otherArg;
                }
            }
        }
        k.localBarrier();
        max = tree[0];
        int argmax = first[0];
        k.localBarrier();
        float sum = 0f;
        for (int j = lid; j < V; j += Grids.GROUP) {
            sum += TornadoMath.exp(logits.get(o + j) - max);
        }
        sum = TornadoReductions.groupSum(k, sum);
        float targetLogit = 0f;
        if (target >= 0) {
            targetLogit = logits.get(o + target);
        }
        float valid = count.get(0);
        if (withGrad == 1) {
            k.localBarrier(); // every work-item has read its logits and the target's before any is overwritten
            float rowScale = target >= 0 && valid > 0f ? scale / valid : 0f;
            for (int j = lid; j < V; j += Grids.GROUP) {
                float p = TornadoMath.exp(logits.get(o + j) - max) / sum;
                dlogits.set(o + j, rowScale * (p - (j == target ? 1f : 0f)));
            }
        }
        if (lid == 0) {
            rowLoss.set(row, target >= 0 ? TornadoMath.log(sum) - (targetLogit - max) : 0f);
            rowHit.set(row, target >= 0 && argmax == target ? 1f : 0f);
        }
    }

    public static void crossEntropyFinish(KernelContext k, FloatArray loss, FloatArray correct, FloatArray rowLoss,
                                          FloatArray rowHit, FloatArray count, float scale, int withCorrect, int N) {
        float l = 0f;
        float h = 0f;
        for (int i = k.localIdx; i < N; i += Grids.GROUP) {
            l += rowLoss.get(i);
            h += rowHit.get(i);
        }
        float lossSum = TornadoReductions.groupSum(k, l);
        float hits = TornadoReductions.groupSum(k, h);
        if (k.localIdx == 0) {
            float valid = count.get(0);
            if (valid > 0f) {
                loss.set(0, loss.get(0) + scale * lossSum / valid);
            }
            if (withCorrect == 1) {
                correct.set(0, correct.get(0) + hits);
            }
        }
    }

    static List<Launch> launches(CrossEntropy ce, TornadoCompiler c) {
        int N = ce.logits().rows();
        int V = ce.logits().dim(-1);
        float scale = ce.scale();
        FloatArray logits = f(ce.logits());
        IntArray targets = i(ce.targets());
        FloatArray count = c.scratchFloats(1);
        FloatArray rowLoss = c.scratchFloats(N);
        FloatArray rowHit = c.scratchFloats(N);
        // dlogits may be the logits themselves, or absent (an evaluation): then the in-place kernel, which
        // writes the gradient only when asked.
        Launch rows = ce.dlogits() == null || ce.dlogits() == ce.logits()
                ? new Launch("rows", Grids.groups(N, Grids.GROUP), id -> createPackage(id,
                        TornadoCrossEntropyKernels::crossEntropyRowsInPlace, c.context(), rowLoss, rowHit, logits,
                        targets, count, scale, TornadoCompiler.present(ce.dlogits()), V))
                : new Launch("rows", Grids.groups(N, Grids.GROUP), id -> createPackage(id,
                        TornadoCrossEntropyKernels::crossEntropyRows, c.context(), rowLoss, rowHit, f(ce.dlogits()),
                        logits, targets, count, scale, 1, V));
        FloatArray correct = c.orUnused(ce.correct());
        return List.of(
                new Launch("count", Grids.oneGroup(), id -> createPackage(id,
                        TornadoCrossEntropyKernels::crossEntropyCount, c.context(), count, targets, N)),
                rows,
                new Launch("finish", Grids.oneGroup(), id -> createPackage(id,
                        TornadoCrossEntropyKernels::crossEntropyFinish, c.context(), f(ce.loss()), correct, rowLoss,
                        rowHit, count, scale, TornadoCompiler.present(ce.correct()), N)));
    }
}
