package org.derf4j.kernels.opencl;

import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;

/**
 * The {@code opencl} backend's entry in the registry. It runs wherever an OpenCL driver is installed (a GPU
 * vendor's, or PoCL on a CPU) and needs nothing else: no native library of ours, no JDK options but
 * {@code --enable-native-access}.
 *
 * <p>It opens the device {@link #DEVICE} names, or the first GPU, else the first accelerator, else the first
 * device. {@code auto} chooses it when that device is a GPU or an accelerator; on a CPU device (PoCL) the Vector API
 * {@code cpu} backend is the faster way to use the same cores, so there it runs only when named.
 */
public final class OpenClBackendProvider implements BackendProvider {

    /**
     * System property: the OpenCL device to open, as {@code ./derf devices} lists it ({@code P:D}), or part of its
     * name ({@code --device}).
     */
    public static final String DEVICE = "derf4j.opencl.device";

    @Override
    public String name() {
        return "opencl";
    }

    /** Above tornadovm (10) on a GPU or accelerator; below cpu, never chosen by {@code auto}, on a CPU device. */
    @Override
    public int priority() {
        if (unavailableReason() != null) {
            return -3;
        }
        OpenClDevice d = OpenClDevice.choose(System.getProperty(DEVICE));
        return d.isGpu() || d.isAccelerator() ? 20 : -3;
    }

    @Override
    public String unavailableReason() {
        if (OpenCl.UNAVAILABLE != null) {
            return OpenCl.UNAVAILABLE;
        }
        try {
            OpenClDevice.choose(System.getProperty(DEVICE));
            return null;
        } catch (IllegalArgumentException | IllegalStateException e) {
            return e.getMessage();
        }
    }

    @Override
    public Backend open() {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("backend 'opencl' is not available: " + why);
        }
        return new OpenClBackend(OpenClDevice.choose(System.getProperty(DEVICE)));
    }
}
