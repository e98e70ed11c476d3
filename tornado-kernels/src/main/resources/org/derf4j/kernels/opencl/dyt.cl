// dyt.cl: DyT's f and f' for pointwise_norm.cl, which is built after it: f = tanh, f' = 1 − tanh² in the form
// 4e/(1+e)², e = exp(−2|z|), which keeps its relative accuracy where tanh is near ±1 (see sech2 in common.cl).
// DyT has no shift: the skeleton reads s from a buffer that holds 0.

floatv norm_f(const floatv z) {
    return tanh(z);
}

floatv norm_fprime(const floatv z) {
    const floatv e = exp(-2.0f * fabs(z));
    const floatv d = 1.0f + e;
    return 4.0f * e / (d * d);
}
