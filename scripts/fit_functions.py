#!/usr/bin/python3
"""Fits derf4j's float erf, tanh and exp, and prints their constants for Erf.java, Tanh.java and Exp.java
(tornado-kernels/src/main/java/org/derf4j/kernels/cpu/).

erf and tanh share one form, cheap on the Vector API and legal inside a TornadoVM kernel (no exp, no table):

    f(x) ~= xc * P(t) / Q(t),   xc = clamp(x, -CLAMP, CLAMP),   t = xc*xc,   Q(0) = 1,

with CLAMP the smallest float32 whose float64 f rounds to 1.0f: past it f is 1 in float. The form is odd
by construction (x times an even function), so no sign handling is needed. erf takes P, Q of degree 5,
tanh of degree 4 (the lowest degrees that stay well inside 1e-6 once evaluated in float32).

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
float32 in +-[1/4, X_MAX] and samples below, and erf' (scale 2/sqrt(pi), x -> -x*x) over every float32
in [1/4, 10] and samples below, as Java computes them (float32 with fma).

erf in the exp form, vector only (the backward of Derf, which needs erf'(z) = 2/sqrt(pi) * exp(-z^2) anyway,
so one exp serves both):

    erf(z) ~= sign(z) * (1 - e * R(a)),   a = min(|z|, A_MAX),   e = exp(-a*a) (the exp above, at t = a*a),

R a polynomial of degree 10 with R(0) = 1 held (so erf(+-0) = +-0 exactly), fitted to erfcx(a) =
erfc(a) * exp(a^2) in the absolute error of erf, that is weighted by exp(-a^2) (Lawson), on [0, A_MAX].
A_MAX = 9.375 is the one clamp: A_MAX^2 < X_MAX, so the exp needs none of its own, and past it erf' is below
the normal floats. Over [CLAMP, A_MAX] the weight is so small that R only has to stay below e^(a^2) times
the error, which the fit on that wider range gives for free. No division. The script measures what Java
computes (float32 with fma, e from the exp above) over every float32 in [1/4, 12] and samples below 1/4.

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


def fit_exp():
    """E(r) = 1 + sum_k E_k r^k, minimax in relative error to exp on [-ln2/2, ln2/2] (Lawson): the
    residual E(r)/e^r - 1 is linear in E_1..E_DEG_E."""
    r = np.linspace(-math.log(2) / 2, math.log(2) / 2, 20_001)
    f = np.exp(r)
    a = np.stack([r ** k for k in range(1, DEG_E + 1)], axis=1) / f[:, None]
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


def check_derivative(e32):
    """erf'(x) = 2/sqrt(pi) * exp(-x*x): max relative error against 2/sqrt(pi)*exp(-t) for the float32
    t = x*x (the squaring's own rounding, up to 88 * 2^-24 relative here, is the same in any float32
    code) where that is a normal float, over every float32 in [1/4, 10] and samples below; and max
    absolute error against the exact erf'(x)."""
    worst_rel = worst_abs = 0.0
    for x in [np.geomspace(1e-38, 0.25, 200_001).astype(np.float32), *every_float(0.25, 10.0)]:
        t = x * x
        got = exp32(e32, -t, TWO_OVER_SQRT_PI).astype(np.float64)
        of_t = 2 / math.sqrt(math.pi) * np.exp(-t.astype(np.float64))
        exact = 2 / math.sqrt(math.pi) * np.exp(-(x.astype(np.float64) ** 2))
        normal = of_t >= SMALLEST_NORMAL
        worst_rel = max(worst_rel, np.max(np.abs(got - of_t)[normal] / of_t[normal]))
        worst_abs = max(worst_abs, np.max(np.abs(got - exact)))
    return worst_rel, worst_abs


def exp():
    e, ext = fit_exp()
    e32 = e.astype(np.float32)
    assert e32[0] == 1
    ulps, rel, tiny = check_exp(e32)
    print(f"exp: polynomial of degree {DEG_E} with E0 = 1, exact arithmetic: max relative error "
          f"{np.max(np.abs(ext)):.3e}, {len(ext)} alternating extrema (a best approximation needs {DEG_E + 1})")
    print(f"  float32 (fma), every float in +-[1/4, {X_MAX}]: max error {ulps:.3f} ulps, relative {rel:.3e}, "
          f"where e^x is a normal float; max |error| {tiny:.3e} below")
    d_rel, d_abs = check_derivative(e32)
    print(f"erf' = 2/sqrt(pi) * exp(-x*x), every float in [1/4, 10]: max relative error {d_rel:.3e} given t = x*x; "
          f"max |error| {d_abs:.3e}")
    constants = [("X_MAX", X_MAX), ("MAGIC", MAGIC), ("LOG2E", LOG2E), ("LN2_HI", LN2_HI), ("LN2_LO", LN2_LO)]
    return constants + [(f"E{i}", a) for i, a in enumerate(e32)]


DEG_R = 10


A_MAX = np.float32(9.375)


def expneg32(e32, t, scale=np.float32(1)):
    """scale * e^-t for 0 <= t <= X_MAX as Exp.negatedBelowXMax computes it: n = round(t / ln 2),
    r = t - n ln 2, and E(-r) * 2^-n with E's odd coefficients negated (the same bits as exp32 at -t)."""
    tc = t
    shifted = fma32(tc, LOG2E, MAGIC)
    n = shifted - MAGIC
    r = fma32(n, -LN2_HI, tc)
    r = fma32(n, -LN2_LO, r)
    signs = np.array([(-1) ** k for k in range(len(e32))], dtype=np.float32)
    p = horner((scale * e32) * signs, r, True)
    two_minus_n = ((np.int32(127) + MAGIC.view(np.int32) - shifted.view(np.int32)) << 23).view(np.float32)
    return p * two_minus_n


def fit_erfcx():
    """R(a) = 1 + sum_k R_k a^k: max |exp(-a^2) (R(a) - erfcx(a))| minimal on [0, A_MAX] (Lawson), densely
    sampled where the weight is not negligible (a < 5)."""
    a = np.concatenate([np.linspace(0.0, 5.0, 40_001), np.linspace(5.0, float(A_MAX), 2_001)[1:]])
    erfcx = np.array([math.erfc(v) * math.exp(v * v) for v in a])
    weight = np.exp(-a * a)
    m = np.stack([a ** k for k in range(1, DEG_R + 1)], axis=1) * weight[:, None]
    b = (erfcx - 1) * weight
    w = np.full_like(a, 1.0 / len(a))
    for _ in range(ITERATIONS):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(m * sw[:, None], b * sw, rcond=None)[0]
        err = m @ c - b
        w = w * np.abs(err)
        w /= w.sum()
    return np.concatenate(([1.0], c)), extrema(err)


def erf_exp_form32(r32, e32, z):
    """erf(z) as Erf.erf(z, a, e) computes it, with a = Erf.magnitude(z) and e = Exp.negatedBelowXMax(a*a):
    float32 with fma."""
    a = np.minimum(np.abs(z), A_MAX)
    e = expneg32(e32, a * a)
    y = fma32(e, horner(-r32, a, True), np.float32(1))
    return np.copysign(y, z)


def erf_exp_form(e32):
    assert A_MAX * A_MAX <= X_MAX, "the exp takes a*a unclamped"
    r, ext = fit_erfcx()
    r32 = r.astype(np.float32)
    assert r32[0] == 1
    worst, at, largest = 0.0, None, 0.0
    for x in [np.geomspace(1e-38, 0.25, 200_001).astype(np.float32), *every_float(0.25, 12.0)]:
        got = erf_exp_form32(r32, e32, x)
        assert np.array_equal(erf_exp_form32(r32, e32, -x), -got), "odd symmetry"
        largest = max(largest, float(np.max(got)))
        bad = np.abs(got.astype(np.float64) - vectorized(math.erf)(x.astype(np.float64)))
        i = np.argmax(bad)
        if bad[i] > worst:
            worst, at = bad[i], x[i]
    special = erf_exp_form32(r32, e32, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32))
    assert special[0] == 0 and not np.signbit(special[0]) and special[1] == 0 and np.signbit(special[1])
    assert special[2] == 1 and special[3] == -1 and np.isnan(special[4])
    print(f"erf, exp form: R of degree {DEG_R} with R0 = 1, exact arithmetic: max |error| of erf "
          f"{np.max(np.abs(ext)):.3e}, {len(ext)} alternating extrema (a best approximation needs {DEG_R + 1})")
    print(f"  float32 (fma), with the exp above, every float in [1/4, 12] and samples below: max |error| = "
          f"{worst:.3e} at x = {at!r}; largest value returned = {largest:.9f}")
    return [("A_MAX", A_MAX)] + [(f"R{i}", a) for i, a in enumerate(r32) if i > 0]


def print_java(file, constants):
    print(f"\n{file}:\n    // Generated by scripts/fit_functions.py: do not edit by hand.")
    for name, value in constants:
        visibility = "" if name in ("CLAMP", "X_MAX", "A_MAX") else "private "
        print(f"    {visibility}static final float {name} = {float(value)!r}f;")


def main():
    erf = odd_rational("erf", math.erf, 5, 5)
    tanh = odd_rational("tanh", math.tanh, 4, 4)
    exponential = exp()
    e32 = np.array([v for name, v in exponential if name.startswith("E")], dtype=np.float32)
    erf += erf_exp_form(e32)
    print_java("Erf.java", erf)
    print_java("Tanh.java", tanh)
    print_java("Exp.java", exponential)


if __name__ == "__main__":
    main()
