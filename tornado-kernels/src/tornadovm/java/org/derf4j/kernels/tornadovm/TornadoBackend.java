package org.derf4j.kernels.tornadovm;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.AbstractBackend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

/**
 * The tornadovm backend: every op is a Java kernel ({@code Tornado*Kernels}) that TornadoVM compiles to
 * OpenCL C or PTX, and a compiled graph is a set of TaskGraphs in one TornadoVM execution plan, built once
 * and executed per replay. See {@link TornadoProgram} for how tensors stay on the device, and
 * {@code tornado-kernels/README.md} for the design.
 *
 * <p>Runs on TornadoVM's default device. Set the system property {@value #PRINT_KERNELS} to {@code true}
 * ({@code ./derf train --print-kernels}) to print the OpenCL C or PTX that TornadoVM generates for each kernel.
 */
public final class TornadoBackend extends AbstractBackend<TornadoTensor> {

    /** System property: print the generated kernels when a plan is compiled. */
    public static final String PRINT_KERNELS = "derf4j.printKernels";

    private final TornadoDevice device;
    private final boolean printKernels;
    private final List<TornadoProgram> programs = new ArrayList<>();
    private int programsCompiled;

    public TornadoBackend() {
        super(TornadoTensor.class);
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("backend 'tornadovm' is not available: " + why);
        }
        this.device = TornadoRuntimeProvider.getTornadoRuntime().getDefaultDevice();
        this.printKernels = Boolean.getBoolean(PRINT_KERNELS);
    }

    /** Why TornadoVM cannot run here, or null. Starts TornadoVM's runtime the first time. */
    public static String unavailableReason() {
        return Startup.UNAVAILABLE;
    }

    /** Whether TornadoVM's default device is a CPU (PoCL, Intel's CPU runtime). */
    public static boolean defaultDeviceIsCpu() {
        return TornadoRuntimeProvider.getTornadoRuntime().getDefaultDevice().getDeviceType() == TornadoDeviceType.CPU;
    }

    /** Every device of every TornadoVM backend, one line each, the default first: for {@code ./derf devices}. */
    public static List<String> devices() {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        List<String> lines = new ArrayList<>();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            var backend = runtime.getBackend(b);
            for (int d = 0; d < backend.getNumDevices(); d++) {
                lines.add(b + ":" + d + " " + describe(backend.getDevice(d)) + " [" + backend.getName() + "]");
            }
        }
        return lines;
    }

    private static String describe(TornadoDevice d) {
        return d.getPlatformName().trim() + ", " + d.getDeviceName() + " (" + d.getDeviceType() + ", "
                + d.getMaxGlobalMemory() / (1 << 20) + " MiB)";
    }

    /** Starts TornadoVM once per JVM. */
    private static final class Startup {
        static final String UNAVAILABLE = start();

        private static String start() {
            // A kernel TornadoVM cannot compile or launch would otherwise "recover" by running the Java method
            // on the host, where a KernelContext kernel is meaningless (its indices are all 0). Fail instead.
            // TornadoVM reads this when its runtime starts, which is just below.
            if (System.getProperty("tornado.recover.bailout") == null) {
                System.setProperty("tornado.recover.bailout", "False");
            }
            try {
                TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
                if (runtime.getNumBackends() == 0) {
                    return "TornadoVM started but found no backend (OpenCL or PTX driver)";
                }
                runtime.getDefaultDevice().getDeviceName();
                return null;
            } catch (NoClassDefFoundError e) {
                return TornadoBackendProvider.NOT_LOADED;
            } catch (Throwable e) {
                return "TornadoVM failed to start: " + e;
            }
        }
    }

    @Override
    public String name() {
        return "tornadovm";
    }

    @Override
    public String device() {
        return "TornadoVM " + device.getTornadoVMBackend() + ", " + describe(device);
    }

    @Override
    protected TornadoTensor newTensor(String name, DType dtype, int[] shape) {
        return new TornadoTensor(this, name, dtype, shape);
    }

    void released(TornadoTensor t) {
        forget(t);
    }

    /** The host copy becomes the newest: the device buffers are refreshed before they are next read. */
    @Override
    protected void uploadChecked(TornadoTensor dst, float[] src) {
        dst.write(src);
        dst.owner = null;
        dst.hostVersion++;
    }

    @Override
    protected void uploadChecked(TornadoTensor dst, int[] src) {
        dst.write(src);
        dst.owner = null;
        dst.hostVersion++;
    }

    @Override
    protected void downloadChecked(TornadoTensor src, float[] dst) {
        fetch(src);
        src.read(dst);
    }

    @Override
    protected void downloadChecked(TornadoTensor src, int[] dst) {
        fetch(src);
        src.read(dst);
    }

    /** Copies the tensor back from the device buffer that holds its newest values, if any. */
    static void fetch(TornadoTensor t) {
        if (t.owner != null) {
            t.owner.pull(List.of(t));
        }
    }

    @Override
    protected Executable compileChecked(Graph graph) {
        return compileChecked(List.of(graph)).getFirst();
    }

    /** One execution plan for all the graphs, so that the tensors they share stay on the device between them. */
    @Override
    protected List<Executable> compileChecked(List<Graph> graphs) {
        TornadoProgram program = new TornadoProgram(this, ++programsCompiled, graphs, printKernels);
        programs.add(program);
        return program.executables();
    }

    void closed(TornadoProgram program) {
        programs.remove(program);
    }

    @Override
    protected void closeDevice() {
        for (TornadoProgram p : new ArrayList<>(programs)) {
            p.close();
        }
    }
}
