package org.derf4j.kernels;

/** Element type of a device tensor. Activations, weights and gradients are F32; token ids and targets are I32. */
public enum DType {
    F32,
    I32
}
