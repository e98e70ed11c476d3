package org.derf4j.kernels.tornadovm;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.derf4j.kernels.AbstractBackend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.JvmSignals;
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
 * <p>Runs on TornadoVM's default device. {@link TornadoBackendProvider#PRINT_KERNELS} prints the OpenCL C or
 * PTX that TornadoVM generates for each kernel.
 */
public final class TornadoBackend extends AbstractBackend<TornadoTensor> {

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
        this.printKernels = Boolean.getBoolean(TornadoBackendProvider.PRINT_KERNELS);
    }

    /** Why TornadoVM cannot run here, or null. Starts TornadoVM's runtime the first time. */
    public static String unavailableReason() {
        return Startup.UNAVAILABLE;
    }

    /** Whether TornadoVM's default device is a CPU (PoCL, Intel's CPU runtime). */
    public static boolean defaultDeviceIsCpu() {
        return TornadoRuntimeProvider.getTornadoRuntime().getDefaultDevice().getDeviceType() == TornadoDeviceType.CPU;
    }

    /** Every device of every TornadoVM backend (OpenCL, PTX, SPIR-V), one line each. */
    @Override
    public List<String> devices() {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        List<String> lines = new ArrayList<>();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            var backend = runtime.getBackend(b);
            for (int d = 0; d < backend.getNumDevices(); d++) {
                TornadoDevice each = backend.getDevice(d);
                lines.add(b + ":" + d + " " + describe(each) + (each.equals(device) ? ", the default" : ""));
            }
        }
        return lines;
    }

    private static String describe(TornadoDevice d) {
        return d.getTornadoVMBackend() + " " + d.getPlatformName().trim() + ", "
                + d.getPhysicalDevice().getDeviceName().trim() + " (" + d.getDeviceType() + ", "
                + d.getMaxGlobalMemory() / (1 << 20) + " MiB)";
    }

    /** Starts TornadoVM once per JVM. */
    private static final class Startup {
        static final String UNAVAILABLE = start();

        private static String start() {
            // TornadoVM reads these when its runtime starts, just below; a value given on the command line wins.
            // A kernel TornadoVM cannot compile or launch would otherwise "recover" by running the Java method
            // on the host, where a KernelContext kernel is meaningless (its indices are all 0). Fail instead.
            setIfAbsent("tornado.recover.bailout", "False");
            // Room for TornadoProgram.TASKS_PER_GRAPH kernels in one task graph's bytecode (default 4 KiB: about
            // 20 of ours). Each task graph execution ends with a host sync, so fewer, bigger graphs are faster.
            setIfAbsent("tornado.tvm.maxbytecodesize", Integer.toString(1 << 18));
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

    private static void setIfAbsent(String property, String value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, value);
        }
    }

    @Override
    public String name() {
        return "tornadovm";
    }

    @Override
    public String device() {
        return "TornadoVM " + describe(device);
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
        return compileChecked(List.of(graph), line -> { }).getFirst();
    }

    /**
     * One execution plan for all the graphs, so that the tensors they share stay on the device between them; its
     * kernels JIT-compiled here, announced on {@code progress}, not at their first execution.
     */
    @Override
    protected List<Executable> compileChecked(List<Graph> graphs, Consumer<String> progress) {
        TornadoProgram program = new TornadoProgram(this, ++programsCompiled, graphs, printKernels);
        programs.add(program);
        progress.accept("compiling " + program.tasks() + " kernels (TornadoVM tasks) for " + describe(device) + "…");
        program.precompile();
        JvmSignals.restore(); // the driver's compiler ran (see JvmSignals)
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
