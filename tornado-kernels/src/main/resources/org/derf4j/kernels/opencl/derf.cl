// derf.cl: Derf's f and f' for pointwise_norm.cl, which is built after it: f = erf, f' = 2/√π·exp(−z²) (exp is
// common.cl's exp_fit).
// On floatv, so that the program runs on float4s where rows allow (VEC = 4).
//
// erf is the cpu backend's rational fit (cpu/Erf.java, from scripts/fit_functions.py; OpenClBackendTest checks
// that these constants are its), within 6.1e-7: xc·P(t)/Q(t), xc = clamp(z, ±ERF_CLAMP), t = xc², degrees 4 and
// 5, every coefficient positive. Only fma and one division: PoCL's erf builtin runs lane by lane and made the Derf
// forward 10× slower than this, and on a GPU it is about the cost of a vendor's erf.

#define ERF_CLAMP 3.919205904006958f
#define ERF_P0 1.1283769607543945f
#define ERF_P1 0.3377973735332489f
#define ERF_P2 0.07081612199544907f
#define ERF_P3 0.0096635352820158f
#define ERF_P4 0.00034544712980277836f
#define ERF_Q1 0.6326740980148315f
#define ERF_Q2 0.1737380176782608f
#define ERF_Q3 0.02687629871070385f
#define ERF_Q4 0.0024556044954806566f
#define ERF_Q5 1.9948440240113996e-05f

floatv norm_f(const floatv z) {
    const floatv xc = clamp(z, -ERF_CLAMP, ERF_CLAMP);
    const floatv t = xc * xc;
    const floatv p = fma(fma(fma(fma(ERF_P4, t, ERF_P3), t, ERF_P2), t, ERF_P1), t, ERF_P0);
    const floatv q = fma(fma(fma(fma(fma(ERF_Q5, t, ERF_Q4), t, ERF_Q3), t, ERF_Q2), t, ERF_Q1), t, 1.0f);
    return xc * p / q;
}

floatv norm_fprime(const floatv z) {
    return M_2_SQRTPI_F * EXPV(-z * z);
}
