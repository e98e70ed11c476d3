package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Seeds;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The fast cpu backend computes the same bits in the interpreter as in C2-compiled code, so that a run resumed
 * in a fresh JVM, whose kernels start out interpreted, continues bit for bit, and a replay keeps its bits once
 * the JIT compiles it.
 *
 * <p>The test replays {@value #STEPS} training steps of the small {@link TinyModel} (every op, Derf and DyT)
 * from one seed, and takes a fingerprint: the loss of each step and a hash of every tensor's bits. A child
 * JVM started with {@code -Xint} (interpreter only) computes the fingerprint once; this JVM recomputes it,
 * from the same seed, until one repetition's steps allocate nothing on any thread of the backend, which
 * proves that every vector operation ran in C2 code (the interpreter and C1 box every vector). Every
 * repetition, from the first (mostly interpreted) to that one, must give the child's fingerprint.
 */
@Tag("fresh-jvm") // see tornado-kernels/pom.xml
class TierIndependenceTest {

    private static final int THREADS = 2;
    private static final int STEPS = 3;
    private static final long CHILD_TIMEOUT_SECONDS = 300;

    @Test
    void interpreterAndC2GiveTheSameBits() throws Exception {
        long seed = Seeds.random("tier-independence").nextLong();
        Process child = startInterpreterOnlyJvm(seed);
        CompletableFuture<String> childOutput = readAll(child.getInputStream());
        CompletableFuture<String> childErrors = readAll(child.getErrorStream());

        Map<String, String> compiled;
        int repetitions = 0;
        try (CpuBackend backend = new CpuBackend(CpuBackend.Variant.FAST, THREADS);
             TinyModel model = new TinyModel(backend, TinyModel.Dims.SMALL);
             Executable step = backend.compile(model.step)) {
            AllocationMeter meter = new AllocationMeter();
            long[] before = new long[meter.threads()];
            long[] after = new long[meter.threads()];
            float[][] losses = new float[STEPS][1];
            Map<String, String> first = null;
            long allocated;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            do {
                model.randomize(new SplittableRandom(seed));
                meter.read(before);
                steps(backend, model, step, losses);
                meter.read(after);
                allocated = AllocationMeter.total(before, after);
                compiled = fingerprint(model, losses);
                if (first == null) {
                    first = compiled;
                }
                assertSameFingerprint(first, compiled, "repetition " + repetitions + " vs the first in this JVM");
                repetitions++;
            } while (allocated != 0 && System.nanoTime() < deadline);
            assertEquals(0, allocated, "no repetition of the steps ran allocation-free (all in C2) within the time"
                    + " limit, after " + repetitions + "; the last:" + meter.describe(before, after));
        }

        if (!child.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            child.destroyForcibly();
            fail("the -Xint JVM did not finish within " + CHILD_TIMEOUT_SECONDS + " s");
        }
        assertEquals(0, child.exitValue(), "the -Xint JVM failed:\n" + childErrors.get());
        Map<String, String> interpreted = parse(childOutput.get());
        assertSameFingerprint(interpreted, compiled, "C2 (after " + repetitions + " repetitions) vs -Xint");
        System.out.printf("tier independence: -Xint and C2 (repetition %d) agree on %d fingerprint entries, loss %s%n",
                repetitions, interpreted.size(), interpreted.get("loss@" + STEPS));
    }

    /** The child: {@code main(seed)} prints the fingerprint of the steps, one {@code name value} per line. */
    public static void main(String[] args) {
        long seed = Long.parseLong(args[0]);
        try (CpuBackend backend = new CpuBackend(CpuBackend.Variant.FAST, THREADS);
             TinyModel model = new TinyModel(backend, TinyModel.Dims.SMALL);
             Executable step = backend.compile(model.step)) {
            model.randomize(new SplittableRandom(seed));
            float[][] losses = new float[STEPS][1];
            steps(backend, model, step, losses);
            fingerprint(model, losses).forEach((name, value) -> System.out.println(name + " " + value));
        }
    }

    /** The steps, each step's loss downloaded into {@code losses[step]} (arrays of one, allocated by the caller). */
    private static void steps(CpuBackend backend, TinyModel model, Executable step, float[][] losses) {
        for (float[] loss : losses) {
            step.run();
            backend.download(model.loss, loss);
        }
    }

    /** Each step's loss (value and bits), then a hash of every tensor's bits, by name. */
    private static Map<String, String> fingerprint(TinyModel model, float[][] losses) {
        Map<String, String> print = new LinkedHashMap<>();
        for (int s = 0; s < losses.length; s++) {
            float loss = losses[s][0];
            print.put("loss@" + (s + 1), loss + "/" + Integer.toHexString(Float.floatToRawIntBits(loss)));
        }
        model.bits().forEach((name, bits) -> print.put(name, Integer.toHexString(Arrays.hashCode(bits))));
        return print;
    }

    /**
     * The child runs with this JVM's HotSpot flags and derf4j properties, so that a run narrowed to another vector
     * width (-XX:MaxVectorSize, -XX:UseAVX) or register file (-Dderf4j.cpu.registers) compares like with like.
     */
    private static Process startInterpreterOnlyJvm(long seed) throws IOException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "-Xint", "--add-modules", "jdk.incubator.vector"));
        ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("-XX:MaxVectorSize") || a.startsWith("-XX:UseAVX")
                        || a.startsWith("-XX:-UseFMA") || a.startsWith("-Dderf4j."))
                .forEach(command::add);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), TierIndependenceTest.class.getName(),
                Long.toString(seed)));
        return new ProcessBuilder(command).start();
    }

    private static CompletableFuture<String> readAll(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static Map<String, String> parse(String output) {
        Map<String, String> print = new LinkedHashMap<>();
        output.lines().map(line -> line.split(" ", 2)).forEach(kv -> print.put(kv[0], kv[1]));
        assertTrue(print.containsKey("loss@" + STEPS), "the -Xint JVM printed no fingerprint:\n" + output);
        return print;
    }

    /** Fails listing every entry that differs. */
    private static void assertSameFingerprint(Map<String, String> expected, Map<String, String> actual,
                                              String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        List<String> differ = new ArrayList<>();
        expected.forEach((name, value) -> {
            if (!value.equals(actual.get(name))) {
                differ.add(name + " " + value + " vs " + actual.get(name));
            }
        });
        if (!differ.isEmpty()) {
            fail(what + " (seed " + Seeds.current() + "): " + differ.size() + " of " + expected.size()
                    + " differ: " + String.join(", ", differ));
        }
    }
}
