package org.derf4j.kernels.cpu;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The species of the fast kernels, and the sum of a vector's lanes in one fixed order. Two rules keep those
 * kernels allocation-free and their replays the same bits in every JIT tier:
 *
 * <ul>
 *   <li><b>No {@code reduceLanes(ADD)}.</b> Its order is unspecified, and HotSpot does use different orders
 *       in the interpreter (lane by lane) and in C2, so a replay's bits changed once the kernel was compiled,
 *       and a run resumed in a fresh JVM diverged from the original. The same holds for
 *       {@code VectorOperators.EXP} and {@code TANH} (the interpreter's Math.exp per lane against C2's vector
 *       library); {@link Exp} and {@link Tanh} replace them. Order-free reductions (MAX, MIN) are fine.</li>
 *   <li><b>No vector crosses a call that may not be inlined.</b> A FloatVector lives in registers only within
 *       one compiled method: passed to, or returned from, a method C2 leaves out of line, it is boxed, that is
 *       allocated. C2 inlines by size, by call-site frequency and while the compilation holds fewer than 18,000
 *       IR nodes, so a helper called once per row can stay out of line (it did: a 78-bytecode lane sum
 *       allocated ~100 KB per Derf backward). A row's accumulator is therefore spilled with {@code intoArray}
 *       (an intrinsic) into a scratch row of {@link #S}{@code .length()} floats, which the compiler allocates
 *       per chunk, and summed from there by {@link #sum}. Helpers that do take vectors ({@link Erf},
 *       {@link Tanh}, {@link Exp}) are called only from innermost loops, and each kernel stays within the node
 *       budget (see {@link PointwiseNormKernels}), so C2 inlines them. {@code CpuBackendTest} checks the
 *       allocation, {@code TierIndependenceTest} the bits, against the interpreter.</li>
 * </ul>
 */
final class Lanes {
    private Lanes() {
    }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /**
     * The vector registers the JIT allocates from, which the register-blocked kernels ({@link Sgemm},
     * {@link AttentionKernels}) size their tiles by: 32 on x86 with AVX-512 (HotSpot's {@code UseAVX=3}, whatever
     * the vector width: EVEX encodes ymm16-31 and xmm16-31 too) and on AArch64 (NEON, SVE); 16 on x86 with AVX2,
     * AVX or SSE, and wherever the JVM does not say. A tile whose accumulators and operands do not fit is not
     * slower by a little: C2 keeps an accumulator on the stack and the loop waits on a store and a reload every
     * iteration (the 6×2-vector GEMM tile, 12 accumulators, did that on AVX2 and ran at 0.37× OpenBLAS).
     * {@code -Dderf4j.cpu.registers=16|32} overrides it, so that a test can run the other shapes.
     */
    static final int REGISTERS = Integer.getInteger("derf4j.cpu.registers", defaultRegisters());

    private static int defaultRegisters() {
        if (System.getProperty("os.arch", "").equals("aarch64")) {
            return 32;
        }
        return vmOption("UseAVX").equals("3") ? 32 : 16;
    }

    /**
     * Whether the JIT compiles a vector fma to an FMA instruction: HotSpot's UseFMA, false on x86 CPUs without
     * FMA3 (Sandy and Ivy Bridge, many Pentium and Celeron models, VMs that hide it) and with -XX:-UseFMA. There
     * the Vector API computes fma lane by lane with Math.fma, which HotSpot then runs in BigDecimal: thousands
     * of times slower (the SGEMM benchmark never finished). So every fma of the fast kernels is written
     * {@code FMA ? a.fma(b, c) : a.mul(b).add(c)}: this is a constant, C2 compiles one side only, and without FMA
     * the kernels multiply and then add, at about the speed of their FMA form (one more rounding, the same bits in
     * every JIT tier). Inline, not in a helper: a helper is one more call for C2's inlining budget, and in the
     * biggest kernels (Derf's backward, attention's forward tile) it was over budget, left out of line, and its
     * vectors were boxed (allocated) on every call.
     */
    static final boolean FMA = !vmOption("UseFMA").equals("false");

    /** A HotSpot flag's value, or "" on a JVM that does not have it. */
    static String vmOption(String name) {
        try {
            return ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class).getVMOption(name).getValue();
        } catch (RuntimeException | LinkageError e) {
            return "";
        }
    }

    /** A scratch row for {@link #sum}, for each of {@code chunks} chunks. */
    static float[][] scratch(int chunks) {
        return new float[chunks][S.length()];
    }

    /**
     * Σ lanes[0, L) in pairwise order (lanes i and i + h added, for h = L/2 … 1), overwriting {@code lanes}:
     * the order and bits of a butterfly reduction, in plain float adds that every tier performs alike.
     */
    static float sum(float[] lanes) {
        for (int h = S.length() / 2; h > 0; h /= 2) {
            for (int i = 0; i < h; i++) {
                lanes[i] += lanes[i + h];
            }
        }
        return lanes[0];
    }
}
