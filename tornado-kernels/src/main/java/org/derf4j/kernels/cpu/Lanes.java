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
 *       per chunk, and summed from there by {@link #sum(float[])}. Helpers that do take vectors ({@link Erf},
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

    /** A scratch row for {@link #sum(float[])}, for each of {@code chunks} chunks. */
    static float[][] scratch(int chunks) {
        return new float[chunks][S.length()];
    }

    /**
     * Σ x[o, o + n) in a fixed order, for a row's reductions (LayerNorm's, RMSNorm's): four vector sums, each of
     * every fourth vector, then {@link #sum(float[])}, then the columns that fill no four vectors one by one. One
     * vector sum would be a chain of dependent adds, one vector per add's latency (3–4 cycles); four keep both
     * add pipes busy, and a row in L1 sums about a third faster.
     */
    static float sum(float[] x, int o, int n, float[] lanes) {
        int L = S.length();
        int bound = n / (4 * L) * (4 * L);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < bound; c += 4 * L) {
            a0 = a0.add(FloatVector.fromArray(S, x, o + c));
            a1 = a1.add(FloatVector.fromArray(S, x, o + c + L));
            a2 = a2.add(FloatVector.fromArray(S, x, o + c + 2 * L));
            a3 = a3.add(FloatVector.fromArray(S, x, o + c + 3 * L));
        }
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        float acc = sum(lanes);
        for (int c = bound; c < n; c++) {
            acc += x[o + c];
        }
        return acc;
    }

    /** Σ (x[o, o + n) − m)², in {@link #sum(float[], int, int, float[])}'s order. */
    static float sumSquares(float[] x, int o, float m, int n, float[] lanes) {
        int L = S.length();
        int bound = n / (4 * L) * (4 * L);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < bound; c += 4 * L) {
            FloatVector d0 = FloatVector.fromArray(S, x, o + c).sub(m);
            FloatVector d1 = FloatVector.fromArray(S, x, o + c + L).sub(m);
            FloatVector d2 = FloatVector.fromArray(S, x, o + c + 2 * L).sub(m);
            FloatVector d3 = FloatVector.fromArray(S, x, o + c + 3 * L).sub(m);
            a0 = FMA ? d0.fma(d0, a0) : d0.mul(d0).add(a0);
            a1 = FMA ? d1.fma(d1, a1) : d1.mul(d1).add(a1);
            a2 = FMA ? d2.fma(d2, a2) : d2.mul(d2).add(a2);
            a3 = FMA ? d3.fma(d3, a3) : d3.mul(d3).add(a3);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        float acc = sum(lanes);
        for (int c = bound; c < n; c++) {
            float d = x[o + c] - m;
            acc += d * d;
        }
        return acc;
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
