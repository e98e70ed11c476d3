package org.derf4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Gelu;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.TestBackends;
import org.derf4j.kernels.Zero;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The cpu backend's contract: no allocation per replay, the same bits every run and on any thread count, no leaks. */
class CpuBackendTest {

    static Stream<Named<BackendProvider>> backends() {
        return TestBackends.available();
    }

    // ---------------------------------------------------------------- (a) no allocation per replay

    /**
     * A whole training step (every op, Derf and DyT, GradClip, AdamW on 21 parameters) replayed with the
     * host's per-step traffic (upload the hyper-parameters, download the loss) allocates nothing on the calling
     * thread or the team's workers, once the JIT has compiled the kernels.
     *
     * <p>The test passes when one window of {@value #WINDOW} consecutive replays allocates zero bytes, and
     * fails if none does within the time limit: a kernel that allocates on every replay (or on any regular
     * fraction of them) never produces such a window. It does not demand that every later window be zero,
     * because the JIT itself breaks that: before C2 compiles a kernel the interpreter boxes every vector, and
     * C2 code hits an uncommon trap when a branch it never saw is first taken (seen here with
     * -Xlog:deoptimization: {@code CrossEntropyKernels.firstIndexOf} "unstable_if reinterpret" once training
     * moved a row's argmax into the scalar tail, hundreds of replays in), which sends the kernel back to the
     * interpreter, allocating for a few replays until it is recompiled.
     */
    @Test
    @Tag("fresh-jvm") // see tornado-kernels/pom.xml
    void replayAllocatesNothing() {
        try (CpuBackend backend = new CpuBackend(CpuBackend.Variant.FAST, 3);
             TinyModel model = new TinyModel(backend)) {
            model.randomize(Seeds.random("cpu-replay-allocation"));
            float[] hyper = new float[AdamW.HYPER_SIZE];
            float[] loss = new float[1];
            try (Executable step = backend.compile(model.step)) {
                AllocationMeter meter = new AllocationMeter();
                assertTrue(meter.threads() >= 3, "expected the team's two workers to be running");
                long[] before = new long[meter.threads()];
                long[] after = new long[meter.threads()];
                // The meter sees an allocation, and reading it allocates nothing itself.
                meter.read(before);
                probe = new byte[4096];
                meter.read(after);
                assertTrue(AllocationMeter.total(before, after) >= probe.length, "the meter missed an allocation");
                meter.read(before);
                meter.read(after);
                assertEquals(0, AllocationMeter.total(before, after),
                        "reading the meter allocated:" + meter.describe(before, after));

                List<String> windows = new ArrayList<>();
                long allocated;
                int t = 0;
                long deadline = System.nanoTime() + 90_000_000_000L;
                do {
                    meter.read(before);
                    for (int i = 0; i < WINDOW; i++) {
                        replay(backend, model, step, hyper, loss, ++t);
                    }
                    meter.read(after);
                    allocated = AllocationMeter.total(before, after);
                    windows.add(meter.describe(before, after));
                } while (allocated != 0 && System.nanoTime() < deadline);
                assertEquals(0, allocated, "every window of " + WINDOW + " replays allocated; per thread:\n"
                        + String.join("\n", windows));
                assertTrue(Float.isFinite(loss[0]), "the step produced a finite loss, got " + loss[0]);
            }
        }
    }

    private static final int WINDOW = 100;
    /** Where the meter's positive control puts its array, so that no optimisation removes it. */
    private static volatile byte[] probe;

    /** One training step as a loop runs it: hyper-parameters up, replay, loss down. */
    private static void replay(Backend backend, TinyModel model, Executable step, float[] hyper, float[] loss,
                               int t) {
        AdamW.hyper(hyper, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
        backend.upload(model.hyper, hyper);
        step.run();
        backend.download(model.loss, loss);
    }

    // ---------------------------------------------------------------- (b) determinism

    /** Two runs of the same steps from the same state give the same bits in every tensor. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sameStepsGiveSameBits(BackendProvider provider) {
        long seed = Seeds.random("cpu-determinism").nextLong();
        TestBackends.with(provider, backend -> {
            try (TinyModel model = new TinyModel(backend); Executable step = backend.compile(model.step)) {
                Map<String, int[]> first = threeSteps(model, step, seed);
                Map<String, int[]> second = threeSteps(model, step, seed);
                assertSameBits(first, second, provider.name() + ", second run");
            }
        });
    }

    /**
     * The fast backend with 1, 2 and 3 threads gives the same bits: reductions (dγ, dβ, dα, ds, the loss,
     * the gradient norm, the embedding scatter) are cut into chunks by shape, never by thread count, and
     * their partial sums are added in chunk order.
     */
    @Test
    void threadCountDoesNotChangeBits() {
        long seed = Seeds.random("cpu-threads").nextLong();
        Map<String, int[]> oneThread = null;
        for (int threads = 1; threads <= 3; threads++) {
            try (CpuBackend backend = new CpuBackend(CpuBackend.Variant.FAST, threads);
                 TinyModel model = new TinyModel(backend); Executable step = backend.compile(model.step)) {
                Map<String, int[]> bits = threeSteps(model, step, seed);
                if (oneThread == null) {
                    oneThread = bits;
                } else {
                    assertSameBits(oneThread, bits, threads + " threads vs 1");
                }
            }
        }
    }

    private static Map<String, int[]> threeSteps(TinyModel model, Executable step, long seed) {
        model.randomize(new SplittableRandom(seed));
        for (int i = 0; i < 3; i++) {
            step.run();
        }
        return model.bits();
    }

    /** Fails listing every tensor whose bits differ, with its first differing element. */
    private static void assertSameBits(Map<String, int[]> expected, Map<String, int[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet());
        List<String> differ = new ArrayList<>();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            int[] a = actual.get(e.getKey());
            int i = Arrays.mismatch(e.getValue(), a);
            if (i >= 0) {
                differ.add(String.format("%s[%d] %s vs %s", e.getKey(), i, Float.intBitsToFloat(e.getValue()[i]),
                        Float.intBitsToFloat(a[i])));
            }
        }
        if (!differ.isEmpty()) {
            fail(what + ": bits differ in " + String.join(", ", differ));
        }
    }

    // ---------------------------------------------------------------- (c) leaks and misuse

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void liveTensorsListsWhatIsNotClosed(BackendProvider provider) {
        try (Backend backend = provider.open()) {
            Tensor a = backend.allocate("a", 3);
            Tensor b = backend.allocate("b", DType.I32, 2, 2);
            Tensor c = backend.allocate("c", 5);
            assertEquals(List.of(a, b, c), backend.liveTensors(), "oldest first");
            b.close();
            b.close(); // idempotent
            assertEquals(List.of(a, c), backend.liveTensors());
            a.close();
            c.close();
            assertEquals(List.of(), backend.liveTensors());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void closedTensorsCannotBeUsed(BackendProvider provider) {
        try (Backend backend = provider.open()) {
            Tensor x = backend.allocate("x", 4);
            Tensor out = backend.allocate("out", 4);
            try (Executable gelu = backend.compile(Graph.of("gelu", new Gelu.Forward(out, x)))) {
                gelu.run();
                x.close();
                assertTrue(x.isClosed());
                assertClosed(() -> backend.upload(x, new float[4]), "x[4]");
                assertClosed(() -> backend.download(x, new float[4]), "x[4]");
                assertClosed(() -> backend.run(new Gelu.Forward(out, x)), "x[4]");
                // An executable compiled before the close holds x's storage: it must refuse to replay.
                assertClosed(gelu::run, "x[4]");
            }
            out.close();
        }
    }

    private static void assertClosed(Runnable use, String tensor) {
        IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
        assertTrue(e.getMessage().contains("tensor " + tensor + " is closed"), e.getMessage());
    }

    /** Closing the backend closes its tensors and stops its threads; a compiled step then fails, it does not hang. */
    @Test
    void closingTheBackendClosesEverything() {
        CpuBackend backend = new CpuBackend(CpuBackend.Variant.FAST, 3);
        Tensor x = backend.allocate("x", 100_000);
        Tensor out = backend.allocate("out", 100_000);
        Executable gelu = backend.compile(Graph.of("gelu", new Gelu.Forward(out, x)));
        gelu.run();
        backend.close();
        assertTrue(x.isClosed() && out.isClosed());
        assertEquals(List.of(), backend.liveTensors());
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertClosed(gelu::run, "x[100000]"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> backend.allocate("y", 1));
        assertTrue(e.getMessage().contains("cpu backend is closed"), e.getMessage());
        backend.close(); // idempotent
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void tensorsOfAnotherBackendAreRejected(BackendProvider provider) {
        try (Backend mine = provider.open(); Backend other = provider.open()) {
            Tensor foreign = other.allocate("foreign", 8);
            Tensor out = mine.allocate("out", 8);
            IllegalArgumentException compile = assertThrows(IllegalArgumentException.class,
                    () -> mine.compile(Graph.of("g", new Gelu.Forward(out, foreign))));
            assertTrue(compile.getMessage().contains("graph g: tensor foreign[8] belongs to another backend"),
                    compile.getMessage());
            IllegalArgumentException upload = assertThrows(IllegalArgumentException.class,
                    () -> mine.upload(foreign, new float[8]));
            assertTrue(upload.getMessage().contains("upload: tensor foreign[8] belongs to another backend"),
                    upload.getMessage());
            IllegalArgumentException download = assertThrows(IllegalArgumentException.class,
                    () -> mine.download(foreign, new float[8]));
            assertTrue(download.getMessage().contains("download: tensor foreign[8]"), download.getMessage());
            assertEquals(List.of(foreign), other.liveTensors());
            assertEquals(List.of(out), mine.liveTensors());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void transfersCheckLengthAndDtype(BackendProvider provider) {
        try (Backend backend = provider.open()) {
            Tensor x = backend.allocate("x", 2, 3);
            Tensor ids = backend.allocate("ids", DType.I32, 4);
            assertTransfer(() -> backend.upload(x, new float[5]),
                    "upload: tensor x[2, 3] has 6 elements, the host array 5");
            assertTransfer(() -> backend.download(x, new float[7]),
                    "download: tensor x[2, 3] has 6 elements, the host array 7");
            assertTransfer(() -> backend.upload(x, new int[6]), "upload: tensor x[2, 3] is F32, the host array is I32");
            assertTransfer(() -> backend.download(ids, new float[4]),
                    "download: tensor ids[4]:I32 is I32, the host array is F32");
            assertTransfer(() -> backend.upload(ids, new int[3]), "upload: tensor ids[4]:I32 has 4 elements");
            // A good round trip, for contrast.
            backend.upload(ids, new int[] {3, 1, 4, 1});
            int[] back = new int[4];
            backend.download(ids, back);
            assertArrayEquals(new int[] {3, 1, 4, 1}, back);
            backend.run(Zero.of(ids));
            backend.download(ids, back);
            assertArrayEquals(new int[4], back);
            x.close();
            ids.close();
        }
    }

    private static void assertTransfer(Runnable transfer, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, transfer::run);
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void unknownBackendListsTheBuiltInOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.open("nope"));
        assertTrue(e.getMessage().contains("unknown backend 'nope'"), e.getMessage());
        for (BackendProvider p : Backends.providers()) {
            assertTrue(e.getMessage().contains(p.name()), e.getMessage());
        }
        assertTrue(e.getMessage().contains("cpu") && e.getMessage().contains("cpu-reference"), e.getMessage());
        assertFalse(Backends.providers().isEmpty());
    }
}
