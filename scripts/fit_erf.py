#!/usr/bin/python3
"""Fits derf4j's float erf and prints its constants for tornado-kernels/.../cpu/Erf.java.

The form, chosen to be cheap on the Vector API and legal inside a TornadoVM kernel (no exp, no table):

    erf(x) ~= xc * P(t) / Q(t),   xc = clamp(x, -CLAMP, CLAMP),   t = xc*xc,
    P of degree 5, Q of degree 5 with Q(0) = 1,

with CLAMP the smallest float32 whose float64 erf rounds to 1.0f: past it erf is 1 in float. The
approximation is odd by construction (x * even function), so no sign handling is needed.

Fit: minimax of the absolute error on [0, CLAMP], by Lawson's iteratively reweighted least squares on the
linearised problem  x*P(t) - erf(x)*Q(t) = 0  divided by the previous Q (Sanathanan-Koerner), against
float64 math.erf. The script then rounds the coefficients to float32 and measures what Java computes:
float32 Horner with fma (the vector form) and with a separate multiply and add (the scalar form, which
Java never fuses), over every float32 in [1/4, CLAMP] and samples below 1/4 (where the error is far
smaller) and past CLAMP (where the result is the constant value at CLAMP).

Reproducible: no randomness; run  /usr/bin/python3 scripts/fit_erf.py  (numpy only, a few minutes).
"""
import math

import numpy as np

DEG_P = 5
DEG_Q = 5
GRID = 100_000
ITERATIONS = 300

erf64 = np.vectorize(math.erf, otypes=[np.float64])


def clamp_point():
    """The smallest float32 x with float32(erf(x)) == 1."""
    x = np.float32(3.0)
    while np.float32(math.erf(float(x))) != np.float32(1.0):
        x = np.nextafter(x, np.float32(np.inf))
    return x


def design(x, f, qprev):
    t = x * x
    cols = [x * t ** a for a in range(DEG_P + 1)] + [-f * t ** b for b in range(1, DEG_Q + 1)]
    return np.stack(cols, axis=1) / qprev[:, None]


def rational(p, q, x):
    t = x * x
    return x * np.polyval(p[::-1], t) / np.polyval(q[::-1], t)


def split(sol):
    return sol[:DEG_P + 1], np.concatenate(([1.0], sol[DEG_P + 1:]))


def fit(clamp):
    x = np.linspace(0.0, float(clamp), GRID + 1)[1:]
    f = erf64(x)
    w = np.full_like(x, 1.0 / len(x))
    qprev = np.ones_like(x)
    for _ in range(ITERATIONS):
        sw = np.sqrt(w)
        sol = np.linalg.lstsq(design(x, f, qprev) * sw[:, None], f / qprev * sw, rcond=None)[0]
        p, q = split(sol)
        qprev = np.polyval(q[::-1], x * x)
        err = rational(p, q, x) - f
        w = w * np.abs(err)
        w /= w.sum()
    return p, q, x, err


def extrema(err):
    """Signed extreme of the error on each interval between its sign changes."""
    edges = np.concatenate(([0], np.where(np.diff(np.sign(err)) != 0)[0] + 1, [len(err)]))
    return np.array([err[a + np.argmax(np.abs(err[a:b]))] for a, b in zip(edges[:-1], edges[1:])])


def horner(coefs, t, fused):
    acc = np.full_like(t, coefs[-1])
    for a in coefs[-2::-1]:
        if fused:  # the exact float32 product fits a float64; one rounding to float64, one to float32
            acc = (acc.astype(np.float64) * t + np.float64(a)).astype(np.float32)
        else:
            acc = acc * t + a
    return acc


def erf32(p32, q32, clamp, x, fused):
    xc = np.minimum(np.maximum(x, -clamp), clamp)
    t = xc * xc
    return xc * horner(p32, t, fused) / horner(q32, t, fused)


def sweep_chunks(clamp, chunk=1 << 22):
    """Every float32 in [1/4, CLAMP], a log-spaced sample of (0, 1/4) and a sample of (CLAMP, 10], in chunks."""
    yield np.geomspace(1e-38, 0.25, 200_001).astype(np.float32)
    lo = int(np.float32(0.25).view(np.int32))
    hi = int(clamp.view(np.int32))
    for start in range(lo, hi + 1, chunk):
        yield np.arange(start, min(start + chunk, hi + 1), dtype=np.int32).view(np.float32)
    yield np.linspace(float(clamp), 10.0, 100_001).astype(np.float32)


def main():
    clamp = clamp_point()
    print(f"CLAMP = {clamp!r} (float32 bits 0x{clamp.view(np.int32):08x}), erfc(CLAMP) = {math.erfc(clamp):.3e}")
    p, q, grid, err = fit(clamp)
    ext = extrema(err)
    print(f"minimax fit, exact arithmetic: max |error| = {np.max(np.abs(err)):.3e} on the grid; "
          f"{len(ext)} alternating extrema (a best approximation needs {DEG_P + DEG_Q + 2}), "
          f"smallest/largest = {np.min(np.abs(ext)) / np.max(np.abs(ext)):.3f}")
    assert (p > 0).all() and (q > 0).all(), "expected positive coefficients: Q >= 1 has no pole, no cancellation"

    p32 = p.astype(np.float32)
    q32 = q.astype(np.float32)
    forms = (("vector form, fma", True), ("scalar form, multiply then add", False))
    worst = {name: (0.0, None) for name, _ in forms}
    largest = {name: 0.0 for name, _ in forms}
    count = 0
    for x in sweep_chunks(clamp):
        count += len(x)
        ref = erf64(x.astype(np.float64))
        for name, fused in forms:
            got = erf32(p32, q32, clamp, x, fused)
            assert np.array_equal(erf32(p32, q32, clamp, -x, fused), -got), "odd symmetry"
            bad = np.abs(got.astype(np.float64) - ref)
            i = np.argmax(bad)
            if bad[i] > worst[name][0]:
                worst[name] = (bad[i], x[i])
            largest[name] = max(largest[name], float(np.max(got)))
    for name, _ in forms:
        print(f"float32 evaluation, {name}: max |error| = {worst[name][0]:.3e} at x = {worst[name][1]!r} "
              f"over {count:,} points; largest value returned = {largest[name]:.9f}")
    claim = max(w for w, _ in worst.values())
    print(f"claimed max |error| (every float32 in [1/4, CLAMP], and beyond by symmetry and clamping): {claim:.3e}")

    print("\n    // Generated by scripts/fit_erf.py: do not edit by hand.")
    print(f"    static final float CLAMP = {float(clamp)!r}f;")
    for i, a in enumerate(p32):
        print(f"    private static final float P{i} = {float(a)!r}f;")
    for i, a in enumerate(q32[1:], start=1):
        print(f"    private static final float Q{i} = {float(a)!r}f;")


if __name__ == "__main__":
    main()
