package org.derf4j.training;

import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.opencl.OpenClBackendProvider;
import org.derf4j.kernels.tornadovm.TornadoBackendProvider;
import picocli.CommandLine.Option;

/** Where a command runs: the options that train, compare and sample share. */
final class BackendOptions {

    @Option(names = "--backend", paramLabel = "NAME",
            description = "cpu, cpu-reference, opencl, tornadovm or auto: the best one here, an OpenCL or TornadoVM"
                    + " GPU, else cpu (default ${DEFAULT-VALUE})")
    String backend = "auto";

    @Option(names = "--device", paramLabel = "DEVICE",
            description = "the OpenCL device of --backend opencl, as ./derf devices lists it (P:D) or part of its name;"
                    + " default: the first GPU, else the first device")
    String device;

    @Option(names = "--print-kernels",
            description = "print the OpenCL C or PTX that TornadoVM generates for each kernel (--backend tornadovm)")
    boolean printKernels;

    /** Opens the chosen backend, or explains why it cannot run here. */
    Backend open() {
        if (printKernels) {
            System.setProperty(TornadoBackendProvider.PRINT_KERNELS, "true");
        }
        String name = backend;
        if (device != null) {
            if (!name.equals("opencl") && !name.equals("auto")) {
                throw new IllegalArgumentException("--device chooses the device of --backend opencl; TornadoVM's is"
                        + " chosen with -Dtornado.device (README, 'TornadoVM')");
            }
            System.setProperty(OpenClBackendProvider.DEVICE, device);
            name = "opencl"; // a device named is a device wanted, even a CPU one that auto would pass over
        }
        return Backends.open(name);
    }
}
