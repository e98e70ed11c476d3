// broken.cl: a kernel that does not compile, for OpenClBackendTest: the build error must carry the log.
__kernel void broken_kernel(__global float *out) {
    out[0] = undeclared_variable;
}
