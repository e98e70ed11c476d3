package org.derf4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Device drivers built on LLVM (PoCL: the opencl backend's, and TornadoVM's) replace the JVM's signal handlers when
 * they start or compile; the backends put them back ({@link JvmSignals}). Without that, 15 signals' handlers were
 * LLVM's after a kernel ran, and the JVM later died with "Segmentation fault".
 */
class JvmSignalsTest {

    static java.util.stream.Stream<org.junit.jupiter.api.Named<BackendProvider>> backends() {
        return TestBackends.available();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void backendsLeaveTheJvmItsSignalHandlers(BackendProvider provider) {
        TestBackends.with(provider, backend -> {
            try (Tensor x = backend.allocate("x", 9); Tensor out = backend.allocate("out", 9)) {
                backend.run(new Gelu.Forward(out, x));
                HostTensor.download(backend, out);
            }
        });
        assertEquals(List.of(), JvmSignals.replaced(), provider.name() + ": signals whose handler is not the JVM's");
    }
}
