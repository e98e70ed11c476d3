package org.derf4j.training;

import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.tornadovm.TornadoBackendProvider;
import picocli.CommandLine.Option;

/** Where a command runs: the options that train, compare and sample share. */
final class BackendOptions {

    @Option(names = "--backend", paramLabel = "NAME",
            description = "cpu, cpu-reference, tornadovm or auto: the best one here (default ${DEFAULT-VALUE})")
    String backend = "auto";

    @Option(names = "--print-kernels",
            description = "print the OpenCL C or PTX that TornadoVM generates for each kernel (--backend tornadovm)")
    boolean printKernels;

    /** Opens the chosen backend, or explains why it cannot run here. */
    Backend open() {
        if (printKernels) {
            System.setProperty(TornadoBackendProvider.PRINT_KERNELS, "true");
        }
        return Backends.open(backend);
    }
}
