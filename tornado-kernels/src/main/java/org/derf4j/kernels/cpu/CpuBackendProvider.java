package org.derf4j.kernels.cpu;

import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;

/** The fast cpu backend on every core: always available, the last resort of {@code auto}. */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public String unavailableReason() {
        return null;
    }

    @Override
    public Backend open() {
        return new CpuBackend();
    }

    /** The plain scalar reference code, for checking and debugging; never chosen by {@code auto}. */
    public static final class Reference implements BackendProvider {
        @Override
        public String name() {
            return "cpu-reference";
        }

        @Override
        public int priority() {
            return -1;
        }

        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public Backend open() {
            return new CpuBackend(CpuBackend.Variant.REFERENCE, 1);
        }
    }
}
