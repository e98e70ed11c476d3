package org.derf4j.training.distributed;

/** An MPI call failed, or MPI cannot run here; the message names the function and MPI's words for the error. */
public final class MpiException extends IllegalStateException {
    MpiException(String message) {
        super(message);
    }
}
