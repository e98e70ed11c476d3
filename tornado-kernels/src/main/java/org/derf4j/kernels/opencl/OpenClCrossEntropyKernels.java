package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.List;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * Fused softmax cross-entropy ({@code crossentropy.cl}): count the rows with a target, one work-group per row, then
 * the loss and the correct count summed in a fixed order. Targets are checked against V on the host, from the
 * host's copy of the int32 tensor, before the kernels are enqueued.
 */
final class OpenClCrossEntropyKernels {
    private OpenClCrossEntropyKernels() {
    }

    static final Program PROGRAM = OpenClCompiler.program("crossentropy", "cross_entropy_count", "cross_entropy_rows",
            "cross_entropy_finish");

    static List<OpenClCompiler.Step> steps(CrossEntropy ce, OpenClCompiler c) {
        int N = ce.logits().rows();
        int V = ce.logits().dim(-1);
        OpenClTensor targets = OpenClCompiler.tensor(ce.targets());
        Buffer count = c.scratchFloats(1, "cross-entropy count");
        Buffer rowLoss = c.scratchFloats(N, "cross-entropy row losses");
        Buffer rowHit = c.scratchFloats(N, "cross-entropy row hits");
        // Without dlogits (an evaluation) the kernel writes no gradient; it is handed the logits as a stand-in.
        Object dlogits = ce.dlogits() == null ? ce.logits() : ce.dlogits();
        return List.of(
                new OpenClCompiler.Host(() -> {
                    int[] t = targets.ints();
                    for (int row = 0; row < t.length; row++) {
                        if (t[row] >= V) {
                            throw CrossEntropy.badTarget(t[row], row, V);
                        }
                    }
                }),
                launch("count", PROGRAM, "cross_entropy_count", 1, c.group, count, ce.targets(), N),
                launch("rows", PROGRAM, "cross_entropy_rows", N, c.rowGroup(V), rowLoss, rowHit, dlogits, ce.logits(),
                        ce.targets(), count, ce.scale(), OpenClCompiler.present(ce.dlogits()), V),
                launch("finish", PROGRAM, "cross_entropy_finish", 1, c.group, ce.loss(), c.orUnused(ce.correct()),
                        rowLoss, rowHit, count, ce.scale(), OpenClCompiler.present(ce.correct()), N));
    }
}
