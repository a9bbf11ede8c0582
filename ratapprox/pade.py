r"""Conversion of a rational ``P/Q`` to the pole-free *safe-Padé* form used by rsae.

The safe-Padé rational (Molina, Schramowski & Kersting 2020, "Padé Activation Units"; the gate of
:mod:`rsae.kernels.rational_gate`) is

.. math::

    \tilde r(t) = \frac{P(t)}{1 + |B(t)|}, \qquad P(t) = \sum_{k=0}^{p} a_k t^k, \quad
    B(t) = \sum_{k=1}^{q} b_k t^k,

whose denominator is never below 1: no poles for any real ``t``.

When is the conversion exact?
-----------------------------
Given ``r = P/Q`` with ``Q > 0`` on the domain ``D``, the only way to write
``r = cP / (cQ)`` with ``cQ = 1 + |B|`` and ``B(0) = 0`` is ``c = 1/Q(0)`` (so ``Q(0) > 0`` is
required) and ``B = Q/Q(0) - 1``.  Then :math:`1 + |B| = Q` on ``D`` **iff** :math:`B \ge 0` on
``D``.  This is decided rigorously: with ``B = t^k C(t)``, ``C(0) != 0``, :math:`B \ge 0` on
:math:`D \cap [0, \infty)` iff :math:`C \ge 0` there, and on :math:`D \cap (-\infty, 0]` iff
:math:`(-1)^k C \ge 0`; each is proven by interval enclosures of ``C`` with subdivision (and
refuted by an enclosure below 0).  If it holds, ``exact = True`` and ``max_deviation = 0``.
(For instance Zolotarev's approximants: ``Q = prod (x^2 + c_j) / prod c_j >= 1``.)

Otherwise (typically a gate centred at :math:`\theta \ne 0`, whose denominator is smallest near
:math:`\theta`, not at 0) no exact conversion exists and the safe-Padé form is **fitted** on a
dense sample of ``D`` (Chebyshev points of each interval plus geometric layers at 0 and at the
interval ends): by differential correction (Cheney & Loeb 1961; Barrodale, Powell & Roberts
1972) with the sign pattern ``s`` of ``B`` held fixed, which makes
:math:`1 + |B| = 1 + s_i B(t_i)` linear in ``b``; each step is a linear programme (HiGHS via
:func:`scipy.optimize.linprog`, see :func:`_differential_correction`), and the sampled error
decreases monotonically.  The pattern changes sign at 0 (where ``B(0) = 0`` pins the
denominator to 1) and inside every gap of the domain (where a sign change costs nothing): the
denominator is then free to be small near a jump, relative to its size elsewhere, which is
how a rational makes a jump.  Two fits are made:

* to ``P/Q`` (when ``Q > 0`` is proven; without a target also with "``B >= 0`` everywhere");
* to the target ``f`` itself (a named target with an interval enclosure), which is also the
  only fit when ``P/Q`` cannot be converted at all (``Q`` not proven positive on ``D``, or
  ``Q(0) <= 0``).

Of the two, the one with the smaller *certified* error against ``f`` is kept.  The fits are
float64 computations; what is *reported* is certified:

* ``max_deviation``: a rigorous upper bound of :math:`\max_D |P/Q - \tilde r|` (interval
  branch-and-bound of :mod:`ratapprox.certify` applied to the difference); ``None`` when
  ``P/Q`` is no valid comparison (then ``notes`` says why);
* ``error_vs_target`` (with ``target``): a rigorous upper bound of :math:`\max_D |f - \tilde r|`.

Where the sign of ``B`` is proven on each piece of ``D`` split at 0, :math:`\tilde r` is the
ordinary rational ``P / (1 + sgn B)`` on each piece and both bounds use certify's Taylor forms
there; otherwise ``|B|`` is enclosed directly (first-order forms, slower).

Measured on the threshold entries of ``ratapprox table`` (type (9, 8), certified
``error_vs_target`` / Remez error): 1.2-5x, against 12-52x for the former fit to ``P/Q``
(with a weighted least-squares-type iteration and the sign pattern of ``Q/Q(0) - 1``); the two
entries whose ``Q`` was not proven positive then had no form at all.

Possible issues
---------------
The fit is a local method: it is not claimed to be the best safe-Padé approximation, only a
good one, and its error is what the certificate says.  High degrees with a badly scaled
monomial basis make the float64 linear programmes ill-conditioned.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._context import bits_for_dps, workprec
from .certify import (
    Certificate,
    _as_mpf,
    _domain_exact_points,
    _ends,
    _exact_degree,
    _horner,
    _iv_of,
    _taylor_coeffs,
    _to_fraction,
    certify,
)
from .domains import Domain
from .errors import InvalidInputError
from .targets import Target, get_target

__all__ = ["SafePade", "to_safe_pade"]

_iv = mpmath.iv


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class SafePade:
    r"""``P(t) / (1 + |b_1 t + ... + b_q t^q|)`` with its certified relation to ``P/Q``.

    Attributes
    ----------
    a : tuple of mpf
        ``a_0 .. a_p``.
    b : tuple of mpf
        ``b_1 .. b_q`` (no constant term).
    exact : bool
        ``True`` when the form equals ``P/Q`` on the whole domain (proven).
    max_deviation : mpf or None
        Certified upper bound of :math:`\max_D |P/Q - \tilde r|` (0 when exact); ``None`` when
        ``P/Q`` is no valid comparison (``Q`` not proven positive, or ``Q(0) <= 0``: the form was
        then fitted to the target, see ``notes``).
    error_vs_target : mpf or None
        Upper bound of :math:`\max_D |f - \tilde r|` when a target was given: certified for
        the named targets, an estimate for a callable (``notes`` says so).
    domain : Domain
    method : str
    notes : str
    """

    a: tuple[Any, ...]
    b: tuple[Any, ...]
    exact: bool
    max_deviation: Any
    error_vs_target: Any
    domain: Domain
    method: str
    notes: str = ""
    certificates: dict[str, Certificate] = field(default_factory=dict, compare=False, repr=False)

    @property
    def type(self) -> tuple[int, int]:
        return (len(self.a) - 1, len(self.b))

    def __call__(self, t: Any) -> np.ndarray:
        """float64 evaluation (vectorised); finite for every finite ``t`` unless the true value
        exceeds the float64 range (then ``+-inf``, never NaN)."""
        t = np.asarray(t, dtype=float)
        a = np.array([float(v) for v in self.a])
        b = np.array([0.0] + [float(v) for v in self.b])
        with np.errstate(over="ignore", invalid="ignore"):
            P = np.polynomial.polynomial.polyval(t, a)
            B = np.polynomial.polynomial.polyval(t, b) if len(b) > 1 else np.zeros_like(t)
            out = P / (1.0 + np.abs(B))
        bad = ~np.isfinite(out) & np.isfinite(t)
        if np.any(bad):  # inf/inf from overflow of P and B: redo those in mpmath
            flat = out.reshape(-1)
            tb = t.reshape(-1)
            for i in np.flatnonzero(bad.reshape(-1)):
                flat[i] = float(self.eval_mp(float(tb[i])))
            out = flat.reshape(t.shape)
        return out

    def eval_mp(self, t: Any, dps: int = 30) -> Any:
        """mpmath evaluation at ``dps`` digits."""
        with mpmath.workdps(dps):
            t = mpmath.mpf(t)
            P = mpmath.polyval(list(self.a)[::-1], t)
            B = mpmath.polyval([*list(self.b)[::-1], 0], t) if self.b else mpmath.mpf(0)
            return +(P / (1 + abs(B)))

    def to_json(self, digits: int = 30) -> dict[str, Any]:
        """Decimal strings (coefficients to ``digits`` significant digits; bounds rounded up)."""
        from .tables import decimal_str

        return {
            "form": "P(t) / (1 + |b_1 t + ... + b_q t^q|)",
            "a": [decimal_str(_as_mpf(v), digits) for v in self.a],
            "b": [decimal_str(_as_mpf(v), digits) for v in self.b],
            "exact": bool(self.exact),
            "max_deviation": (
                None if self.max_deviation is None
                else decimal_str(_as_mpf(self.max_deviation), 17, "up")
            ),
            "error_vs_target": (
                None if self.error_vs_target is None
                else decimal_str(_as_mpf(self.error_vs_target), 17, "up")
            ),
            "domain": self.domain.to_json(),
            "method": self.method,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- rigorous sign tests
def _taylor_form(civ: Sequence[Any], X: Any) -> Any:
    r"""Enclosure of the polynomial (interval coefficients ``civ``, ascending) over ``X``: the
    Taylor shift to the midpoint ``c`` (:func:`ratapprox.certify._taylor_coeffs`, in interval
    arithmetic), then :math:`\sum_k d_k (X - c)^k`."""
    lo, hi = _ends(X)
    c = _iv.mpf((lo + hi) / 2)
    d = _taylor_coeffs(civ, c, len(civ))  # d_k = C^(k)(c)/k!, ascending
    S = X - c
    out, Sk = d[0], _iv.mpf(1)
    for k in range(1, len(d)):
        Sk = Sk * S
        out = out + d[k] * Sk
    return out


def _decide_sign(
    cs: Sequence[Fraction], lo: Fraction, hi: Fraction, sgn: int, strict: bool,
    max_boxes: int = 4000,
) -> bool | None:
    r"""Is ``sgn * C(t) >= 0`` (``> 0`` if ``strict``) on ``[lo, hi]``?

    True (proven), False (refuted), None (undecided).  Each box ``X`` is enclosed by the
    Taylor form at its midpoint ``c``, :math:`C(X) \subseteq \sum_k C^{(k)}(c)/k!\,(X - c)^k`
    (coefficients by interval Taylor shift), whose overestimation is :math:`O(|C'(c)|\,|X|)`
    instead of the :math:`O(\sum_k k |c_k| |X|)` of plain interval Horner -- what matters when
    ``C`` has large coefficients and is nearly 0 at a gap edge (a fitted safe-Padé ``B``).
    Boxes are bisected while undecided; a point value below 0 refutes, an enclosure above 0 (or
    at 0, non-strict) settles the box.
    """
    civ = [_iv_of(c) * sgn for c in cs]
    stack = [(_iv_of(lo), _iv_of(hi))]
    n = 0
    while stack:
        L, H = stack.pop()
        X = _iv.mpf([_ends(L)[0], _ends(H)[1]])
        v = _taylor_form(civ, X)
        a, _ = _ends(v)
        if a > 0 or (a == 0 and not strict):
            continue
        # a point value below 0 refutes
        c = (_ends(L)[0] + _ends(H)[1]) / 2
        if _ends(_horner(civ, _iv.mpf(c)))[1] < 0:
            return False
        n += 1
        if n > max_boxes:
            return None
        lo_, hi_ = _ends(L)[0], _ends(H)[1]
        if not lo_ < c < hi_:
            return None
        stack.append((_iv.mpf(lo_), _iv.mpf(c)))
        stack.append((_iv.mpf(c), _iv.mpf(hi_)))
    return True


def _nonneg_on_domain(cs: Sequence[Fraction], domain: Domain, strict: bool = False) -> bool | None:
    """Is the polynomial with exact coefficients ``cs`` >= 0 (> 0 if ``strict``) on the domain?

    See the module notes for the factorisation ``t^k C(t)``; ``strict`` needs ``k = 0``.
    """
    if domain.is_discrete:
        for x in _domain_exact_points(domain):
            v = sum(c * x**k for k, c in enumerate(cs))
            if v < 0 or (strict and v == 0):
                return False
        return True
    k = next((i for i, c in enumerate(cs) if c != 0), None)
    if k is None:
        return True  # B == 0
    C = list(cs[k:])
    verdict: bool | None = True
    for a, b in domain.intervals:
        fa, fb = _to_fraction(a), _to_fraction(b)
        for lo, hi, sgn in ((max(fa, Fraction(0)), fb, 1), (fa, min(fb, Fraction(0)), (-1) ** k)):
            if lo > hi or (lo == hi == 0 and k > 0):  # B(0) = 0 when k > 0
                continue
            v = _decide_sign(C, lo, hi, sgn, strict and k == 0)
            if v is False:
                return False
            if v is None:
                verdict = None
    return verdict


# --------------------------------------------------------------------------- the fit
#: HiGHS tolerances of the fit: the default 1e-7 is coarse next to the small denominators near
#: 0 and the gaps (measured: jumprelu:0.3 gap 0.02, sampled error 2.8e-3 -> 7.3e-4).
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def _fit_sample(domain: Domain, n: int) -> np.ndarray:
    """The fit's sample: Chebyshev points of each interval, plus 0 and geometric layers (offsets
    1e-8 .. 1e-1) around 0 and every interval end.

    ``1 + |B|`` is pinned to 1 at ``t = 0`` and may be large nearby, so ``P/(1 + |B|)`` can
    vary on a scale ``1/|b_1|`` there, far below the spacing of the Chebyshev points; at a gap
    edge the fit drives ``B`` towards 0 (a small denominator makes the jump), and without the
    layers ``B`` changed sign between samples 1e-5 inside the domain (step:0.1, gap 0.02).
    """
    x = domain.sample(n)
    g = np.logspace(-8, -1, 50)
    ends = {0.0, *(v for ab in domain.intervals_float() for v in ab)}
    x = np.concatenate([x, *[[e, *(e + g), *(e - g)] for e in sorted(ends)]])
    return np.unique(x[domain.contains(x)])


def _alternating_pattern(x: np.ndarray, domain: Domain) -> np.ndarray:
    """Signs of ``B`` that change at 0 and in every gap of the domain, +1 on the far left.

    ``B(0) = 0`` is forced, and a change of sign inside an excluded gap costs nothing; with
    ``1 + |B|`` pinned to 1 there and free to grow elsewhere, the form can make its denominator
    small near a jump, which is how a rational resolves a jump (Remez's ``Q`` has its minimum
    there).
    """
    ivs = domain.intervals_float()
    gaps = [(b, a2) for (_, b), (a2, _) in itertools.pairwise(ivs)]
    cuts = [(b + a2) / 2 for b, a2 in gaps]
    if not any(b < 0 < a2 for b, a2 in gaps):
        cuts.append(0.0)
    k = np.searchsorted(np.sort(cuts), x, side="right")
    return np.where(k % 2 == 0, 1.0, -1.0)


def _differential_correction(
    x: np.ndarray, y: np.ndarray, p1: int, q: int, s: np.ndarray, b1_zero: bool,
    margin: np.ndarray, iters: int, start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    r"""Best ``P/(1 + s B)`` on the sample, ``s`` fixed, by differential correction.

    Barrodale, Powell & Roberts (1972): with ``D = c_0 + s B`` (linear in the coefficients) and
    the current error :math:`\Delta_k` and denominator :math:`D_k`, minimise :math:`\delta`
    subject to :math:`|y_i D(t_i) - P(t_i)| - \Delta_k D(t_i) \le \delta D_k(t_i)`,
    :math:`s_i B(t_i) \ge m_i` (normalised coefficients; a margin above the LP's tolerance),
    the normalisation :math:`0 < c_0 \le 1`,
    :math:`|b_j| \le 1`.  The current approximant is feasible with :math:`\delta \le 0`, and
    :math:`\delta < 0` means a smaller error: the error decreases monotonically, to the best
    approximation on the sample (Barrodale, Powell & Roberts 1972).  The normalisation keeps the LP
    bounded where ``B`` wants to grow without limit; the result is divided by ``c_0``.  When the
    LP's rounding spoils a step, shorter steps along the segment (feasible by convexity) are
    tried.
    """
    from scipy.optimize import linprog

    n = len(x)
    V = np.vander(x, p1, increasing=True)
    Dm = np.hstack([np.ones((n, 1)), s[:, None] * np.vander(x, q + 1, increasing=True)[:, 1:]])

    def err(c: np.ndarray) -> float:
        return float(np.max(np.abs(y - (V @ c[:p1]) / (Dm @ c[p1:]))))

    if start is None:
        c = np.zeros(p1 + 1 + q)
        c[p1] = 1.0
    else:
        c = start.copy()
    delta_k = err(c)
    cost = np.zeros(p1 + q + 2)
    cost[-1] = 1.0
    bounds = [(None, None)] * p1 + [(1e-300, 1.0)] + [(-1.0, 1.0)] * q + [(None, None)]
    if b1_zero and q >= 1:
        bounds[p1 + 1] = (0.0, 0.0)
    sign_rows = np.hstack([np.zeros((n, p1 + 1)), -Dm[:, 1:], np.zeros((n, 1))])
    rhs = np.concatenate([np.zeros(2 * n), -margin])
    for _ in range(iters):
        w = Dm @ c[p1:]
        w = w / np.max(w)
        A = np.vstack([
            np.hstack([-V, (y - delta_k)[:, None] * Dm, -w[:, None]]),
            np.hstack([V, (-y - delta_k)[:, None] * Dm, -w[:, None]]),
            sign_rows,
        ])
        res = linprog(cost, A_ub=A, b_ub=rhs, bounds=bounds, method="highs",
                      options=_LP_OPTIONS)
        if res.status != 0 or res.x[-1] >= 0:
            break
        new = res.x[:-1]
        for lam in (1.0, 0.5, 0.25, 0.125):
            trial = lam * new + (1 - lam) * c
            d = err(trial)
            if d < delta_k * (1 - 1e-9):
                break
        else:
            break
        c, delta_k = trial, d
    return c[:p1] / c[p1], c[p1 + 1:] / c[p1], delta_k, c


def _fit_safe(
    x: np.ndarray, y: np.ndarray, p1: int, q: int, patterns: dict[str, np.ndarray],
    zero_inside: bool, iters: int = 40,
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Differential-correction fit of P/(1 + |B|) to samples y, best of the sign patterns.

    The sign constraints carry a margin ``s_i B(t_i) >= 1e-8 t_i^2`` (normalised coefficients),
    so that the proof of the sign of ``B`` between the samples can succeed; in the pattern
    "B >= 0", when 0 is inside the domain, also ``b_1 = 0`` (a linear term would change sign at
    0).
    """
    best: tuple[float, np.ndarray, np.ndarray, str] | None = None
    margin = 1e-8 * x**2
    for label, s in patterns.items():
        b1_zero = label == "B >= 0" and zero_inside
        # Converge on every 16th sample point (the LPs are 16x smaller), then go on from there on
        # every 4th and on all, which start near the answer (table CPU time 38.7 -> 30.8 s).
        c = None
        for k in (16, 4, 1):
            a, b, d, c = _differential_correction(x[::k], y[::k], p1, q, s[::k], b1_zero,
                                                  margin[::k], iters, start=c)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            continue  # c_0 underflowed: no usable form from this pattern
        if best is None or d < best[0]:
            best = (d, a, b, label)
    if best is None:
        raise InvalidInputError("the safe-Padé fit produced no finite coefficients")
    return best[1], best[2], best[0], best[3]


def _safe_target(name: str, a: Sequence[Any], b: Sequence[Any],
                 inner: Target | None, num: Sequence[Any], den: Sequence[Any]) -> Target:
    """A Target for ``g = (f or P/Q) - P~/(1 + |B~|)`` with interval value and derivative."""
    aq = [_to_fraction(v) for v in a]
    bq = [Fraction(0)] + [_to_fraction(v) for v in b]
    nq = [_to_fraction(v) for v in num]
    dq = [_to_fraction(v) for v in den]

    cache: dict[tuple[str, int], list[Any]] = {}

    def ivs(cs: Sequence[Fraction], key: str) -> list[Any]:
        """Interval coefficients at the current precision (cached: boxes call this often)."""
        k = (key, _iv.prec)
        if k not in cache:
            cache[k] = [_iv_of(c) for c in cs]
        return cache[k]

    def mps(cs: Sequence[Fraction], key: str) -> list[Any]:
        k = (key + "mp", mpmath.mp.prec)
        if k not in cache:
            cache[k] = [mpmath.mpf(c.numerator) / c.denominator for c in cs][::-1]
        return cache[k]

    def hd(cs: list[Any], X: Any) -> tuple[Any, Any]:
        p, dp = cs[-1], _iv.mpf(0)
        for c in reversed(cs[:-1]):
            dp = dp * X + p
            p = p * X + c
        return p, dp

    def safe_iv(X: Any) -> tuple[Any, Any]:
        P, dP = hd(ivs(aq, "a"), X)
        B, dB = hd(ivs(bq, "b"), X) if len(bq) > 1 else (_iv.mpf(0), _iv.mpf(0))
        lo, hi = _ends(B)
        if lo >= 0:
            sB, absB = _iv.mpf(1), B
        elif hi <= 0:
            sB, absB = _iv.mpf(-1), -B
        else:  # |B| and its Clarke derivative where B may vanish
            sB, absB = _iv.mpf([-1, 1]), _iv.mpf([0, max(-lo, hi)])
        D = 1 + absB
        val = P / D
        return val, (dP - val * sB * dB) / D

    def inner_iv(X: Any) -> tuple[Any, Any]:
        if inner is not None:
            d = inner.df_iv(X) if inner.df_iv is not None else None
            return inner.f_iv(X), d
        P, dP = hd(ivs(nq, "n"), X)
        Q, dQ = hd(ivs(dq, "d"), X)
        val = P / Q
        return val, (dP - val * dQ) / Q

    def f_iv(X: Any) -> Any:
        return inner_iv(X)[0] - safe_iv(X)[0]

    def df_iv(X: Any) -> Any:
        d = inner_iv(X)[1]
        return None if d is None else d - safe_iv(X)[1]

    def f_mp(x: Any) -> Any:
        P = mpmath.polyval(mps(aq, "a"), x)
        B = mpmath.polyval(mps(bq, "b"), x)
        if inner is not None:
            f = inner.mp(x)
        else:
            f = mpmath.polyval(mps(nq, "n"), x) / mpmath.polyval(mps(dq, "d"), x)
        return f - P / (1 + abs(B))

    def f_float(x: np.ndarray) -> np.ndarray:
        return np.array([float(f_mp(mpmath.mpf(float(v)))) for v in np.ravel(x)]).reshape(np.shape(x))

    bps = tuple(inner.breakpoints) if inner is not None else ()
    jumps = tuple(inner.jumps) if inner is not None else ()
    return Target(name, f_float, f_mp, f_iv, breakpoints=bps, jumps=jumps, df_iv=df_iv)


def _poly_mul(p: Sequence[Fraction], q: Sequence[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _poly_sub(p: Sequence[Fraction], q: Sequence[Fraction]) -> list[Fraction]:
    n = max(len(p), len(q))
    return [(p[k] if k < len(p) else 0) - (q[k] if k < len(q) else 0) for k in range(n)]


def _zero_iv(x: Any) -> Any:
    return _iv.mpf(0)


#: f = 0: certify(_ZERO, -N, D) bounds max |N/D| with the full Taylor machinery.
_ZERO = Target("zero", lambda x: np.zeros_like(np.asarray(x, dtype=float)), lambda x: mpmath.mpf(0),
               _zero_iv, df_iv=_zero_iv, d2f_iv=_zero_iv)


# --------------------------------------------------------------------------- the conversion
def to_safe_pade(
    num: Sequence[Any],
    den: Sequence[Any],
    domain: Domain,
    *,
    target: Any = None,
    dps: int = 30,
    sample: int = 2000,
    rel_tol: float = 1e-6,
    max_boxes: int = 20_000,
) -> SafePade:
    r"""Convert ``P/Q`` (``Q > 0`` on ``domain``) to ``P(t) / (1 + |B(t)|)``, or fit that form.

    Exact when ``B = Q/Q(0) - 1 >= 0`` is proven; otherwise fitted (to ``P/Q`` and, with a
    target, to the target itself; the smaller certified error against the target is kept).  When
    ``P/Q`` cannot be converted (``Q`` not proven positive, ``Q(0) <= 0``) and a named target
    is given, the form is fitted to the target alone and ``max_deviation`` is ``None``.  The
    module docstring has the mathematics.

    Parameters
    ----------
    num, den : sequence of numbers
        ``P`` and ``Q`` in ascending powers (mpf, float, int, Fraction or decimal strings).
    domain : Domain
        Where the two forms are compared (and ``Q > 0`` is required).
    target : str, Target or callable, optional
        When given, ``error_vs_target`` bounds ``max |f - r~|`` on the domain, and (a named
        target) the form is also fitted to ``f`` itself.
    dps : int
        Digits of the interval arithmetic used by the certificates.
    sample : int
        Size of the dense sample for the fit (non-exact case).
    rel_tol : float
        Relative tightness of the certified error against the target (exact case); for a fitted
        form that error is certified to 0.1% and its deviation from ``P/Q`` to 1%.
    max_boxes : int
        Box budget of each certificate (the bounds stay rigorous when it is hit).

    Returns
    -------
    SafePade

    Raises
    ------
    InvalidInputError
        ``Q(0) <= 0`` (no normalisation ``Q(0) = 1`` exists), or ``Q`` not proven positive on
        the domain, when no named target (one with an interval enclosure) is given; an
        identically zero ``Q``; empty coefficient lists.

    Examples
    --------
    >>> from ratapprox import Domain
    >>> sp = to_safe_pade([0, 1], [1, 0, "0.5"], Domain.interval(-1, 1))  # x / (1 + x^2/2)
    >>> sp.exact, [str(v) for v in sp.b]
    (True, ['0.0', '0.5'])
    """
    if not isinstance(domain, Domain):
        raise InvalidInputError(f"`domain` must be a ratapprox.Domain, got {type(domain).__name__}")
    if len(num) == 0 or len(den) == 0:
        raise InvalidInputError("`num` and `den` need at least one coefficient each")
    nq = [_to_fraction(v) for v in num]
    dq = [_to_fraction(v) for v in den]
    if _exact_degree(dq) < 0:
        raise InvalidInputError("the denominator is identically zero")
    tgt = get_target(target) if target is not None else None
    bits = bits_for_dps(int(dps))
    # Why P/Q cannot be converted (None: it can).  With a certifiable target the form is then
    # fitted to the target itself; without one there is nothing to convert.
    reason = None
    if dq[0] <= 0:
        reason = f"Q(0) = {float(dq[0]):.6g} <= 0: the safe-Padé form needs the normalisation Q(0) = 1"
        q0 = Fraction(1)
    else:
        q0 = dq[0]
    aq = [c / q0 for c in nq]
    Qn = [c / q0 for c in dq]
    bq = Qn[1:]
    if reason is None:
        with workprec(bits):
            if _nonneg_on_domain(Qn, domain, strict=True) is not True:
                reason = "the denominator Q is not proven positive on the domain"
    if reason is not None and (tgt is None or tgt.f_iv is None):
        raise InvalidInputError(reason)
    notes: list[str] = []
    exact: bool | None = False
    if reason is None:
        with workprec(bits):
            exact = _nonneg_on_domain([Fraction(0), *bq], domain)
    certs: dict[str, Certificate] = {}
    if exact is True:
        with mpmath.workdps(dps):
            a_out = tuple(mpmath.mpf(c.numerator) / c.denominator for c in aq)
            b_out = tuple(mpmath.mpf(c.numerator) / c.denominator for c in bq)
        method = "exact: B = Q/Q(0) - 1 >= 0 on the domain (proven by interval arithmetic)"
        dev: Any = mpmath.mpf(0)
        err = None
        if tgt is not None:
            c = certify(tgt, list(aq), list(Qn), domain, dps=dps, rel_tol=rel_tol, max_boxes=max_boxes)
            certs["error_vs_target"] = c
            err = c.upper
            if not c.rigorous:
                notes.append(f"error_vs_target is an estimate: {c.method}")
        return SafePade(a=a_out, b=b_out, exact=True, max_deviation=dev, error_vs_target=err,
                        domain=domain, method=method, notes="; ".join(notes), certificates=certs)
    if exact is None:
        notes.append("B >= 0 could not be decided on the domain: fitted instead")
    xs = _fit_sample(domain, sample)
    p1, q = len(aq), len(bq)
    zero_inside = any(_to_fraction(a) < 0 < _to_fraction(b) for a, b in domain.intervals)
    alternating = _alternating_pattern(xs, domain)
    yf = np.asarray(tgt.f_float(xs), dtype=float) if tgt is not None else None  # f on the sample
    fits = []  # (what was fitted, a, b, sampled deviation from it, sign pattern)
    if reason is None:
        with mpmath.workdps(dps):
            pm, qm = [mpmath.mpf(c.numerator) / c.denominator for c in aq][::-1], \
                [mpmath.mpf(c.numerator) / c.denominator for c in Qn][::-1]
            y = np.array([float(mpmath.polyval(pm, mpmath.mpf(float(x)))
                                / mpmath.polyval(qm, mpmath.mpf(float(x)))) for x in xs])
        # Measured on the threshold entries of the table (error against the target / Remez
        # error): the pattern of Q/Q(0) - 1 itself 20-144x (and the slowest), "B >= 0" 7-20x,
        # "alternating" 2.2-7x.  With a target, whose own fit does better still (1.2-5x), only
        # the alternating pattern is worth its time here.
        patterns = {"B alternating at 0 and the gaps": alternating}
        if tgt is None:
            patterns["B >= 0"] = np.ones_like(xs)
        fits.append(("P/Q", *_fit_safe(xs, y, p1, q, patterns, zero_inside)))
    if tgt is not None and tgt.f_iv is not None:
        patterns = {"B alternating at 0 and the gaps": alternating}
        fits.append(("the target", *_fit_safe(xs, yf, p1, q, patterns, zero_inside)))
    if tgt is not None:
        # Certify the candidates in the order of their sampled error against the target; one
        # whose sampled error (a lower bound of its true error) is above the best certified
        # bound so far cannot win, and is skipped.
        V, W = np.polynomial.polynomial.polyvander(xs, p1 - 1), np.polynomial.polynomial.polyvander(xs, q)
        sampled = [float(np.max(np.abs(yf - (V @ f[1]) / (1 + np.abs(W[:, 1:] @ f[2]))))) for f in fits]
        fits = [f for _, f in sorted(zip(sampled, fits), key=lambda z: z[0])]
        sampled.sort()
    best = None
    for i, (what, a_f, b_f, d_est, label) in enumerate(fits):
        if best is not None and sampled[i] >= best[0].upper:
            continue
        a_c = tuple(mpmath.mpf(float(v)) for v in a_f)
        b_c = tuple(mpmath.mpf(float(v)) for v in b_f)
        with workprec(bits):
            pieces = _sign_pieces(b_c, domain)
        ct = None
        if tgt is not None and tgt.f_iv is not None:  # a callable's estimate follows max_deviation
            ct = _certify_vs_target(tgt, a_c, b_c, pieces, aq, Qn, domain, dps, rel_tol, max_boxes)
        cand = (ct, what, a_c, b_c, d_est, label, pieces)
        if best is None or (ct is not None and ct.upper < best[0].upper):
            best = cand
    assert best is not None
    ct, what, a_out, b_out, d_est, label, pieces = best
    method = (f"fitted to {what}: differential correction on {len(xs)} points ({label}); "
              f"sampled deviation from {what} {d_est:.3e}")
    if len(fits) > 1:
        method += ("; of the fits to P/Q and to the target, kept the one with the smaller certified "
                   "error_vs_target")
    if pieces is not None:
        method += ("; sign of B~ proven on each piece of the domain split at 0, "
                   "certified there as the rational P~/(1 +- B~)")
    dev = None
    if reason is None:
        if pieces is not None:
            # On a piece where s B~ >= 0, r~ = P~/D with D = 1 + s B~, and
            # P/Q - r~ = (P D - P~ Q) / (Q D): certify's Taylor forms apply to both bounds.
            Pt = [_to_fraction(v) for v in a_out]
            parts = []
            for piece, sgn in pieces:
                Dq = [Fraction(1), *(sgn * _to_fraction(v) for v in b_out)]
                N = _poly_sub(_poly_mul(aq, Dq), _poly_mul(Pt, Qn))
                parts.append(certify(_ZERO, [-v for v in N], _poly_mul(Qn, Dq), piece, dps=dps,
                                     rel_tol=max(rel_tol, 1e-2), max_boxes=max_boxes))
            c = _join(parts)
        else:
            c = _abs_b_deviation(a_out, b_out, aq, Qn, domain, dps, rel_tol, max_boxes)
        certs["max_deviation"] = c
        dev = c.upper
        if not c.rigorous:
            notes.append(f"max_deviation not certified: {c.notes}")
        if math.isinf(float(dev)):
            notes.append("deviation bound is infinite")
        if tgt is not None and tgt.f_iv is None:
            # A callable target (P/Q is then valid): the estimate ||f - P/Q|| + ||P/Q - r~||,
            # the latter by the |B~| form (computed above when the sign pieces were not proven).
            cd = c if pieces is None else _abs_b_deviation(a_out, b_out, aq, Qn, domain, dps,
                                                           rel_tol, max_boxes)
            c0 = certify(tgt, list(aq), list(Qn), domain, dps=dps)
            ct = Certificate(c0.lower, c0.upper + cd.upper, False, c0.method, c0.notes)
    else:
        notes.append(f"max_deviation is None: P/Q is no valid comparison ({reason})")
    err = None
    if ct is not None:
        certs["error_vs_target"] = ct
        err = ct.upper
        if not ct.rigorous:
            notes.append(f"error_vs_target is an estimate: {ct.method}")
    return SafePade(
        a=a_out, b=b_out, exact=False, max_deviation=dev, error_vs_target=err,
        domain=domain, method=method, notes="; ".join(notes), certificates=certs,
    )


def _sign_pieces(b: Sequence[Any], domain: Domain) -> list[tuple[Domain, int]] | None:
    """The domain split at 0, each piece with a proven sign of ``B`` on it (None: not proven).

    On a piece where ``sgn B >= 0`` the safe-Padé form is the ordinary rational
    ``P / (1 + sgn B)``, which certify handles with its Taylor forms.
    """
    bq = [Fraction(0), *(_to_fraction(v) for v in b)]
    if domain.is_discrete:
        whole = [domain]
    else:
        whole = []
        for a, c in domain.intervals:
            if _to_fraction(a) < 0 < _to_fraction(c):
                whole += [Domain.interval(a, "0"), Domain.interval("0", c)]
            else:
                whole.append(Domain.interval(a, c))
    out = []
    for piece in whole:
        for sgn in (1, -1):
            if _nonneg_on_domain([sgn * v for v in bq], piece) is True:
                out.append((piece, sgn))
                break
        else:
            return None
    return out


def _join(parts: Sequence[Certificate]) -> Certificate:
    """One certificate for the maximum over the union of the pieces."""
    return Certificate(
        max(c.lower for c in parts), max(c.upper for c in parts), all(c.rigorous for c in parts),
        parts[0].method + f" (on {len(parts)} pieces, each certified)",
        "; ".join(c.notes for c in parts if c.notes),
    )


def _certify_vs_target(
    tgt: Target, a: tuple[Any, ...], b: tuple[Any, ...], pieces: list[tuple[Domain, int]] | None,
    aq: list[Fraction], Qn: list[Fraction], domain: Domain, dps: int, rel_tol: float,
    max_boxes: int,
) -> Certificate:
    """Certified bound of ``max |f - P~/(1 + |B~|)|`` on the domain, for a target with an
    interval enclosure (a callable gets an estimate in :func:`to_safe_pade`).

    With the sign of ``B~`` proven piecewise the form is a rational on each piece and certify's
    Taylor forms apply; otherwise ``|B~|`` is enclosed by interval arithmetic
    (:func:`_safe_target`).
    """
    if pieces is not None:
        return _join([
            certify(tgt, list(a), [Fraction(1), *(sgn * _to_fraction(v) for v in b)], piece,
                    dps=dps, rel_tol=max(rel_tol, 1e-3), max_boxes=max_boxes)
            for piece, sgn in pieces
        ])
    gt = _safe_target("safe_pade_error", a, b, tgt, list(aq), list(Qn))
    return certify(gt, [0], [1], domain, dps=dps, rel_tol=max(rel_tol, 1e-3), max_boxes=max_boxes)


def _abs_b_deviation(
    a: Sequence[Any], b: Sequence[Any], aq: list[Fraction], Qn: list[Fraction], domain: Domain,
    dps: int, rel_tol: float, max_boxes: int,
) -> Certificate:
    """Certified bound of ``max |P/Q - P~/(1 + |B~|)|``, ``|B~|`` enclosed directly."""
    g = _safe_target("safe_pade_deviation", a, b, None, list(aq), list(Qn))
    return certify(g, [0], [1], domain, dps=dps, rel_tol=max(rel_tol, 1e-2), max_boxes=max_boxes)
