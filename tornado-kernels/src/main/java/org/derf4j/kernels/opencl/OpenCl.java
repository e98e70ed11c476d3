package org.derf4j.kernels.opencl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.derf4j.kernels.JvmSignals;

/**
 * The part of the OpenCL C API the opencl backend calls, bound with {@code java.lang.foreign}: the system's ICD
 * loader ({@code libOpenCL.so.1}, {@code OpenCL.dll}, the macOS framework), found once; one downcall handle per
 * function; and a check of every status code, which turns a failure into an {@link OpenClException} naming the
 * function, the code ({@code CL_OUT_OF_RESOURCES}, not -5) and what the call was for.
 *
 * <p>C types: {@code cl_int}, {@code cl_uint} and {@code cl_bool} are {@code int}; {@code cl_ulong} and the
 * bitfields ({@code cl_device_type}, {@code cl_mem_flags}) are {@code long}; {@code size_t} is {@code long}, as
 * on every 64-bit platform JDK 25 runs on; handles and pointers are addresses. The OpenCL API has one calling
 * convention on 64-bit Windows, Linux and macOS, so there are no ABI differences to keep here.
 *
 * <p>When no loader is found, {@link #UNAVAILABLE} says so and every handle is null: callers check it first
 * ({@link OpenClBackendProvider}).
 */
final class OpenCl {
    private OpenCl() {
    }

    static final int CL_SUCCESS = 0;
    static final int CL_PLATFORM_NOT_FOUND_KHR = -1001;
    static final int CL_TRUE = 1;
    static final int CL_FALSE = 0;

    static final long CL_DEVICE_TYPE_CPU = 1 << 1;
    static final long CL_DEVICE_TYPE_GPU = 1 << 2;
    static final long CL_DEVICE_TYPE_ACCELERATOR = 1 << 3;
    static final long CL_DEVICE_TYPE_ALL = 0xFFFFFFFFL;

    static final int CL_PLATFORM_VERSION = 0x0901;
    static final int CL_PLATFORM_NAME = 0x0902;
    static final int CL_PLATFORM_VENDOR = 0x0903;
    static final int CL_DEVICE_TYPE = 0x1000;
    static final int CL_DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    static final int CL_DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    static final int CL_DEVICE_MAX_MEM_ALLOC_SIZE = 0x1010;
    static final int CL_DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    static final int CL_DEVICE_LOCAL_MEM_SIZE = 0x1023;
    static final int CL_DEVICE_NAME = 0x102B;
    static final int CL_DEVICE_VENDOR = 0x102C;
    static final int CL_DRIVER_VERSION = 0x102D;
    static final int CL_DEVICE_VERSION = 0x102F;
    static final int CL_PROGRAM_BUILD_LOG = 0x1183;
    static final int CL_KERNEL_WORK_GROUP_SIZE = 0x11B0;
    static final long CL_MEM_READ_WRITE = 1;

    /** Why OpenCL cannot be called here (no loader), or null. */
    static final String UNAVAILABLE;
    private static final SymbolLookup LIBRARY;

    static {
        // Before the loader can start a driver, which may replace the JVM's signal handlers (see JvmSignals).
        JvmSignals.save();
        String why = null;
        SymbolLookup found = null;
        List<String> tried = new ArrayList<>();
        for (String candidate : candidates()) {
            try {
                found = SymbolLookup.libraryLookup(candidate, Arena.global());
                break;
            } catch (IllegalArgumentException e) {
                tried.add(candidate);
            }
        }
        if (found == null) {
            why = "no OpenCL ICD loader found (tried " + String.join(", ", tried) + "). Install the GPU's driver, or"
                    + " for a CPU device the loader and PoCL (Debian: apt install ocl-icd-libopencl1 pocl-opencl-icd)";
        }
        LIBRARY = found;
        UNAVAILABLE = why;
    }

    /** Where the ICD loader lives on each system; the first that loads wins. */
    private static List<String> candidates() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.contains("win")) {
            return List.of("OpenCL.dll");
        }
        if (os.contains("mac")) {
            return List.of("/System/Library/Frameworks/OpenCL.framework/OpenCL");
        }
        List<String> list = new ArrayList<>(List.of("libOpenCL.so.1", "libOpenCL.so"));
        // Debian and Ubuntu keep it under the multiarch directory, which dlopen searches anyway; named in full too,
        // for a JVM started with an unusual library path.
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib")) {
            Path p = Path.of(dir, "libOpenCL.so.1");
            if (Files.exists(p)) {
                list.add(p.toString());
            }
        }
        return list;
    }

    private static final Linker LINKER = Linker.nativeLinker();

    private static MethodHandle function(String name, MemoryLayout... args) {
        if (LIBRARY == null) {
            return null;
        }
        MemorySegment symbol = LIBRARY.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                "the OpenCL loader has no " + name + " (an OpenCL 1.2 loader is needed)"));
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, args));
    }

    /** For the functions that return a handle and report their status through {@code errcode_ret}. */
    private static MethodHandle creator(String name, MemoryLayout... args) {
        if (LIBRARY == null) {
            return null;
        }
        MemorySegment symbol = LIBRARY.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                "the OpenCL loader has no " + name + " (an OpenCL 1.2 loader is needed)"));
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(ADDRESS, args));
    }

    // cl_int clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms, cl_uint *num_platforms)
    private static final MethodHandle clGetPlatformIDs = function("clGetPlatformIDs", JAVA_INT, ADDRESS, ADDRESS);
    // cl_int clGetPlatformInfo(cl_platform_id, cl_platform_info, size_t, void *, size_t *)
    private static final MethodHandle clGetPlatformInfo = function("clGetPlatformInfo", ADDRESS, JAVA_INT, JAVA_LONG,
            ADDRESS, ADDRESS);
    // cl_int clGetDeviceIDs(cl_platform_id, cl_device_type, cl_uint num_entries, cl_device_id *, cl_uint *)
    private static final MethodHandle clGetDeviceIDs = function("clGetDeviceIDs", ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS,
            ADDRESS);
    // cl_int clGetDeviceInfo(cl_device_id, cl_device_info, size_t, void *, size_t *)
    private static final MethodHandle clGetDeviceInfo = function("clGetDeviceInfo", ADDRESS, JAVA_INT, JAVA_LONG,
            ADDRESS, ADDRESS);
    // cl_context clCreateContext(const cl_context_properties *, cl_uint, const cl_device_id *, pfn_notify,
    //                            void *user_data, cl_int *errcode_ret)
    private static final MethodHandle clCreateContext = creator("clCreateContext", ADDRESS, JAVA_INT, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS);
    // cl_command_queue clCreateCommandQueue(cl_context, cl_device_id, cl_command_queue_properties, cl_int *).
    // OpenCL 1.2's form, deprecated by 2.0's clCreateCommandQueueWithProperties but kept by every loader and driver,
    // and the only one Apple's OpenCL 1.2 has.
    private static final MethodHandle clCreateCommandQueue = creator("clCreateCommandQueue", ADDRESS, ADDRESS,
            JAVA_LONG, ADDRESS);
    // cl_mem clCreateBuffer(cl_context, cl_mem_flags, size_t, void *host_ptr, cl_int *)
    private static final MethodHandle clCreateBuffer = creator("clCreateBuffer", ADDRESS, JAVA_LONG, JAVA_LONG,
            ADDRESS, ADDRESS);
    // cl_int clEnqueueWriteBuffer(cl_command_queue, cl_mem, cl_bool blocking, size_t offset, size_t size,
    //                             const void *ptr, cl_uint, const cl_event *, cl_event *)
    private static final MethodHandle clEnqueueWriteBuffer = function("clEnqueueWriteBuffer", ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    // cl_int clEnqueueReadBuffer(same as above, void *ptr)
    private static final MethodHandle clEnqueueReadBuffer = function("clEnqueueReadBuffer", ADDRESS, ADDRESS, JAVA_INT,
            JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    // cl_int clEnqueueFillBuffer(cl_command_queue, cl_mem, const void *pattern, size_t pattern_size, size_t offset,
    //                            size_t size, cl_uint, const cl_event *, cl_event *)
    private static final MethodHandle clEnqueueFillBuffer = function("clEnqueueFillBuffer", ADDRESS, ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS);
    // cl_program clCreateProgramWithSource(cl_context, cl_uint count, const char **strings, const size_t *lengths,
    //                                      cl_int *)
    private static final MethodHandle clCreateProgramWithSource = creator("clCreateProgramWithSource", ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    // cl_int clBuildProgram(cl_program, cl_uint, const cl_device_id *, const char *options, pfn_notify, void *)
    private static final MethodHandle clBuildProgram = function("clBuildProgram", ADDRESS, JAVA_INT, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS);
    // cl_int clGetProgramBuildInfo(cl_program, cl_device_id, cl_program_build_info, size_t, void *, size_t *)
    private static final MethodHandle clGetProgramBuildInfo = function("clGetProgramBuildInfo", ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
    // cl_kernel clCreateKernel(cl_program, const char *kernel_name, cl_int *)
    private static final MethodHandle clCreateKernel = creator("clCreateKernel", ADDRESS, ADDRESS, ADDRESS);
    // cl_int clSetKernelArg(cl_kernel, cl_uint arg_index, size_t arg_size, const void *arg_value)
    private static final MethodHandle clSetKernelArg = function("clSetKernelArg", ADDRESS, JAVA_INT, JAVA_LONG,
            ADDRESS);
    // cl_int clGetKernelWorkGroupInfo(cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *, size_t *)
    private static final MethodHandle clGetKernelWorkGroupInfo = function("clGetKernelWorkGroupInfo", ADDRESS,
            ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
    // cl_int clEnqueueNDRangeKernel(cl_command_queue, cl_kernel, cl_uint work_dim, const size_t *global_offset,
    //                               const size_t *global_size, const size_t *local_size, cl_uint,
    //                               const cl_event *, cl_event *)
    private static final MethodHandle clEnqueueNDRangeKernel = function("clEnqueueNDRangeKernel", ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle clFlush = function("clFlush", ADDRESS);
    private static final MethodHandle clFinish = function("clFinish", ADDRESS);
    private static final MethodHandle clReleaseMemObject = function("clReleaseMemObject", ADDRESS);
    private static final MethodHandle clReleaseKernel = function("clReleaseKernel", ADDRESS);
    private static final MethodHandle clReleaseProgram = function("clReleaseProgram", ADDRESS);
    private static final MethodHandle clReleaseCommandQueue = function("clReleaseCommandQueue", ADDRESS);

    // ---------------------------------------------------------------- status codes

    /** Throws if {@code status} is not CL_SUCCESS: the function, the code's name, and what the call was for. */
    static void check(int status, String function, String what) {
        if (status != CL_SUCCESS) {
            throw new OpenClException(function, status, what);
        }
    }

    /** The name of an OpenCL status code, as the headers spell it. */
    static String errorName(int code) {
        String name = ERRORS.get(code);
        return name != null ? name : "unknown OpenCL error";
    }

    private static final Map<Integer, String> ERRORS = Map.ofEntries(
            Map.entry(0, "CL_SUCCESS"),
            Map.entry(-1, "CL_DEVICE_NOT_FOUND"),
            Map.entry(-2, "CL_DEVICE_NOT_AVAILABLE"),
            Map.entry(-3, "CL_COMPILER_NOT_AVAILABLE"),
            Map.entry(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"),
            Map.entry(-5, "CL_OUT_OF_RESOURCES"),
            Map.entry(-6, "CL_OUT_OF_HOST_MEMORY"),
            Map.entry(-7, "CL_PROFILING_INFO_NOT_AVAILABLE"),
            Map.entry(-8, "CL_MEM_COPY_OVERLAP"),
            Map.entry(-9, "CL_IMAGE_FORMAT_MISMATCH"),
            Map.entry(-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"),
            Map.entry(-11, "CL_BUILD_PROGRAM_FAILURE"),
            Map.entry(-12, "CL_MAP_FAILURE"),
            Map.entry(-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"),
            Map.entry(-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"),
            Map.entry(-15, "CL_COMPILE_PROGRAM_FAILURE"),
            Map.entry(-16, "CL_LINKER_NOT_AVAILABLE"),
            Map.entry(-17, "CL_LINK_PROGRAM_FAILURE"),
            Map.entry(-18, "CL_DEVICE_PARTITION_FAILED"),
            Map.entry(-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"),
            Map.entry(-30, "CL_INVALID_VALUE"),
            Map.entry(-31, "CL_INVALID_DEVICE_TYPE"),
            Map.entry(-32, "CL_INVALID_PLATFORM"),
            Map.entry(-33, "CL_INVALID_DEVICE"),
            Map.entry(-34, "CL_INVALID_CONTEXT"),
            Map.entry(-35, "CL_INVALID_QUEUE_PROPERTIES"),
            Map.entry(-36, "CL_INVALID_COMMAND_QUEUE"),
            Map.entry(-37, "CL_INVALID_HOST_PTR"),
            Map.entry(-38, "CL_INVALID_MEM_OBJECT"),
            Map.entry(-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"),
            Map.entry(-40, "CL_INVALID_IMAGE_SIZE"),
            Map.entry(-41, "CL_INVALID_SAMPLER"),
            Map.entry(-42, "CL_INVALID_BINARY"),
            Map.entry(-43, "CL_INVALID_BUILD_OPTIONS"),
            Map.entry(-44, "CL_INVALID_PROGRAM"),
            Map.entry(-45, "CL_INVALID_PROGRAM_EXECUTABLE"),
            Map.entry(-46, "CL_INVALID_KERNEL_NAME"),
            Map.entry(-47, "CL_INVALID_KERNEL_DEFINITION"),
            Map.entry(-48, "CL_INVALID_KERNEL"),
            Map.entry(-49, "CL_INVALID_ARG_INDEX"),
            Map.entry(-50, "CL_INVALID_ARG_VALUE"),
            Map.entry(-51, "CL_INVALID_ARG_SIZE"),
            Map.entry(-52, "CL_INVALID_KERNEL_ARGS"),
            Map.entry(-53, "CL_INVALID_WORK_DIMENSION"),
            Map.entry(-54, "CL_INVALID_WORK_GROUP_SIZE"),
            Map.entry(-55, "CL_INVALID_WORK_ITEM_SIZE"),
            Map.entry(-56, "CL_INVALID_GLOBAL_OFFSET"),
            Map.entry(-57, "CL_INVALID_EVENT_WAIT_LIST"),
            Map.entry(-58, "CL_INVALID_EVENT"),
            Map.entry(-59, "CL_INVALID_OPERATION"),
            Map.entry(-60, "CL_INVALID_GL_OBJECT"),
            Map.entry(-61, "CL_INVALID_BUFFER_SIZE"),
            Map.entry(-62, "CL_INVALID_MIP_LEVEL"),
            Map.entry(-63, "CL_INVALID_GLOBAL_WORK_SIZE"),
            Map.entry(-64, "CL_INVALID_PROPERTY"),
            Map.entry(-65, "CL_INVALID_IMAGE_DESCRIPTOR"),
            Map.entry(-66, "CL_INVALID_COMPILER_OPTIONS"),
            Map.entry(-67, "CL_INVALID_LINKER_OPTIONS"),
            Map.entry(-68, "CL_INVALID_DEVICE_PARTITION_COUNT"),
            Map.entry(-69, "CL_INVALID_PIPE_SIZE"),
            Map.entry(-70, "CL_INVALID_DEVICE_QUEUE"),
            Map.entry(-71, "CL_INVALID_SPEC_ID"),
            Map.entry(-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED"),
            Map.entry(CL_PLATFORM_NOT_FOUND_KHR, "CL_PLATFORM_NOT_FOUND_KHR"));

    /** A downcall threw something other than an OpenCL status: a bug in the binding, not a device error. */
    private static IllegalStateException linkFailure(String function, Throwable t) {
        return new IllegalStateException("calling " + function + " through the FFM API failed: " + t, t);
    }

    // ---------------------------------------------------------------- platforms and devices

    /** Every platform the loader knows; none (not an error) when no driver is installed. */
    static List<MemorySegment> platforms() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) clGetPlatformIDs.invokeExact(0, MemorySegment.NULL, count);
            if (status == CL_PLATFORM_NOT_FOUND_KHR) {
                return List.of();
            }
            check(status, "clGetPlatformIDs", "counting the platforms");
            int n = count.get(JAVA_INT, 0);
            MemorySegment ids = arena.allocate(ADDRESS, Math.max(1, n));
            check((int) clGetPlatformIDs.invokeExact(n, ids, MemorySegment.NULL), "clGetPlatformIDs",
                    "listing the platforms");
            return handles(ids, n);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetPlatformIDs", t);
        }
    }

    static String platformInfo(MemorySegment platform, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            check((int) clGetPlatformInfo.invokeExact(platform, param, 0L, MemorySegment.NULL, size),
                    "clGetPlatformInfo", "a platform's description");
            MemorySegment value = arena.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
            check((int) clGetPlatformInfo.invokeExact(platform, param, value.byteSize(), value, MemorySegment.NULL),
                    "clGetPlatformInfo", "a platform's description");
            return value.getString(0, StandardCharsets.UTF_8).trim();
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetPlatformInfo", t);
        }
    }

    /** The platform's devices of every type; none when it has none. */
    static List<MemorySegment> devices(MemorySegment platform) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) clGetDeviceIDs.invokeExact(platform, CL_DEVICE_TYPE_ALL, 0, MemorySegment.NULL, count);
            if (status == -1) { // CL_DEVICE_NOT_FOUND: a platform with no device, not an error
                return List.of();
            }
            check(status, "clGetDeviceIDs", "counting a platform's devices");
            int n = count.get(JAVA_INT, 0);
            MemorySegment ids = arena.allocate(ADDRESS, Math.max(1, n));
            check((int) clGetDeviceIDs.invokeExact(platform, CL_DEVICE_TYPE_ALL, n, ids, MemorySegment.NULL),
                    "clGetDeviceIDs", "listing a platform's devices");
            return handles(ids, n);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetDeviceIDs", t);
        }
    }

    private static List<MemorySegment> handles(MemorySegment ids, int n) {
        List<MemorySegment> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(ids.getAtIndex(ADDRESS, i));
        }
        return List.copyOf(list);
    }

    static String deviceString(MemorySegment device, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            check((int) clGetDeviceInfo.invokeExact(device, param, 0L, MemorySegment.NULL, size), "clGetDeviceInfo",
                    "a device's description");
            MemorySegment value = arena.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
            check((int) clGetDeviceInfo.invokeExact(device, param, value.byteSize(), value, MemorySegment.NULL),
                    "clGetDeviceInfo", "a device's description");
            return value.getString(0, StandardCharsets.UTF_8).trim();
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetDeviceInfo", t);
        }
    }

    /** A numeric device property of {@code bytes} bytes (4: cl_uint, 8: cl_ulong, size_t, a bitfield). */
    static long deviceNumber(MemorySegment device, int param, int bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_LONG);
            check((int) clGetDeviceInfo.invokeExact(device, param, (long) bytes, value, MemorySegment.NULL),
                    "clGetDeviceInfo", "a device's limits");
            return bytes == 4 ? Integer.toUnsignedLong(value.get(JAVA_INT, 0)) : value.get(JAVA_LONG, 0);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetDeviceInfo", t);
        }
    }

    // ---------------------------------------------------------------- contexts, queues, buffers

    /** Runs a call that returns a handle and its status through errcode_ret, and checks both. */
    @FunctionalInterface
    private interface Creation {
        MemorySegment create(MemorySegment status) throws Throwable;
    }

    private static MemorySegment created(String function, String what, Creation call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment handle = call.create(status);
            check(status.get(JAVA_INT, 0), function, what);
            if (handle.equals(MemorySegment.NULL)) {
                throw new IllegalStateException(function + " reported success but returned no handle, for " + what);
            }
            return handle;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure(function, t);
        }
    }

    static MemorySegment createContext(MemorySegment device) {
        return created("clCreateContext", "a context for the device", status -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment devices = arena.allocate(ADDRESS);
                devices.set(ADDRESS, 0, device);
                return (MemorySegment) clCreateContext.invokeExact(MemorySegment.NULL, 1, devices, MemorySegment.NULL,
                        MemorySegment.NULL, status);
            }
        });
    }

    /** An in-order command queue without profiling. */
    static MemorySegment createQueue(MemorySegment context, MemorySegment device) {
        return created("clCreateCommandQueue", "the backend's in-order queue",
                status -> (MemorySegment) clCreateCommandQueue.invokeExact(context, device, 0L, status));
    }

    static MemorySegment createBuffer(MemorySegment context, long bytes, String what) {
        return created("clCreateBuffer", what, status -> (MemorySegment) clCreateBuffer.invokeExact(context,
                CL_MEM_READ_WRITE, bytes, MemorySegment.NULL, status));
    }

    /**
     * Enqueues a copy of {@code host} into the buffer. Not blocking: {@code host} must stay valid until the queue
     * has run the copy.
     */
    static void enqueueWrite(MemorySegment queue, MemorySegment buffer, MemorySegment host, String what) {
        try {
            check((int) clEnqueueWriteBuffer.invokeExact(queue, buffer, CL_FALSE, 0L, host.byteSize(), host, 0,
                    MemorySegment.NULL, MemorySegment.NULL), "clEnqueueWriteBuffer", what);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clEnqueueWriteBuffer", t);
        }
    }

    /** Copies the buffer into {@code host}, blocking until the queue has run everything before it, and the copy. */
    static void readBlocking(MemorySegment queue, MemorySegment buffer, MemorySegment host, String what) {
        try {
            check((int) clEnqueueReadBuffer.invokeExact(queue, buffer, CL_TRUE, 0L, host.byteSize(), host, 0,
                    MemorySegment.NULL, MemorySegment.NULL), "clEnqueueReadBuffer", what);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clEnqueueReadBuffer", t);
        }
    }

    /** Enqueues filling {@code bytes} bytes with a 4-byte pattern, which OpenCL copies before this returns. */
    static void enqueueFill(MemorySegment queue, MemorySegment buffer, MemorySegment pattern, long bytes, String what) {
        try {
            check((int) clEnqueueFillBuffer.invokeExact(queue, buffer, pattern, 4L, 0L, bytes, 0, MemorySegment.NULL,
                    MemorySegment.NULL), "clEnqueueFillBuffer", what);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clEnqueueFillBuffer", t);
        }
    }

    static void flush(MemorySegment queue) {
        try {
            check((int) clFlush.invokeExact(queue), "clFlush", "submitting the enqueued kernels");
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clFlush", t);
        }
    }

    static void finish(MemorySegment queue, String what) {
        try {
            check((int) clFinish.invokeExact(queue), "clFinish", what);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clFinish", t);
        }
    }

    // ---------------------------------------------------------------- programs and kernels

    /**
     * Creates and builds a program from {@code source} for {@code device}. A build that fails throws with the
     * compiler's log; {@code what} names the program and its kernels.
     */
    static MemorySegment buildProgram(MemorySegment context, MemorySegment device, String source, String options,
                                      String what) {
        MemorySegment program;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocateFrom(source, StandardCharsets.UTF_8);
            MemorySegment strings = arena.allocate(ADDRESS);
            strings.set(ADDRESS, 0, text);
            program = created("clCreateProgramWithSource", what, status -> (MemorySegment) clCreateProgramWithSource
                    .invokeExact(context, 1, strings, MemorySegment.NULL, status));
            MemorySegment devices = arena.allocate(ADDRESS);
            devices.set(ADDRESS, 0, device);
            int status = (int) clBuildProgram.invokeExact(program, 1, devices,
                    arena.allocateFrom(options, StandardCharsets.UTF_8), MemorySegment.NULL, MemorySegment.NULL);
            if (status != CL_SUCCESS) {
                String log = buildLog(program, device);
                releaseProgram(program);
                throw new OpenClException("clBuildProgram", status, what + " (options: " + options + "); build log:\n"
                        + log);
            }
            return program;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clBuildProgram", t);
        }
    }

    private static String buildLog(MemorySegment program, MemorySegment device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            int status = (int) clGetProgramBuildInfo.invokeExact(program, device, CL_PROGRAM_BUILD_LOG, 0L,
                    MemorySegment.NULL, size);
            if (status != CL_SUCCESS) {
                return "(no build log: clGetProgramBuildInfo gave " + errorName(status) + ")";
            }
            MemorySegment log = arena.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
            status = (int) clGetProgramBuildInfo.invokeExact(program, device, CL_PROGRAM_BUILD_LOG, log.byteSize(), log,
                    MemorySegment.NULL);
            return status == CL_SUCCESS ? log.getString(0, StandardCharsets.UTF_8).strip()
                    : "(no build log: clGetProgramBuildInfo gave " + errorName(status) + ")";
        } catch (Throwable t) {
            throw linkFailure("clGetProgramBuildInfo", t);
        }
    }

    static MemorySegment createKernel(MemorySegment program, String name, String what) {
        return created("clCreateKernel", "kernel " + name + " of " + what, status -> {
            try (Arena arena = Arena.ofConfined()) {
                return (MemorySegment) clCreateKernel.invokeExact(program, arena.allocateFrom(name,
                        StandardCharsets.UTF_8), status);
            }
        });
    }

    /** The most work-items a work-group of this kernel may have on the device (its registers may allow fewer). */
    static long kernelWorkGroupSize(MemorySegment kernel, MemorySegment device, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_LONG);
            check((int) clGetKernelWorkGroupInfo.invokeExact(kernel, device, CL_KERNEL_WORK_GROUP_SIZE, 8L, value,
                    MemorySegment.NULL), "clGetKernelWorkGroupInfo", what);
            return value.get(JAVA_LONG, 0);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clGetKernelWorkGroupInfo", t);
        }
    }

    /** Sets argument {@code index} to the {@code value.byteSize()} bytes of {@code value}, which OpenCL copies. */
    static void setArg(MemorySegment kernel, int index, MemorySegment value, String what) {
        try {
            check((int) clSetKernelArg.invokeExact(kernel, index, value.byteSize(), value), "clSetKernelArg",
                    what + ", argument " + index);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure("clSetKernelArg", t);
        }
    }

    /**
     * Enqueues a kernel over an NDRange of {@code dims} dimensions; {@code global} and {@code local} hold that many
     * size_t each.
     */
    static void enqueueKernel(MemorySegment queue, MemorySegment kernel, int dims, MemorySegment global,
                              MemorySegment local, String what) {
        int status;
        try {
            status = (int) clEnqueueNDRangeKernel.invokeExact(queue, kernel, dims, MemorySegment.NULL, global, local, 0,
                    MemorySegment.NULL, MemorySegment.NULL);
        } catch (Throwable t) {
            throw linkFailure("clEnqueueNDRangeKernel", t);
        }
        check(status, "clEnqueueNDRangeKernel", what);
    }

    // ---------------------------------------------------------------- releases

    static void releaseBuffer(MemorySegment buffer) {
        release(clReleaseMemObject, "clReleaseMemObject", buffer);
    }

    static void releaseKernel(MemorySegment kernel) {
        release(clReleaseKernel, "clReleaseKernel", kernel);
    }

    static void releaseProgram(MemorySegment program) {
        release(clReleaseProgram, "clReleaseProgram", program);
    }

    static void releaseQueue(MemorySegment queue) {
        release(clReleaseCommandQueue, "clReleaseCommandQueue", queue);
    }

    private static void release(MethodHandle handle, String function, MemorySegment object) {
        try {
            check((int) handle.invokeExact(object), function, "releasing an object");
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw linkFailure(function, t);
        }
    }
}
