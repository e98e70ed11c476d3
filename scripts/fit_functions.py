#!/usr/bin/python3
"""Fits derf4j's float erf, tanh and exp, and prints their constants for Erf.java, Tanh.java and Exp.java
(tornado-kernels/src/main/java/org/derf4j/kernels/cpu/).

erf and tanh share one form, cheap on the Vector API and legal inside a TornadoVM kernel (no exp, no table):

    f(x) ~= xc * P(t) / Q(t),   xc = clamp(x, -CLAMP, CLAMP),   t = xc*xc,   Q(0) = 1,

with CLAMP the smallest float32 whose float64 f rounds to 1.0f: past it f is 1 in float. The form is odd
by construction (x times an even function), so no sign handling is needed. erf takes P of degree 4 and Q of
degree 5, tanh P and Q of degree 4 (the lowest degrees that stay inside 1e-6 once evaluated in float32, with
room to spare: every multiply costs the forward of Derf, which is bound by them).

Fit: minimax of the absolute error on [0, CLAMP], by Lawson's iteratively reweighted least squares on the
linearised problem  x*P(t) - f(x)*Q(t) = 0  divided by the previous Q (Sanathanan-Koerner), against
float64 math.erf / math.tanh. The script then rounds the coefficients to float32 and measures what Java
computes: float32 Horner with fma (the vector form) and with a separate multiply and add (the scalar form,
which Java never fuses), over every float32 in [1/4, CLAMP] and samples below 1/4 (where the error is far
smaller) and past CLAMP (where the result is the constant value at CLAMP).

exp, vector form only (softmax in attention and cross-entropy; erf' = 2/sqrt(pi) * exp(-x^2) in the
backward of Derf), computes scale * e^x for a float scale with no call and no table: with
xc = clamp(x, -X_MAX, X_MAX), n = round(xc / ln 2) and r = xc - n ln 2 in [-ln2/2, ln2/2],

    scale * e^x ~= E(r) * 2^n,   E(r) = sum_k float32(scale * E_k) r^k,   E_0 = 1, degree 6,

E fitted to exp in relative error with E_0 = 1 held (so e^0 = 1 exactly). n is rounded by adding
1.5 * 2^23 (the integer lands in the low mantissa bits, whence 2^n is built by integer adds and a shift),
and r is reduced by two fma with ln 2 split into float hi + lo parts. X_MAX = 88 keeps n within
[-127, 127]: n = -127 builds an exponent field of 0, that is 2^n = 0, so e^x is exactly 0 below
x ~= -87.7 (where it is under the smallest normal float; -inf included), and e^88 ~= 1.7e38 past 88.
Degree 6 is the lowest within ~1 ulp (degree 5: 2 ulps). The script measures exp (scale 1) over every
float32 in +-[1/4, X_MAX] and samples below.

erf in the exp form, vector only (the backward of Derf, which needs erf'(z) = 2/sqrt(pi) * exp(-z^2) anyway,
so one exponential serves both):

    erf(z) ~= sign(z) * (1 - e * R(a)),   a = min(|z|, A_MAX),   e = G(a) ~= exp(-a*a),
    R(a) = sum_k R_k u^k (k = 1..5),   u = 1 / (1 + U_SCALE * a),

e by exp's reduction with its own polynomial G of degree 5 (fitted like E, in relative error; erf and erf'
need an absolute error, not an ulp), reduced by LN2_HI alone, and 2^-n applied by subtracting n from the
exponent field: A_MAX = 9.25 keeps that field normal. R fits erfcx(a) = erfc(a) * exp(a^2), which falls like
u does, in the absolute error of erf, that is weighted by exp(-a^2) (Lawson), on [0, A_MAX], with
sum_k R_k = 1 (R(0) = 1, so erf(+-0) = +-0; R_1 is then nudged in float32 until that holds exactly); U_SCALE
is the float32 whose fit has the smallest error (the form of Abramowitz and Stegun's 7.1.26, refitted). The
script measures erf and erf' = 2/sqrt(pi) * e as Java computes them (float32 with fma) over every float32 in
[1/64, 12] and samples below 1/64 (the error of 1 - e*R is largest at small a, where it cancels).

Reproducible: no randomness; run  /usr/bin/python3 scripts/fit_functions.py  (numpy only, a few minutes).
"""
import math

import numpy as np

GRID = 100_000
ITERATIONS = 300
CHUNK = 1 << 22


def vectorized(f):
    return np.vectorize(f, otypes=[np.float64])


def clamp_point(f):
    """The smallest float32 x with float32(f(x)) == 1."""
    x = np.float32(3.0)
    while np.float32(f(float(x))) != np.float32(1.0):
        x = np.nextafter(x, np.float32(np.inf))
    return x


def extrema(err):
    """Signed extreme of the error on each interval between its sign changes."""
    edges = np.concatenate(([0], np.where(np.diff(np.sign(err)) != 0)[0] + 1, [len(err)]))
    return np.array([err[a + np.argmax(np.abs(err[a:b]))] for a, b in zip(edges[:-1], edges[1:])])


def fit_odd_rational(f, clamp, deg_p, deg_q):
    """x*P(x^2)/Q(x^2), Q(0) = 1, minimax in absolute error on [0, clamp]; returns P, Q, error extrema."""
    x = np.linspace(0.0, float(clamp), GRID + 1)[1:]
    fx = f(x)
    t = x * x
    w = np.full_like(x, 1.0 / len(x))
    qprev = np.ones_like(x)
    for _ in range(ITERATIONS):
        cols = [x * t ** a for a in range(deg_p + 1)] + [-fx * t ** b for b in range(1, deg_q + 1)]
        a = np.stack(cols, axis=1) / qprev[:, None]
        sw = np.sqrt(w)
        sol = np.linalg.lstsq(a * sw[:, None], fx / qprev * sw, rcond=None)[0]
        p, q = sol[:deg_p + 1], np.concatenate(([1.0], sol[deg_p + 1:]))
        qprev = np.polyval(q[::-1], t)
        err = x * np.polyval(p[::-1], t) / qprev - fx
        w = w * np.abs(err)
        w /= w.sum()
    return p, q, extrema(err)


def fma32(a, b, c):
    """float32 fma: the exact product of two float32 fits a float64; one rounding to float64, one to float32."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def horner(coefs, t, fused):
    acc = np.full_like(t, coefs[-1])
    for a in coefs[-2::-1]:
        acc = fma32(acc, t, np.float32(a)) if fused else acc * t + a
    return acc


def odd_rational32(p32, q32, clamp, x, fused):
    xc = np.minimum(np.maximum(x, -clamp), clamp)
    t = xc * xc
    return xc * horner(p32, t, fused) / horner(q32, t, fused)


def every_float(lo, hi):
    """Every float32 in [lo, hi], in chunks."""
    a = int(np.float32(lo).view(np.int32))
    b = int(np.float32(hi).view(np.int32))
    for start in range(a, b + 1, CHUNK):
        yield np.arange(start, min(start + CHUNK, b + 1), dtype=np.int32).view(np.float32)


def check_odd_rational(f, p32, q32, clamp):
    """Max |error| of both float32 forms over every float in [1/4, clamp] and samples around it."""
    chunks = [np.geomspace(1e-38, 0.25, 200_001).astype(np.float32)]
    chunks = [*chunks, *every_float(0.25, clamp), np.linspace(float(clamp), 2 * float(clamp), 100_001)
              .astype(np.float32)]
    forms = {"vector form, fma": True, "scalar form, multiply then add": False}
    worst = {name: (0.0, None) for name in forms}
    largest = {name: 0.0 for name in forms}
    count = 0
    for x in chunks:
        count += len(x)
        ref = f(x.astype(np.float64))
        for name, fused in forms.items():
            got = odd_rational32(p32, q32, clamp, x, fused)
            assert np.array_equal(odd_rational32(p32, q32, clamp, -x, fused), -got), "odd symmetry"
            bad = np.abs(got.astype(np.float64) - ref)
            i = np.argmax(bad)
            if bad[i] > worst[name][0]:
                worst[name] = (bad[i], x[i])
            largest[name] = max(largest[name], float(np.max(got)))
    for name in forms:
        print(f"  float32 evaluation, {name}: max |error| = {worst[name][0]:.3e} at x = {worst[name][1]!r} "
              f"over {count:,} points; largest value returned = {largest[name]:.9f}")
    return max(w for w, _ in worst.values())


def odd_rational(name, f, deg_p, deg_q):
    """Fits, checks and prints the constants of one odd rational function."""
    clamp = clamp_point(f)
    fv = vectorized(f)
    p, q, ext = fit_odd_rational(fv, clamp, deg_p, deg_q)
    print(f"{name}: CLAMP = {clamp!r}, 1 - {name}(CLAMP) = {1 - f(float(clamp)):.3e}")
    print(f"  minimax fit of degrees {deg_p}/{deg_q}, exact arithmetic: max |error| = {np.max(np.abs(ext)):.3e}; "
          f"{len(ext)} alternating extrema (a best approximation needs {deg_p + deg_q + 2}), "
          f"smallest/largest = {np.min(np.abs(ext)) / np.max(np.abs(ext)):.3f}")
    assert (p > 0).all() and (q > 0).all(), "expected positive coefficients: Q >= 1 has no pole, no cancellation"
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    claim = check_odd_rational(fv, p32, q32, clamp)
    print(f"  claimed max |error| over all floats: {claim:.3e}")
    constants = [("CLAMP", clamp)] + [(f"P{i}", a) for i, a in enumerate(p32)]
    return constants + [(f"Q{i}", a) for i, a in enumerate(q32) if i > 0]


DEG_E = 6
X_MAX = np.float32(88.0)
MAGIC = np.float32(1.5 * 2 ** 23)
LN2_HI = np.float32(math.log(2))
LN2_LO = np.float32(math.log(2) - float(LN2_HI))
LOG2E = np.float32(1 / math.log(2))
TWO_OVER_SQRT_PI = np.float32(2 / math.sqrt(math.pi))  # Erf.TWO_OVER_SQRT_PI
SMALLEST_NORMAL = 2.0 ** -126


def fit_exp(degree):
    """E(r) = 1 + sum_k E_k r^k, minimax in relative error to exp on [-ln2/2, ln2/2] (Lawson): the
    residual E(r)/e^r - 1 is linear in E_1..E_degree."""
    r = np.linspace(-math.log(2) / 2, math.log(2) / 2, 20_001)
    f = np.exp(r)
    a = np.stack([r ** k for k in range(1, degree + 1)], axis=1) / f[:, None]
    b = 1 - 1 / f
    w = np.full_like(r, 1.0 / len(r))
    for _ in range(ITERATIONS):
        sw = np.sqrt(w)
        e = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]
        err = a @ e - b
        w = w * np.abs(err)
        w /= w.sum()
    return np.concatenate(([1.0], e)), extrema(err)


def exp32(e32, x, scale=np.float32(1)):
    """scale * e^x as the vector form computes it, in float32 with fma."""
    xc = np.minimum(np.maximum(x, -X_MAX), X_MAX)
    shifted = fma32(xc, LOG2E, MAGIC)
    n = shifted - MAGIC
    r = fma32(n, -LN2_HI, xc)
    r = fma32(n, -LN2_LO, r)
    p = horner(scale * e32, r, True)
    two_n = ((shifted.view(np.int32) - MAGIC.view(np.int32) + 127) << 23).view(np.float32)
    return p * two_n


def check_exp(e32):
    """Max error in ulps of the float32 nearest e^x, and relative, where e^x is a normal float, over every
    float32 in +-[1/4, X_MAX] and samples below 1/4; max |error| where e^x is below that."""
    small = np.geomspace(1e-38, 0.25, 200_001).astype(np.float32)
    worst_ulps = worst_rel = worst_tiny = 0.0
    for x in [small, -small, *every_float(0.25, X_MAX), *(-x for x in every_float(0.25, 90.0))]:
        got = exp32(e32, x).astype(np.float64)
        exact = np.exp(x.astype(np.float64))
        normal = exact >= SMALLEST_NORMAL
        err = np.abs(got - exact)
        ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
        worst_ulps = max(worst_ulps, np.max(err[normal] / ulp[normal]))
        worst_rel = max(worst_rel, np.max(err[normal] / exact[normal]))
        if not normal.all():
            worst_tiny = max(worst_tiny, np.max(err[~normal]))
    special = exp32(e32, np.array([0.0, -0.0, -np.inf, -1000.0, np.inf, 1000.0], dtype=np.float32))
    assert special[0] == 1 and special[1] == 1, "e^0 = 1"
    assert special[2] == 0 and special[3] == 0, "e^-inf = 0"
    assert special[4] == special[5] == exp32(e32, np.array([X_MAX]))[0], "saturates at e^X_MAX"
    return worst_ulps, worst_rel, worst_tiny


def exp():
    e, ext = fit_exp(DEG_E)
    e32 = e.astype(np.float32)
    assert e32[0] == 1
    ulps, rel, tiny = check_exp(e32)
    print(f"exp: polynomial of degree {DEG_E} with E0 = 1, exact arithmetic: max relative error "
          f"{np.max(np.abs(ext)):.3e}, {len(ext)} alternating extrema (a best approximation needs {DEG_E + 1})")
    print(f"  float32 (fma), every float in +-[1/4, {X_MAX}]: max error {ulps:.3f} ulps, relative {rel:.3e}, "
          f"where e^x is a normal float; max |error| {tiny:.3e} below")
    constants = [("X_MAX", X_MAX), ("MAGIC", MAGIC), ("LOG2E", LOG2E), ("LN2_HI", LN2_HI), ("LN2_LO", LN2_LO)]
    return constants + [(f"E{i}", a) for i, a in enumerate(e32)]


DEG_G = 5
DEG_R = 5
A_MAX = np.float32(9.25)


def gaussian32(g32, a):
    """e^(-a*a) as Erf.gaussian computes it, for 0 <= a <= A_MAX: t = a*a, n = round(t / ln 2), r = t - n ln 2
    by one fma with LN2_HI, G(-r) (G's odd coefficients negated), and 2^-n applied by subtracting n from the
    exponent field of G(-r)'s bits. No clamp: A_MAX keeps that field positive."""
    t = a * a
    shifted = fma32(t, LOG2E, MAGIC)
    n = shifted - MAGIC
    r = fma32(n, -LN2_HI, t)
    signs = np.array([(-1) ** k for k in range(len(g32))], dtype=np.float32)
    p = horner(g32 * signs, r, True)
    return (p.view(np.int32) - (shifted.view(np.int32) << 23)).view(np.float32)


def fit_erfcx(scale):
    """R(a) = sum_k R_k u^k, k = 1..DEG_R (R_0 = 0), u = 1/(1 + scale*a), with sum_k R_k = 1 (so R(0) = 1): max
    |exp(-a^2) (R(a) - erfcx(a))| minimal on [0, A_MAX] (Lawson), densely sampled where the weight is not
    negligible (a < 5). R_1 = 1 - sum of the others, so the residual is linear in R_2..R_DEG_R."""
    a = np.concatenate([np.linspace(0.0, 5.0, 40_001), np.linspace(5.0, float(A_MAX), 2_001)[1:]])
    erfcx = np.array([math.erfc(v) * math.exp(v * v) for v in a])
    weight = np.exp(-a * a)
    u = 1 / (1 + float(scale) * a)
    m = np.stack([u ** k - u for k in range(2, DEG_R + 1)], axis=1) * weight[:, None]
    b = (erfcx - u) * weight
    w = np.full_like(a, 1.0 / len(a))
    for _ in range(ITERATIONS):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(m * sw[:, None], b * sw, rcond=None)[0]
        err = m @ c - b
        w = w * np.abs(err)
        w /= w.sum()
    return np.concatenate(([0.0, 1 - c.sum()], c)), extrema(err)


def best_scale():
    """The float32 scale of u = 1/(1 + scale*a) whose fit has the smallest error: a grid, then a finer one."""
    def error(scale):
        return np.max(np.abs(fit_erfcx(scale)[1]))
    grid = np.linspace(0.2, 0.8, 13)
    best = min(grid, key=error)
    fine = np.linspace(best - 0.05, best + 0.05, 21)
    return np.float32(min(fine, key=error))


def minus_r32(r32, scale32, a):
    """-R(a) as Erf.erf computes it: u = 1/(1 + scale*a), Horner on the negated coefficients, times u."""
    u = np.float32(1) / fma32(a, scale32, np.float32(1))
    return horner(-r32[1:], u, True) * u


def erf_exp_form32(r32, scale32, g32, z):
    """erf(z) as Erf.erf(z, a, e) computes it, with a = Erf.magnitude(z) and e = Erf.gaussian(a)."""
    a = np.minimum(np.abs(z), A_MAX)
    y = fma32(gaussian32(g32, a), minus_r32(r32, scale32, a), np.float32(1))
    return np.copysign(y, z)


def exact_at_zero(r32, scale32):
    """R_1 nudged by ulps until the float32 R(0) is exactly 1, so that erf(+-0) = +-0."""
    r32 = r32.copy()
    for _ in range(64):
        minus_r0 = minus_r32(r32, scale32, np.zeros(1, dtype=np.float32))[0]
        if minus_r0 == -1:
            return r32
        r32[1] = np.nextafter(r32[1], np.float32(np.inf if minus_r0 > -1 else -np.inf))
    raise AssertionError("no R_1 makes R(0) = 1 in float32")


def erf_exp_form():
    """Fits G (e^(-r), relative) and R, checks erf's exp form and erf' = 2/sqrt(pi) * e as Java computes them."""
    g, g_ext = fit_exp(DEG_G)
    g32 = g.astype(np.float32)
    assert g32[0] == 1
    shifted = fma32(A_MAX * A_MAX, LOG2E, MAGIC)
    assert 126 - (int(shifted.view(np.int32)) - int(MAGIC.view(np.int32))) >= 1, "e^(-A_MAX^2) stays normal"
    scale32 = best_scale()
    r, ext = fit_erfcx(scale32)
    r32 = exact_at_zero(r.astype(np.float32), scale32)
    worst, at, largest, worst_d, at_d = 0.0, None, 0.0, 0.0, None
    for x in [np.geomspace(1e-38, 1 / 64, 2_000_001).astype(np.float32), *every_float(1 / 64, 12.0)]:
        got = erf_exp_form32(r32, scale32, g32, x)
        assert np.array_equal(erf_exp_form32(r32, scale32, g32, -x), -got), "odd symmetry"
        largest = max(largest, float(np.max(got)))
        x64 = x.astype(np.float64)
        bad = np.abs(got.astype(np.float64) - vectorized(math.erf)(x64))
        i = np.argmax(bad)
        if bad[i] > worst:
            worst, at = bad[i], x[i]
        d = (TWO_OVER_SQRT_PI * gaussian32(g32, np.minimum(x, A_MAX))).astype(np.float64)
        bad_d = np.abs(d - 2 / math.sqrt(math.pi) * np.exp(-x64 * x64))
        i = np.argmax(bad_d)
        if bad_d[i] > worst_d:
            worst_d, at_d = bad_d[i], x[i]
    special = erf_exp_form32(r32, scale32, g32, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32))
    assert special[0] == 0 and not np.signbit(special[0]) and special[1] == 0 and np.signbit(special[1])
    assert special[2] == 1 and special[3] == -1 and np.isnan(special[4])
    assert np.isnan(gaussian32(g32, np.array([np.nan], dtype=np.float32))[0])
    print(f"e^(-a^2): G of degree {DEG_G} with G0 = 1, exact arithmetic: max relative error of e^r "
          f"{np.max(np.abs(g_ext)):.3e}; reduced by LN2_HI alone, 2^-n by the exponent field")
    print(f"  erf' = 2/sqrt(pi) * e^(-a^2) (a float32 product), a = min(|x|, {A_MAX}), every float in [1/64, 12] "
          f"and samples below: "
          f"max |error| = {worst_d:.3e} at x = {at_d!r}")
    print(f"erf, exp form: R = u*P(u), u = 1/(1 + {float(scale32)!r}*a), P of degree {DEG_R - 1}, R(0) = 1, "
          f"exact arithmetic: max |error| of erf {np.max(np.abs(ext)):.3e}, {len(ext)} alternating extrema "
          f"(a best approximation needs {DEG_R})")
    print(f"  float32 (fma), every float in [1/64, 12] and samples below: max |error| = {worst:.3e} at x = {at!r}; "
          f"largest value returned = {largest:.9f}")
    constants = [("A_MAX", A_MAX), ("U_SCALE", scale32)]
    constants += [(f"R{i}", v) for i, v in enumerate(r32) if i > 0]
    return constants + [(f"G{i}", v) for i, v in enumerate(g32) if i > 0]


def print_java(file, constants):
    print(f"\n{file}:\n    // Generated by scripts/fit_functions.py: do not edit by hand.")
    for name, value in constants:
        visibility = "" if name in ("CLAMP", "X_MAX", "A_MAX", "MAGIC", "LOG2E", "LN2_HI") else "private "
        print(f"    {visibility}static final float {name} = {float(value)!r}f;")


def main():
    erf = odd_rational("erf", math.erf, 4, 5)
    tanh = odd_rational("tanh", math.tanh, 4, 4)
    exponential = exp()
    erf += erf_exp_form()
    print_java("Erf.java", erf)
    print_java("Tanh.java", tanh)
    print_java("Exp.java", exponential)


if __name__ == "__main__":
    main()
