package org.derf4j.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Attention;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Backends;
import org.derf4j.kernels.CrossEntropy;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.HostTensor;
import org.derf4j.kernels.LayerNorm;
import org.derf4j.kernels.Matmul;
import org.derf4j.kernels.PointwiseNorm;
import org.derf4j.kernels.Seeds;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.TorchReference;
import org.derf4j.kernels.Zero;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * What the op tests do not cover on the opencl backend: that CI has a device, the messages of its errors, and
 * replays: many enqueued with no host sync between them, giving the same bits every time.
 */
class OpenClBackendTest {

    private static final OpenClBackendProvider PROVIDER = new OpenClBackendProvider();

    /**
     * CI installs PoCL, so there a missing OpenCL device is a broken setup: this fails. Elsewhere it skips, with the
     * reason, like every opencl case of the op tests (which {@code TestBackends.available()} leaves out then).
     */
    @Test
    void openClDeviceIsPresent() {
        String why = PROVIDER.unavailableReason();
        if (why != null && TorchReference.inCi()) {
            fail("no OpenCL device, and CI=true: " + why);
        }
        Assumptions.assumeTrue(why == null, () -> "opencl backend unavailable: " + why);
    }

    /** The other tests skip without a device; {@link #openClDeviceIsPresent} is the one that fails in CI. */
    private static void assumeDevice() {
        Assumptions.assumeTrue(PROVIDER.unavailableReason() == null,
                () -> "opencl backend unavailable: " + PROVIDER.unavailableReason());
    }

    @Test
    void statusCodesAreNamed() {
        OpenClException e = new OpenClException("clEnqueueNDRangeKernel", -5, "Matmul.Forward, kernel gemm_nt (out)");
        assertEquals("clEnqueueNDRangeKernel: CL_OUT_OF_RESOURCES (-5) for Matmul.Forward, kernel gemm_nt (out)",
                e.getMessage());
        assertEquals("CL_INVALID_WORK_GROUP_SIZE", OpenCl.errorName(-54));
        assertEquals("CL_PLATFORM_NOT_FOUND_KHR", OpenCl.errorName(-1001));
        assertEquals("unknown OpenCL error", OpenCl.errorName(-9999));
    }

    @Test
    void buildErrorsCarryTheProgramItsKernelsAndTheLog() {
        assumeDevice();
        OpenClDevice device = OpenClDevice.choose(System.getProperty(OpenClBackendProvider.DEVICE));
        var broken = new OpenClDevice.Program("broken", List.of("broken.cl"), Map.of(), List.of("broken_kernel"));
        OpenClException e = assertThrows(OpenClException.class, () -> device.program(broken, 64));
        assertEquals("clBuildProgram", e.function());
        assertEquals("CL_BUILD_PROGRAM_FAILURE", e.statusName());
        String m = e.getMessage();
        assertTrue(m.contains("program broken (broken.cl)") && m.contains("broken_kernel"), m);
        assertTrue(m.contains("undeclared_variable") && m.contains("broken.cl"), "the compiler's log: " + m);
    }

    /** derf.cl and common.cl evaluate the cpu backend's fits of erf and exp: their constants must be the same. */
    @Test
    void theKernelsUseTheFitsOfTheCpuBackend() throws Exception {
        assertEquals(11, checkConstants("derf.cl", "ERF_", org.derf4j.kernels.cpu.Erf.class, "CLAMP|[PQ][0-9]"),
                "CLAMP, P0..P4, Q1..Q5");
        assertEquals(12, checkConstants("common.cl", "EXP_", Class.forName("org.derf4j.kernels.cpu.Exp"),
                "X_MAX|MAGIC|LOG2E|LN2_HI|LN2_LO|E[0-9]"), "X_MAX, MAGIC, LOG2E, LN2_HI, LN2_LO, E0..E6");
    }

    /** Checks each float field of {@code fit} whose name matches against {@code #define prefix+NAME} in the file. */
    private static int checkConstants(String file, String prefix, Class<?> fit, String names) throws Exception {
        String source;
        try (var in = OpenClDevice.class.getResourceAsStream(file)) {
            source = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        int checked = 0;
        for (var field : fit.getDeclaredFields()) {
            String name = field.getName();
            if (name.matches(names)) {
                field.setAccessible(true);
                var define = java.util.regex.Pattern.compile("#define " + prefix + name + " \\(?([-0-9.e+]+)f\\)?")
                        .matcher(source);
                assertTrue(define.find(), file + " defines " + prefix + name);
                assertEquals(field.getFloat(null), Float.parseFloat(define.group(1)), prefix + name);
                checked++;
            }
        }
        return checked;
    }

    @Test
    void anUnknownDeviceListsTheDevices() {
        assumeDevice();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenClDevice.choose("no such device 42"));
        assertTrue(e.getMessage().contains("no OpenCL device matches --device 'no such device 42'")
                && e.getMessage().contains("0:0"), e.getMessage());
        assertEquals(OpenClDevice.all().getFirst(), OpenClDevice.choose("0:0"));
    }

    @Test
    void devicesListsEveryPlatformAndDevice() {
        assumeDevice();
        try (Backend b = Backends.open("opencl")) {
            assertEquals(OpenClDevice.all().size(), b.devices().size());
            assertTrue(b.devices().stream().anyMatch(d -> d.endsWith(", in use")), b.devices().toString());
        }
    }

    /**
     * A small training step's worth of ops with every kind of reduction (embedding scatter, Derf and LayerNorm
     * backward, GEMMs, attention, cross-entropy, the clip norm) and AdamW, replayed REPLAYS times with no download
     * in between, on two backends: the two give the same bits, and so does a third that downloads after every
     * replay. The parameters change each replay, so a dropped or reordered kernel would show.
     */
    @Test
    void replaysWithoutHostSyncGiveTheSameBits() {
        assumeDevice();
        float[][] queued = replays(false);
        assertArrayEquals(queued, replays(false), "two runs of the same replays");
        assertArrayEquals(queued, replays(true), "replays with a download after each");
    }

    private static final int REPLAYS = 12;

    private static float[][] replays(boolean syncEachReplay) {
        int B = 2;
        int T = 9;
        int C = 12;
        int V = 13;
        SplittableRandom rng = Seeds.random("opencl-replays");
        try (Backend b = PROVIDER.open()) {
            List<Tensor> all = new ArrayList<>();
            java.util.function.Function<Tensor, Tensor> keep = t -> {
                all.add(t);
                return t;
            };
            Tensor tokens = keep.apply(HostTensor.ints("tokens", rng, 0, V, B, T).upload(b));
            Tensor targets = keep.apply(HostTensor.ints("targets", rng, 0, V, B, T).upload(b));
            Tensor wte = keep.apply(HostTensor.normal("wte", rng, 0, 0.5, V, C).upload(b));
            Tensor wpe = keep.apply(HostTensor.normal("wpe", rng, 0, 0.5, T, C).upload(b));
            Tensor alpha = keep.apply(HostTensor.of("alpha", new float[] {0.8f}, 1).upload(b));
            Tensor shift = keep.apply(HostTensor.of("shift", new float[] {0.1f}, 1).upload(b));
            Tensor gamma = keep.apply(HostTensor.normal("gamma", rng, 1, 0.2, C).upload(b));
            Tensor beta = keep.apply(HostTensor.normal("beta", rng, 0, 0.2, C).upload(b));
            Tensor wqkv = keep.apply(HostTensor.normal("wqkv", rng, 0, 0.3, 3 * C, C).upload(b));
            Tensor wout = keep.apply(HostTensor.normal("wout", rng, 0, 0.3, V, C).upload(b));
            Tensor[] act = new Tensor[7];
            String[] names = {"x", "h", "qkv", "att", "ln", "logits", "dx"};
            int[][] shapes = {{B, T, C}, {B, T, C}, {B, T, 3 * C}, {B, T, C}, {B, T, C}, {B, T, V}, {B, T, C}};
            for (int i = 0; i < act.length; i++) {
                act[i] = keep.apply(b.allocate(names[i], shapes[i]));
            }
            Tensor dh = keep.apply(b.allocate("dh", B, T, C));
            Tensor dqkv = keep.apply(b.allocate("dqkv", B, T, 3 * C));
            Tensor datt = keep.apply(b.allocate("datt", B, T, C));
            Tensor dln = keep.apply(b.allocate("dln", B, T, C));
            Tensor lse = keep.apply(b.allocate("lse", B, 1, T));
            Tensor mean = keep.apply(b.allocate("mean", B, T));
            Tensor rstd = keep.apply(b.allocate("rstd", B, T));
            Tensor loss = keep.apply(b.allocate("loss", 1));
            Tensor correct = keep.apply(b.allocate("correct", 1));
            Tensor stats = keep.apply(b.allocate("stats", 2));
            Tensor hyper = keep.apply(b.allocate("hyper", AdamW.HYPER_SIZE));
            Tensor[] grads = {keep.apply(b.allocate("dwte", V, C)), keep.apply(b.allocate("dwpe", T, C)),
                    keep.apply(b.allocate("dalpha", 1)), keep.apply(b.allocate("dshift", 1)),
                    keep.apply(b.allocate("dgamma", C)), keep.apply(b.allocate("dbeta", C)),
                    keep.apply(b.allocate("dwqkv", 3 * C, C)), keep.apply(b.allocate("dwout", V, C)),
                    keep.apply(b.allocate("dgamma2", C)), keep.apply(b.allocate("dbeta2", C))};
            Tensor[] params = {wte, wpe, alpha, shift, gamma, beta, wqkv, wout};
            Graph.Builder step = Graph.builder("step").input(hyper).output(loss);
            step.add(Zero.of(grads)).add(Zero.of(dh, dqkv, datt, dln, act[6], loss, correct));
            step.add(new Embedding.Forward(act[0], tokens, wte, wpe, null));
            step.add(new PointwiseNorm.Forward(PointwiseNorm.Kind.DERF, act[1], act[0], alpha, shift, gamma, beta));
            step.add(new Matmul.Forward(act[2], act[1], wqkv, null));
            step.add(new Attention.Forward(act[3], lse, act[2], 1));
            step.add(new LayerNorm.Forward(act[4], mean, rstd, act[3], gamma, beta));
            step.add(new Matmul.Forward(act[5], act[4], wout, null));
            step.add(new CrossEntropy(loss, correct, act[5], act[5], targets, 1f));
            step.add(new Matmul.Backward(dln, grads[7], null, act[5], act[4], wout));
            step.add(new LayerNorm.Backward(datt, grads[8], grads[9], dln, act[3], mean, rstd, gamma));
            step.add(new Attention.Backward(dqkv, datt, act[2], act[3], lse, 1));
            step.add(new Matmul.Backward(dh, grads[6], null, dqkv, act[1], wqkv));
            step.add(new PointwiseNorm.Backward(PointwiseNorm.Kind.DERF, act[6], grads[2], grads[3], grads[4],
                    grads[5], dh, act[0], alpha, shift, gamma));
            step.add(new Embedding.Backward(grads[0], grads[1], null, act[6], tokens, wte, wpe, null));
            step.add(new GradClip(stats, 1f, List.of(grads)));
            for (int i = 0; i < params.length; i++) {
                step.add(new AdamW(params[i], grads[i], keep.apply(b.allocate("m" + i, params[i].shape())),
                        keep.apply(b.allocate("v" + i, params[i].shape())), hyper, stats, true));
            }
            float[] h = new float[AdamW.HYPER_SIZE];
            float[] losses = new float[REPLAYS];
            try (Executable exe = b.compile(step.build())) {
                for (int t = 1; t <= REPLAYS; t++) {
                    AdamW.hyper(h, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
                    b.upload(hyper, h);
                    exe.run();
                    if (syncEachReplay) {
                        losses[t - 1] = HostTensor.download(b, loss)[0];
                    }
                }
                if (!syncEachReplay) {
                    losses[REPLAYS - 1] = HostTensor.download(b, loss)[0];
                }
            }
            float[][] result = new float[params.length + 2][];
            for (int i = 0; i < params.length; i++) {
                result[i] = HostTensor.download(b, params[i]);
            }
            result[params.length] = HostTensor.download(b, stats);
            result[params.length + 1] = new float[] {losses[REPLAYS - 1]};
            assertTrue(Float.isFinite(losses[REPLAYS - 1]), "loss " + losses[REPLAYS - 1]);
            all.forEach(Tensor::close);
            return result;
        }
    }
}
