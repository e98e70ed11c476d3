package org.derf4j.transformer;

import org.derf4j.kernels.Tensor;

/**
 * One learnable tensor with its gradient.
 *
 * @param name  the PyTorch state-dict name (nanoGPT's), used in checkpoints
 * @param value the weights, on the device
 * @param grad  the gradient, same shape, on the device
 * @param decay whether AdamW decays it: weight matrices and embeddings yes; biases, norm parameters,
 *              α, s and the embedding scale no
 */
public record Parameter(String name, Tensor value, Tensor grad, boolean decay) {

    public int[] shape() {
        return value.shape();
    }

    public int size() {
        return value.size();
    }
}
