// dyt.cl: DyT's f and f' for pointwise_norm.cl, which is built after it, both from e = exp(−2|z|) (common.cl's
// exp_fit, as PoCL's tanh builtin runs lane by lane): f = tanh(z) = sign(z)·(1 − e)/(1 + e), within 1.2e-7 absolute,
// and f' = 1 − tanh² in the form 4e/(1 + e)², which keeps its relative accuracy where tanh is near ±1, where
// 1 − tanh² would keep only tanh's absolute error. DyT has no shift: the skeleton reads s from a buffer that holds 0.

floatv norm_f(const floatv z) {
    const floatv e = EXPV(-2.0f * fabs(z));
    return copysign((1.0f - e) / (1.0f + e), z);
}

floatv norm_fprime(const floatv z) {
    const floatv e = EXPV(-2.0f * fabs(z));
    const floatv d = 1.0f + e;
    return 4.0f * e / (d * d);
}
