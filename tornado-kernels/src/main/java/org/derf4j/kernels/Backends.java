package org.derf4j.kernels;

import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** Finds backends by name, or the best one this machine can run. */
public final class Backends {
    private Backends() {
    }

    static {
        // Before any provider can start a device driver, which may replace the JVM's signal handlers.
        JvmSignals.save();
    }

    /** Every backend built into this installation, most preferred first. */
    public static List<BackendProvider> providers() {
        return ServiceLoader.load(BackendProvider.class).stream()
                .map(ServiceLoader.Provider::get)
                .sorted(Comparator.comparingInt(BackendProvider::priority).reversed())
                .toList();
    }

    /** Opens the named backend, or explains why it cannot. */
    public static Backend open(String name) {
        if ("auto".equals(name) || "best".equals(name)) {
            return best();
        }
        List<BackendProvider> all = providers();
        for (BackendProvider p : all) {
            if (p.name().equals(name)) {
                String why = p.unavailableReason();
                if (why != null) {
                    throw new IllegalStateException("backend '" + name + "' is not available: " + why);
                }
                return p.open();
            }
        }
        throw new IllegalArgumentException("unknown backend '" + name + "'; built in: "
                + all.stream().map(BackendProvider::name).collect(Collectors.joining(", ")) + " (or auto)");
    }

    /** The most preferred backend that can run here; cpu always can. */
    public static Backend best() {
        for (BackendProvider p : providers()) {
            if (p.unavailableReason() == null) {
                return p.open();
            }
        }
        throw new IllegalStateException("no backend can run on this machine");
    }
}
