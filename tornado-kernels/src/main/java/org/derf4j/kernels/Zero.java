package org.derf4j.kernels;

import java.util.List;

/** Sets every element of the tensors to zero: the one call that clears gradients before a backward pass. */
public record Zero(List<Tensor> tensors) implements Op {
    public Zero {
        tensors = List.copyOf(tensors);
        if (tensors.isEmpty()) {
            throw Check.fail(Zero.class, "tensors must not be empty");
        }
    }

    public static Zero of(Tensor... tensors) {
        return new Zero(List.of(tensors));
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
