package org.derf4j.kernels;

/**
 * Finds and opens one kind of backend; registered with {@link java.util.ServiceLoader}, so a backend
 * that is not built (TornadoVM without its Maven profile) is simply absent.
 */
public interface BackendProvider {

    /** The name used on the command line. */
    String name();

    /** Higher is preferred when choosing the best available backend; cpu is 0. */
    int priority();

    /** Why this backend cannot run here (no device, missing driver), or null if it can. */
    String unavailableReason();

    Backend open();
}
