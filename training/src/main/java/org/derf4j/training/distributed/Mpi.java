package org.derf4j.training.distributed;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The MPI library, called through {@code java.lang.foreign}: the few calls data-parallel training makes,
 * all on {@code MPI_COMM_WORLD}.
 * <pre>
 *   MPI_Init_thread          join the job; MPI_THREAD_FUNNELED: only the main thread calls MPI
 *   MPI_Comm_set_errhandler  MPI_ERRORS_RETURN, so that a failed call returns a code we can explain
 *   MPI_Comm_rank, _size     this process's rank, and the number of ranks
 *   MPI_Allreduce            sums floats in place (MPI_IN_PLACE, MPI_FLOAT, MPI_SUM): the gradients
 *   MPI_Bcast                rank 0's bytes to every rank: the checks that all ranks run the same job
 *   MPI_Abort                ends every rank of the job after an error on one
 *   MPI_Finalize             leaves the job after a clean end
 *   MPI_Error_string, MPI_Get_library_version   words for error messages and for the log
 * </pre>
 * Each status code is checked where the call is made, and a failure becomes an {@link MpiException} that
 * names the function and MPI's own words for the error.
 *
 * <h2>Which library</h2>
 * {@code $DERF4J_MPI_LIBRARY} (a path or a file name) if set, else the first that loads of
 * {@code libmpi.so.40} (Open MPI 3 to 5), {@code libmpi.so.12} and {@code libmpich.so.12} (the MPICH ABI,
 * shared by MPICH 3.1+, Intel MPI and MVAPICH), and {@code libmpi.so}. It is loaded the way Open MPI's own
 * Java bindings and mpi4py load it, with {@code RTLD_GLOBAL}: Open MPI opens its components
 * ({@code mca_*.so}) as plugins, and a build whose plugins do not link libmpi themselves needs its symbols
 * global (Debian's Open MPI 4.1.4 works either way).
 *
 * <h2>ABI: Open MPI against MPICH</h2>
 * The MPI standard fixes the C API, not the ABI, and the two families differ exactly where these calls
 * need constants: in Open MPI a handle ({@code MPI_Comm}, {@code MPI_Datatype}, {@code MPI_Op},
 * {@code MPI_Errhandler}) is the address of a predefined global object and {@code MPI_IN_PLACE} is
 * {@code (void *) 1}; in MPICH a handle is a 32-bit integer from {@code mpi.h} and {@code MPI_IN_PLACE} is
 * {@code (void *) -1}. {@link Abi} holds that difference, and nothing else in derf4j sees it: each method
 * handle below gets its handle arguments bound once, so its Java signature is the same for both.
 *
 * <h2>In a JVM</h2>
 * The JVM handles SIGSEGV, SIGBUS, SIGFPE and SIGILL itself (implicit null checks, safepoint polls), with
 * handlers it installs at startup, before MPI starts. Open MPI 4.1.4 installs its stack-trace handlers
 * ({@code opal_signal}) only on signals that have none, and leaves the JVM's alone: sigaction before and
 * after MPI_Init shows only SIGABRT changed. UCX, the transport of Open MPI on InfiniBand and of MPICH's
 * ch4:ucx, replaces all four when its library loads, unless {@code UCX_ERROR_SIGNALS} is empty
 * (openucx/ucx#3337; seen here with MPICH 4.0.2 and UCX 1.13.1): the JVM's next implicit null check or
 * safepoint poll would then end in UCX's crash handler. So before the library loads, this class sets
 * {@code UCX_ERROR_SIGNALS=""} in the process environment, unless the user set it.
 */
final class Mpi {
    private Mpi() {
    }

    /** Environment variable: the MPI library to load, instead of searching the usual file names. */
    static final String LIBRARY_VARIABLE = "DERF4J_MPI_LIBRARY";

    private static final List<String> FILE_NAMES = List.of("libmpi.so.40", "libmpi.so.12", "libmpich.so.12",
            "libmpi.so");

    private static final int RTLD_NOW = 0x2;
    private static final int RTLD_GLOBAL = 0x100;
    /** MPI_THREAD_FUNNELED, 1 in both ABIs. */
    private static final int THREAD_FUNNELED = 1;
    /** Room for MPI_MAX_ERROR_STRING (Open MPI 256, MPICH 512) and MPI_MAX_LIBRARY_VERSION_STRING (8192). */
    private static final int ERROR_STRING_BYTES = 1024;
    private static final int VERSION_STRING_BYTES = 8192;

    /** How an implementation represents the handles and MPI_IN_PLACE. */
    enum Abi {
        /** Open MPI: a handle is the address of a predefined global object; MPI_IN_PLACE is (void *) 1. */
        OPEN_MPI(ADDRESS, MemorySegment.ofAddress(1)),
        /** MPICH, Intel MPI, MVAPICH: a handle is an int constant of mpi.h; MPI_IN_PLACE is (void *) -1. */
        MPICH(JAVA_INT, MemorySegment.ofAddress(-1));

        final ValueLayout handle;
        final MemorySegment inPlace;

        Abi(ValueLayout handle, MemorySegment inPlace) {
            this.handle = handle;
            this.inPlace = inPlace;
        }

        /** A predefined handle: Open MPI's global object {@code openMpiSymbol}, or MPICH's {@code mpichValue}. */
        Object handle(SymbolLookup library, String openMpiSymbol, int mpichValue) {
            return switch (this) {
                case OPEN_MPI -> library.find(openMpiSymbol).orElseThrow(() -> new IllegalStateException(
                        "the MPI library looks like Open MPI but lacks its symbol " + openMpiSymbol));
                case MPICH -> mpichValue;
            };
        }

        /** The family a library's MPI_Get_library_version names, or empty for one we do not know. */
        static Optional<Abi> of(String libraryVersion) {
            if (libraryVersion.startsWith("Open MPI")) {
                return Optional.of(OPEN_MPI);
            }
            for (String family : List.of("MPICH", "Intel(R) MPI", "MVAPICH")) {
                if (libraryVersion.contains(family)) {
                    return Optional.of(MPICH);
                }
            }
            return Optional.empty();
        }
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle DLOPEN = libc("dlopen", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle DLSYM = libc("dlsym", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle DLERROR = libc("dlerror", FunctionDescriptor.of(ADDRESS));
    private static final MethodHandle SETENV = libc("setenv",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));

    /** The library, found once; its fields are null, and {@code problem} says why, where it is absent. */
    private record Library(String name, SymbolLookup symbols, String version, Abi abi, String problem) {
    }

    private static final Library LIBRARY = load();

    // The predefined handles the calls take: Open MPI's global object, or MPICH's constant from its mpi.h.
    private static final Object COMM_WORLD = handle("ompi_mpi_comm_world", 0x44000000);
    private static final Object FLOAT = handle("ompi_mpi_float", 0x4c00040a);
    private static final Object BYTE = handle("ompi_mpi_byte", 0x4c00010d);
    private static final Object SUM = handle("ompi_mpi_op_sum", 0x58000003);
    private static final Object ERRORS_RETURN = handle("ompi_mpi_errors_return", 0x54000001);

    // One handle per C function, with its MPI handles bound, so that its Java type is the same in both ABIs:
    // what is left are buffers, counts, ranks and out-parameters.
    /** int MPI_Init_thread(NULL, NULL, int required, int *provided). */
    private static final MethodHandle MPI_INIT_THREAD = bind(
            function("MPI_Init_thread", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS), 0, MemorySegment.NULL,
            MemorySegment.NULL);
    /** int MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN). */
    private static final MethodHandle MPI_COMM_SET_ERRHANDLER = bind(
            function("MPI_Comm_set_errhandler", JAVA_INT, handle(), handle()), 0, COMM_WORLD, ERRORS_RETURN);
    /** int MPI_Comm_rank(MPI_COMM_WORLD, int *rank). */
    private static final MethodHandle MPI_COMM_RANK = bind(
            function("MPI_Comm_rank", JAVA_INT, handle(), ADDRESS), 0, COMM_WORLD);
    /** int MPI_Comm_size(MPI_COMM_WORLD, int *size). */
    private static final MethodHandle MPI_COMM_SIZE = bind(
            function("MPI_Comm_size", JAVA_INT, handle(), ADDRESS), 0, COMM_WORLD);
    /** int MPI_Allreduce(MPI_IN_PLACE, void *buffer, int count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD). */
    private static final MethodHandle MPI_ALLREDUCE = bind(bind(
            function("MPI_Allreduce", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, handle(), handle(), handle()),
            3, FLOAT, SUM, COMM_WORLD), 0, inPlace());
    /** int MPI_Bcast(void *buffer, int count, MPI_BYTE, int root, MPI_COMM_WORLD). */
    private static final MethodHandle MPI_BCAST = bind(bind(
            function("MPI_Bcast", JAVA_INT, ADDRESS, JAVA_INT, handle(), JAVA_INT, handle()),
            4, COMM_WORLD), 2, BYTE);
    /** int MPI_Abort(MPI_COMM_WORLD, int errorcode). */
    private static final MethodHandle MPI_ABORT = bind(
            function("MPI_Abort", JAVA_INT, handle(), JAVA_INT), 0, COMM_WORLD);
    /** int MPI_Finalize(void). */
    private static final MethodHandle MPI_FINALIZE = function("MPI_Finalize", JAVA_INT);
    /** int MPI_Error_string(int errorcode, char *string, int *resultlen). */
    private static final MethodHandle MPI_ERROR_STRING = function("MPI_Error_string", JAVA_INT, JAVA_INT, ADDRESS,
            ADDRESS);

    /** The library's own description, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...", first line. */
    static String version() {
        available();
        return LIBRARY.version.lines().findFirst().orElse("").strip();
    }

    /** The file name or path the library was loaded from. */
    static String libraryName() {
        available();
        return LIBRARY.name;
    }

    /** Joins the job: MPI_Init_thread (funneled), then errors returned as codes on MPI_COMM_WORLD. */
    static void initThread() {
        available();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment provided = arena.allocate(JAVA_INT);
            check("MPI_Init_thread", (int) MPI_INIT_THREAD.invokeExact(THREAD_FUNNELED, provided));
            if (provided.get(JAVA_INT, 0) < THREAD_FUNNELED) {
                throw new MpiException("MPI_Init_thread: " + version() + " provides thread level "
                        + provided.get(JAVA_INT, 0) + ", below MPI_THREAD_FUNNELED (1) that a JVM needs");
            }
        } catch (Throwable e) {
            throw unchecked(e);
        }
        check("MPI_Comm_set_errhandler", invoke(MPI_COMM_SET_ERRHANDLER));
    }

    static int rank() {
        return query("MPI_Comm_rank", MPI_COMM_RANK);
    }

    static int size() {
        return query("MPI_Comm_size", MPI_COMM_SIZE);
    }

    /** Replaces {@code count} floats of {@code buffer} with their sum over every rank. */
    static void allReduceSumInPlace(MemorySegment buffer, int count) {
        try {
            check("MPI_Allreduce", (int) MPI_ALLREDUCE.invokeExact(buffer, count));
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    /** Replaces {@code count} bytes of {@code buffer} with rank {@code root}'s. */
    static void broadcastBytes(MemorySegment buffer, int count, int root) {
        try {
            check("MPI_Bcast", (int) MPI_BCAST.invokeExact(buffer, count, root));
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    /** Ends every rank of the job with {@code code}. Returns only if MPI_Abort itself fails. */
    static void abort(int code) {
        try {
            int ignored = (int) MPI_ABORT.invokeExact(code);
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    static void finalizeMpi() {
        check("MPI_Finalize", invoke(MPI_FINALIZE));
    }

    /** Throws unless the library loaded. */
    private static void available() {
        if (LIBRARY.problem != null) {
            throw new MpiException(LIBRARY.problem);
        }
    }

    private static int query(String function, MethodHandle handle) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check(function, (int) handle.invokeExact(out));
            return out.get(JAVA_INT, 0);
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    private static int invoke(MethodHandle noArguments) {
        try {
            return (int) noArguments.invokeExact();
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    /** MPI_SUCCESS is 0 in every implementation; anything else becomes an exception in MPI's words. */
    private static void check(String function, int status) {
        if (status != 0) {
            throw new MpiException(function + " failed: " + errorString(status) + " (error code " + status + ")");
        }
    }

    private static String errorString(int code) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(ERROR_STRING_BYTES);
            MemorySegment length = arena.allocate(JAVA_INT);
            int status = (int) MPI_ERROR_STRING.invokeExact(code, text, length);
            return status == 0 ? text.getString(0) : "an error MPI_Error_string does not know";
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    /** What a downcall threw, to rethrow: it declares Throwable, but throws only unchecked exceptions. */
    private static RuntimeException unchecked(Throwable e) {
        if (e instanceof Error error) {
            throw error;
        }
        return e instanceof RuntimeException r ? r : new IllegalStateException(e);
    }

    // ---- Loading ----

    private static Library load() {
        keepJvmSignalHandlers();
        String chosen = System.getenv(LIBRARY_VARIABLE);
        List<String> candidates = chosen != null && !chosen.isBlank() ? List.of(chosen) : FILE_NAMES;
        List<String> tried = new ArrayList<>();
        for (String name : candidates) {
            MemorySegment handle = dlopen(name);
            if (handle.equals(MemorySegment.NULL)) {
                tried.add(dlerror());
                continue;
            }
            SymbolLookup symbols = symbol -> dlsym(handle, symbol);
            Optional<String> version = libraryVersion(symbols);
            if (version.isEmpty()) {
                tried.add(name + " has no MPI_Get_library_version: not an MPI library, or one older than MPI-3");
                continue;
            }
            Optional<Abi> abi = Abi.of(version.get());
            if (abi.isEmpty()) {
                tried.add(name + " is \"" + version.get().lines().findFirst().orElse("") + "\", neither Open MPI nor"
                        + " of the MPICH ABI");
                continue;
            }
            return new Library(name, symbols, version.get(), abi.get(), null);
        }
        return new Library(null, null, null, null, "no MPI library could be loaded ("
                + String.join("; ", tried) + "). Install Open MPI (Debian, Ubuntu: apt install openmpi-bin"
                + " libopenmpi-dev) or point " + LIBRARY_VARIABLE + " at your MPI's libmpi.so");
    }

    /**
     * UCX reads its options when its library loads, which for MPICH's ch4:ucx is when libmpi loads: so this
     * comes first. Not overwriting: a user's own UCX_ERROR_SIGNALS wins.
     */
    private static void keepJvmSignalHandlers() {
        try (Arena arena = Arena.ofConfined()) {
            int status = (int) SETENV.invokeExact(arena.allocateFrom("UCX_ERROR_SIGNALS"), arena.allocateFrom(""), 0);
            if (status != 0) {
                throw new IllegalStateException("setenv(UCX_ERROR_SIGNALS) failed");
            }
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    private static MemorySegment dlopen(String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (MemorySegment) DLOPEN.invokeExact(arena.allocateFrom(name), RTLD_NOW | RTLD_GLOBAL);
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    private static Optional<MemorySegment> dlsym(MemorySegment library, String symbol) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = (MemorySegment) DLSYM.invokeExact(library, arena.allocateFrom(symbol));
            return address.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(address);
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    private static String dlerror() {
        try {
            MemorySegment text = (MemorySegment) DLERROR.invokeExact();
            return text.equals(MemorySegment.NULL) ? "dlopen failed" : text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    /** MPI_Get_library_version, which MPI-3 allows before MPI_Init; empty where the library lacks it. */
    private static Optional<String> libraryVersion(SymbolLookup symbols) {
        Optional<MemorySegment> function = symbols.find("MPI_Get_library_version");
        if (function.isEmpty()) {
            return Optional.empty();
        }
        MethodHandle get = LINKER.downcallHandle(function.get(), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(VERSION_STRING_BYTES);
            MemorySegment length = arena.allocate(JAVA_INT);
            int status = (int) get.invokeExact(text, length);
            return Optional.of(status == 0 ? text.getString(0) : "");
        } catch (Throwable e) {
            throw unchecked(e);
        }
    }

    private static MethodHandle libc(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new IllegalStateException(
                "the C library has no " + name)), descriptor);
    }

    /** A downcall handle for an MPI function; null where the library is absent (then nothing calls it). */
    private static MethodHandle function(String name, MemoryLayout result, MemoryLayout... arguments) {
        if (LIBRARY.symbols == null) {
            return null;
        }
        MemorySegment address = LIBRARY.symbols.find(name).orElseThrow(() -> new IllegalStateException(
                LIBRARY.name + " lacks " + name + ": not an MPI-3 library?"));
        return LINKER.downcallHandle(address, FunctionDescriptor.of(result, arguments));
    }

    /** The handle's layout in this library's ABI (an address stands in where there is no library). */
    private static ValueLayout handle() {
        return LIBRARY.abi == null ? ADDRESS : LIBRARY.abi.handle;
    }

    private static Object handle(String openMpiSymbol, int mpichValue) {
        return LIBRARY.abi == null ? null : LIBRARY.abi.handle(LIBRARY.symbols, openMpiSymbol, mpichValue);
    }

    private static Object inPlace() {
        return LIBRARY.abi == null ? null : LIBRARY.abi.inPlace;
    }

    /** Binds arguments of {@code function} from {@code position} on; null stays null where the library is absent. */
    private static MethodHandle bind(MethodHandle function, int position, Object... values) {
        return function == null ? null : MethodHandles.insertArguments(function, position, values);
    }
}
