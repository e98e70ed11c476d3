package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.derf4j.kernels.Approx;
import org.derf4j.kernels.Seeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The packed, register-blocked GEMM against the plain triple loop, in every layout, on one thread and on
 * teams, with offsets and leading dimensions wider than the rows.
 */
class SgemmTest {

    /**
     * (M, N, K): sizes that fill no micro-tile, panel or cache block evenly, single rows and columns, K over
     * one KC block (1100: KC is 512 or 1024), M over one MC block, N over one NC block (2100), and some above the
     * size at which a team multiply stops running on the calling thread.
     */
    static final int[][] SIZES = {
            {1, 1, 1}, {2, 3, 7}, {3, 2, 1}, {7, 15, 17}, {15, 17, 31}, {17, 31, 33}, {31, 33, 63},
            {33, 63, 65}, {63, 65, 129}, {65, 129, 257}, {129, 257, 2}, {257, 1, 129}, {1, 257, 65},
            {129, 65, 257}, {257, 129, 63}, {33, 2100, 65}, {300, 500, 400}, {29, 37, 1100}};

    /**
     * Padding: OFFSET elements before and after every operand and LD_PAD after each row. It holds NaN in A and
     * B, so that reading it spoils the result, and -7 in C, which must come back untouched.
     */
    private static final int OFFSET = 5;
    private static final int LD_PAD = 3;

    private static ThreadTeam pair;
    private static ThreadTeam trio;

    @BeforeAll
    static void startTeams() {
        pair = new ThreadTeam(2);
        trio = new ThreadTeam(3);
    }

    @AfterAll
    static void stopTeams() {
        pair.close();
        trio.close();
    }

    static Stream<Arguments> cases() {
        return Arrays.stream(Sgemm.Layout.values()).flatMap(layout -> Stream.of(false, true).flatMap(acc ->
                Arrays.stream(SIZES).map(s -> Arguments.of(layout, acc, s))));
    }

    /** One problem laid out in padded arrays: op(A) is M×K, op(B) is K×N, C is M×N, each with a wider row. */
    private record Problem(Sgemm.Layout layout, int M, int N, int K, float[] a, int lda, float[] b, int ldb,
                           float[] c, int ldc) {
        static Problem random(Sgemm.Layout layout, int M, int N, int K, SplittableRandom rng) {
            int aRows = layout == Sgemm.Layout.TN ? K : M;
            int aCols = layout == Sgemm.Layout.TN ? M : K;
            int bRows = layout == Sgemm.Layout.NT ? N : K;
            int bCols = layout == Sgemm.Layout.NT ? K : N;
            int lda = aCols + LD_PAD;
            int ldb = bCols + LD_PAD;
            int ldc = N + LD_PAD;
            return new Problem(layout, M, N, K, padded(aRows, aCols, lda, rng, Float.NaN), lda,
                    padded(bRows, bCols, ldb, rng, Float.NaN), ldb, padded(M, N, ldc, rng, -7f), ldc);
        }

        /** rows×cols values uniform in [-1, 1) at OFFSET with leading dimension ld; {@code pad} elsewhere. */
        private static float[] padded(int rows, int cols, int ld, SplittableRandom rng, float pad) {
            float[] v = new float[OFFSET + rows * ld + OFFSET];
            Arrays.fill(v, pad);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    v[OFFSET + i * ld + j] = (float) rng.nextDouble(-1, 1);
                }
            }
            return v;
        }

        /** Runs one version on a copy of C and returns that copy. */
        float[] run(Version version, boolean accumulate) {
            float[] out = c.clone();
            version.run(layout, M, N, K, a, OFFSET, lda, b, OFFSET, ldb, out, OFFSET, ldc, accumulate);
            return out;
        }
    }

    @FunctionalInterface
    private interface Version {
        void run(Sgemm.Layout layout, int M, int N, int K, float[] a, int aOff, int lda, float[] b, int bOff,
                 int ldb, float[] c, int cOff, int ldc, boolean accumulate);
    }

    private static Version onTeam(ThreadTeam team) {
        return (layout, M, N, K, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate) ->
                Sgemm.onTeam(team, layout, M, N, K, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate).run();
    }

    @ParameterizedTest(name = "{0} accumulate={1} {2}")
    @MethodSource("cases")
    void matchesReference(Sgemm.Layout layout, boolean accumulate, int[] size) {
        int M = size[0];
        int N = size[1];
        int K = size[2];
        SplittableRandom rng = Seeds.random("sgemm" + layout + accumulate + Arrays.toString(size));
        Problem p = Problem.random(layout, M, N, K, rng);
        float[] expected = p.run(Sgemm::reference, accumulate);
        float[] single = p.run(Sgemm::multiply, accumulate);
        // Each element sums K products of terms in [-1, 1], so |term| ≤ 1; both versions round in float32 (one
        // with fma, in KC blocks), and Approx.sums bounds the difference. C's old value (in [-1, 1)) adds one
        // rounding, inside rtol.
        Approx tol = Approx.sums(K, 1);
        String what = layout + " " + M + "x" + N + "x" + K + (accumulate ? " C+=" : " C=");
        assertWindow(what + " one thread", p, single, expected, tol);
        // The split between threads decides who computes an element, never how: the same bits on any team.
        assertArrayEquals(what + " team of 2 vs one thread", single, p.run(onTeam(pair), accumulate));
        assertArrayEquals(what + " team of 3 vs one thread", single, p.run(onTeam(trio), accumulate));
    }

    /** K = 0: C = 0, or C unchanged when accumulating. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void emptyDepth(Sgemm.Layout layout) {
        Problem p = Problem.random(layout, 9, 33, 0, Seeds.random("sgemm-k0" + layout));
        for (boolean accumulate : new boolean[] {false, true}) {
            float[] expected = p.run(Sgemm::reference, accumulate);
            assertArrayEquals(layout + " K=0 one thread", expected, p.run(Sgemm::multiply, accumulate));
            assertArrayEquals(layout + " K=0 team", expected, p.run(onTeam(pair), accumulate));
        }
    }

    /**
     * Once compiled, a multiply allocates nothing, on one thread or driving a team. Until C2 has compiled the
     * micro-kernel the Vector API allocates, so this repeats until a round allocates nothing or time is up.
     */
    @Test
    void allocatesNothingOnceCompiled() {
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        SplittableRandom rng = Seeds.random("sgemm-alloc");
        // 65·129·257 multiply-adds: enough for onTeam to use the team.
        Problem[] problems = Arrays.stream(Sgemm.Layout.values())
                .map(layout -> Problem.random(layout, 65, 129, 257, rng)).toArray(Problem[]::new);
        Runnable[] onTeam = Arrays.stream(problems).map(p -> Sgemm.onTeam(pair, p.layout(), p.M(), p.N(), p.K(),
                p.a(), OFFSET, p.lda(), p.b(), OFFSET, p.ldb(), p.c(), OFFSET, p.ldc(), true)).toArray(Runnable[]::new);
        long deadline = System.nanoTime() + 20_000_000_000L;
        long allocated;
        do {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < problems.length; i++) {
                Problem p = problems[i];
                onTeam[i].run();
                Sgemm.multiply(p.layout(), p.M(), p.N(), p.K(), p.a(), OFFSET, p.lda(), p.b(), OFFSET, p.ldb(), p.c(),
                        OFFSET, p.ldc(), false);
            }
            allocated = threads.getCurrentThreadAllocatedBytes() - before;
        } while (allocated != 0 && System.nanoTime() < deadline);
        assertEquals(0, allocated, "bytes allocated by one round of multiplies, still after 20 s");
    }

    static Stream<Sgemm.Layout> layouts() {
        return Arrays.stream(Sgemm.Layout.values());
    }

    /** Inside C's M×N window: close to {@code expected}; outside it (offsets, row padding): untouched. */
    private static void assertWindow(String what, Problem p, float[] got, float[] expected, Approx tol) {
        float[] window = new float[p.M() * p.N()];
        double[] expectedWindow = new double[window.length];
        float[] outside = got.clone();
        for (int i = 0; i < p.M(); i++) {
            for (int j = 0; j < p.N(); j++) {
                int o = OFFSET + i * p.ldc() + j;
                window[i * p.N() + j] = got[o];
                expectedWindow[i * p.N() + j] = expected[o];
                outside[o] = expected[o];
            }
        }
        tol.assertClose(what, window, expectedWindow);
        assertArrayEquals(what + ": elements outside the M×N window", expected, outside);
    }

    private static void assertArrayEquals(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": differ at [" + i + "]: " + actual[i] + ", expected " + expected[i] + " (seed "
                        + Seeds.current() + ")");
            }
        }
    }
}
