package org.derf4j.kernels;

import java.util.Arrays;
import java.util.List;

/** Sets every element of the tensors to zero: the one call that clears gradients before a backward pass. */
public record Zero(List<Tensor> tensors) implements Op {
    public Zero {
        tensors = Check.tensors(Zero.class, "tensors", tensors);
    }

    public static Zero of(Tensor... tensors) {
        return new Zero(Arrays.asList(tensors)); // not List.of, which would throw on a null before the check
    }

    @Override
    public List<Tensor> reads() {
        return List.of();
    }

    @Override
    public List<Tensor> writes() {
        return tensors;
    }
}
