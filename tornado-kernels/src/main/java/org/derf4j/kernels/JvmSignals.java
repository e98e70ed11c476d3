package org.derf4j.kernels;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * Keeps the JVM's signal handlers in place around native device drivers, through libc's {@code sigaction}.
 *
 * <p>Why: PoCL, like other OpenCL drivers built on LLVM, installs LLVM's handlers for 15 signals when it starts a
 * device (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGUSR2, SIGINT, SIGTERM among them), over the JVM's, which uses SIGSEGV
 * itself (implicit null checks, safepoint polls), SIGUSR2 to suspend threads and SIGINT/SIGTERM for shutdown hooks.
 * With LLVM's handlers in place the test suite died with "Segmentation fault" at random after a kernel compilation,
 * on the opencl and on the tornadovm backend (TornadoVM starts PoCL through its own JNI library). So every handler is
 * recorded before any backend can start a driver ({@link #save}, from {@link Backends}), and each one a driver replaced
 * is put back after the calls that start a driver or compile ({@link #restore}): what the JDK's {@code libjsig} does by
 * interposing {@code sigaction}, without an {@code LD_PRELOAD}. LLVM then still counts its handlers as installed and
 * does not install them again; a crash inside a driver becomes a JVM crash report, as any native crash does.
 *
 * <p>The {@code struct sigaction} is copied opaquely (its layout differs between Linux and macOS); only its first word,
 * the handler, is compared. Where there is no {@code sigaction} (Windows) this does nothing.
 */
public final class JvmSignals {
    private JvmSignals() {
    }

    /** Signals 1..31; sigaction refuses to touch SIGKILL (9) and SIGSTOP (17 on macOS, 19 on Linux). */
    private static final int SIGNALS = 32;
    /** Larger than struct sigaction on Linux (152 bytes) and macOS (16). */
    private static final long STRUCT_BYTES = 256;

    private static final MethodHandle SIGACTION;
    private static final MemorySegment[] SAVED = new MemorySegment[SIGNALS];

    static {
        Linker linker = Linker.nativeLinker();
        // int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact)
        SIGACTION = linker.defaultLookup().find("sigaction").map(symbol -> linker.downcallHandle(symbol,
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS))).orElse(null);
    }

    /** Records every signal's handler; only the first call does, which must come before any driver starts. */
    public static synchronized void save() {
        if (SIGACTION == null || SAVED[1] != null) {
            return;
        }
        for (int sig = 1; sig < SIGNALS; sig++) {
            MemorySegment action = Arena.global().allocate(STRUCT_BYTES, 16);
            SAVED[sig] = sigaction(sig, MemorySegment.NULL, action) == 0 ? action : null;
        }
    }

    /** Puts back every saved handler that is no longer installed. */
    public static synchronized void restore() {
        for (int sig : replaced()) {
            sigaction(sig, SAVED[sig], MemorySegment.NULL);
        }
    }

    /** The signals whose handler is not the one {@link #save} recorded. */
    public static synchronized List<Integer> replaced() {
        List<Integer> list = new ArrayList<>();
        if (SIGACTION == null) {
            return list;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment now = arena.allocate(STRUCT_BYTES, 16);
            for (int sig = 1; sig < SIGNALS; sig++) {
                if (SAVED[sig] != null && sigaction(sig, MemorySegment.NULL, now) == 0
                        && now.get(JAVA_LONG, 0) != SAVED[sig].get(JAVA_LONG, 0)) {
                    list.add(sig);
                }
            }
        }
        return list;
    }

    private static int sigaction(int sig, MemorySegment act, MemorySegment old) {
        try {
            return (int) SIGACTION.invokeExact(sig, act, old);
        } catch (Throwable t) {
            throw new IllegalStateException("calling sigaction through the FFM API failed: " + t, t);
        }
    }
}
