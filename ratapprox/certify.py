r"""Certified error brackets for a rational approximation: ``lower <= E* <= ||f - r|| <= upper``.

Given a target ``f``, a rational ``r = P/Q`` in monomial form and a domain ``X``, :func:`certify`
returns a :class:`Certificate` ``[lower, upper]`` with

.. math::

    \text{lower} \;\le\; E^*_{m,n}(f; X) \;\le\; \|f - r\|_{X} \;\le\; \text{upper},

where :math:`E^*_{m,n}` is the error of the best type :math:`(m, n)` approximation.

What is rigorous, and what is not
---------------------------------
*The rational being certified* is the one whose coefficients are exactly the numbers passed in
(an ``mpf`` or float is its exact binary value; a decimal string or ``Fraction`` its exact
value).  Each coefficient is enclosed in an ``mpmath.iv`` interval, and all arithmetic is outward
rounded interval arithmetic, so floating-point rounding cannot invalidate a bound.

*Upper bound* (``upper_bound_interval``), for a target with an interval enclosure ``f_iv`` (the
named targets ``relu, abs, sign, exp, step:THETA, jumprelu:THETA``):

* continuous domain, target with ``taylor_iv`` (``exp`` and the piecewise-linear targets): the
  domain is cut at the target's breakpoints and covered by boxes; on each box ``X`` (centre
  ``c``, ``t = x - c in T``) the error is enclosed by a Taylor model of order ``K``
  (Makino & Berz 2003; Neumaier 2003), :math:`e(c + t) \in \sum_{k \le K} e_k(c) t^k +
  E_{K+1}(X) T^{K+1}`: Taylor coefficients of ``P`` and ``Q`` by repeated synthetic division at
  ``c`` and over ``X``, of ``r`` by series division, of ``f`` from ``taylor_iv``; the quadratic
  part's range exactly, the rest by Horner over ``T``; the monotonicity test on the derivative
  series (see :class:`_TaylorModelEval`).  ``K = ceil(D/2)`` clamped to 6..24, ``D`` the
  decimal digits to resolve (``log10(|f| / (rel_tol * |e|))``).  Measured, ``exp`` on [-1, 1],
  ``rel_tol = 1e-8`` (2-core machine): type (8, 8) at dps 40 (error 3.3e-24) 297 boxes, 0.75 s,
  relative width 1e-8, where the third-order forms below exhausted 200,001 boxes in 3 min 19 s
  at relative width 1.3e4; type (6, 6) at dps 30: 227 boxes, 0.4 s against 64,595 boxes, 56 s.
  Boxes that meet a breakpoint (``taylor_iv`` returns ``None``) use the forms below.
* continuous domain, otherwise: on each box ``X`` (centre ``c``) the error ``e = f - r`` is
  enclosed by the natural interval extension
  ``f(X) - P(X)/Q(X)`` (Horner in interval arithmetic) intersected with the mean-value form
  :math:`e(c) + e'(X)(X - c)` (Moore 1966; Neumaier 1990, *Interval Methods for Systems of
  Equations*, sec. 2.3), where :math:`e'(X) = f'(X) - (P'Q - PQ')(X)/Q(X)^2` uses the target's
  derivative enclosure ``df_iv``.  If :math:`e'(X)` excludes 0, ``e`` is monotone on ``X`` and its
  range is the hull of its values at the two ends (the monotonicity test).  Boxes are refined
  best-first (largest upper bound first, Ratschek & Rokne 1988) until every box's bound is below
  ``(1 + tol) * M``, ``M`` being the largest ``|e|`` proven at a box centre.  ``Q(X) > 0`` is
  proven on every final box, so ``r`` has no pole on the domain.  The bound is rigorous whatever
  the stopping reason; an exhausted box budget only makes it loose (the notes say so).
* discrete domain (a grid or a point set): every point, as an exact rational, is enclosed and
  ``e`` evaluated there in interval arithmetic.  ``Q > 0`` is proven at each point.

*Lower bound* (``lower_bound_de_la_vallee_poussin``): de la Vallée Poussin (1910) for rational
approximation (Achieser 1956, *Theory of Approximation*, sec. 2.11 / the rational case of the
alternation theorem; Powell 1981, *Approximation Theory and Methods*, ch. 10).  If ``Q > 0`` at
points :math:`x_1 < \dots < x_N` of ``X`` and :math:`e(x_i)` alternate in sign with
:math:`N \ge m + n + 2 - d`, :math:`d = \min(m - \deg P, n - \deg Q)` the defect of ``r``, then
:math:`E^*_{m,n} \ge \min_i |e(x_i)|`.  Proof sketch: a better :math:`r^* = p^*/q^*` would make
:math:`p^* Q - P q^*` (degree :math:`\le m + n - d`) alternate at the N points, hence vanish.
This needs :math:`q^*` of one sign on the hull of the points: on an interval, that is every
rational bounded on it; on a union of intervals (e.g. the sign domain), competitors with a pole
in a gap are *not* covered by this argument.  ``|e(x_i)|`` are interval enclosures; their lower
ends are used.  ``d`` is read from the coefficients (exact zeros); a claimed defect larger than
that cannot be used, because the proof needs the degrees of ``P`` and ``Q`` themselves.

*Estimates, not bounds*: a target without ``f_iv`` (an arbitrary Python callable) cannot be
enclosed; its upper value is the maximum over a dense sample evaluated in mpmath, its lower value
uses mpmath point values, and the certificate says ``rigorous=False`` and
``method="estimate: dense sampling (N points)"``.

See also
--------
:mod:`ratapprox.certify_barycentric`: for float64 barycentric data and the piecewise-linear
targets, the same bracket from the barycentric form in float64 interval arithmetic (Taylor
models), without monomial coefficients: |x| at type (80, 80) in 0.1 s instead of 17 minutes.
:func:`ratapprox.minimax` uses it for float64 fits of those targets.

Possible issues
---------------
* High degree with huge monomial coefficients: the working precision is raised from the
  coefficients' dynamic range (``sum |c_k| R^k / min Q``), but a monomial basis with massive
  cancellation may still need many boxes; the box budget ``max_boxes`` caps the work and the bound
  stays rigorous but wider.
* Denominators with a real zero on the domain cannot be certified: ``upper = inf``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._context import bits_for_dps, workprec
from .domains import Domain
from .errors import InvalidInputError
from .targets import Target, get_target

__all__ = [
    "Certificate",
    "certify",
    "lower_bound_de_la_vallee_poussin",
    "upper_bound_interval",
]

_iv = mpmath.iv
_INF = mpmath.mpf("inf")


# --------------------------------------------------------------------------- the certificate
@dataclass(frozen=True)
class Certificate:
    """A bracket ``lower <= E* <= ||f - r|| <= upper`` and how it was obtained.

    Attributes
    ----------
    lower, upper : mpf
        The bounds (``lower`` may be 0 when no alternating set proves more; ``upper`` may be
        ``inf`` when the denominator could not be proven positive).
    rigorous : bool
        ``True`` when both ends are proven (outward-rounded interval arithmetic throughout) and
        ``upper`` is finite; ``False`` for estimates (callable targets) or an unproven denominator.
    method : str
        How each end was obtained.
    notes : str
        Anything the caller should know: why ``lower`` is 0, budgets hit, precision used.
    """

    lower: Any
    upper: Any
    rigorous: bool
    method: str
    notes: str = ""

    @property
    def width(self) -> Any:
        """``upper - lower`` (rounded up)."""
        if not mpmath.isfinite(self.upper):
            return _INF
        with workprec(max(_prec_of(self.lower), _prec_of(self.upper), 64)):
            return _ends(_iv.mpf(self.upper) - _iv.mpf(self.lower))[1]

    @property
    def relative_width(self) -> Any:
        """``(upper - lower) / lower`` (rounded up); ``inf`` when ``lower`` is 0."""
        if not self.lower > 0 or not mpmath.isfinite(self.upper):
            return _INF
        with workprec(max(_prec_of(self.lower), _prec_of(self.upper), 64)):
            q = (_iv.mpf(self.upper) - _iv.mpf(self.lower)) / _iv.mpf(self.lower)
            return _ends(q)[1]

    def contains(self, value: Any) -> bool:
        """Whether ``lower <= value <= upper``."""
        return bool(self.lower <= mpmath.mpf(value) <= self.upper)

    def to_json(self, digits: int = 20) -> dict[str, Any]:
        """Decimal strings, ``lower`` rounded down and ``upper`` rounded up (still bounds)."""
        from .tables import decimal_str  # the shared exact decimal writer (no import cycle)

        return {
            "lower": decimal_str(_as_mpf(self.lower), digits, "down"),
            "upper": decimal_str(_as_mpf(self.upper), digits, "up"),
            "relative_width": decimal_str(_as_mpf(self.relative_width), 3, "up"),
            "rigorous": bool(self.rigorous),
            "method": self.method,
            "notes": self.notes,
        }

    def __str__(self) -> str:
        kind = "certified" if self.rigorous else "estimated"
        return (
            f"[{mpmath.nstr(self.lower, 12)}, {mpmath.nstr(self.upper, 12)}] ({kind}; {self.method})"
        )


# --------------------------------------------------------------------------- precision helpers
def _prec_of(x: Any) -> int:
    try:
        return int(mpmath.mpf(x)._mpf_[3]) + 8
    except (TypeError, ValueError, AttributeError, IndexError):
        return 64


def _as_mpf(x: Any) -> Any:
    """``x`` as an mpf *without rounding* (``mpmath.mpf(x)`` rounds to the current precision)."""
    if hasattr(x, "_mpf_"):
        return x
    with workprec(max(mpmath.mp.prec, 256)):
        return mpmath.mpf(x)


def _mpf(raw: tuple) -> Any:
    return mpmath.mp.make_mpf(raw)


def _ends(x: Any) -> tuple[Any, Any]:
    """Lower and upper end of an iv interval as mpf (exact)."""
    a, b = x._mpi_
    return _mpf(a), _mpf(b)


def _abs_hi(x: Any) -> Any:
    a, b = _ends(x)
    return max(-a, b)


def _abs_lo(x: Any) -> Any:
    """Lower bound of ``|x|`` over the interval (0 if it contains 0)."""
    a, b = _ends(x)
    if a > 0:
        return a
    if b < 0:
        return -b
    return mpmath.mpf(0)


def _intersect(x: Any, y: Any) -> Any:
    xa, xb = _ends(x)
    ya, yb = _ends(y)
    lo, hi = max(xa, ya), min(xb, yb)
    if lo > hi:  # cannot happen for two true enclosures; keep the union as the safe choice
        return _iv.mpf([min(xa, ya), max(xb, yb)])
    return _iv.mpf([lo, hi])


def _hull(x: Any, y: Any) -> Any:
    xa, xb = _ends(x)
    ya, yb = _ends(y)
    return _iv.mpf([min(xa, ya), max(xb, yb)])


# --------------------------------------------------------------------------- exact numbers
def _to_fraction(x: Any) -> Fraction:
    """The exact value of a coefficient or point (mpf/float binary value, decimal string, ...)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (bool,)):
        raise InvalidInputError("a coefficient or point cannot be a bool")
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise InvalidInputError(f"non-finite number {x!r}")
        return Fraction(float(x))
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise InvalidInputError(f"non-finite number {x!r}")
        return Fraction(x)
    if isinstance(x, str):
        try:
            d = Decimal(x.strip())
        except Exception as exc:
            raise InvalidInputError(f"`{x}` is not a decimal number") from exc
        if not d.is_finite():
            raise InvalidInputError(f"non-finite number {x!r}")
        return Fraction(d)
    if hasattr(x, "_mpf_"):
        sign, man, exp, _ = x._mpf_
        if man == 0 and exp != 0:  # mpmath encodes inf/nan as zero mantissa with a flag exponent
            raise InvalidInputError(f"non-finite number {x}")
        v = Fraction(man) * (Fraction(2) ** exp)
        return -v if sign else v
    if hasattr(x, "_mpi_"):
        raise InvalidInputError("pass a number, not an interval")
    try:
        return Fraction(float(x))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {type(x).__name__} as a number") from exc


def _iv_of(q: Fraction) -> Any:
    """Outward-rounded enclosure of an exact rational at the current iv precision."""
    if q.denominator == 1:
        return _iv.mpf(q.numerator)
    return _iv.mpf(q.numerator) / _iv.mpf(q.denominator)


def _exact_degree(cs: Sequence[Fraction]) -> int:
    for k in range(len(cs) - 1, -1, -1):
        if cs[k] != 0:
            return k
    return -1


# --------------------------------------------------------------------------- interval polynomials
def _horner(cs: Sequence[Any], x: Any) -> Any:
    p = cs[-1]
    for c in reversed(cs[:-1]):
        p = p * x + c
    return p


def _horner_d(cs: Sequence[Any], x: Any) -> tuple[Any, Any]:
    """P(X) and P'(X) by Horner's scheme in interval arithmetic."""
    p = cs[-1]
    dp = _iv.mpf(0)
    for c in reversed(cs[:-1]):
        dp = dp * x + p
        p = p * x + c
    return p, dp


class _Problem:
    """Target, coefficients (exact and as iv enclosures at the current precision)."""

    def __init__(self, target: Target, num: Sequence[Any], den: Sequence[Any]) -> None:
        if len(num) == 0 or len(den) == 0:
            raise InvalidInputError("`num` and `den` need at least one coefficient each")
        self.target = target
        self.num_q = [_to_fraction(c) for c in num]
        self.den_q = [_to_fraction(c) for c in den]
        if _exact_degree(self.den_q) < 0:
            raise InvalidInputError("the denominator is identically zero")
        self.sign = 1

    def orient(self, x: Fraction) -> None:
        """Make ``Q > 0`` at a point of the domain by negating P and Q (``r`` is unchanged)."""
        qx = sum(c * x**k for k, c in enumerate(self.den_q))
        if qx < 0:
            self.num_q = [-c for c in self.num_q]
            self.den_q = [-c for c in self.den_q]
            self.sign = -1

    def enclose(self) -> None:
        """Interval coefficients at the current iv precision."""
        self.a = [_iv_of(c) for c in self.num_q]
        self.b = [_iv_of(c) for c in self.den_q]

    def f_iv(self, X: Any) -> Any:
        return self.target.f_iv(X)  # type: ignore[misc]

    def point(self, X: Any) -> tuple[Any, Any, Any]:
        """(e(X), Q(X), r(X)) for a (near-)point interval X."""
        Q = _horner(self.b, X)
        r = _horner(self.a, X) / Q
        return self.f_iv(X) - r, Q, r


# --------------------------------------------------------------------------- lower bound
def _domain_fraction_intervals(domain: Domain) -> list[tuple[Fraction, Fraction]]:
    return [(Fraction(Decimal(a)), Fraction(Decimal(b))) for a, b in domain.intervals]


def _domain_exact_points(domain: Domain) -> list[Fraction]:
    """The exact points of a discrete domain (grid or explicit points) that lie in its intervals."""
    ivs = _domain_fraction_intervals(domain)
    if domain.points is not None:
        cand = [Fraction(Decimal(p)) for p in domain.points]
    else:
        a, b, n = Fraction(Decimal(domain.grid[0])), Fraction(Decimal(domain.grid[1])), int(domain.grid[2])
        cand = [a + (b - a) * k / (n - 1) for k in range(n)]
    return sorted(x for x in cand if any(lo <= x <= hi for lo, hi in ivs))


def _place_points(points: Sequence[Any], domain: Domain) -> tuple[list[Fraction], list[str]]:
    """Exact domain points for the alternation set.

    Any set of domain points may serve in de la Vallée Poussin's theorem, so a point just outside
    an interval (an endpoint rounded to binary) is moved onto the exact endpoint, and on a
    discrete domain each point is replaced by the nearest domain point.  Points far outside are
    dropped.  Every move is reported.
    """
    notes: list[str] = []
    xs = [_to_fraction(p) for p in points]
    out: list[Fraction] = []
    if domain.is_discrete:
        grid = _domain_exact_points(domain)
        moved = 0
        for x in xs:
            i = bisect_left(grid, x)
            cands = [grid[j] for j in (i - 1, i) if 0 <= j < len(grid)]
            g = min(cands, key=lambda y: abs(y - x))
            moved += g != x
            out.append(g)
        if moved:
            notes.append(f"{moved} alternation point(s) snapped to the nearest grid point")
    else:
        ivs = _domain_fraction_intervals(domain)
        clamped = dropped = 0
        for x in xs:
            if any(lo <= x <= hi for lo, hi in ivs):
                out.append(x)
                continue
            ends = [e for ab in ivs for e in ab]
            e = min(ends, key=lambda y: abs(y - x))
            if abs(e - x) <= Fraction(1, 10**12) * (1 + abs(e)):
                out.append(e)
                clamped += 1
            else:
                dropped += 1
        if clamped:
            notes.append(f"{clamped} alternation point(s) moved onto the exact domain endpoint")
        if dropped:
            notes.append(f"{dropped} alternation point(s) outside the domain ignored")
    return sorted(set(out)), notes


def _lower_bound(
    prob: _Problem, points: Sequence[Any], domain: Domain, m: int, n: int, defect: int
) -> tuple[Any, str, int]:
    """De la Vallée Poussin at the current precision: (lower, notes, number of points used)."""
    xs, notes = _place_points(points, domain)
    d_true = min(m - _exact_degree(prob.num_q), n - _exact_degree(prob.den_q))
    if defect > d_true:
        notes.append(
            f"claimed defect {defect} exceeds the coefficients' exact defect {d_true}; "
            f"the theorem needs the latter"
        )
    need = m + n + 2 - d_true
    rigorous_f = prob.target.f_iv is not None
    vals: list[tuple[int, Any]] = []  # (sign, lower bound of |e|)
    for x in xs:
        X = _iv_of(x)
        Q = _horner(prob.b, X)
        if not Q.a > 0:
            notes.append(f"denominator not proven positive at x = {float(x):.17g}")
            return mpmath.mpf(0), "; ".join(notes), 0
        if rigorous_f:
            fx = prob.f_iv(X)
        else:
            fx = _iv.mpf(prob.target.mp(mpmath.mpf(x.numerator) / x.denominator))
        e = fx - _horner(prob.a, X) / Q
        if e.a > 0:
            vals.append((1, _ends(e)[0]))
        elif e.b < 0:
            vals.append((-1, -_ends(e)[1]))
        else:
            notes.append(f"sign of the error undecided at x = {float(x):.17g}; point ignored")
    best, used = _alternating_lower(vals, need, notes, mpmath.mpf(0))
    return best, "; ".join(notes), used


def lower_bound_de_la_vallee_poussin(
    target: Any,
    num: Sequence[Any],
    den: Sequence[Any],
    points: Sequence[Any],
    domain: Domain | None = None,
    *,
    m: int | None = None,
    n: int | None = None,
    defect: int = 0,
    dps: int = 30,
) -> tuple[Any, str]:
    r"""Lower bound on the best error from an alternating set (de la Vallée Poussin 1910).

    Parameters
    ----------
    target : str, Target or callable
    num, den : sequence of numbers
        Coefficients of ``P`` and ``Q`` in ascending powers.
    points : sequence of numbers
        Candidate alternation points (points of ``domain``).
    domain : Domain, optional
        Defaults to the interval spanned by the points.
    m, n : int, optional
        The type; default ``len(num) - 1``, ``len(den) - 1``.
    defect : int
        The defect the caller believes ``r`` has; only the exact defect of the coefficients is
        used (see the module notes).
    dps : int
        Decimal digits of the interval arithmetic.

    Returns
    -------
    lower : mpf
        :math:`\max_{\text{windows}} \min_i |e(x_i)|` over windows of ``m + n + 2 - d``
        consecutive alternating points, or 0 (with the reason in ``notes``).
    notes : str
    """
    tgt = get_target(target)
    m, n, defect, dps = _check_type(num, den, m, n, defect, dps)
    if domain is None:
        xs = sorted(_to_fraction(p) for p in points)
        if len(xs) < 2:
            raise InvalidInputError("`points` needs at least two points when no domain is given")
        domain = Domain.interval(str(Decimal(xs[0].numerator) / Decimal(xs[0].denominator)),
                                 str(Decimal(xs[-1].numerator) / Decimal(xs[-1].denominator)))
    prob = _Problem(tgt, num, den)
    prob.orient(_to_fraction(points[0]) if len(points) else Fraction(0))
    with workprec(bits_for_dps(dps)):
        prob.enclose()
        lower, notes, _ = _lower_bound(prob, points, domain, m, n, defect)
    return lower, notes


# --------------------------------------------------------------------------- upper bound
def _right_half(pieces: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The parts of ``pieces`` (exact decimal ends) with ``x >= 0``: enough where ``|e|`` is even."""
    cut = []
    for a, b in pieces:
        if Decimal(a) < 0 < Decimal(b):
            cut.append(("0", b))
        elif Decimal(a) >= 0:
            cut.append((a, b))
    return cut


def _alternating_lower(
    vals: Sequence[tuple[int, Any]], need: int, notes: list[str], zero: Any
) -> tuple[Any, int]:
    """De la Vallée Poussin's bound from signed lower bounds ``(sign, |e|)`` at ordered points.

    Runs of equal sign are merged (keeping the largest ``|e|`` of each run): the result is an
    alternating subsequence of the given points, which is all the theorem needs.  The bound is
    the best ``min |e|`` over ``need`` consecutive alternating points; ``(zero, 0)`` (with a note)
    when there are fewer than ``need``.
    """
    alt: list[tuple[int, Any]] = []
    merged = 0
    for s, v in vals:
        if alt and alt[-1][0] == s:
            merged += 1
            if v > alt[-1][1]:
                alt[-1] = (s, v)
        else:
            alt.append((s, v))
    if merged:
        notes.append(f"{merged} point(s) dropped where the error did not change sign")
    if len(alt) < need:
        notes.append(
            f"only {len(alt)} alternating point(s); de la Vallée Poussin needs "
            f"m + n + 2 - defect = {need}: lower bound 0"
        )
        return zero, 0
    return max(min(v for _, v in alt[i : i + need]) for i in range(len(alt) - need + 1)), need


def _pieces(domain: Domain, target: Target) -> list[tuple[str, str]]:
    """The domain's intervals cut at the target's breakpoints and jumps (exact decimals)."""
    cuts = sorted({Decimal(b) for b in (*target.breakpoints, *target.jumps)})
    out = []
    for a, b in domain.intervals:
        da, db = Decimal(a), Decimal(b)
        inner = [c for c in cuts if da < c < db]
        ends = [a, *[str(c) for c in inner], b]
        out.extend(itertools.pairwise(ends))
    return out


def _horner_d3(cs: Sequence[Any], x: Any) -> tuple[Any, Any, Any, Any]:
    """P and its first three derivatives at X by Horner's scheme (interval arithmetic)."""
    p = cs[-1]
    d1 = d2 = d3 = _iv.mpf(0)  # d2 and d3 accumulate P''/2 and P'''/6
    for c in reversed(cs[:-1]):
        d3 = d3 * x + d2
        d2 = d2 * x + d1
        d1 = d1 * x + p
        p = p * x + c
    return p, d1, 2 * d2, 6 * d3


def _horner_d2(cs: Sequence[Any], x: Any) -> tuple[Any, Any, Any]:
    """P, P', P'' at X by Horner's scheme with derivatives (interval arithmetic)."""
    p = cs[-1]
    d1 = d2 = _iv.mpf(0)  # d2 accumulates P''/2
    for c in reversed(cs[:-1]):
        d2 = d2 * x + d1
        d1 = d1 * x + p
        p = p * x + c
    return p, d1, 2 * d2


def _rat_derivs(P: Sequence[Any], Q: Sequence[Any]) -> list[Any]:
    """Derivatives of r = P/Q up to the order given, by differentiating P = rQ.

    r = P/Q, r' = (P' - r Q')/Q, r'' = (P'' - 2 r' Q' - r Q'')/Q and
    r''' = (P''' - 3 r'' Q' - 3 r' Q'' - r Q''')/Q: no P'Q - PQ' cancellation.
    """
    r0 = P[0] / Q[0]
    out = [r0]
    if len(P) > 1:
        out.append((P[1] - r0 * Q[1]) / Q[0])
    if len(P) > 2:
        out.append((P[2] - 2 * out[1] * Q[1] - r0 * Q[2]) / Q[0])
    if len(P) > 3:
        out.append((P[3] - 3 * out[2] * Q[1] - 3 * out[1] * Q[2] - r0 * Q[3]) / Q[0])
    return out


def _sq_box(h: Any) -> Any:
    """``[0, h^2]`` with the upper end rounded up (an enclosure of ``t^2`` for ``|t| <= h``;
    ``h * h`` in mpf arithmetic rounds to nearest and could fall one ulp short)."""
    return _iv.mpf([0, _ends(_iv.mpf(h) * _iv.mpf(h))[1]])


def _poly_range(coef: Sequence[Any], lo: Any, hi: Any) -> Any:
    """Range of ``c0 + c1 t + c2 t^2 / 2`` over ``t in [lo, hi]`` (lo <= 0 <= hi).

    The coefficients are narrow intervals: the hull of the two end values and, when the vertex
    ``-c1/c2`` can lie inside, of the vertex value ``c0 - c1^2 / (2 c2)``.
    """
    c0, c1, c2 = coef
    vals = [c0 + c1 * t + (c2 / 2) * (t * t) for t in (_iv.mpf(lo), _iv.mpf(hi))]
    out = _hull(vals[0], vals[1])
    a2, b2 = _ends(c2)
    if a2 > 0 or b2 < 0:
        ta, tb = _ends(-c1 / c2)
        if not (tb < lo or ta > hi):
            out = _hull(out, c0 - (c1 * c1) / (2 * c2))
    else:  # c2 may vanish: fall back to the plain interval evaluation
        out = _hull(out, c0 + c1 * _iv.mpf([lo, hi]) + (c2 / 2) * _sq_box(max(-lo, hi)))
    return out


def _taylor_tighten(
    FX: Sequence[Any], Fc: Sequence[Any], T: Any, T2: Any, T3: Any, tlo: Any, thi: Any
) -> list[Any]:
    """Intersect box enclosures of F, F', F'' with their Taylor forms at the centre c.

    ``F''(X) in F''(c) + F'''(X) T``, ``F'(X) in F'(c) + F''(c) T + F'''(X) T^2/2`` and
    ``F(X) in range(F(c) + F'(c) t + F''(c) t^2/2) + F'''(X) T^3/6``.
    """
    F0, F1, F2, F3 = FX
    F2 = _intersect(F2, Fc[2] + F3 * T)
    F1 = _intersect(F1, Fc[1] + Fc[2] * T + (F3 / 2) * T2)
    F0 = _intersect(F0, _poly_range(Fc, tlo, thi) + (F3 / 6) * T3)
    return [F0, F1, F2, F3]


class _BoxEval:
    """Enclosure of |e| on a box and a proven value of |e| at its centre.

    With ``t = x - c`` (``c`` the centre, ``t in T = [lo - c, hi - c]``) the tightest form
    available is used (Taylor forms; Neumaier 1990, ch. 2; Makino & Berz 2003):

    * third order (target with ``df_iv`` and ``d2f_iv``, and ``f'''`` known on the box):
      ``e(x) in q(t) + e'''(X) t^3 / 6`` with the quadratic ``q(t) = e(c) + e'(c) t +
      e''(c) t^2 / 2`` from point enclosures at ``c``; its range over ``T`` is taken exactly
      (ends and vertex), so only ``e'''(X)``, multiplied by ``h^3``, carries the dependency
      overestimation of ``P/Q``;
    * mean-value (``df_iv`` only): ``e(c) + e'(X) T``;
    * otherwise ``f(X) - (r(c) + r'(X) T)``.

    Each is intersected with the natural extension ``f(X) - P(X)/Q(X)``.  The box enclosures of
    ``r, r', r''`` are first tightened by their own Taylor forms around ``c`` before ``r'''(X)``
    is formed.  If ``e'(X)`` excludes 0 the range is the hull of the two end values
    (monotonicity test).
    """

    def __init__(self, prob: _Problem) -> None:
        self.p = prob
        self.df = prob.target.df_iv
        self.d2f = getattr(prob.target, "d2f_iv", None)
        self.exp_like = self.d2f is not None and self.d2f is prob.target.f_iv  # f''' = f (exp)

    def _ends_hull(self, lo: Any, hi: Any) -> Any:
        return _hull(self.p.point(_iv.mpf(lo))[0], self.p.point(_iv.mpf(hi))[0])

    def _f3(self, X: Any, f2X: Any) -> Any:
        """An enclosure of the third derivative of f on X, or None."""
        if f2X is None:
            return None
        a, b = _ends(f2X)
        if a == 0 and b == 0:  # f'' == 0 on all of X, hence f''' == 0 there
            return _iv.mpf(0)
        if self.exp_like:
            return self.p.f_iv(X)
        return None

    def __call__(self, lo: Any, hi: Any) -> tuple[Any, Any, bool]:
        """(upper bound of |e| on [lo, hi], proven |e(c)| at the centre, Q(c) <= 0 proven)."""
        p = self.p
        X = _iv.mpf([lo, hi])
        c = (lo + hi) / 2
        C = _iv.mpf(c)
        T = X - C
        tlo, thi = _ends(T)
        Pc = _horner_d2(p.a, C)
        Qc = _horner_d2(p.b, C)
        rc = _rat_derivs(Pc, Qc)
        e0 = p.f_iv(C) - rc[0]
        lbc = _abs_lo(e0) if Qc[0].a > 0 else mpmath.mpf(0)
        h = max(-tlo, thi)
        T2 = _sq_box(h)
        T3 = T * T2
        # Horner over X suffers from cancellation in the monomial basis far from 0 (a gate
        # centred at theta); the Taylor forms at c, with only the third derivative taken over X,
        # are tight there.
        PX = _taylor_tighten(_horner_d3(p.a, X), Pc, T, T2, T3, tlo, thi)
        QX = _taylor_tighten(_horner_d3(p.b, X), Qc, T, T2, T3, tlo, thi)
        if not QX[0].a > 0:
            return _INF, lbc, bool(Qc[0].b <= 0)
        rX = _rat_derivs(PX, QX)
        # Tighten r, r', r'' on X by their Taylor forms at c, then recompute r''' with them.
        rX[2] = _intersect(rX[2], rc[2] + rX[3] * T)
        rX[1] = _intersect(rX[1], rc[1] + rc[2] * T + (rX[3] / 2) * T2)
        rX[0] = _intersect(rX[0], _poly_range(rc, tlo, thi) + (rX[3] / 6) * T3)
        r3 = (PX[3] - 3 * rX[2] * QX[1] - 3 * rX[1] * QX[2] - rX[0] * QX[3]) / QX[0]
        rX[3] = _intersect(rX[3], r3)
        fX = p.f_iv(X)
        e = fX - rX[0]  # natural interval extension (with the tightened r(X))
        f1 = self.df(C) if self.df is not None else None
        f2 = self.d2f(C) if self.d2f is not None else None
        f2X = self.d2f(X) if self.d2f is not None else None
        f3X = self._f3(X, f2X)
        if f1 is not None and f2 is not None and f3X is not None:
            ec = [e0, f1 - rc[1], f2 - rc[2]]
            e3X = f3X - rX[3]
            e1X = ec[1] + ec[2] * T + (e3X / 2) * T2
            if e1X.a > 0 or e1X.b < 0:  # monotone on X
                e = _intersect(e, self._ends_hull(lo, hi))
            else:
                e = _intersect(e, _poly_range(ec, tlo, thi) + (e3X / 6) * T3)
        else:
            dfX = self.df(X) if self.df is not None else None
            if dfX is not None:
                de = dfX - rX[1]
                if de.a > 0 or de.b < 0:
                    e = _intersect(e, self._ends_hull(lo, hi))
                else:
                    e = _intersect(e, e0 + de * T)
            else:
                e = fX - _intersect(rX[0], rc[0] + rX[1] * T)
        return _abs_hi(e), lbc, False


def _taylor_coeffs(cs: Sequence[Any], x: Any, K: int) -> list[Any]:
    """Normalised Taylor coefficients ``P^(k)(x)/k!``, ``k = 0..min(K, deg P)``, at ``x``.

    Repeated synthetic division by ``(t - x)`` (Horner's scheme; the Taylor shift of Knuth,
    *TAOCP* vol. 2, sec. 4.6.4): the remainder of the k-th division is ``P^(k)(x)/k!``.  Every
    quantity is a polynomial expression in ``x``, so on an interval ``X`` interval arithmetic
    gives enclosures of ``P^(k)(xi)/k!`` valid for every ``xi in X`` (inclusion monotonicity;
    Moore 1966).
    """
    b = list(cs)
    out = []
    for _ in range(min(K + 1, len(cs))):
        acc = b[-1]
        quo = [acc] * (len(b) - 1)
        for j in range(len(b) - 2, -1, -1):
            quo[j] = acc
            acc = acc * x + b[j]
        out.append(acc)
        b = quo
    return out


def _series_div(Pk: Sequence[Any], Qk: Sequence[Any], K: int) -> list[Any]:
    r"""Taylor coefficients of ``r = P/Q`` to order ``K`` from those of ``P`` and ``Q``.

    ``P = rQ`` coefficient-wise: :math:`r_k = (P_k - \sum_{j=1}^{\min(k, n)} Q_j r_{k-j}) / Q_0`
    (Knuth, *TAOCP* vol. 2, sec. 4.7; Moore 1966, ch. 11).  With enclosures of ``P_k(X), Q_k(X)``
    over a box the result encloses ``r^(k)(xi)/k!`` for every ``xi in X``.
    """
    q0 = Qk[0]
    r: list[Any] = []
    for k in range(K + 1):
        s = Pk[k] if k < len(Pk) else _iv.mpf(0)
        for j in range(1, min(k, len(Qk) - 1) + 1):
            s = s - Qk[j] * r[k - j]
        r.append(s / q0)
    return r


class _TaylorModelEval:
    r"""Box enclosure of ``|e|`` by a Taylor model of order ``K`` (Makino & Berz 2003).

    On a box ``X`` with centre ``c`` and ``t = x - c in T = [-h, h]``, Taylor's theorem with the
    Lagrange remainder gives, for every ``x in X``,

    .. math::

        e(c + t) \in \sum_{k=0}^{K} e_k(c)\, t^k + E_{K+1}(X)\, T^{K+1},
        \qquad e_k = f^{(k)}/k! - r^{(k)}/k!,

    where the ``e_k(c)`` are point enclosures (their width is rounding only) and
    :math:`E_{K+1}(X)` encloses :math:`e^{(K+1)}(\xi)/(K+1)!` over the box.  The Taylor
    coefficients of ``P`` and ``Q`` come from repeated synthetic division, those of ``r`` from
    the series division ``P = rQ`` (:func:`_series_div`), those of ``f`` from the target's
    ``taylor_iv``.  The range of the quadratic part is taken exactly (ends and vertex,
    :func:`_poly_range`), the terms of order 3..K by Horner's scheme over ``T``.  The
    overestimation is then :math:`O(|e_3| h^3 + h^{K+1})`, against :math:`O(h^4)` for the
    third-order form, whose remainder :math:`e^{(3)}(X)` carries the full dependency width of
    ``P(X)/Q(X)`` (Neumaier 2003, "Taylor forms", *Reliable Computing* 9).

    Monotonicity test: :math:`e'(X) \subseteq \sum_{k=1}^{K} k e_k(c) T^{k-1} +
    (K+1) E_{K+1}(X) T^K`; if it excludes 0 the range is the hull of the two end values.  The
    result is intersected with the natural extension ``f(X) - P(X)/Q(X)``, ``P(X), Q(X)``
    tightened by their exact (finite) Taylor expansions at ``c``.  A box on which the target has
    no Taylor enclosure (it meets a breakpoint) is handed to :class:`_BoxEval`.
    """

    def __init__(self, prob: _Problem, K: int) -> None:
        self.p = prob
        self.K = int(K)
        self.fallback = _BoxEval(prob)
        self.tay = prob.target.taylor_iv

    def __call__(self, lo: Any, hi: Any) -> tuple[Any, Any, bool]:
        """(upper bound of |e| on [lo, hi], proven |e(c)| at the centre, Q(c) <= 0 proven)."""
        p, K = self.p, self.K
        X = _iv.mpf([lo, hi])
        fX = self.tay(X, K + 1)  # type: ignore[misc]
        c = (lo + hi) / 2
        C = _iv.mpf(c)
        fc = self.tay(C, K) if fX is not None else None  # type: ignore[misc]
        if fX is None or fc is None:
            return self.fallback(lo, hi)
        T = X - C
        tlo, thi = _ends(T)
        h = max(-tlo, thi)
        # Exact (finite) Taylor expansions of P and Q at c: P(c + t) = sum_k P_k(c) t^k.
        Pc = _taylor_coeffs(p.a, C, len(p.a))
        Qc = _taylor_coeffs(p.b, C, len(p.b))
        rc = _series_div(Pc, Qc, K)
        e_c = [fc[k] - rc[k] for k in range(K + 1)]
        lbc = _abs_lo(e_c[0]) if Qc[0].a > 0 else mpmath.mpf(0)
        QX0 = _intersect(_horner(Qc, T), _horner(p.b, X))
        if not QX0.a > 0:
            return _INF, lbc, bool(Qc[0].b <= 0)
        PX = _taylor_coeffs(p.a, X, K + 1)
        QX = _taylor_coeffs(p.b, X, K + 1)
        PX[0] = _intersect(PX[0], _horner(Pc, T))
        QX[0] = QX0
        rX = _series_div(PX, QX, K + 1)
        E = fX[K + 1] - rX[K + 1]
        hK = _ends(_iv.mpf(h) ** K)[1]
        TK = _iv.mpf([-hK, hK])  # encloses T^K; T^(K+1) is enclosed by T * TK
        # e'(X): the derivative series with its own Lagrange remainder (K+1) E_{K+1}(X) T^K.
        d = _horner([k * e_c[k] for k in range(1, K + 1)], T) + (K + 1) * E * TK
        e = fX[0] - rX[0]  # natural extension, with P(X) and Q(X) tightened
        if d.a > 0 or d.b < 0:  # monotone on X: the range is the hull of the end values
            return _abs_hi(_intersect(e, self.fallback._ends_hull(lo, hi))), lbc, False
        quad = _poly_range([e_c[0], e_c[1], 2 * e_c[2]], tlo, thi)
        rest = (T * _sq_box(h)) * _horner(e_c[3:], T) if K >= 3 else _iv.mpf(0)
        tm = quad + rest + E * (T * TK)
        return _abs_hi(_intersect(e, tm)), lbc, False


def _taylor_order(prob: _Problem, domain: Domain, level: Any, rel_tol: float) -> int:
    """Order K of the Taylor models (6..24), from the digits the bound must resolve.

    A box of relative width ``w`` (against the distance to the nearest singularity of ``r``)
    leaves a remainder of about ``w^(K+1)`` times the size ``S`` of ``f`` and ``r``; it must
    fall below ``rel_tol * |e|``.  With ``D = log10(S / (rel_tol |e|))`` digits to resolve and
    boxes of ``w ~ 0.1`` in the bulk of the domain, ``K ~ D / 2``: ReLU at type (9, 8) (error
    4e-4) gets K = 6, exp at type (8, 8) (error 3e-24) K = 16.  Measured (exp (8, 8), dps 40):
    K = 4: 33 s, 8: 1.1 s, 12-16: 0.7 s, 24: 0.9 s; ReLU (9, 8): fastest at K = 6-8.  ``level``
    is the largest ``|e|`` known so far (0: unknown, then K = 16).
    """
    if not level > 0:
        return 16
    with workprec(64):
        S = mpmath.mpf(1)
        for a, b in domain.intervals:
            for x in (a, b):
                try:
                    S = max(S, abs(prob.target.mp(mpmath.mpf(x))))
                except Exception:  # the size is a heuristic; a failing target is caught later
                    pass
        D = float(mpmath.log10(S / (mpmath.mpf(rel_tol) * level)))
    return max(6, min(24, math.ceil(D / 2)))


def _symmetric_domain(domain: Domain) -> bool:
    """Whether the domain's intervals (exact decimal ends) are symmetric about 0."""
    ivs = {(Decimal(a), Decimal(b)) for a, b in domain.intervals}
    return ivs == {(-b, -a) for a, b in ivs}


def _symmetric(prob: _Problem, domain: Domain) -> bool:
    """Whether |e(-x)| = |e(x)| exactly: target parity, matching exact parity of P/Q, and a
    domain symmetric about 0 (then only x >= 0 needs boxes)."""
    par = prob.target.parity
    if par not in ("odd", "even"):
        return False
    if not _symmetric_domain(domain):
        return False
    pn = {k % 2 for k, v in enumerate(prob.num_q) if v != 0}
    pd = {k % 2 for k, v in enumerate(prob.den_q) if v != 0}
    if len(pd) != 1 or len(pn) > 1:
        return False
    if not pn:  # P == 0: r is both even and odd
        return True
    return (pn.pop() + pd.pop()) % 2 == (1 if par == "odd" else 0)


def _seed_points(prob: _Problem, domain: Domain, extra: Sequence[Any] | None, count: int) -> list[Fraction]:
    """Points of the domain where |e| is probably largest (an aid to stopping, not a bound).

    The local maxima of |e| on a dense Chebyshev-type sample (mpmath, 30 digits above the
    coefficients' size) are refined by golden-section search; the alternation points, when
    given, are added.  Only the branch-and-bound's *stopping* depends on these points: the upper
    bound it returns is the largest enclosure over a cover of the domain, whatever they are.
    """
    xs = np.asarray(domain.sample(max(2000, 20 * count)), dtype=float)
    ivs = domain.intervals_float()
    a = [mpmath.mpf(c.numerator) / c.denominator for c in prob.num_q][::-1]
    b = [mpmath.mpf(c.numerator) / c.denominator for c in prob.den_q][::-1]

    def err(x: Any) -> Any:
        try:
            return abs(prob.target.mp(x) - mpmath.polyval(a, x) / mpmath.polyval(b, x))
        except (ZeroDivisionError, ValueError):
            return mpmath.mpf(0)

    vals = [err(mpmath.mpf(float(x))) for x in xs]
    cand = []
    for i in range(len(xs)):
        left = vals[i - 1] if i > 0 and xs[i - 1] < xs[i] else -1
        right = vals[i + 1] if i + 1 < len(xs) and xs[i + 1] > xs[i] else -1
        if vals[i] >= left and vals[i] >= right:
            cand.append(i)
    cand = sorted(cand, key=lambda i: vals[i], reverse=True)[: 2 * count]
    out: list[Any] = []
    g = (mpmath.sqrt(5) - 1) / 2
    for i in cand:
        lo = mpmath.mpf(float(xs[i - 1])) if i > 0 else mpmath.mpf(float(xs[i]))
        hi = mpmath.mpf(float(xs[i + 1])) if i + 1 < len(xs) else mpmath.mpf(float(xs[i]))
        seg = next(((p, q) for p, q in ivs if p <= xs[i] <= q), None)
        if seg is None or hi <= lo:
            out.append(mpmath.mpf(float(xs[i])))
            continue
        lo, hi = max(lo, mpmath.mpf(seg[0])), min(hi, mpmath.mpf(seg[1]))
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        f1, f2 = err(x1), err(x2)
        for _ in range(40):
            if f1 >= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - g * (hi - lo)
                f1 = err(x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + g * (hi - lo)
                f2 = err(x2)
        out.append(x1 if f1 >= f2 else x2)
    if extra is not None:
        out.extend(extra)
    return _place_points(out, domain)[0]


def _seed_value(prob: _Problem, points: Sequence[Fraction]) -> Any:
    """max over the points of the proven lower end of |e(x)| (a value |e| attains on the domain)."""
    best = mpmath.mpf(0)
    for x in points:
        e, Q, _ = prob.point(_iv_of(x))
        if Q.a > 0:
            best = max(best, _abs_lo(e))
    return best


def _branch_and_bound(
    prob: _Problem, domain: Domain, rel_tol: float, max_boxes: int, known_lower: Any,
    seed: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Best-first subdivision; returns (upper, best proven centre value, stats)."""
    counter = itertools.count()
    heap: list[tuple[Any, int, Any, Any]] = []
    best = mpmath.mpf(known_lower) if known_lower is not None else mpmath.mpf(0)
    if seed is not None:
        best = max(best, seed)
    ev: Any
    if prob.target.taylor_iv is not None:
        ev = _TaylorModelEval(prob, _taylor_order(prob, domain, best, rel_tol))
        forms = f"Taylor models of order {ev.K}, third-order forms at breakpoints"
    else:
        ev = _BoxEval(prob)
        forms = "third-order Taylor/mean-value forms"
    n_eval = 0
    den_fail = False
    pieces = _pieces(domain, prob.target)
    symmetric = _symmetric(prob, domain)
    if symmetric:  # |e| is even: the half x >= 0 carries the maximum
        pieces = _right_half(pieces)
    for a, b in pieces:
        lo, hi = _ends(_iv.mpf(a))[0], _ends(_iv.mpf(b))[1]  # outward: the box covers [a, b]
        ub, lbc, q_bad = ev(lo, hi)
        n_eval += 1
        den_fail = den_fail or q_bad
        best = max(best, lbc)
        heapq.heappush(heap, (-ub, next(counter), lo, hi))
    stuck_ub = mpmath.mpf(0)
    jumps = [mpmath.mpf(j) for j in prob.target.jumps]
    at_jump = False
    stop = "tolerance"
    # An error that is 0 up to rounding would otherwise be split down to the last bit.
    floor = mpmath.ldexp(1, -int(0.9 * mpmath.mp.prec))
    while heap:
        ub = -heap[0][0]
        tol = rel_tol
        if known_lower is not None and known_lower > 0 and best > 0:
            # Refining the upper end far below the gap between the proven lower bound and the
            # largest proven value would not narrow the bracket: stop at 1% of that gap.
            tol = max(rel_tol, 0.01 * float((best - known_lower) / best))
        if ub <= best * (1 + tol) + floor:
            break
        if den_fail:  # Q <= 0 at a point of the domain: no finite bound exists to be found
            stop = "denominator"
            break
        if n_eval >= max_boxes:
            stop = "box budget"
            break
        _, _, lo, hi = heapq.heappop(heap)
        mid = (lo + hi) / 2
        if not lo < mid < hi:  # the precision cannot split this box further
            stuck_ub = max(stuck_ub, ub)
            if ub == _INF:
                den_fail = True
            # A box at a jump of f cannot be resolved at any precision: no point in retrying.
            at_jump = at_jump or any(lo <= j <= hi for j in jumps)
            continue
        for x0, x1 in ((lo, mid), (mid, hi)):
            ub1, lbc, q_bad = ev(x0, x1)
            n_eval += 1
            den_fail = den_fail or q_bad
            best = max(best, lbc)
            heapq.heappush(heap, (-ub1, next(counter), x0, x1))
    top = -heap[0][0] if heap else mpmath.mpf(0)
    upper = max(top, stuck_ub)
    if upper == _INF:
        den_fail = True
    stats = {"boxes": n_eval, "stop": stop, "stuck": stuck_ub > 0 and not at_jump, "den_fail": den_fail,
             "symmetric": symmetric, "forms": forms}
    return upper, best, stats


def _discrete_upper(prob: _Problem, domain: Domain) -> tuple[Any, dict[str, Any]]:
    pts = _domain_exact_points(domain)
    upper = mpmath.mpf(0)
    for x in pts:
        e, Q, _ = prob.point(_iv_of(x))
        if not Q.a > 0:
            return _INF, {"points": len(pts), "den_fail": True, "at": float(x)}
        upper = max(upper, _abs_hi(e))
    return upper, {"points": len(pts), "den_fail": False}


def upper_bound_interval(
    target: Any,
    num: Sequence[Any],
    den: Sequence[Any],
    domain: Domain,
    *,
    dps: int = 30,
    rel_tol: float = 1e-8,
    max_boxes: int = 200_000,
) -> tuple[Any, str]:
    r"""Rigorous upper bound of :math:`\max_{x \in X} |f(x) - P(x)/Q(x)|` (interval arithmetic).

    See the module docstring for the method.  Returns ``(upper, notes)``; ``upper`` is ``inf``
    when ``Q > 0`` could not be proven on the domain.  Raises :class:`InvalidInputError` for a
    target without an interval enclosure (use :func:`certify`, which then estimates).
    """
    tgt = get_target(target)
    if tgt.f_iv is None:
        raise InvalidInputError(f"target `{tgt.name}` has no interval enclosure; use certify()")
    cert = certify(tgt, num, den, domain, dps=dps, rel_tol=rel_tol, max_boxes=max_boxes)
    return cert.upper, cert.notes


# --------------------------------------------------------------------------- precision choice
def _choose_bits(prob: _Problem, domain: Domain, dps: int, rel_tol: float) -> tuple[int, str]:
    """Working precision from the coefficients' dynamic range and conditioning.

    The rounding error of Horner's scheme at ``x`` is about ``2^-p * sum |c_k| |x|^k`` (Higham
    2002, sec. 5.1), so resolving ``e = f - P/Q`` to a fraction ``rel_tol`` of its size needs
    ``p >= log2(max_x (S_P(x) + |r(x)| S_Q(x)) / |Q(x)| / (max|e| * rel_tol))`` bits, with
    ``S_P(x) = sum |a_k| |x|^k``; a margin of 40 bits covers the derivatives and the boxes
    between the 256 sample points (and a run that gets stuck is retried at twice the bits).
    """
    base = bits_for_dps(dps)
    R = max(abs(Fraction(Decimal(domain.lower))), abs(Fraction(Decimal(domain.upper))), Fraction(1))
    with workprec(64):
        Rm = mpmath.mpf(R.numerator) / R.denominator
        SP = sum(abs(mpmath.mpf(c.numerator) / c.denominator) * Rm**k for k, c in enumerate(prob.num_q))
        SQ = sum(abs(mpmath.mpf(c.numerator) / c.denominator) * Rm**k for k, c in enumerate(prob.den_q))
    big = max(SP, SQ, mpmath.mpf(1))
    bits0 = base + int(mpmath.log(big, 2)) + 32
    xs = domain.sample(256)
    with workprec(bits0):
        amp, emax = mpmath.mpf(0), mpmath.mpf(0)
        a = [mpmath.mpf(c.numerator) / c.denominator for c in prob.num_q][::-1]
        b = [mpmath.mpf(c.numerator) / c.denominator for c in prob.den_q][::-1]
        aa, ab = [abs(v) for v in a], [abs(v) for v in b]
        for x in xs:
            xm = mpmath.mpf(float(x))
            q = mpmath.polyval(b, xm)
            if q == 0:
                return bits0, f"{bits0} bits (Q vanishes at a sample point)"
            r = mpmath.polyval(a, xm) / q
            amp = max(amp, (mpmath.polyval(aa, abs(xm)) + abs(r) * mpmath.polyval(ab, abs(xm))) / abs(q))
            try:
                emax = max(emax, abs(prob.target.mp(xm) - r))
            except Exception:  # an estimate only; a failing target is reported by the bound itself
                pass
    if not (emax > 0 and mpmath.isfinite(amp)):
        return bits0, f"{bits0} bits (could not estimate the conditioning)"
    need = int(mpmath.ceil(mpmath.log(max(amp / (emax * mpmath.mpf(rel_tol)), 1), 2))) + 40
    bits = max(base, need)
    return bits, f"{bits} bits (coefficient range {mpmath.nstr(big, 3)}, condition {mpmath.nstr(amp, 3)})"


# --------------------------------------------------------------------------- certify
def _check_type(
    num: Sequence[Any], den: Sequence[Any], m: int | None, n: int | None, defect: int, dps: int
) -> tuple[int, int, int, int]:
    if len(num) == 0 or len(den) == 0:
        raise InvalidInputError("`num` and `den` need at least one coefficient each")
    m = len(num) - 1 if m is None else int(m)
    n = len(den) - 1 if n is None else int(n)
    if m < len(num) - 1 or n < len(den) - 1:
        raise InvalidInputError(f"type ({m}, {n}) is smaller than the coefficient lists")
    if int(defect) < 0:
        raise InvalidInputError(f"`defect` must be >= 0, got {defect}")
    if int(dps) < 5:
        raise InvalidInputError(f"`dps` must be at least 5, got {dps}")
    return m, n, int(defect), int(dps)


def certify(
    target: Any,
    num: Sequence[Any],
    den: Sequence[Any],
    domain: Domain,
    *,
    alternation_points: Sequence[Any] | None = None,
    m: int | None = None,
    n: int | None = None,
    defect: int = 0,
    dps: int = 30,
    rel_tol: float = 1e-8,
    max_boxes: int = 200_000,
) -> Certificate:
    r"""Bracket the error of ``r = P/Q``: ``lower <= E*_{m,n}(f) <= ||f - r|| <= upper``.

    Parameters
    ----------
    target : str, Target or callable
        A named target (certifiable) or a callable (estimate only).
    num, den : sequence of numbers
        ``P`` and ``Q`` in ascending powers (mpf, float, int, Fraction or decimal string; each
        taken at its exact value).  ``Q`` must not vanish on the domain; if ``Q < 0`` there, both
        are negated (``r`` is unchanged).
    domain : Domain
        Continuous (union of intervals) or discrete (grid / points).
    alternation_points : sequence, optional
        Points where ``f - r`` should alternate in sign (from a Remez run, or Zolotarev's
        closed form).  Without them ``lower = 0``.
    m, n : int, optional
        The type of the best-approximation problem (default: from the list lengths).
    defect : int
        The defect the caller believes ``r`` has (see the module notes: only the exact defect of
        the coefficients can be used).
    dps : int
        Minimum decimal digits of the interval arithmetic; raised automatically from the
        coefficients' dynamic range.
    rel_tol : float
        Target relative tightness of the upper bound: subdivision stops when every box's bound
        is below ``(1 + tol) * M`` with ``M`` the largest proven ``|e|``; ``tol`` is ``rel_tol``,
        relaxed to 1% of the gap ``(M - lower)/M`` when that gap is larger (a tighter upper end
        would not narrow the bracket).
    max_boxes : int
        Budget of box evaluations (continuous domains); the bound stays rigorous when it is hit.

    Returns
    -------
    Certificate

    Notes
    -----
    The mathematics and exactly what is rigorous are in the module docstring.  A known case:
    :math:`x^2 + 1/8` is the best cubic to :math:`|x|` on [-1, 1] with error 1/8 (Trefethen 2013,
    *Approximation Theory and Approximation Practice*, ch. 10):

    >>> from ratapprox import Domain
    >>> c = certify("abs", ["0.125", 0, 1], [1], Domain.interval(-1, 1),
    ...             alternation_points=[-1, "-0.5", 0, "0.5", 1], m=3, n=0)
    >>> float(c.lower), c.rigorous, c.relative_width <= 1e-8
    (0.125, True, True)
    """
    t0 = time.perf_counter()
    if not isinstance(domain, Domain):
        raise InvalidInputError(f"`domain` must be a ratapprox.Domain, got {type(domain).__name__}")
    tgt = get_target(target)
    m, n, defect, dps = _check_type(num, den, m, n, defect, dps)
    if not (float(rel_tol) > 0):
        raise InvalidInputError(f"`rel_tol` must be positive, got {rel_tol}")
    if int(max_boxes) < 1:
        raise InvalidInputError(f"`max_boxes` must be >= 1, got {max_boxes}")
    prob = _Problem(tgt, num, den)
    first = (_domain_exact_points(domain)[0] if domain.is_discrete
             else Fraction(Decimal(domain.intervals[0][0])))
    prob.orient(first)
    if prob.sign < 0:
        pre = ["P and Q negated so that Q > 0"]
    else:
        pre = []

    if tgt.f_iv is None:
        return _estimate(prob, domain, alternation_points, m, n, defect, dps, pre, t0)

    bits, prec_note = _choose_bits(prob, domain, dps, float(rel_tol))
    seeds = None
    if not domain.is_discrete:
        with workprec(bits):
            seeds = _seed_points(prob, domain, alternation_points, m + n + 2)
    for attempt in range(3):
        with workprec(bits):
            prob.enclose()
            notes = [*pre, prec_note if attempt == 0 else f"retried at {bits} bits"]
            lower, lnote, used = (
                _lower_bound(prob, alternation_points, domain, m, n, defect)
                if alternation_points is not None
                else (mpmath.mpf(0), "no alternation points given: lower bound 0", 0)
            )
            if lnote:
                notes.append(lnote)
            if domain.is_discrete:
                upper, st = _discrete_upper(prob, domain)
                how_up = f"interval evaluation at all {st['points']} domain points"
                retry = False
            else:
                upper, _, st = _branch_and_bound(
                    prob, domain, float(rel_tol), int(max_boxes), lower if lower > 0 else None,
                    seed=_seed_value(prob, seeds or []),
                )
                how_up = (
                    f"interval branch-and-bound over the domain ({st['forms']}, "
                    f"{st['boxes']} boxes, {bits} bits"
                    + (", by symmetry on x >= 0 only)" if st["symmetric"] else ")")
                )
                if st["stop"] == "box budget":
                    notes.append(f"box budget {max_boxes} exhausted: upper bound is rigorous but loose")
                retry = st["stuck"] and not st["den_fail"]
        if not retry:
            break
        bits *= 2
    how_low = (f"de la Vallée Poussin on {used} alternating points" if used
               else "lower bound 0 (no alternating set proven)")
    rigorous = True
    if st.get("den_fail"):
        notes.append("denominator not proven positive on the domain: no finite upper bound")
        upper = _INF
        rigorous = False
    notes.append(f"{time.perf_counter() - t0:.2f} s")
    return Certificate(
        lower=lower, upper=upper, rigorous=rigorous, method=f"{how_low}; {how_up}",
        notes="; ".join(notes),
    )


def _estimate(
    prob: _Problem, domain: Domain, points: Sequence[Any] | None, m: int, n: int, defect: int,
    dps: int, pre: list[str], t0: float,
) -> Certificate:
    """Dense-sampling estimate for a target without an interval enclosure (not a bound)."""
    notes = [*pre, f"target `{prob.target.name}` has no interval enclosure: estimates only"]
    bits, _ = _choose_bits(prob, domain, dps, 1e-8)
    if domain.is_discrete:
        xs = [x for x in _domain_exact_points(domain)]
    else:
        N = max(4000, 40 * (m + n + 2))
        xs = [_to_fraction(float(x)) for x in domain.sample(N)]
        xs = [x for x in xs if domain.contains(float(x))]
    with workprec(bits):
        prob.enclose()
        lower = mpmath.mpf(0)
        if points is not None:
            lower, lnote, _ = _lower_bound(prob, points, domain, m, n, defect)
            if lnote:
                notes.append(lnote)
            xs = xs + _place_points(points, domain)[0]
        a = [mpmath.mpf(c.numerator) / c.denominator for c in prob.num_q]
        b = [mpmath.mpf(c.numerator) / c.denominator for c in prob.den_q]
        upper = mpmath.mpf(0)
        for x in xs:
            xm = mpmath.mpf(x.numerator) / x.denominator
            q = mpmath.polyval(b[::-1], xm)
            if not q > 0:
                notes.append(f"denominator not positive at x = {float(x):.17g}")
                upper = _INF
                break
            upper = max(upper, abs(prob.target.mp(xm) - mpmath.polyval(a[::-1], xm) / q))
    notes.append(f"{time.perf_counter() - t0:.2f} s")
    return Certificate(
        lower=lower, upper=upper, rigorous=False,
        method=f"estimate: dense sampling ({len(xs)} points)", notes="; ".join(notes),
    )
