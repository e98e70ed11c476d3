package org.derf4j.kernels.tornadovm;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;
import org.derf4j.kernels.JvmSignals;

/**
 * The {@code tornadovm} backend's entry in the registry. It is always registered, so that every build can
 * say why the backend does not run: its code ({@code src/tornadovm}) is compiled only by the Maven profile
 * that switches on where TornadoVM is installed ({@code TORNADOVM_HOME} set), and it runs only in a JVM
 * started with TornadoVM's options ({@code ./derf}, or {@code java @$TORNADOVM_HOME/tornado-argfile}).
 * This class therefore names no TornadoVM type; it reaches the backend by reflection.
 *
 * <p>{@code auto} picks it only when TornadoVM's default device is not a CPU: on a CPU the Vector API
 * {@code cpu} backend is the faster way to use the same cores.
 */
public final class TornadoBackendProvider implements BackendProvider {

    /**
     * System property: {@code true} makes the backend print the OpenCL C or PTX that TornadoVM generates for
     * each kernel, as it compiles it ({@code ./derf train --print-kernels}).
     */
    public static final String PRINT_KERNELS = "derf4j.printKernels";

    static final String NOT_BUILT = "not built: TORNADOVM_HOME was unset when derf4j was built. Install TornadoVM"
            + " (see README, 'TornadoVM'), set TORNADOVM_HOME to its SDK and run ./derf again";

    static final String NOT_LOADED = "TornadoVM's runtime is not loaded: start Java with TornadoVM's options, as"
            + " ./derf does (java @$TORNADOVM_HOME/tornado-argfile ...)";

    /** The backend class and what its runtime probe said, found once per JVM. */
    private static final class Probe {
        static final MethodHandle CONSTRUCTOR;
        static final String UNAVAILABLE;
        static final boolean ON_CPU;

        static {
            MethodHandle constructor = null;
            String unavailable;
            boolean onCpu = true;
            JvmSignals.save(); // TornadoVM's OpenCL driver may replace the JVM's signal handlers as it starts
            try {
                Class<?> backend = Class.forName("org.derf4j.kernels.tornadovm.TornadoBackend");
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                unavailable = (String) lookup.findStatic(backend, "unavailableReason", MethodType.methodType(
                        String.class)).invoke();
                if (unavailable == null) {
                    onCpu = (boolean) lookup.findStatic(backend, "defaultDeviceIsCpu",
                            MethodType.methodType(boolean.class)).invoke();
                    constructor = lookup.findConstructor(backend, MethodType.methodType(void.class));
                }
            } catch (ClassNotFoundException e) {
                unavailable = NOT_BUILT;
            } catch (LinkageError e) {
                unavailable = NOT_LOADED + " (" + e + ")";
            } catch (Throwable e) {
                unavailable = "the backend failed to load: " + e;
            }
            JvmSignals.restore();
            CONSTRUCTOR = constructor;
            UNAVAILABLE = unavailable;
            ON_CPU = onCpu;
        }
    }

    @Override
    public String name() {
        return "tornadovm";
    }

    /** Above cpu on an accelerator; below it (never chosen by {@code auto}) on a CPU device or when unavailable. */
    @Override
    public int priority() {
        return Probe.UNAVAILABLE == null && !Probe.ON_CPU ? 10 : -2;
    }

    @Override
    public String unavailableReason() {
        return Probe.UNAVAILABLE;
    }

    @Override
    public Backend open() {
        if (Probe.UNAVAILABLE != null) {
            throw new IllegalStateException("backend 'tornadovm' is not available: " + Probe.UNAVAILABLE);
        }
        try {
            return (Backend) Probe.CONSTRUCTOR.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("tornadovm: " + e, e);
        }
    }
}
