// derf.cl: Derf's f and f' for pointwise_norm.cl, which is built after it: f = erf, f' = 2/√π·exp(−z²) (exp is
// common.cl's exp_fit).
// On floatv, so that the program runs on float4s where rows allow (VEC = 4).
//
// erf is the cpu backend's rational fit (cpu/Erf.java, from scripts/fit_functions.py; OpenClBackendTest checks
// that these constants are its), within 5.5e-7: xc·P(t)/Q(t), xc = clamp(z, ±ERF_CLAMP), t = xc², degree 5 each,
// every coefficient positive. Only fma and one division: PoCL's erf builtin runs lane by lane and made the Derf
// forward 10× slower than this, and on a GPU it is about the cost of a vendor's erf.

#define ERF_CLAMP 3.919205904006958f
#define ERF_P0 1.128378987312317f
#define ERF_P1 0.1927269697189331f
#define ERF_P2 0.05305623263120651f
#define ERF_P3 0.003866904880851507f
#define ERF_P4 0.00028747724718414247f
#define ERF_P5 2.0354229945951374e-06f
#define ERF_Q1 0.5041314959526062f
#define ERF_Q2 0.11506988108158112f
#define ERF_Q3 0.015169437974691391f
#define ERF_Q4 0.0011878247605636716f
#define ERF_Q5 3.807762550422922e-05f

floatv norm_f(const floatv z) {
    const floatv xc = clamp(z, -ERF_CLAMP, ERF_CLAMP);
    const floatv t = xc * xc;
    const floatv p = fma(fma(fma(fma(fma(ERF_P5, t, ERF_P4), t, ERF_P3), t, ERF_P2), t, ERF_P1), t, ERF_P0);
    const floatv q = fma(fma(fma(fma(fma(ERF_Q5, t, ERF_Q4), t, ERF_Q3), t, ERF_Q2), t, ERF_Q1), t, 1.0f);
    return xc * p / q;
}

floatv norm_fprime(const floatv z) {
    return M_2_SQRTPI_F * EXPV(-z * z);
}
