#!/usr/bin/python3
"""Fits derf4j's float erf, erf' and tanh, and prints their constants for Erf.java and Tanh.java
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

erf'(x) = 2/sqrt(pi) * exp(-x^2), for the vector form only (the backward of Derf), also without a call:
with t = min(x^2, T_MAX), n = round(-t / ln 2) and r = -t - n ln 2 in [-ln2/2, ln2/2],

    erf'(x) ~= D(r) * 2^n,   D of degree 5 fitted to 2/sqrt(pi) * exp(r) in relative error,

where n is rounded by adding 1.5 * 2^23 (the integer lands in the low mantissa bits, whence 2^n is built
by integer adds and a shift), and r is reduced by two fma with ln 2 split into float hi + lo parts.
T_MAX = 80 keeps 2^n a normal float; exp(-80) ~ 2e-35 is zero to a gradient.

Reproducible: no randomness; run  /usr/bin/python3 scripts/fit_erf.py  (numpy only, a few minutes).
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


DEG_D = 5
T_MAX = np.float32(80.0)
MAGIC = np.float32(1.5 * 2 ** 23)
LN2_HI = np.float32(math.log(2))
LN2_LO = np.float32(math.log(2) - float(LN2_HI))
LOG2E = np.float32(1 / math.log(2))
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def fit_exp():
    """Minimax relative error of a degree-DEG_D polynomial to exp on [-ln2/2, ln2/2] (Lawson)."""
    r = np.linspace(-math.log(2) / 2, math.log(2) / 2, 20_001)
    f = np.exp(r)
    a = np.stack([r ** k for k in range(DEG_D + 1)], axis=1) / f[:, None]
    w = np.full_like(r, 1.0 / len(r))
    for _ in range(ITERATIONS):
        sw = np.sqrt(w)
        d = np.linalg.lstsq(a * sw[:, None], sw, rcond=None)[0]
        err = a @ d - 1
        w = w * np.abs(err)
        w /= w.sum()
    return d, extrema(err)


def derivative32(d32, x):
    """erf'(x) as the vector form computes it, in float32 with fma."""
    t = x * x
    t = np.where(t > T_MAX, T_MAX, t)
    shifted = fma32(t, -LOG2E, MAGIC)
    n = shifted - MAGIC
    r = fma32(n, -LN2_HI, -t)
    r = fma32(n, -LN2_LO, r)
    p = horner(d32, r, True)
    scale = ((shifted.view(np.int32) - MAGIC.view(np.int32) + 127) << 23).view(np.float32)
    return p * scale


def check_derivative(d32):
    """Max relative error against 2/sqrt(pi)*exp(-t) for the float32 t = x*x (the squaring's own rounding,
    up to 80 * 2^-24 relative here, is the same in any float32 code), over every float32 in
    [1/4, sqrt(T_MAX)] and samples below and past it; and max absolute error against the exact erf'(x)."""
    chunks = [np.geomspace(1e-38, 0.25, 200_001).astype(np.float32),
              np.linspace(math.sqrt(T_MAX), 12.0, 100_001).astype(np.float32)]
    worst_rel = worst_abs = 0.0
    for x in [*chunks, *every_float(0.25, math.sqrt(T_MAX))]:
        got = derivative32(d32, x).astype(np.float64)
        assert np.array_equal(derivative32(d32, -x), got.astype(np.float32)), "even symmetry"
        t = (x * x).astype(np.float64)
        normal = t <= T_MAX
        of_t = TWO_OVER_SQRT_PI * np.exp(-t)
        exact = TWO_OVER_SQRT_PI * np.exp(-(x.astype(np.float64) ** 2))
        if normal.any():
            worst_rel = max(worst_rel, np.max(np.abs(got - of_t)[normal] / of_t[normal]))
        worst_abs = max(worst_abs, np.max(np.abs(got - exact)))
    return worst_rel, worst_abs


def derivative():
    d, ext = fit_exp()
    d32 = (d * TWO_OVER_SQRT_PI).astype(np.float32)
    rel, absolute = check_derivative(d32)
    print(f"erf': exp polynomial of degree {DEG_D}, exact arithmetic: max relative error {np.max(np.abs(ext)):.3e}, "
          f"{len(ext)} alternating extrema (a best approximation needs {DEG_D + 2})")
    print(f"  float32 (fma), every float in [1/4, sqrt(T_MAX)]: max relative error {rel:.3e} given t = x*x "
          f"(x^2 <= T_MAX); max |error| {absolute:.3e}")
    constants = [("T_MAX", T_MAX), ("MAGIC", MAGIC), ("LOG2E", LOG2E), ("LN2_HI", LN2_HI), ("LN2_LO", LN2_LO)]
    return constants + [(f"D{i}", a) for i, a in enumerate(d32)]


def print_java(file, constants):
    print(f"\n{file}:\n    // Generated by scripts/fit_erf.py: do not edit by hand.")
    for name, value in constants:
        visibility = "" if name == "CLAMP" else "private "
        print(f"    {visibility}static final float {name} = {float(value)!r}f;")


def main():
    erf = odd_rational("erf", math.erf, 5, 5)
    erf_prime = derivative()
    tanh = odd_rational("tanh", math.tanh, 4, 4)
    print_java("Erf.java", erf + erf_prime)
    print_java("Tanh.java", tanh)


if __name__ == "__main__":
    main()
