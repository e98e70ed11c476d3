package org.derf4j.kernels;

import java.util.Arrays;
import java.util.List;

/**
 * Argument checks shared by every op record. Each failure names the op, the argument, and the expected
 * and given shapes, e.g. {@code LayerNorm.Forward: gamma must have shape [768] (x's last dimension), got [767]}.
 */
final class Check {
    private Check() {
    }

    static IllegalArgumentException fail(Class<?> op, String message) {
        return new IllegalArgumentException(Op.opName(op) + ": " + message);
    }

    /** Non-null and of the given type. */
    static Tensor tensor(Class<?> op, String arg, Tensor t, DType dtype) {
        if (t == null) {
            throw fail(op, arg + " must not be null");
        }
        if (t.dtype() != dtype) {
            throw fail(op, arg + " must be " + dtype + ", got " + t.dtype() + " (" + t + ")");
        }
        return t;
    }

    static Tensor f32(Class<?> op, String arg, Tensor t) {
        return tensor(op, arg, t, DType.F32);
    }

    static Tensor i32(Class<?> op, String arg, Tensor t) {
        return tensor(op, arg, t, DType.I32);
    }

    /** A float32 tensor of exactly {@code expected}; {@code why} says where the expectation comes from. */
    static void shape(Class<?> op, String arg, Tensor t, String why, int... expected) {
        f32(op, arg, t);
        if (!Arrays.equals(t.shape(), expected)) {
            throw fail(op, arg + " must have shape " + Arrays.toString(expected) + " (" + why + "), got "
                    + Arrays.toString(t.shape()));
        }
    }

    /** A float32 tensor with the same shape as {@code ref}. */
    static void sameShape(Class<?> op, String arg, Tensor t, String refArg, Tensor ref) {
        shape(op, arg, t, "same as " + refArg, ref.shape());
    }

    /** A float32 tensor of shape [1]. */
    static void scalar(Class<?> op, String arg, Tensor t) {
        shape(op, arg, t, "a learnable scalar", 1);
    }

    /** A tensor whose element count is {@code n}, whatever its rank. */
    static void elements(Class<?> op, String arg, Tensor t, DType dtype, int n, String why) {
        tensor(op, arg, t, dtype);
        if (t.size() != n) {
            throw fail(op, arg + " must have " + n + " elements (" + why + "), got shape " + Arrays.toString(t.shape()));
        }
    }

    static void rank(Class<?> op, String arg, Tensor t, int rank, String layout) {
        if (t.rank() != rank) {
            throw fail(op, arg + " must have rank " + rank + " " + layout + ", got shape " + Arrays.toString(t.shape()));
        }
    }

    /** A non-null list with no null element, copied. */
    static List<Tensor> tensors(Class<?> op, String arg, List<Tensor> tensors) {
        if (tensors == null) {
            throw fail(op, arg + " must not be null");
        }
        for (int i = 0; i < tensors.size(); i++) {
            if (tensors.get(i) == null) {
                throw fail(op, arg + "[" + i + "] must not be null");
            }
        }
        if (tensors.isEmpty()) {
            throw fail(op, arg + " must not be empty");
        }
        return List.copyOf(tensors);
    }

    static void distinct(Class<?> op, String argA, Tensor a, String argB, Tensor b) {
        if (a != null && a == b) {
            throw fail(op, argA + " and " + argB + " must be different tensors, both are " + a);
        }
    }

    static void absent(Class<?> op, String arg, Tensor t, String why) {
        if (t != null) {
            throw fail(op, arg + " must be null (" + why + "), got " + t);
        }
    }
}
