// derf.cl: Derf's f and f' for pointwise_norm.cl, which is built after it: f = erf, f' = 2/√π·exp(−z²).
// On floatv, so that the program runs on float4s where rows allow (VEC = 4).

floatv norm_f(const floatv z) {
    return erf(z);
}

floatv norm_fprime(const floatv z) {
    return M_2_SQRTPI_F * exp(-z * z);
}
