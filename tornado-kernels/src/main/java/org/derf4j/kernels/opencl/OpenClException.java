package org.derf4j.kernels.opencl;

/**
 * An OpenCL call that returned an error: the message names the function, the status code by its name and
 * number, and what the call was for (an op, a tensor, a program), e.g.
 * {@code clEnqueueNDRangeKernel: CL_OUT_OF_RESOURCES (-5) for Matmul.Forward, kernel gemm_nt}.
 */
public final class OpenClException extends IllegalStateException {
    private final String function;
    private final int status;

    OpenClException(String function, int status, String what) {
        super(function + ": " + OpenCl.errorName(status) + " (" + status + ") for " + what);
        this.function = function;
        this.status = status;
    }

    /** The OpenCL function that failed, e.g. {@code clBuildProgram}. */
    public String function() {
        return function;
    }

    /** The OpenCL status code, e.g. -5. */
    public int status() {
        return status;
    }

    /** The status code's name, e.g. {@code CL_OUT_OF_RESOURCES}. */
    public String statusName() {
        return OpenCl.errorName(status);
    }
}
