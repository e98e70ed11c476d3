package org.derf4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;

/**
 * Every backend and variant built into this installation, for parameterized tests: a new backend is
 * tested by the whole suite the day its provider is registered.
 */
public final class TestBackends {
    private TestBackends() {
    }

    /**
     * System property: the backends to test, comma-separated (e.g. {@code opencl}), instead of all those present;
     * {@code scripts/gpu-report} runs the suite this way on each device backend, and the op suite's runs in JVMs
     * narrowed to other vector widths (tornado-kernels/pom.xml) name {@code cpu}: only the Vector API backend's
     * code depends on the JVM's width.
     */
    public static final String ONLY = "derf4j.test.backends";

    /**
     * The providers whose device is present (and, with {@link #ONLY}, that it names). Others are listed by the tests
     * that need them.
     */
    public static Stream<Named<BackendProvider>> available() {
        List<BackendProvider> all = Backends.providers();
        String only = System.getProperty(ONLY, "");
        List<String> named = only.isBlank() ? List.of() : List.of(only.split(","));
        return all.stream().filter(p -> p.unavailableReason() == null)
                .filter(p -> named.isEmpty() || named.contains(p.name())).map(p -> Named.of(p.name(), p));
    }

    /** Opens the backend, runs the test, and checks that the test closed every tensor it made. */
    public static void with(BackendProvider provider, Consumer<Backend> test) {
        try (Backend backend = provider.open()) {
            test.accept(backend);
            assertEquals(List.of(), backend.liveTensors(), provider.name() + ": tensors left open (a leak)");
        }
    }
}
