package org.derf4j.kernels;

import java.util.Arrays;
import java.util.SplittableRandom;

/** A tensor's values on the host, for building test inputs and reading results. */
public record HostTensor(String name, int[] shape, float[] floats, int[] ints) {

    public static HostTensor of(String name, float[] values, int... shape) {
        check(name, values.length, shape);
        return new HostTensor(name, shape.clone(), values, null);
    }

    public static HostTensor ofInts(String name, int[] values, int... shape) {
        check(name, values.length, shape);
        return new HostTensor(name, shape.clone(), null, values);
    }

    /** Values from N(mean, std²). */
    public static HostTensor normal(String name, SplittableRandom rng, double mean, double std, int... shape) {
        float[] v = new float[size(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (mean + std * rng.nextGaussian());
        }
        return of(name, v, shape);
    }

    /** Values uniform in [lo, hi). */
    public static HostTensor uniform(String name, SplittableRandom rng, double lo, double hi, int... shape) {
        float[] v = new float[size(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextDouble(lo, hi);
        }
        return of(name, v, shape);
    }

    /** Integers uniform in [lo, hi). */
    public static HostTensor ints(String name, SplittableRandom rng, int lo, int hi, int... shape) {
        int[] v = new int[size(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = rng.nextInt(lo, hi);
        }
        return ofInts(name, v, shape);
    }

    public boolean isInt() {
        return ints != null;
    }

    public int size() {
        return size(shape);
    }

    /** Allocates this tensor on a backend and uploads the values. */
    public Tensor upload(Backend backend) {
        Tensor t = backend.allocate(name, isInt() ? DType.I32 : DType.F32, shape);
        if (isInt()) {
            backend.upload(t, ints);
        } else {
            backend.upload(t, floats);
        }
        return t;
    }

    /** Downloads a float tensor. */
    public static float[] download(Backend backend, Tensor t) {
        float[] v = new float[t.size()];
        backend.download(t, v);
        return v;
    }

    static int size(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    private static void check(String name, int length, int[] shape) {
        if (length != size(shape)) {
            throw new IllegalArgumentException(name + ": " + length + " values for shape " + Arrays.toString(shape));
        }
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
