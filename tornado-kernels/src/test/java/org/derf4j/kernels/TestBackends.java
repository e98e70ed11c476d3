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

    /** The providers whose device is present. Others are listed by the tests that need them. */
    public static Stream<Named<BackendProvider>> available() {
        List<BackendProvider> all = Backends.providers();
        return all.stream().filter(p -> p.unavailableReason() == null).map(p -> Named.of(p.name(), p));
    }

    /** Opens the backend, runs the test, and checks that the test closed every tensor it made. */
    public static void with(BackendProvider provider, Consumer<Backend> test) {
        try (Backend backend = provider.open()) {
            test.accept(backend);
            assertEquals(List.of(), backend.liveTensors(), provider.name() + ": tensors left open (a leak)");
        }
    }
}
