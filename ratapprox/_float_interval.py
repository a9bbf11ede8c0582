r"""Vectorised float64 interval arithmetic with outward rounding (numpy).

An interval is a pair ``(lo, hi)`` of float64 arrays (or scalars) with ``lo <= hi``; it stands for
the set of reals :math:`[lo, hi]`.  Every operation returns an interval that contains the exact
result of the operation applied to any reals in its operands (the *inclusion property*, Moore
1966).

Why one ulp of widening is enough
---------------------------------
IEEE 754 requires ``+, -, *, /`` to be *correctly rounded*: the computed ``fl(a op b)`` is the
floating-point number nearest to the exact ``a op b`` (round to nearest, ties to even, numpy's
default on every platform it supports; numpy's ufuncs do not contract ``a*b + c`` into an FMA).
The exact result therefore lies within half a unit in the last place of ``fl(a op b)``, so
``[nextafter(fl, -inf), nextafter(fl, +inf)]`` contains it -- also across a power of two (the
smaller ulp below is still at least half the larger one), in the subnormal range (the rounding
error there is at most half the smallest subnormal, the step of ``nextafter``), and on overflow
(``+-inf`` then bounds the result).  This is the simplest rigorous alternative to switching the
rounding mode, which numpy cannot do; INTLAB (Rump 1999) uses the rounding mode, at the price of
a processor-state change; the one-ulp widening costs a factor ~2 in width, nothing in rigour.

Sums of many terms (:func:`row_sum`) use error-free TwoSum steps (Knuth 1969; Ogita, Rump &
Oishi 2005): the exact sum is the float sum plus the sum of the exact rounding errors, and only
that second, tiny, sum is bounded a priori, by :math:`\gamma_{n-1} \sum |err_i|`,
:math:`\gamma_k = k u / (1 - k u)`, :math:`u = 2^{-53}` (Higham 2002, sec. 4.2; additions are
exact in the subnormal range, so no underflow term is needed).

Non-finite values: an operation that meets ``inf - inf``, ``0 * inf`` or a divisor interval that
contains 0 returns the whole line ``[-inf, inf]`` (a valid, if useless, enclosure); callers test
for that and subdivide.

References
----------
.. [1] R. E. Moore, *Interval Analysis*, Prentice-Hall, 1966.
.. [2] S. M. Rump, "INTLAB - INTerval LABoratory", in *Developments in Reliable Computing*,
   Kluwer, 1999, pp. 77-104. :doi:`10.1007/978-94-017-1247-7_7`
.. [3] IEEE Std 754-2008, *IEEE Standard for Floating-Point Arithmetic*, sec. 4.3 and 5.4.
.. [4] N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM, 2002,
   sec. 4.2.
.. [5] T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput.
   26(6), 2005. :doi:`10.1137/030601818`; D. E. Knuth, *The Art of Computer Programming*,
   vol. 2, 1969 (TwoSum).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "add", "div", "down", "enclose_fraction", "hull", "intersect", "mag", "mig", "mul",
    "neg", "recip", "row_sum", "scale", "sqr", "sub", "up",
]

_INF = np.inf
_U = 2.0**-53  # unit roundoff of float64

Interval = tuple[np.ndarray, np.ndarray]


def down(x: Any) -> np.ndarray:
    """The next float64 below ``x`` (elementwise); ``-inf`` stays ``-inf``."""
    return np.nextafter(x, -_INF)


def up(x: Any) -> np.ndarray:
    """The next float64 above ``x`` (elementwise); ``+inf`` stays ``+inf``."""
    return np.nextafter(x, _INF)


def _clean(lo: np.ndarray, hi: np.ndarray) -> Interval:
    """Replace any NaN end (from inf - inf, 0 * inf) by the whole line."""
    bad = np.isnan(lo) | np.isnan(hi)
    if np.any(bad):
        lo = np.where(bad, -_INF, lo)
        hi = np.where(bad, _INF, hi)
    return lo, hi


def enclose_fraction(q: Fraction) -> tuple[float, float]:
    """The narrowest float64 interval containing the exact rational ``q``.

    ``float(Fraction)`` is correctly rounded (CPython divides the integers exactly), so the exact
    value lies between it and one of its neighbours; an exactly representable ``q`` gives a point.
    """
    f = float(q)
    if not np.isfinite(f):
        return (-_INF, f) if f > 0 else (f, _INF)
    e = Fraction(f)
    if e == q:
        return f, f
    if e < q:
        return f, float(up(f))
    return float(down(f)), f


def neg(a: Interval) -> Interval:
    """``-a`` (exact)."""
    return -a[1], -a[0]


def add(a: Interval, b: Interval) -> Interval:
    """``a + b``, outward rounded."""
    return _clean(down(a[0] + b[0]), up(a[1] + b[1]))


def sub(a: Interval, b: Interval) -> Interval:
    """``a - b``, outward rounded."""
    return _clean(down(a[0] - b[1]), up(a[1] - b[0]))


def mul(a: Interval, b: Interval) -> Interval:
    """``a * b``, outward rounded (the hull of the four end products)."""
    with np.errstate(invalid="ignore", over="ignore"):
        p1, p2, p3, p4 = a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]
        lo = np.minimum(np.minimum(p1, p2), np.minimum(p3, p4))
        hi = np.maximum(np.maximum(p1, p2), np.maximum(p3, p4))
    return _clean(down(lo), up(hi))


def scale(c: Any, a: Interval) -> Interval:
    """``c * a`` for a float64 (array) ``c`` taken as exact, outward rounded."""
    with np.errstate(invalid="ignore", over="ignore"):
        p, q = c * a[0], c * a[1]
    return _clean(down(np.minimum(p, q)), up(np.maximum(p, q)))


def sqr(a: Interval) -> Interval:
    """``a**2`` (tighter than ``mul(a, a)``: the dependency is exploited)."""
    lo, hi = a
    with np.errstate(invalid="ignore", over="ignore"):
        l2, h2 = lo * lo, hi * hi
    straddle = (lo < 0) & (hi > 0)
    mn = np.where(straddle, 0.0, np.minimum(l2, h2))
    mx = np.maximum(l2, h2)
    return _clean(np.where(mn == 0.0, 0.0, down(mn)), up(mx))


def recip(a: Interval) -> Interval:
    """``1 / a``; the whole line when ``a`` contains 0."""
    lo, hi = a
    zero = (lo <= 0) & (hi >= 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rlo, rhi = down(1.0 / hi), up(1.0 / lo)
    return _clean(np.where(zero, -_INF, rlo), np.where(zero, _INF, rhi))


def div(a: Interval, b: Interval) -> Interval:
    """``a / b``; the whole line when ``b`` contains 0."""
    blo, bhi = b
    zero = (blo <= 0) & (bhi >= 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q1, q2, q3, q4 = a[0] / blo, a[0] / bhi, a[1] / blo, a[1] / bhi
        lo = np.minimum(np.minimum(q1, q2), np.minimum(q3, q4))
        hi = np.maximum(np.maximum(q1, q2), np.maximum(q3, q4))
    lo, hi = _clean(down(lo), up(hi))
    return np.where(zero, -_INF, lo), np.where(zero, _INF, hi)


def _two_sum_total(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum the last axis by Knuth's TwoSum: ``(s, e_hat, bound)`` with the exact sum in
    ``s + e_hat +- bound``.

    TwoSum (Knuth 1969; Ogita, Rump & Oishi 2005, Alg. 3.1) returns ``s = fl(a + b)`` and the
    exact rounding error ``a + b - s`` in round-to-nearest binary arithmetic (absent overflow),
    so the exact sum is ``s_N + sum_i err_i``.  The errors are summed in float64; by Higham
    (2002, sec. 4.2) that sum is within :math:`\\gamma_{n-1} \\sum |err_i| \\le 2 n u
    \\widehat{\\sum} |err_i|` (for :math:`n u \\le 1/4`) of the exact one (Ogita et al.'s Sum2).
    """
    n = x.shape[-1]
    s = np.zeros(x.shape[:-1])
    err = np.zeros(x.shape[:-1])
    aerr = np.zeros(x.shape[:-1])
    for k in range(n):
        b = x[..., k]
        t = s + b
        bb = t - s
        ek = (s - (t - bb)) + (b - bb)
        s = t
        err = err + ek
        aerr = aerr + np.abs(ek)
    return s, err, up(up(aerr) * (2.0 * n * _U))


def row_sum(a: Interval) -> Interval:
    r"""Sum along the last axis, enclosed to about one ulp of the terms' magnitudes.

    The lower ends are summed by :func:`_two_sum_total` (error-free TwoSum steps, Ogita, Rump &
    Oishi 2005) to ``s + e`` with an a-priori bound on the float summation of the errors
    ``e_i``; the result is ``down(down(s + e) - bound)``; likewise upwards.  A NaN or infinite
    term makes the sum the whole line.  Compared with the plain a-priori bound
    :math:`\gamma_{n-1} \sum |x_i|` (Higham 2002, sec. 4.2) this removes a factor ~``n`` from
    the width, which matters when the terms cancel to a tiny error.
    """
    lo, hi = a
    if lo.shape[-1] * _U > 0.25:
        raise ValueError("too many terms for the a-priori summation bound")
    with np.errstate(invalid="ignore", over="ignore"):
        s, e, bnd = _two_sum_total(lo)
        out_lo = down(down(s + e) - bnd)
        s, e, bnd = _two_sum_total(hi)
        out_hi = up(up(s + e) + bnd)
        bad = ~(np.all(np.isfinite(lo), axis=-1) & np.all(np.isfinite(hi), axis=-1))
    out_lo, out_hi = _clean(out_lo, out_hi)
    if np.any(bad):
        out_lo = np.where(bad, -_INF, out_lo)
        out_hi = np.where(bad, _INF, out_hi)
    return out_lo, out_hi


def hull(a: Interval, b: Interval) -> Interval:
    """The smallest interval containing both."""
    return np.minimum(a[0], b[0]), np.maximum(a[1], b[1])


def intersect(a: Interval, b: Interval) -> Interval:
    """``a ∩ b`` for two enclosures of the same quantity (never empty for true enclosures;
    should rounding ever make it so, the hull is returned: the safe choice)."""
    lo, hi = np.maximum(a[0], b[0]), np.minimum(a[1], b[1])
    empty = lo > hi
    if np.any(empty):
        h = hull(a, b)
        lo, hi = np.where(empty, h[0], lo), np.where(empty, h[1], hi)
    return lo, hi


def mag(a: Interval) -> np.ndarray:
    """``max |x|`` over the interval (an upper bound of ``|x|``)."""
    return np.maximum(np.abs(a[0]), np.abs(a[1]))


def mig(a: Interval) -> np.ndarray:
    """``min |x|`` over the interval (0 when it contains 0): a lower bound of ``|x|``."""
    lo, hi = a
    return np.where(lo > 0, lo, np.where(hi < 0, -hi, 0.0))
