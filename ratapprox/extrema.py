"""Local extrema of an error curve :math:`e(x) = w(x)\\,(f(x) - r(x))` on a ``Domain``.

The Remez exchange (Remez 1934) needs, at every step, the local extrema of the current error curve:
their abscissae become the next reference and the largest :math:`|e|` decides convergence.  This
module finds them in two arithmetics:

* :func:`local_extrema_mp` -- mpmath at the current precision, for the arbitrary-precision engine;
* :func:`local_extrema_float` -- vectorised float64, for the float64 engine and for quick looks.

Method (both arithmetics)
-------------------------
1. **Bracket.**  On a continuous domain every interval is cut at its endpoints, at the target's
   ``breakpoints`` (kinks, where the error may peak without a zero derivative) and at the points of
   the current reference (where the previous error peaked, so that the new peaks are nearby).  Each
   piece is sampled at ``per_gap`` interior points.  A sample value that is at least as large in
   :math:`|e|` as both neighbours brackets a local extremum.
2. **Refine.**  Each interior bracket ``[x_{i-1}, x_{i+1}]`` is searched by Brent's method
   (golden section with parabolic steps; Brent 1973, ch. 5) for the maximum of :math:`s\\,e(x)`,
   :math:`s = \\operatorname{sign} e(x_i)`.  Interval endpoints and breakpoints are kept as they are.
3. **Discrete domains** (grids, point sets) are evaluated point by point; the discrete local maxima
   of :math:`|e|` are the extrema, nothing is refined.

A sample maximum is an *estimate*: an extremum narrower than the sample spacing can be missed.
Certified upper bounds are the business of :mod:`ratapprox.certify` (interval arithmetic).

Possible issues
---------------
* Brent's method assumes one maximum per bracket; a bracket holding two extrema of the same sign
  returns one of them (the exchange still converges, the reference just moves less per step).
* Near a kink the parabolic steps fail and the search falls back to golden section: slower, correct.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from .domains import Domain

__all__ = ["alternating_subset", "brent_max_mp", "local_extrema_float", "local_extrema_mp"]

_GOLD = (3 - 5**0.5) / 2  # golden-section fraction 0.381966...


def brent_max_mp(g: Callable[[Any], Any], a: Any, b: Any, x0: Any, g0: Any, xtol: Any,
                 max_eval: int = 200) -> tuple[Any, Any]:
    """Maximise ``g`` on ``[a, b]`` by Brent's method (1973, ch. 5), starting from ``x0``.

    ``g0 = g(x0)``.  Returns ``(x, g(x))`` with the largest value seen (never worse than ``g0``).
    The arithmetic is whatever ``a, b, x0`` carry (mpf at the current precision).
    """
    gold = mpmath.mpf(_GOLD)
    x = w = v = x0
    fx = fw = fv = -g0  # Brent minimises; we maximise g
    d = e = mpmath.mpf(0)
    for _ in range(max_eval):
        m = (a + b) / 2
        tol1 = xtol * (1 + abs(x))
        tol2 = 2 * tol1
        if abs(x - m) <= tol2 - (b - a) / 2:
            break
        use_golden = True
        if abs(e) > tol1:
            # Parabola through (v, fv), (w, fw), (x, fx).
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            etemp = e
            e = d
            if abs(p) < abs(q * etemp / 2) and q * (a - x) < p < q * (b - x):
                d = p / q
                u = x + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if m >= x else -tol1
                use_golden = False
        if use_golden:
            e = (a - x) if x >= m else (b - x)
            d = gold * e
        u = x + d if abs(d) >= tol1 else x + (tol1 if d > 0 else -tol1)
        fu = -g(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x, -fx


def _cut_points(lo: Any, hi: Any, extra: Sequence[Any]) -> list[Any]:
    """Sorted distinct points of ``[lo, hi]``: the ends plus the ``extra`` points strictly inside."""
    pts = [lo, *sorted(p for p in extra if lo < p < hi), hi]
    out = [pts[0]]
    for p in pts[1:]:
        if p > out[-1]:
            out.append(p)
    return out


def _discrete_peaks(vals: Sequence[Any]) -> list[int]:
    """Indices of signed local extrema: ``s v_i >= s v_j`` for both neighbours, ``s = sign v_i``.

    A neighbour of the opposite sign never disqualifies a point (the curve crossed zero in
    between), which matters on grids with an excluded gap, where list neighbours can be far
    apart.  Ends compare with their one neighbour; of a plateau of equal values the first is kept.
    """
    n = len(vals)
    out = []
    for i in range(n):
        v = vals[i]
        if v == 0:
            continue
        s = 1 if v > 0 else -1
        left = s * vals[i - 1] if i > 0 else None
        right = s * vals[i + 1] if i < n - 1 else None
        if (left is None or s * v >= left) and (right is None or s * v >= right):
            if out and out[-1] == i - 1 and vals[i] == vals[i - 1]:
                continue
            out.append(i)
    return out


def local_extrema_mp(err: Callable[[Any], Any], domain: Domain, *, reference: Sequence[Any] = (),
                     breakpoints: Sequence[Any] = (), per_gap: int = 10, refine: bool = True,
                     xtol: Any = None, prefilter: Callable[[np.ndarray], np.ndarray] | None = None,
                     min_points: int = 64, cluster: int = 4) -> list[tuple[Any, Any]]:
    """Local extrema ``(x, e(x))`` of the error curve, ascending in ``x``, at the current mp precision.

    Parameters
    ----------
    err : callable
        ``mpf -> mpf``, the (weighted) error :math:`e(x) = w(x)(f(x) - r(x))`.
    domain : Domain
        Continuous (intervals) or discrete (grid / points).
    reference : sequence of mpf
        Current reference; the domain is cut there, so that every gap is sampled.
    breakpoints : sequence of mpf
        Points where ``e`` may peak at a kink (kept as candidates, never refined past).
    per_gap : int
        Sample points inside each piece between two cut points.
    refine : bool
        Refine interior peaks by Brent's method.
    xtol : mpf, optional
        Relative abscissa tolerance of the refinement (default ``sqrt(eps)``: |e| is flat to
        second order at a smooth extremum, so this gives |e| to full precision).
    min_points : int
        Chebyshev points per interval added to the sample whatever the reference (0: none).
    cluster : int
        Points per decade of a geometric layer at every breakpoint and interval end, down to a
        relative distance of ``10**-max(6, dps/2)`` (0: none).
    prefilter : callable, optional
        Discrete domains only: a float64 version of ``err``; the grid is scanned with it and only
        its peaks (with their neighbours) are evaluated in mp.
    """
    if domain.is_discrete:
        xs = domain.points_mp()
        if prefilter is not None:
            # Cheap float64 pass over the whole grid, mp only at its peaks and their neighbours
            # (valid when the error is far above double rounding; the caller decides).
            ef = prefilter(np.array([float(x) for x in xs]))
            idx = sorted({j for i in _discrete_peaks(list(ef)) for j in (i - 1, i, i + 1)
                          if 0 <= j < len(xs)})
            sub = [xs[j] for j in idx]
            es = [err(x) for x in sub]
            return [(sub[i], es[i]) for i in _discrete_peaks(es)]
        es = [err(x) for x in xs]
        return [(xs[i], es[i]) for i in _discrete_peaks(es)]
    if xtol is None:
        xtol = mpmath.sqrt(mpmath.eps) * 4
    bps = [mpmath.mpf(b) for b in breakpoints]
    ref = [mpmath.mpf(r) for r in reference]
    out: list[tuple[Any, Any]] = []
    for lo, hi in domain.intervals_mp():
        cuts = _cut_points(lo, hi, ref + bps)
        fixed = {lo, hi, *[b for b in bps if lo <= b <= hi]}
        xs: list[Any] = []
        for c0, c1 in itertools.pairwise(cuts):
            xs.append(c0)
            step = (c1 - c0) / (per_gap + 1)
            xs.extend(c0 + k * step for k in range(1, per_gap + 1))
        xs.append(cuts[-1])
        if min_points:
            # A base layer of Chebyshev points, so that a short (or absent) reference still
            # gives a sample fine enough to see every oscillation of a smooth curve.
            k = min_points
            xs.extend(lo + (hi - lo) * (1 - mpmath.cos(mpmath.pi * j / (k - 1))) / 2
                      for j in range(1, k - 1))
            xs = sorted(set(xs))
        if cluster:
            # Geometric layers at the breakpoints and the interval ends: the error of a best
            # approximation oscillates on exponentially shrinking scales there (|x| at a kink,
            # sign at the gap edge delta), finer than the reference's gaps once the reference
            # has lost a point -- which the uniform samples between cut points would then miss.
            depth = max(6, int(mpmath.mp.dps) // 2)
            rel = [mpmath.mpf(10) ** (-j / mpmath.mpf(cluster)) for j in range(1, cluster * depth + 1)]
            L = hi - lo
            extra = []
            for c in fixed:
                extra.extend(v for d in rel for v in (c - L * d, c + L * d) if lo < v < hi)
            xs = sorted(set(xs) | set(extra))
        es = [err(x) for x in xs]
        for i in _discrete_peaks(es):
            x, e = xs[i], es[i]
            if refine and x not in fixed and 0 < i < len(xs) - 1 and e != 0:
                s = 1 if e > 0 else -1
                xr, ge = brent_max_mp(lambda t, s=s: s * err(t), xs[i - 1], xs[i + 1], x, s * e, xtol)
                if ge > s * e:
                    x, e = xr, s * ge
            out.append((x, e))
    out.sort(key=lambda p: p[0])
    # Refinements of neighbouring brackets can land on the same point.
    dedup: list[tuple[Any, Any]] = []
    for p in out:
        if dedup and p[0] == dedup[-1][0]:
            continue
        dedup.append(p)
    return dedup


def local_extrema_float(err: Callable[[np.ndarray], np.ndarray], domain: Domain, *,
                        reference: Sequence[float] = (), breakpoints: Sequence[float] = (),
                        per_gap: int = 20, n_sample: int = 2000, golden_steps: int = 40
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Local extrema of a vectorised float64 error curve; returns ``(x, e)`` arrays, ascending.

    The sample is the union of ``domain.sample(n_sample)`` (Chebyshev points per interval), the
    breakpoints and ``per_gap`` points in every gap of the reference.  Interior peaks are refined
    by ``golden_steps`` vectorised golden-section steps on their brackets.
    """
    if domain.is_discrete:
        xs = domain.points_float()
        es = err(xs)
        idx = _discrete_peaks(list(es))
        return xs[idx], es[idx]
    ref = np.asarray(reference, dtype=float)
    bps = np.asarray(breakpoints, dtype=float)
    xs_all, es_all = [], []
    for lo, hi in domain.intervals_float():
        t = np.cos(np.pi * np.arange(max(16, n_sample // len(domain.intervals)))[::-1]
                   / (max(16, n_sample // len(domain.intervals)) - 1))
        pts = [lo + (hi - lo) * (t + 1) / 2]
        inside = np.concatenate([ref[(ref > lo) & (ref < hi)], bps[(bps > lo) & (bps < hi)]])
        cuts = np.unique(np.concatenate([[lo, hi], inside]))
        frac = np.arange(1, per_gap + 1) / (per_gap + 1)
        pts.append((cuts[:-1, None] + (cuts[1:] - cuts[:-1])[:, None] * frac[None, :]).ravel())
        pts.append(cuts)
        xs = np.unique(np.concatenate(pts))
        xs = xs[(xs >= lo) & (xs <= hi)]
        es = err(xs)
        idx = np.array(_discrete_peaks(list(es)), dtype=int)
        fixed = np.isin(xs[idx], np.concatenate([[lo, hi], bps]))
        interior = (idx > 0) & (idx < len(xs) - 1) & ~fixed
        xi, ei = xs[idx].copy(), es[idx].copy()
        if np.any(interior):
            j = idx[interior]
            s = np.sign(es[j])
            a, b = xs[j - 1].copy(), xs[j + 1].copy()
            # Vectorised golden section on s*e over [a, b] (unimodal by the bracketing).
            c = b - (b - a) * (1 - _GOLD)
            d = a + (b - a) * (1 - _GOLD)
            fc, fd = s * err(c), s * err(d)
            for _ in range(golden_steps):
                left = fc > fd
                b = np.where(left, d, b)
                a = np.where(left, a, c)
                newc = b - (b - a) * (1 - _GOLD)
                newd = a + (b - a) * (1 - _GOLD)
                c2 = np.where(left, newc, d)
                d2 = np.where(left, c, newd)
                fe = s * err(np.where(left, c2, d2))
                fc, fd = np.where(left, fe, fd), np.where(left, fc, fe)
                c, d = c2, d2
            xm = (a + b) / 2
            em = err(xm)
            better = s * em > s * ei[interior]
            xi[interior] = np.where(better, xm, xi[interior])
            ei[interior] = np.where(better, em, ei[interior])
        xs_all.append(xi)
        es_all.append(ei)
    x = np.concatenate(xs_all)
    e = np.concatenate(es_all)
    order = np.argsort(x, kind="stable")
    return x[order], e[order]


def alternating_subset(points: Sequence[tuple[Any, Any]], n: int | None = None
                       ) -> list[tuple[Any, Any]]:
    """Multi-point exchange selection: an alternating subsequence with the largest ``|e|``.

    Consecutive points whose errors have the same sign are merged, keeping the larger ``|e|``;
    then, while more than ``n`` remain, the point of smallest ``|e|`` is removed -- at an end on its
    own, inside together with its smaller neighbour, so that the signs still alternate (the rule of
    Chebfun's ``minimax``, after Powell 1981, ch. 10).  ``n=None`` keeps all alternating points.
    """
    merged: list[tuple[Any, Any]] = []
    for x, e in points:
        if e == 0:
            continue
        if merged and (merged[-1][1] > 0) == (e > 0):
            if abs(e) > abs(merged[-1][1]):
                merged[-1] = (x, e)
            continue
        merged.append((x, e))
    if n is None:
        return merged
    while len(merged) > n:
        excess = len(merged) - n
        a = [abs(e) for _, e in merged]
        if excess == 1:
            # Removing one interior point would break alternation: drop the smaller end.
            del merged[0 if a[0] <= a[-1] else -1]
            continue
        i = min(range(len(merged)), key=lambda k: a[k])
        if i == 0 or i == len(merged) - 1:
            del merged[i]
        else:
            j = i - 1 if a[i - 1] <= a[i + 1] else i + 1
            del merged[max(i, j)]
            del merged[min(i, j)]
    return merged
