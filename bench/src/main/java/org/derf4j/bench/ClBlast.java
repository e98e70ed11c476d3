package org.derf4j.bench;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Map;

/**
 * CLBlast's SGEMM through {@code java.lang.foreign}: the tuned OpenCL BLAS that serves as the opencl backend's
 * SGEMM peer on the same device and queue ({@link ClBlastSgemmBenchmark}). The library ({@code libclblast.so.1},
 * Debian's {@code libclblast1}) is found once; when it is absent, {@link #UNAVAILABLE} says so.
 */
final class ClBlast {
    private ClBlast() {
    }

    static final int ROW_MAJOR = 101;
    static final int NO_TRANSPOSE = 111;
    static final int TRANSPOSE = 112;

    /** Why CLBlast cannot be called here, or null. */
    static final String UNAVAILABLE;
    private static final MethodHandle SGEMM;

    static {
        MethodHandle sgemm = null;
        String why = null;
        try {
            SymbolLookup lib = SymbolLookup.libraryLookup(System.mapLibraryName("clblast") + ".1", Arena.global());
            // CLBlastStatusCode CLBlastSgemm(layout, a_transpose, b_transpose, size_t m, n, k, float alpha,
            //     cl_mem a, size_t a_offset, a_ld, cl_mem b, size_t b_offset, b_ld, float beta,
            //     cl_mem c, size_t c_offset, c_ld, cl_command_queue *queue, cl_event *event)
            sgemm = Linker.nativeLinker().downcallHandle(lib.find("CLBlastSgemm").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                            JAVA_FLOAT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_FLOAT,
                            ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
        } catch (IllegalArgumentException | java.util.NoSuchElementException e) {
            why = "CLBlast not found (libclblast.so.1; Debian: apt install libclblast1): " + e.getMessage();
        }
        SGEMM = sgemm;
        UNAVAILABLE = why;
    }

    /** The status codes CLBlast adds to OpenCL's, by name; OpenCL's own are negative numbers above -1000. */
    private static final Map<Integer, String> STATUS = Map.of(
            -1024, "CLBlastNotImplemented", -1022, "CLBlastInvalidMatrixA", -1021, "CLBlastInvalidMatrixB",
            -1020, "CLBlastInvalidMatrixC", -2048, "CLBlastKernelLaunchError", -2047, "CLBlastKernelRunError",
            -2046, "CLBlastInvalidLocalMemUsage", -2045, "CLBlastNoHalfPrecision", -2044, "CLBlastNoDoublePrecision",
            -2049, "CLBlastUnknownError");

    /**
     * Enqueues {@code c[m,n] = a[m,k]·b[n,k]ᵀ} (row-major, b transposed: the layout of a Linear layer's forward) on
     * {@code queue}; {@code queueCell} holds the queue handle, as CLBlast takes a pointer to it.
     */
    static void sgemmNT(MemorySegment queueCell, long m, long n, long k, MemorySegment a, MemorySegment b,
                        MemorySegment c) {
        int status;
        try {
            status = (int) SGEMM.invokeExact(ROW_MAJOR, NO_TRANSPOSE, TRANSPOSE, m, n, k, 1f, a, 0L, k, b, 0L, k, 0f,
                    c, 0L, n, queueCell, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("calling CLBlastSgemm through the FFM API failed: " + t, t);
        }
        if (status != 0) {
            throw new IllegalStateException("CLBlastSgemm: " + STATUS.getOrDefault(status, "OpenCL or CLBlast status")
                    + " (" + status + ")");
        }
    }
}
