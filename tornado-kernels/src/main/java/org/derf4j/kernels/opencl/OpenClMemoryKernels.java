package org.derf4j.kernels.opencl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Zero;

/** {@link Zero}: {@code clEnqueueFillBuffer} per tensor; an int32 tensor's host copy is zeroed with it. */
final class OpenClMemoryKernels {
    private OpenClMemoryKernels() {
    }

    static List<OpenClCompiler.Step> steps(Zero z, OpenClCompiler c) {
        List<OpenClCompiler.Step> steps = new ArrayList<>();
        for (var t : z.tensors()) {
            OpenClTensor tensor = OpenClCompiler.tensor(t);
            if (t.dtype() == DType.I32) {
                steps.add(new OpenClCompiler.Host(() -> {
                    Arrays.fill(tensor.ints(), 0);
                    tensor.changed();
                }));
            }
            steps.add(new OpenClCompiler.Fill(tensor));
        }
        return steps;
    }
}
