package org.derf4j.kernels.opencl;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.derf4j.kernels.JvmSignals;

/**
 * One OpenCL device: what it is and its limits, queried once; its context; and the programs built for it.
 *
 * <p>Devices are listed once per JVM, and a device's context and programs live as long as the JVM: every backend
 * opened on the device (the tests open hundreds) has its own queue but shares the context, so each program is
 * built once per device and build options, however many backends use it.
 */
final class OpenClDevice {

    /** Where a device is: device {@code device} of platform {@code platform}, as {@code ./derf devices} lists it. */
    record Index(int platform, int device) {
        @Override
        public String toString() {
            return platform + ":" + device;
        }
    }

    final Index index;
    final MemorySegment id;
    final String platformName;
    final String name;
    final String version;
    final String driver;
    final long type;
    final int computeUnits;
    final long maxWorkGroupSize;
    final long localMemBytes;
    final long globalMemBytes;
    final long maxAllocBytes;

    private MemorySegment context;
    private final Map<Program, MemorySegment> programs = new HashMap<>();

    private OpenClDevice(Index index, MemorySegment platform, MemorySegment id) {
        this.index = index;
        this.id = id;
        this.platformName = OpenCl.platformInfo(platform, OpenCl.CL_PLATFORM_NAME);
        this.name = OpenCl.deviceString(id, OpenCl.CL_DEVICE_NAME);
        this.version = OpenCl.deviceString(id, OpenCl.CL_DEVICE_VERSION);
        this.driver = OpenCl.deviceString(id, OpenCl.CL_DRIVER_VERSION);
        this.type = OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_TYPE, 8);
        this.computeUnits = (int) OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_MAX_COMPUTE_UNITS, 4);
        this.maxWorkGroupSize = OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_MAX_WORK_GROUP_SIZE, 8);
        this.localMemBytes = OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_LOCAL_MEM_SIZE, 8);
        this.globalMemBytes = OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_GLOBAL_MEM_SIZE, 8);
        this.maxAllocBytes = OpenCl.deviceNumber(id, OpenCl.CL_DEVICE_MAX_MEM_ALLOC_SIZE, 8);
    }

    private static List<OpenClDevice> all;

    /** Every device of every platform, in the loader's order; listed once per JVM. */
    static synchronized List<OpenClDevice> all() {
        if (all == null) {
            List<OpenClDevice> list = new ArrayList<>();
            List<MemorySegment> platforms = OpenCl.platforms();
            for (int p = 0; p < platforms.size(); p++) {
                List<MemorySegment> devices = OpenCl.devices(platforms.get(p));
                for (int d = 0; d < devices.size(); d++) {
                    list.add(new OpenClDevice(new Index(p, d), platforms.get(p), devices.get(d)));
                }
            }
            all = List.copyOf(list);
            JvmSignals.restore(); // the drivers have started
        }
        return all;
    }

    /**
     * The device {@code selector} names ({@code P:D} as listed, or part of its name, any case), or with no
     * selector the first GPU, else the first accelerator, else the first device.
     */
    static OpenClDevice choose(String selector) {
        List<OpenClDevice> devices = all();
        if (devices.isEmpty()) {
            throw new IllegalStateException("the OpenCL loader found no device (no OpenCL driver is installed: a GPU"
                    + " vendor's driver, or PoCL for the CPU, apt install pocl-opencl-icd)");
        }
        if (selector == null || selector.isBlank()) {
            for (long wanted : new long[] {OpenCl.CL_DEVICE_TYPE_GPU, OpenCl.CL_DEVICE_TYPE_ACCELERATOR}) {
                for (OpenClDevice d : devices) {
                    if ((d.type & wanted) != 0) {
                        return d;
                    }
                }
            }
            return devices.getFirst();
        }
        for (OpenClDevice d : devices) {
            if (d.index.toString().equals(selector.trim())) {
                return d;
            }
        }
        String wanted = selector.trim().toLowerCase(Locale.ROOT);
        for (OpenClDevice d : devices) {
            if ((d.platformName + " " + d.name).toLowerCase(Locale.ROOT).contains(wanted)) {
                return d;
            }
        }
        StringBuilder known = new StringBuilder();
        devices.forEach(d -> known.append("\n  ").append(d.describe()));
        throw new IllegalArgumentException("no OpenCL device matches --device '" + selector + "' (give P:D or part of"
                + " a name); the devices here:" + known);
    }

    boolean isGpu() {
        return (type & OpenCl.CL_DEVICE_TYPE_GPU) != 0;
    }

    boolean isAccelerator() {
        return (type & OpenCl.CL_DEVICE_TYPE_ACCELERATOR) != 0;
    }

    String kind() {
        return isGpu() ? "GPU" : isAccelerator() ? "accelerator" : (type & OpenCl.CL_DEVICE_TYPE_CPU) != 0 ? "CPU"
                : "device";
    }

    /** One line: where it is, what it is, its memory and its driver. */
    String describe() {
        return String.format(Locale.ROOT, "%s %s, %s (%s, %d compute units, %.1f GiB, %s, driver %s)", index,
                platformName, name, kind(), computeUnits, globalMemBytes / (double) (1L << 30), version, driver);
    }

    /** The device's context, created on first use and kept for the JVM's lifetime (see the class comment). */
    synchronized MemorySegment context() {
        if (context == null) {
            context = OpenCl.createContext(id);
            JvmSignals.restore();
        }
        return context;
    }

    synchronized boolean isBuilt(Program program) {
        return programs.containsKey(program);
    }

    /** The program built for this device, building it the first time. */
    synchronized MemorySegment program(Program program, int group) {
        MemorySegment built = programs.get(program);
        if (built == null) {
            try {
                built = OpenCl.buildProgram(context(), id, program.source(), program.options(group),
                        program + " with kernels " + String.join(", ", program.kernels()));
            } finally {
                JvmSignals.restore(); // the compiler ran
            }
            programs.put(program, built);
        }
        return built;
    }

    /**
     * A program: OpenCL C files of this package's resources, concatenated after {@code common.cl}, built with
     * {@code -D} defines. Equal programs share one build. {@code kernels} names what it holds, for messages.
     */
    record Program(String name, List<String> files, Map<String, String> defines, List<String> kernels) {
        Program {
            files = List.copyOf(files);
            defines = Map.copyOf(defines);
            kernels = List.copyOf(kernels);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Program p && p.files.equals(files) && p.defines.equals(defines);
        }

        @Override
        public int hashCode() {
            return files.hashCode() * 31 + defines.hashCode();
        }

        String source() {
            StringBuilder sb = new StringBuilder();
            for (String file : concat("common.cl", files)) {
                // #line makes the compiler's log name the file and line a message is about.
                sb.append("#line 1 \"").append(file).append("\"\n").append(resource(file)).append('\n');
            }
            return sb.toString();
        }

        /** OpenCL C 1.2 (what Apple's driver and PoCL speak), GROUP, ROWS_PER_CHUNK and the program's defines. */
        String options(int group) {
            StringBuilder sb = new StringBuilder("-cl-std=CL1.2 -DGROUP=").append(group).append(" -DROWS_PER_CHUNK=")
                    .append(OpenClCompiler.ROWS_PER_CHUNK);
            defines.entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(e -> sb.append(" -D").append(e.getKey()).append('=').append(e.getValue()));
            return sb.toString();
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("program ").append(name).append(" (")
                    .append(String.join(" + ", files));
            defines.entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(e -> sb.append(", ").append(e.getKey()).append('=').append(e.getValue()));
            return sb.append(')').toString();
        }

        private static List<String> concat(String first, List<String> rest) {
            List<String> all = new ArrayList<>();
            all.add(first);
            all.addAll(rest);
            return all;
        }

        private static String resource(String file) {
            try (InputStream in = OpenClDevice.class.getResourceAsStream(file)) {
                if (in == null) {
                    throw new IllegalStateException("OpenCL source " + file + " is not among the resources of "
                            + OpenClDevice.class.getPackageName());
                }
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("reading OpenCL source " + file, e);
            }
        }
    }
}
