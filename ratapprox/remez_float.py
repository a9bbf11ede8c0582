r"""The float64 rational Remez exchange in barycentric form (Filip et al. 2018).

Outline (one helper per step, as in Chebfun ``minimax``):

1. **Start** (:func:`_start_reference`, :func:`_exchange`): AAA-Lawson of type ``(m, n)`` on a
   sample of the domain that is Chebyshev on every interval and geometrically clustered at the
   target's breakpoints; the alternating extrema of its error give the first reference
   :math:`x_0 < \dots < x_{m+n+1}`.  If the exchange from there fails: a differential-correction
   start (the discrete best approximation on a sample by LPs, Barrodale, Powell & Roberts 1972;
   low degrees only), then continuation from the best approximation of type ``(m-1, n-1)``.  A
   dense grid starts from the continuous problem's reference snapped to the grid.
2. **Trial function and levelled error** (:func:`_levelled`): ``max(m, n) + 1`` *support points*
   :math:`t_j` are every other reference point (plus Leja-chosen ones when ``m != n``), and with
   numerator/denominator weights :math:`\alpha, \beta`,
   :math:`N(x) = \sum_j \alpha_j/(x - t_j)`, :math:`D(x) = \sum_j \beta_j/(x - t_j)`, the
   conditions :math:`N(x_k) = (F(x_k) - (-1)^k h/\omega(x_k)) D(x_k)` become, after scaling the
   Cauchy rows by :math:`|\ell_t(x_k)|/|\ell_x'(x_k)|^{1/2}` and a QR factorisation, the
   *symmetric* eigenproblem :math:`Q^T S F Q v = h\,Q^T W^{-1} Q v` (Filip, Nakatsukasa,
   Trefethen & Beckermann 2018, Sec. 3-5): all eigenvalues real and well conditioned, the
   reason a barycentric basis adapted to the reference succeeds where monomial or Chebyshev
   bases fail (|x| at type (80, 80)).  ``|m - n|`` degree constraints restrict :math:`\beta` or
   :math:`\alpha` to the null space of Chebyshev moments.  Of the eigenvalues we keep those in
   the de la Vallée Poussin bracket of the previous trial, then the one whose denominator keeps
   its sign on each interval (no pole on the domain), then the smallest sampled error.
3. **Extrema of the error** (:func:`_alternating_extrema`): :math:`e = \omega (F - r)` is sampled
   at Chebyshev points of every subinterval between consecutive reference points, domain
   endpoints and breakpoints (so sampling follows the exponential clustering of the reference);
   the largest :math:`|e|` of every run of constant sign is refined by zooming, giving an
   alternating set.  On a finite grid the runs are taken over the grid itself.
4. **Exchange**: multi-point exchange -- the new reference is the alternating set trimmed to
   ``m + n + 2`` points, always keeping the global maximum; when fewer alternating extrema are
   found, a one-point exchange of the global maximum into the old reference.
5. **Stop** when :math:`\max|e| - |h| \le \mathrm{tol}\,|h|` (de la Vallée Poussin:
   :math:`|h| \le E^* \le \max|e|`); at the float64 noise floor (``256 eps max|w f|``); or
   when the best max error has not improved for 6 steps with the gap already below 1e-2 |h|
   (``"stagnated"`` in the history: the float64 accuracy of that problem).  ``reason`` is
   ``"converged"``, ``"defect"`` (a verified degenerate best approximation, see below),
   ``"precision"`` (the best error is below what double resolves, e.g. exp at (8, 8)),
   ``"singular"`` (no pole-free trial function) or ``"iteration_limit"``.
6. **Polish** (:func:`_polish`, a converged run with at most 90 reference points): the last
   exchange steps redone with extended-precision residuals -- Newton on the interpolation
   conditions (residual in extended precision, correction by float64 iterative refinement),
   every reference point moved to the extremum nearby -- and the result rounded to float64
   once; ``max_error`` is then the error of the returned float64 rational evaluated in extended
   precision at its extrema.  First in numpy's long double (x86 80-bit, vectorised,
   :func:`_polish_ld`), falling back to mpmath when that gives up or long double is plain
   double.  Double alone resolves the error only to ``eps max|f|`` (exp at (4, 4): 6e-6 of
   E*; with the polish 3.8e-7, the rounding of the float64 data).  When the polish follows, the
   exchange stops at its first step on the float64 noise floor.  History rows with
   ``"polish"`` (``"long double"`` or ``"mpmath"``) record it.

**Symmetry.**  For an even target on a symmetric interval domain (and no weight) the best
approximation is even (it is unique, and :math:`r(-x)` is also best), so
:math:`r(x) = R(x^2)` with :math:`R` the best type :math:`(\lfloor m/2 \rfloor, \lfloor n/2
\rfloor)` approximation of :math:`F(y) = f(\sqrt{y})` on the image domain (for ``|x|``:
:math:`\sqrt{y}` on [0, 1]).  The exchange runs on ``R``; its barycentric data are mapped back
exactly to ``x`` with :math:`\frac{1}{x^2 - y_j} = \frac{1}{2 s_j}\big(\frac{1}{x - s_j} -
\frac{1}{x + s_j}\big)`, :math:`s_j = \sqrt{y_j}`: support points :math:`\pm s_j`, weights
:math:`\pm w_j / (2 s_j)`, values :math:`f_j` at both.  The weights cancel in pairs, so the
result is exactly an even rational of type at most (m, n) in ``x``, stable to evaluate.  This
halves the problem and squares the clustering away from 0: it is what makes ``|x|`` at type
(80, 80) cheap.  An odd target with ``m`` odd, ``n`` even on a symmetric domain without 0
(sign on :math:`E_\delta`) becomes :math:`r = x R(x^2)`, the best weighted approximation of
:math:`f(\sqrt y)/\sqrt y` with weight :math:`\sqrt y` on one interval :math:`[\delta^2, 1]`.
ReLU at type (m, n) with ``m >= n + 1`` is :math:`(x + s^*)/2` with :math:`s^*` the best
approximation of ``|x|`` of the same type (:func:`_relu_from_abs`); ReLU at type (k, k) starts
from the reference of type (k + 1, k) (:func:`_relu_diagonal`; k = 18 .. 40 in 3-6 s).  The alternation set is
mapped back too; when it has fewer than ``m + n + 2`` points the best approximation has a
defect, and it is *verified* best by the characterisation with defect (Achieser 1956): a
rational with defect d is best iff it equioscillates on ``m + n + 2 - d`` points.  Such runs
return ``converged=True, reason="defect", defect=d``.

References
----------
.. [1] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen and B. Beckermann, "Rational minimax
   approximation via adaptive barycentric representations", SIAM J. Sci. Comput. 40(4),
   A2427-A2455, 2018. :doi:`10.1137/17M1132409`
.. [2] Y. Nakatsukasa and L. N. Trefethen, "An algorithm for real and complex rational minimax
   approximation", SIAM J. Sci. Comput. 42(5), 2020 (AAA-Lawson start).
.. [3] L. N. Trefethen, *Approximation Theory and Approximation Practice*, SIAM 2019, ch. 10 and
   24 (equioscillation, the Remez algorithm, de la Vallée Poussin).
.. [4] H. Stahl, "Best uniform rational approximation of |x| on [-1, 1]", Mat. Sb. 183, 1992.
.. [5] I. Barrodale, M. J. D. Powell and F. D. K. Roberts, "The differential correction
   algorithm for rational l_infinity approximation", SIAM J. Numer. Anal. 9(3), 1972.
.. [6] N. I. Achieser, *Theory of Approximation*, Ungar 1956, Sec. 33 (characterisation with
   defect).

Possible issues
---------------
* The fast polish needs numpy's long double to be wider than double (x86-64 Linux/macOS: the
  80-bit format).  Where it is plain double (Windows, Apple silicon) the mpmath polish runs:
  same result, ~90 ms instead of ~2 ms on exp (4, 4).  The long-double ``|h|`` is accurate to
  about ``1e-19 max|f| / E*`` relative (exp (4, 4): ~1e-9; the mpmath one to ~1e-12); both are
  far below the float64 rounding of the returned data, which is what limits ``max_error``.
* Float64 limits the levelled error to roughly ``1e-13`` relative to ``max|f|``, and on
  strongly clustered references (|x| at high degree) the de la Vallée Poussin gap stalls around
  ``1e-3`` relative: those runs stop on the noise or stagnation test and say so in the history.
* ``max_error`` is a sampled maximum (Chebyshev samples per subinterval plus zoom refinement),
  an estimate: it can sit below the true maximum by ~1e-7 relative on hard problems.  Only the
  certificate computed in ``minimax`` is a bound.
* The pole test samples the denominator at the search points; a pole pair squeezed between two
  samples would escape it (the certification in ``minimax`` would then fail loudly).
* Rational Remez needs a start; some problems still end in ``"singular"`` or
  ``"iteration_limit"`` (seen: a few jumprelu thresholds with a narrow exclusion; |x| at
  (80, 79); a jump inside a grid; ReLU at type (k, k), k >= 18, on an asymmetric interval,
  where the start from the type (k + 1, k) reference does not apply).  They are
  reported, never returned as converged; the mpmath engine (``minimax(..., dps=...)``) is the
  next thing to try.
* A target with a jump inside a continuous domain has no uniform rational approximation worth
  the name: exclude a neighbourhood of the jump (``Domain.excluding``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import mpmath
import numpy as np
import scipy.linalg

from ._context import workdps, workprec
from ._exchange import ExchangeRun
from .aaa import aaa_lawson
from .barycentric import BarycentricRational
from .domains import Domain
from .errors import InvalidInputError
from .extrema import brent_max_mp  # mp Brent maximiser (shared with the mpmath engine)
from .targets import Target, get_target

__all__ = ["remez_float"]

EPS = float(np.finfo(float).eps)
#: Chebyshev samples per subinterval of the extremum search (the error has at most a couple of
#: extrema between consecutive reference points once the exchange is under way).
SAMPLES_PER_SEGMENT = 24
#: Zoom steps of the extremum refinement; each shrinks the bracket by 4 (4**-18 ~ 1e-11).
ZOOM_STEPS = 18
#: The start's extremum zoom (AAA-Lawson stop test, first reference) stops once e is flat to this
#: multiple of eps * max|w f| (its rounding level) across every candidate's bracket: beyond
#: that it only chases noise.  The exchange itself zooms to the end (its reference fixes the
#: support points, and with them how the final rounding to float64 falls).
ZOOM_FLAT = 8.0
#: Default relative tolerance on (max|e| - |h|) / |h|.
DEFAULT_TOL = 1e-10
#: Multiple of eps * max|w f| below which max|e| - |h| is rounding noise.
NOISE_FACTOR = 256.0
#: A start whose sampled error is below this multiple of the noise level means "precision".
PRECISION_FACTOR = 4.0
#: Depth of the geometric clustering of the start sample at breakpoints (relative to the length).
CLUSTER_DEPTH = 1e-15
#: The AAA-Lawson start stops once its error alternates with |e| levelled within this factor.
START_SPREAD = 4.0
#: Slack on the de la Vallee Poussin bracket of the levelled error (rounding, inexact extrema).
BRACKET_SLACK = 0.5


@dataclass
class _Problem:
    """A minimax problem in float64: F, the domain as intervals or points, breakpoints, weight."""

    f: Callable[[np.ndarray], np.ndarray]
    intervals: list[tuple[float, float]]
    points: np.ndarray | None
    breakpoints: np.ndarray
    weight: Callable[[np.ndarray], np.ndarray] | None
    cluster_depth: float = CLUSTER_DEPTH
    #: extra points where the start sample is clustered (e.g. the gap edge delta^2 of a
    #: parity-reduced sign problem, where y^(-1/2) varies on the scale delta^2)
    cluster_at: tuple[float, ...] = ()
    #: points in the gaps of the hull where the denominator's sign is checked too
    gap_points: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    #: F and the weight at one ``mpf`` (the extended-precision polish, :func:`_polish`); None:
    #: no polish (for ``weight_mp``: no polish when ``weight`` is set, weight 1 otherwise)
    f_mp: Callable[[Any], Any] | None = None
    weight_mp: Callable[[Any], Any] | None = None
    #: start samples and noise levels already computed, by (kind, m, n)
    memo: dict[tuple[str, int, int], Any] = dataclasses.field(default_factory=dict, repr=False)

    @staticmethod
    def gaps_of(intervals: list[tuple[float, float]], lo: float | None = None) -> np.ndarray:
        """Sample points of the gaps between the intervals (and of [lo, first interval))."""
        edges = [(b, a2) for (_, b), (a2, _) in itertools.pairwise(intervals)]
        if lo is not None and lo < intervals[0][0]:
            edges.insert(0, (lo, intervals[0][0]))
        pts = [a + (b - a) * _cheb01(GAP_SAMPLES) for a, b in edges]
        return np.concatenate(pts) if pts else np.zeros(0)

    def omega(self, x: np.ndarray) -> np.ndarray:
        if self.weight is None:
            return np.ones_like(x)
        try:
            w = np.asarray(self.weight(x), dtype=float)
            if w.shape != x.shape:
                w = np.broadcast_to(w, x.shape).astype(float)
        except (TypeError, ValueError):
            # a scalar weight (``minimax`` documents calls with one mpf): evaluate point by point
            w = np.array([float(self.weight(mpmath.mpf(float(v)))) for v in x.ravel()]).reshape(x.shape)
        if not np.all(np.isfinite(w) & (w > 0)):
            raise InvalidInputError("`weight` must be finite and positive on the domain")
        return w

    def err(self, r: BarycentricRational, x: np.ndarray) -> np.ndarray:
        return self.omega(x) * (self.f(x) - r(x))


# --------------------------------------------------------------------------- sampling
def _cheb01(k: int) -> np.ndarray:
    """k Chebyshev points of the second kind on [0, 1], ascending, endpoints included."""
    return (1 - np.cos(np.pi * np.arange(k) / (k - 1))) / 2


def _start_sample(prob: _Problem, m: int, n: int) -> np.ndarray:
    """Dense start sample: Chebyshev per interval plus geometric clusters at breakpoints."""
    if prob.points is not None:
        return prob.points
    if ("sample", m, n) not in prob.memo:
        x = _make_start_sample(prob, m, n)
        x.setflags(write=False)  # shared by every caller
        prob.memo["sample", m, n] = x
    return prob.memo["sample", m, n]


def _make_start_sample(prob: _Problem, m: int, n: int) -> np.ndarray:
    total = sum(b - a for a, b in prob.intervals)
    k_total = max(1500, 40 * (m + n + 2))
    out = []
    geo = np.geomspace(prob.cluster_depth, 1.0, 300)
    for a, b in prob.intervals:
        k = max(64, int(k_total * (b - a) / total))
        out.append(a + (b - a) * _cheb01(k))
        L = b - a
        for c in prob.breakpoints:
            if a <= c <= b:
                out.append(c + L * geo)
                out.append(c - L * geo)
        for c in prob.cluster_at:
            if a <= c <= b:
                out.append(c + L * geo[::2])
                out.append(c - L * geo[::2])
    x = np.unique(np.concatenate(out))
    return x[_inside(prob, x)]


def _inside(prob: _Problem, x: np.ndarray) -> np.ndarray:
    keep = np.zeros(x.shape, dtype=bool)
    for a, b in prob.intervals:
        keep |= (x >= a) & (x <= b)
    return keep


def _search_nodes(prob: _Problem, ref: np.ndarray) -> np.ndarray:
    """Points where the error is sampled: Chebyshev points of every subinterval between
    consecutive reference points, domain endpoints and breakpoints (or the grid itself)."""
    if prob.points is not None:
        return prob.points
    t = _cheb01(SAMPLES_PER_SEGMENT)
    out = []
    for a, b in prob.intervals:
        inner = ref[(ref > a) & (ref < b)]
        bp = prob.breakpoints[(prob.breakpoints > a) & (prob.breakpoints < b)]
        edges = np.unique(np.concatenate([[a, b], inner, bp]))
        lo, hi = edges[:-1], edges[1:]
        out.append((lo[:, None] + (hi - lo)[:, None] * t[None, :]).ravel())
    return np.unique(np.concatenate(out))


# --------------------------------------------------------------------------- extrema
def _refine(prob: _Problem, r: BarycentricRational, xb: np.ndarray, eb: np.ndarray,
            lo: np.ndarray, hi: np.ndarray, flat: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Zoom on the maximum of ``sign(eb) * e`` inside ``[lo, hi]`` (all candidates at once).

    Stops early once every candidate's error is flat to ``flat`` across its next bracket (the
    maximum there is then within ``flat`` of the value found): below the rounding level of
    ``e`` further zooming only chases noise.
    """
    s = np.sign(eb)
    u = np.linspace(0.0, 1.0, 9)
    for _ in range(ZOOM_STEPS):
        width = hi - lo
        if np.all(width <= 4 * EPS * np.maximum(np.abs(xb), np.finfo(float).tiny)):
            break
        T = lo[:, None] + width[:, None] * u[None, :]
        E = s[:, None] * prob.err(r, T.ravel()).reshape(T.shape)
        k = np.argmax(E, axis=1)
        rows = np.arange(len(k))
        better = E[rows, k] > s * eb
        xb = np.where(better, T[rows, k], xb)
        eb = np.where(better, s * E[rows, k], eb)
        km, kp = np.maximum(k - 1, 0), np.minimum(k + 1, 8)
        lo, hi = T[rows, km], T[rows, kp]
        if flat > 0 and np.all(E[rows, k] - np.minimum(E[rows, km], E[rows, kp]) <= flat):
            break
    return xb, eb


def _alternating_extrema(prob: _Problem, r: BarycentricRational, x: np.ndarray, flat: float = 0.0
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """Alternating extrema of e = w (F - r) from the sorted sample ``x`` (``flat``: see
    :func:`_refine`).

    Returns ``(xc, ec, emax)``: one point per run of constant sign of ``e`` (its largest |e|,
    refined on continuous domains), and the global max |e| found.
    """
    e = prob.err(r, x)
    if not np.all(np.isfinite(e)):
        return np.array([]), np.array([]), math.inf
    nz = e != 0
    xs, es, idx = x[nz], e[nz], np.nonzero(nz)[0]
    if xs.size == 0:
        return x[:1], e[:1], 0.0
    sg = es > 0
    starts = np.concatenate([[0], np.nonzero(sg[1:] != sg[:-1])[0] + 1])
    ends = np.concatenate([starts[1:], [xs.size]])
    best = np.array([s + int(np.argmax(np.abs(es[s:t]))) for s, t in zip(starts, ends)])
    xc, ec = xs[best], es[best]
    if prob.points is None:
        i = idx[best]
        lo = x[np.maximum(i - 1, 0)]
        hi = x[np.minimum(i + 1, x.size - 1)]
        # never bracket across a gap of the domain
        for a, b in prob.intervals:
            inb = (xc >= a) & (xc <= b)
            lo = np.where(inb, np.maximum(lo, a), lo)
            hi = np.where(inb, np.minimum(hi, b), hi)
        xc, ec = _refine(prob, r, xc, ec, lo, hi, flat)
        order = np.argsort(xc)
        xc, ec = xc[order], ec[order]
    return xc, ec, float(np.max(np.abs(ec)))


def _trim(xc: np.ndarray, ec: np.ndarray, N2: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce an alternating set to N2 points, keeping alternation and the largest errors."""
    x, e = list(xc), list(ec)
    while len(x) > N2:
        a = np.abs(e)
        if len(x) - N2 == 1:
            k = 0 if a[0] < a[-1] else len(x) - 1
            del x[k], e[k]
            continue
        i = int(np.argmin(a))
        if i == 0 or i == len(x) - 1:
            del x[i], e[i]
            continue
        j = i - 1 if a[i - 1] < a[i + 1] else i + 1
        for k in sorted((i, j), reverse=True):
            del x[k], e[k]
    return np.array(x), np.array(e)


def _one_point_exchange(ref: np.ndarray, eref: np.ndarray, xs: float, es: float
                        ) -> np.ndarray:
    """Classical single exchange: put the global maximum ``xs`` into the reference."""
    x, e = list(ref), list(eref)
    k = int(np.searchsorted(x, xs))
    if k < len(x) and x[k] == xs:
        return np.array(x)
    same = lambda j: np.sign(e[j]) == np.sign(es)
    if k == 0:
        if same(0):
            x[0] = xs
        else:
            x = [xs, *x[:-1]]
    elif k == len(x):
        if same(k - 1):
            x[k - 1] = xs
        else:
            x = [*x[1:], xs]
    elif same(k - 1):
        x[k - 1] = xs
    else:
        x[k] = xs
    return np.array(sorted(x))


# --------------------------------------------------------------------------- levelled error
def _support_split(ref: np.ndarray, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``max(m, n) + 1`` support points in the reference, and of the others.

    Every other reference point (odd indices) is a support point, so support and other points
    interlace (Filip et al. 2018, Sec. 3); when ``m != n`` more are added from the remaining
    points in Leja order (spread out).  An endpoint ``y = 0`` of a parity-reduced problem is
    never a support point (the map back to ``x`` divides by ``sqrt(y_j)``).
    """
    N2 = m + n + 2
    sup = list(range(1, N2, 2))
    rest = [i for i in range(N2) if i % 2 == 0]
    need = max(m, n) + 1 - len(sup)
    if need > 0:
        cand = [i for i in rest if not (ref[i] == 0 and i == 0)] or rest
        chosen: list[int] = []
        for _ in range(need):
            pool = [i for i in cand if i not in chosen]
            if not chosen:
                pick = pool[-1]
            else:
                # Leja: maximise the product of distances to the points already chosen
                score = [np.sum(np.log(np.abs(ref[i] - ref[sup + chosen]) + 1e-300)) for i in pool]
                pick = pool[int(np.argmax(score))]
            chosen.append(pick)
        sup = sorted(sup + chosen)
    sup_a = np.array(sup[: max(m, n) + 1], dtype=int)
    other = np.setdiff1d(np.arange(N2), sup_a)
    return sup_a, other


def _pole_check_points(prob: _Problem, x: np.ndarray) -> np.ndarray:
    """Where the denominator must keep its sign: the domain points ``x`` plus points in the
    gaps of the hull (``prob.gap_points``).

    The class searched is that of ``ratapprox.minimax``: r continuous on the hull
    ``[min X, max X]`` (no pole in the gaps of a union of intervals either: a gate must not blow
    up there).  On a grid only the grid points count: q of one sign on the grid is the class in
    which alternation on m + n + 2 points characterises the best approximation.
    """
    if prob.points is not None:
        return np.unique(x[np.isin(x, prob.points)])
    return np.unique(np.concatenate([x, prob.gap_points]))


def _sign_changes(prob: _Problem, r: BarycentricRational, x: np.ndarray) -> int:
    """Sign changes of the denominator on the hull of the domain (see _pole_check_points)."""
    return r.denominator_sign_changes(_pole_check_points(prob, x))


def _row_sorted_qr(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Householder QR with the rows sorted by decreasing norm (the rows of the scaled Cauchy
    matrix span many orders of magnitude; Chebfun ``minimax`` does the same)."""
    order = np.argsort(-np.linalg.norm(M, axis=1), kind="stable")
    Q, R = np.linalg.qr(M[order], mode="reduced")
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    return Q[inv], R


def _levelled(prob: _Problem, ref: np.ndarray, m: int, n: int, check: np.ndarray,
              bracket: tuple[float, float] | None = None
              ) -> tuple[BarycentricRational | None, float, int]:
    r"""Trial rational and levelled error h on the reference: a symmetric eigenproblem.

    Unknowns: numerator and denominator weights :math:`\alpha, \beta` on the support points
    :math:`t_j` (a subset of the reference), conditions
    :math:`C\alpha = (F - h S W^{-1}) C \beta` on the reference, :math:`C_{ij} = 1/(x_i - t_j)`,
    :math:`S = \mathrm{diag}((-1)^i)`, :math:`W = \mathrm{diag}(\omega(x_i))`.  Scaling row
    ``i`` by :math:`|\ell_t(x_i)| / |\ell_x'(x_i)|^{1/2}` (finite at the support rows) gives
    :math:`C_*`, whose columns are S-orthogonal (:math:`Q^T S Q = 0` for
    :math:`C_* = QR`), because :math:`\sum_i g(x_i)/\ell_x'(x_i) = 0` for
    :math:`\deg g \le m + n`.  Multiplying by :math:`Q^T S` leaves the symmetric(-definite)
    problem :math:`Q^T S F Q\, v = h\, Q^T W^{-1} Q\, v`, :math:`\beta = R^{-1} v`
    (Filip, Nakatsukasa, Trefethen & Beckermann 2018, Sec. 3-5): all eigenvalues real and
    well conditioned, which is what makes type (40, 40) on a reference clustered at 1e-20 work.
    Degree constraints for ``m != n`` restrict :math:`\beta` (``m > n``) or :math:`\alpha`
    (``m < n``) to the null space of Chebyshev moments.

    ``bracket = (mu, E)`` is where |h| must lie when the reference is the alternating set of a
    previous trial ``r~`` (de la Vallee Poussin: ``mu = min |e~(x_k)| <= |h| <= E* <= max|e~|``).
    Returns ``(r, h, sign_changes)``; ``r`` is None when the linear algebra fails.
    """
    sup, _ = _support_split(ref, m, n)
    out = _levelled_on(prob, ref, ref[sup], m, n, check, bracket)
    if out[0] is not None and out[2] == 0:
        return out
    # No pole-free trial function with support points on the reference: try the midpoints of
    # (x_0, x_1), (x_2, x_3), ... as support points (Chebfun's fallback; a near-degenerate
    # reference can make a support-point weight vanish, which leaves a pole there).
    alt = _levelled_on(prob, ref, _midpoint_support(prob, ref, m, n), m, n, check, bracket)
    if alt[0] is not None and (out[0] is None or alt[2] < out[2]):
        return alt
    return out


def _midpoint_support(prob: _Problem, ref: np.ndarray, m: int, n: int) -> np.ndarray:
    """max(m, n) + 1 support points between reference points (midpoints, in the domain)."""
    mids = 0.5 * (ref[:-1] + ref[1:])
    first = mids[0::2]
    rest = mids[1::2]
    t = list(first[: max(m, n) + 1])
    for v in rest:
        if len(t) >= max(m, n) + 1:
            break
        t.append(v)
    return np.sort(np.array(t))


def _levelled_on(prob: _Problem, ref: np.ndarray, t: np.ndarray, m: int, n: int, check: np.ndarray,
                 bracket: tuple[float, float] | None) -> tuple[BarycentricRational | None, float, int]:
    """The symmetric levelled-error problem of :func:`_levelled` for given support points ``t``
    (some of them reference points or none)."""
    N2 = m + n + 2
    N1 = max(m, n) + 1
    if t.size != N1 or np.unique(t).size != N1:
        return None, math.nan, -1
    F = prob.f(ref)
    winv = 1.0 / prob.omega(ref)
    S = (-1.0) ** np.arange(N2)
    pos = np.searchsorted(ref, t)
    on_ref = (pos < N2) & (ref[np.minimum(pos, N2 - 1)] == t)
    sup = pos[on_ref]
    other = np.setdiff1d(np.arange(N2), sup)
    # log |l_x'(x_i)| and log |l_t(x_i)| without overflow
    dx = np.abs(ref[:, None] - ref[None, :])
    np.fill_diagonal(dx, 1.0)
    log_lx = np.sum(np.log(dx), axis=1)
    Cs = np.zeros((N2, N1))
    xo = ref[other]
    dt = xo[:, None] - t[None, :]
    log_lt = np.sum(np.log(np.abs(dt)), axis=1)
    Cs[other] = np.exp(log_lt - 0.5 * log_lx[other])[:, None] / dt
    if sup.size:
        tt = np.abs(t[:, None] - t[None, :])
        np.fill_diagonal(tt, 1.0)
        cols = np.nonzero(on_ref)[0]
        Cs[sup, cols] = np.exp(np.sum(np.log(tt[cols]), axis=1) - 0.5 * log_lx[sup])
    if not np.all(np.isfinite(Cs)):
        return None, math.nan, -1
    d = abs(m - n)
    if d:
        lo_t, hi_t = float(t.min()), float(t.max())
        K = np.polynomial.chebyshev.chebvander((2 * t - lo_t - hi_t) / (hi_t - lo_t), d - 1).T
        Qmn = scipy.linalg.null_space(K)
    try:
        if m == n:
            Q, R = _row_sorted_qr(Cs)
            Qa, Ra, Pa = Q, R, None
        elif m > n:  # beta constrained, alpha free
            Q, R = _row_sorted_qr(Cs @ Qmn)
            Qa, Ra, Pa = *_row_sorted_qr(Cs), None
        else:  # alpha constrained, beta free
            Q, R = _row_sorted_qr(Cs)
            Qa, Ra = _row_sorted_qr(Cs @ Qmn)
            Pa = Qmn
        A = Q.T @ (S[:, None] * F[:, None] * Q)
        A = (A + A.T) / 2
        B = Q.T @ (winv[:, None] * Q)
        B = (B + B.T) / 2
        hs, V = scipy.linalg.eigh(A, B)
    except (np.linalg.LinAlgError, ValueError):
        return None, math.nan, -1
    # All candidates at once: denominator weights, numerator weights from the projection.
    Beta = scipy.linalg.solve_triangular(R, V)
    if m > n:
        Beta = Qmn @ Beta
    QV = Q @ V
    Alpha = scipy.linalg.solve_triangular(
        Ra, Qa.T @ (F[:, None] * QV - (S * winv)[:, None] * QV * hs[None, :]))
    if Pa is not None:
        Alpha = Pa @ Alpha
    good = np.all(np.isfinite(Beta), axis=0) & np.all(np.isfinite(Alpha), axis=0) & np.all(Beta != 0, axis=0)
    if not np.any(good):
        return None, math.nan, -1
    idx = np.nonzero(good)[0]
    changes = _q_sign_changes(prob, t, Beta[:, idx], np.concatenate([check, ref]))
    order = list(range(idx.size))
    if bracket is not None:
        lo, hi = bracket
        inside = [k for k in order if BRACKET_SLACK * lo <= abs(hs[idx[k]]) <= hi / BRACKET_SLACK]
        order = inside or order
    fewest = min(changes[k] for k in order)
    order = [k for k in order if changes[k] == fewest]

    def build(k: int) -> BarycentricRational:
        beta, alpha = Beta[:, idx[k]], Alpha[:, idx[k]]
        sc = np.max(np.abs(beta))
        return BarycentricRational(t, alpha / beta, beta / sc, type=(m, n))

    if len(order) > 1:
        # Several pole-free candidates (possible when the domain has gaps): the levelled
        # solution has the smallest error between the reference points.
        def sampled_max(k: int) -> float:
            e = np.abs(prob.err(build(k), check))
            return float(np.max(e)) if np.all(np.isfinite(e)) else math.inf
        order.sort(key=lambda k: (sampled_max(k), abs(hs[idx[k]])))
    k = order[0]
    try:
        r = build(k)
    except InvalidInputError:
        return None, math.nan, -1
    return r, float(hs[idx[k]]), int(changes[k])


def _q_sign_changes(prob: _Problem, t: np.ndarray, Beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sign changes of q = l_t(x) sum_j beta_j/(x - t_j) inside each interval, per column."""
    x = _pole_check_points(prob, x)
    groups = [np.ones(x.shape, dtype=bool)]
    diff = x[:, None] - t[None, :]
    hit = diff == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        D = np.where(hit, 0.0, 1.0 / np.where(hit, 1.0, diff)) @ Beta
    sgn_l = np.where(np.sum(diff < 0, axis=1) % 2 == 0, 1.0, -1.0)
    sg = np.sign(D) * sgn_l[:, None]
    rows, cols = np.nonzero(hit)
    if rows.size:  # q(t_j) = beta_j prod_{k != j}(t_j - t_k): sign (-1)^{#t_k > t_j}
        nbig = np.sum(t[None, :] > t[cols][:, None], axis=1)
        sg[rows] = np.sign(Beta[cols]) * np.where(nbig % 2 == 0, 1.0, -1.0)[:, None]
    out = np.zeros(Beta.shape[1], dtype=int)
    for g in groups:
        sgg = sg[g]
        for j in range(Beta.shape[1]):
            col = sgg[:, j]
            col = col[col != 0]
            out[j] += int(np.count_nonzero(col[1:] != col[:-1]))
    return out


# --------------------------------------------------------------------------- start
def _spread(prob: _Problem, k: int) -> np.ndarray:
    """``k`` points spread like Chebyshev points over the domain (over the grid if discrete)."""
    if prob.points is not None:
        x = prob.points
        idx = np.round((1 - np.cos(np.pi * (np.arange(k) + 0.5) / k)) / 2 * (x.size - 1)).astype(int)
        return x[np.unique(idx)]
    lengths = np.array([b - a for a, b in prob.intervals])
    cum = np.concatenate([[0], np.cumsum(lengths)]) / lengths.sum()
    v = (1 - np.cos(np.pi * (np.arange(k) + 0.5) / k)) / 2  # Chebyshev points of the 1st kind
    pts = []
    for vi in v:
        j = min(int(np.searchsorted(cum, vi, side="right")) - 1, len(lengths) - 1)
        a, b = prob.intervals[j]
        pts.append(a + (b - a) * (vi - cum[j]) / (cum[j + 1] - cum[j]))
    return np.unique(np.array(pts))


def _start_reference(prob: _Problem, m: int, n: int
                     ) -> tuple[np.ndarray, tuple[float, float] | None, BarycentricRational | None, float]:
    """First reference from the alternating extrema of an AAA-Lawson error.

    Support points from typed AAA first (they follow singularities), then Chebyshev-spread
    ones (robust for jumps next to an excluded gap, where greedy AAA can leave spurious poles).
    The first start without a pole in the domain and with ``m + n + 2`` alternating extrema wins;
    failing both, Chebyshev-spread reference points.
    """
    N2 = m + n + 2
    x = _start_sample(prob, m, n)
    if x.size < N2:
        raise InvalidInputError(f"the domain has {x.size} points; type {(m, n)} needs at least {N2}")
    F = prob.f(x)
    om = prob.omega(x)
    pieces = [_pole_check_points(prob, x)]
    # the best-levelled pole-free iterate seen with m + n + 2 alternations (a fallback when the
    # Lawson iteration never levels within START_SPREAD)
    seen: dict[str, Any] = {}
    flat = _noise(prob, m, n) * ZOOM_FLAT / NOISE_FACTOR

    def enough(r: BarycentricRational) -> bool:
        # enough alternations, and levelled within a factor START_SPREAD (a poor start reference
        # can lead the exchange into a local solution with a pole in the domain)
        xc, ec, emax = _alternating_extrema(prob, r, x, flat)
        if xc.size < N2:
            return False
        ref, eref = _trim(xc, ec, N2)
        spread = float(np.min(np.abs(eref))) / emax
        if spread > seen.get("spread", -1.0):
            seen.update(spread=spread, ref=ref, bracket=(float(np.min(np.abs(eref))), emax), r=r, e=emax)
        return spread >= 1 / START_SPREAD

    for support, iters in ((None, 100), ("spread", 60)):
        zs = None if support is None else _spread(prob, max(m, n) + 1)
        if zs is not None and zs.size != max(m, n) + 1:
            continue
        try:
            r0, _ = aaa_lawson(x, F, (m, n), weight=om, max_iter=iters, support_points=zs,
                               stop=enough)
        except (InvalidInputError, np.linalg.LinAlgError, ValueError):
            continue
        if not sum(r0.denominator_sign_changes(p) for p in pieces if p.size > 1):
            xc, ec, emax = _alternating_extrema(prob, r0, x, flat)
            if xc.size >= N2:
                ref, eref = _trim(xc, ec, N2)
                return ref, (float(np.min(np.abs(eref))), emax), r0, emax
        if "ref" in seen:
            return seen["ref"], seen["bracket"], seen["r"], seen["e"]
    return _spread(prob, N2), None, None, math.inf


# --------------------------------------------------------------------------- the exchange
def _iterate(prob: _Problem, m: int, n: int, ref: np.ndarray, max_iter: int, tol: float,
             bracket: tuple[float, float] | None = None) -> dict[str, Any]:
    """The exchange loop from a given reference; a dict with the fields of ExchangeRun."""
    N2 = m + n + 2
    sample = _start_sample(prob, m, n)
    noise = _noise(prob, m, n)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    check = sample
    short = floor_hits = poles_run = since_best = 0
    fast_polish = _polish_applies(prob, N2) and LD_AVAILABLE
    reason, converged, defect = "iteration_limit", False, 0
    it = 0
    for it in range(1, max_iter + 1):
        if ref.size < N2:
            reason, defect = "defect", N2 - ref.size
            break
        # --- trial function and levelled reference error
        r, h, changes = _levelled(prob, ref, m, n, check, bracket)
        if r is None:
            reason = "singular"
            break
        # --- extrema of the error and the new alternating set
        nodes = _search_nodes(prob, ref)
        xc, ec, emax = _alternating_extrema(prob, r, nodes)
        check = nodes
        habs = abs(h)
        ratio = emax / habs if habs > 0 else math.inf
        history.append({"iteration": it, "levelled_error": habs, "max_error": emax, "ratio": ratio,
                        "poles_in_domain": changes > 0, "alternating_extrema": int(xc.size)})
        new_ref = _trim(xc, ec, N2)[0] if xc.size >= N2 else ref
        last = {"rational": r, "levelled_error": habs, "max_error": emax, "reference": new_ref}
        improved = False
        if changes == 0 and np.isfinite(emax) and (best is None or emax < best["max_error"]):
            best, improved = last, True
        # --- convergence test (de la Vallee Poussin: |h| <= E* <= emax)
        ok = changes == 0 and xc.size >= N2
        gap = emax - habs
        if ok and habs <= noise and emax <= PRECISION_FACTOR * noise:
            # the levelled error itself is below what float64 resolves on this problem
            reason = "precision"
            history[-1]["noise_floor"] = noise
            break
        if ok and gap <= tol * habs:
            converged, reason = True, "converged"
            break
        if ok and gap <= noise:
            # rounding noise dominates the gap: keep exchanging while it still helps, unless
            # the long-double polish follows (it does these last steps without the noise)
            floor_hits += 1
            history[-1]["noise_floor"] = noise
            if floor_hits >= 3 or not improved or fast_polish:
                converged, reason = True, "converged"
                break
        since_best = 0 if improved else since_best + 1
        if (best is not None and since_best >= STAGNATION_STEPS
                and best["max_error"] - best["levelled_error"] <= STAGNATION_RTOL * best["levelled_error"]):
            # No progress for several steps with the de la Vallee Poussin gap already small:
            # the float64 accuracy of this problem is reached (the gap stays in the history and
            # in the result's [levelled_error, max_error]).
            converged, reason = True, "converged"
            history[-1]["stagnated"] = True
            break
        poles_run = poles_run + 1 if changes > 0 else 0
        if poles_run >= POLE_STALL:
            # no pole-free trial function for many steps: this start will not get there
            reason = "singular"
            break
        # --- exchange; the next levelled error is bracketed by this trial's errors
        upper = emax if changes == 0 else math.inf
        if xc.size >= N2:
            ref = new_ref
            bracket = (float(np.min(np.abs(_trim(xc, ec, N2)[1]))), upper)
            short = 0
        else:
            short += 1
            if short >= 3 and changes == 0 and gap <= max(1e-3 * habs, noise):
                # the error equioscillates on fewer than m + n + 2 points: a degenerate best
                reason, defect = "defect", N2 - int(xc.size)
                break
            k = int(np.argmax(np.abs(ec)))
            ref = _one_point_exchange(ref, prob.err(r, ref), float(xc[k]), float(ec[k]))
            eref = prob.err(r, ref)
            alternates = np.all(np.sign(eref[1:]) == -np.sign(eref[:-1]))
            bracket = (float(np.min(np.abs(eref))), upper) if alternates else None
    out = best if best is not None else last
    if out is None:
        raise InvalidInputError(
            f"the Remez exchange could not form a trial function of type {(m, n)} on this domain"
        )
    out = dict(out)
    if best is None and reason not in ("defect", "precision"):
        reason = "singular"
    out.update(iterations=it, history=history, converged=converged, reason=reason, defect=defect)
    return out


def _differential_correction_reference(prob: _Problem, m: int, n: int) -> np.ndarray | None:
    r"""Start reference from the discrete best approximation on a sample, by differential
    correction (Barrodale, Powell & Roberts 1972): each step an LP

    .. math::

        \min d \;\text{s.t.}\; |\omega_i (f_i q(x_i) - p(x_i))| - \Delta_k q(x_i)
        \le d\, q_k(x_i), \quad |b_j| \le 1,

    in Chebyshev bases, :math:`\Delta_{k+1} = \max \omega |f - p/q|`.  It converges to the
    discrete optimum from any start and needs no pole-free guess, which makes it the robust
    (if slow: one LP per step) start for low degrees where AAA-Lawson leaves spurious poles.
    """
    from scipy.optimize import linprog  # only needed on this fallback path

    x = _start_sample(prob, m, n)
    if x.size > DC_SAMPLE:
        x = x[np.unique(np.linspace(0, x.size - 1, DC_SAMPLE).round().astype(int))]
    N2 = m + n + 2
    if x.size < N2:
        return None
    f, w = prob.f(x), prob.omega(x)
    lo, hi = float(x[0]), float(x[-1])
    cheb = np.polynomial.chebyshev
    t = (2 * x - lo - hi) / (hi - lo)
    Vm, Vn = cheb.chebvander(t, m), cheb.chebvander(t, n)
    a = np.linalg.lstsq(Vm, f, rcond=None)[0]
    b = np.zeros(n + 1)
    b[0] = 1.0
    delta = float(np.max(w * np.abs(f - Vm @ a)))
    nv = m + n + 3
    cost = np.zeros(nv)
    cost[-1] = 1.0
    bounds = [(None, None)] * (m + 1) + [(-1.0, 1.0)] * (n + 1) + [(None, None)]
    for _ in range(DC_MAX_ITER):
        qk = Vn @ b
        wp, wf = w[:, None] * Vm, (w * f)[:, None] * Vn
        # rows divided by q_k > 0, so that the constraints read in units of the error
        A1 = np.hstack([-wp, wf - delta * Vn, -qk[:, None]]) / qk[:, None]
        A2 = np.hstack([wp, -wf - delta * Vn, -qk[:, None]]) / qk[:, None]
        res = linprog(cost, A_ub=np.vstack([A1, A2]), b_ub=np.zeros(2 * x.size), bounds=bounds,
                      method="highs")
        if res.status != 0 or res.x[-1] >= -1e-14 * max(delta, 1e-300):
            break
        a_new, b_new = res.x[: m + 1], res.x[m + 1 : m + n + 2]
        q_new = Vn @ b_new
        if not np.all(q_new > 0):
            break
        d_new = float(np.max(w * np.abs(f - (Vm @ a_new) / q_new)))
        if d_new >= delta * (1 - 1e-9):
            break
        a, b, delta = a_new, b_new, d_new
        xc, ec = _runs_extrema(x, w * (f - (Vm @ a) / (Vn @ b)))
        if xc.size >= N2 and np.min(np.abs(_trim(xc, ec, N2)[1])) >= delta / START_SPREAD:
            break  # levelled enough for a start: the exchange does the rest, faster
    xc, ec = _runs_extrema(x, w * (f - (Vm @ a) / (Vn @ b)))
    if xc.size == 0:
        return None
    if xc.size < N2:
        ref = _extend_reference(prob, xc, N2 - xc.size)
        return ref if ref.size == N2 else None
    return _trim(xc, ec, N2)[0]


def _runs_extrema(x: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest |e| of every run of constant sign of ``e`` on the sorted sample ``x``."""
    nz = e != 0
    xs, es = x[nz], e[nz]
    if xs.size == 0:
        return xs, es
    sg = es > 0
    starts = np.concatenate([[0], np.nonzero(sg[1:] != sg[:-1])[0] + 1])
    ends = np.concatenate([starts[1:], [xs.size]])
    best = np.array([s0 + int(np.argmax(np.abs(es[s0:t0]))) for s0, t0 in zip(starts, ends)])
    return xs[best], es[best]


def _noise(prob: _Problem, m: int, n: int) -> float:
    """Rounding level of the weighted error: NOISE_FACTOR * eps * max |w f| on the sample."""
    if ("noise", m, n) not in prob.memo:
        sample = _start_sample(prob, m, n)
        scale = float(np.max(np.abs(prob.omega(sample) * prob.f(sample))))
        prob.memo["noise", m, n] = NOISE_FACTOR * EPS * max(scale, np.finfo(float).tiny)
    return prob.memo["noise", m, n]


def _extend_reference(prob: _Problem, ref: np.ndarray, k: int) -> np.ndarray:
    """Add ``k`` points to a reference: midpoints of its widest gaps inside the domain."""
    pts = list(np.sort(ref))
    for _ in range(k):
        best_gap, best_mid = -1.0, None
        for a, b in itertools.pairwise(pts):
            if prob.points is not None:
                inner = prob.points[(prob.points > a) & (prob.points < b)]
                if inner.size == 0:
                    continue
                mid = float(inner[inner.size // 2])
                gap = float(inner.size)
            else:
                mid = 0.5 * (a + b)
                if not _inside(prob, np.array([mid]))[0]:
                    continue
                gap = b - a
            if gap > best_gap:
                best_gap, best_mid = gap, mid
        if best_mid is None:
            break
        pts = sorted([*pts, best_mid])
    return np.array(pts)


#: Differential-correction start: degrees (m + n) up to which it is tried, sample size, LP steps.
DC_MAX_DEGREE = 24
DC_SAMPLE = 500
DC_MAX_ITER = 40
#: Stagnation: no smaller max error for this many steps while (max|e| - |h|) <= rtol |h|
#: means the float64 accuracy of the problem is reached.
STAGNATION_STEPS = 6
STAGNATION_RTOL = 1e-2
#: A grid with at least this many points per reference point starts from the continuous problem.
GRID_SNAP_FACTOR = 20
#: Snapped reference points lost to merging that are replaced by grid points in the widest gaps.
GRID_PAD_MAX = 8
#: Samples per gap of the hull where the denominator's sign is checked.
GAP_SAMPLES = 64
#: Consecutive trial functions with a pole in the domain after which a start is abandoned.
POLE_STALL = 12
#: How many degree steps the continuation start may go down (each one a cheap low-degree solve).
CONTINUATION_DEPTH = 4


def _exchange(prob: _Problem, m: int, n: int, max_iter: int, tol: float, depth: int = 0
              ) -> dict[str, Any]:
    """Start (AAA-Lawson), exchange, and if that fails, continuation from a lower type.

    The continuation start solves type ``(m-1, n-1)`` (or ``(m-1, n)``/``(m, n-1)``) first and
    extends its ``m + n`` alternation points by the midpoints of the two widest gaps: a
    reference that already follows the shape of the error (used for jumps next to an excluded
    gap, where the linearised AAA-Lawson start tends to place spurious poles).
    """
    N2 = m + n + 2
    ref, bracket, r0, e0 = _start_reference(prob, m, n)
    if r0 is not None and e0 <= PRECISION_FACTOR * _noise(prob, m, n):
        # A start already at the rounding level: E* is below what float64 resolves here.
        return {"rational": r0, "levelled_error": 0.0, "max_error": e0, "reference": ref,
                "iterations": 0, "history": [{"iteration": 0, "start_max_error": e0,
                                              "noise_floor": _noise(prob, m, n)}],
                "converged": False, "reason": "precision", "defect": 0}
    out = _iterate(prob, m, n, ref, max_iter, tol, bracket)
    if out["converged"] or out["reason"] in ("defect", "precision"):
        return out
    if m + n <= DC_MAX_DEGREE:
        ref_dc = _differential_correction_reference(prob, m, n)
        if ref_dc is not None:
            out_dc = _iterate(prob, m, n, ref_dc, max_iter, tol)
            for hrow in out_dc["history"]:
                hrow["start"] = "differential correction"
            if out_dc["converged"]:
                return out_dc
    if depth >= CONTINUATION_DEPTH:
        return out
    if m == 0 and n == 0:
        return out
    sub_type = (m - 1, n - 1) if m > 0 and n > 0 else ((m - 1, n) if m > 0 else (m, n - 1))
    sub = _exchange(prob, *sub_type, max_iter, tol, depth + 1)
    if not sub["converged"]:
        return out
    ref2 = _extend_reference(prob, np.asarray(sub["reference"]), N2 - len(sub["reference"]))
    out2 = _iterate(prob, m, n, ref2, max_iter, tol)
    for hrow in out2["history"]:
        hrow["start"] = f"continuation from type {sub_type}"
    if out2["converged"]:
        return out2
    degenerate = _defect_from_lower_type(prob, m, n, sub, tol)
    if degenerate is not None:
        return degenerate
    return out2 if out2["max_error"] < out["max_error"] else out


def _defect_from_lower_type(prob: _Problem, m: int, n: int, sub: dict[str, Any], tol: float
                            ) -> dict[str, Any] | None:
    """Is the best approximation of the lower type ``sub`` also best of type ``(m, n)``?

    Characterisation with defect (Achieser 1956, Sec. 33; Trefethen, ATAP, Thm. 24.1): r = p/q
    of type (m, n) with defect d = min(m - deg p, n - deg q) is best iff its error equioscillates
    on m + n + 2 - d points.  The lower-type best has d >= 1, so m + n + 1 alternation points at
    the level of its error prove it best for (m, n) too -- the degenerate case where the exchange
    for (m, n) cannot find a non-degenerate trial function and stalls at the same level.
    """
    r = sub["rational"]
    E = float(sub["max_error"])
    xc, ec, emax = _alternating_extrema(prob, r, _search_nodes(prob, np.asarray(sub["reference"])))
    level = (1 - max(1e3 * tol, 1e-8)) * E
    keep_x: list[float] = []
    keep_e: list[float] = []
    for xi, ei in zip(xc, ec):
        if abs(ei) < level:
            continue
        if keep_e and np.sign(ei) == np.sign(keep_e[-1]):
            continue  # equal-sign neighbours at the same level: one of them counts
        keep_x.append(float(xi))
        keep_e.append(float(ei))
    N2 = m + n + 2
    if len(keep_x) < N2 - 1 or emax > E * (1 + max(1e3 * tol, 1e-8)):
        return None
    ref = _trim(np.array(keep_x), np.array(keep_e), N2)[0]
    defect = max(1, N2 - ref.size)
    hist = list(sub["history"])
    hist.append({"iteration": sub["iterations"], "defect_check": f"type {r.type} is best for {(m, n)}",
                 "alternating_at_level": len(keep_x)})
    rr = BarycentricRational(r.support_points, r.values, r.weights, type=(m, n))
    return {"rational": rr, "levelled_error": sub["levelled_error"], "max_error": sub["max_error"],
            "reference": ref, "iterations": sub["iterations"], "history": hist,
            "converged": True, "reason": "defect", "defect": defect}


# --------------------------------------------------------------------------- extended-precision polish
#: Polish runs when the float64 exchange stops with (max|e| - |h|) above this multiple of |h|.
#: Zero: always.  The float64 gap itself can mislead: |x| at (20, 20) stopped with a sampled
#: gap of 6e-11 while one extremum (x = 0.0024059, mislocated by 1e-6) was 1.8e-6 above |h|;
#: the polish's mp Brent search on every reference point is what caught it.
POLISH_RTOL = 0.0
#: ... and stops once the mp gap is below this (then only the final rounding to float64 is left).
POLISH_TOL = 1e-13
#: Largest reference (m + n + 2 of the problem actually solved) that is polished.
POLISH_MAX_POINTS = 90
#: Exchange steps and Newton steps per levelled solve of the polish.
POLISH_ITERS = 4
POLISH_NEWTON = 12
#: Largest Newton system solved in mpmath when float64 iterative refinement does not contract.
POLISH_MP_LU_MAX = 41
#: Budget (support points^2 x reference points) and sweeps of the float64 rounding search.
POLISH_NUDGE_WORK = 20_000
POLISH_NUDGE_SWEEPS = 3


def _polish_applies(prob: _Problem, N2: int) -> bool:
    """Whether a converged run on ``prob`` with ``N2`` reference points gets polished: F (and a
    weight, if any) evaluable in mpmath, and at most ``POLISH_MAX_POINTS`` reference points."""
    return (prob.f_mp is not None and not (prob.weight is not None and prob.weight_mp is None)
            and N2 <= POLISH_MAX_POINTS)


def _polish_dps(prob: _Problem, ref: np.ndarray, habs: float) -> int:
    """Digits for the polish: 25 plus those lost in e = F - r when |h| << max|w F|."""
    scale = float(np.max(np.abs(prob.omega(ref) * prob.f(ref))))
    lost = max(0.0, math.log10(max(scale, 1e-300) / max(habs, 1e-300)))
    return 25 + math.ceil(lost)


def _newton_levelled(ref: list, Fs: list, winv: list, t: list, alpha: list, beta: list, h: Any,
                     m: int, n: int) -> tuple[list, list, Any] | None:
    r"""Newton's method for the interpolation conditions on the reference, in mp.

    Unknowns: barycentric numerator and denominator weights :math:`\alpha_j, \beta_j` on the
    support points :math:`t_j` and the levelled error :math:`h`; equations (multiplied through by
    :math:`\ell_t(x_i)`, so that a support point on the reference is no special case)

    .. math::  \sum_j \ell_j(x_i)\,\big(\alpha_j - (F_i - (-1)^i h / \omega_i)\,\beta_j\big) = 0,

    ``|m - n|`` moment conditions :math:`\sum_j \beta_j T_k(\tau_j) = 0` (``m > n``; on
    :math:`\alpha` when ``m < n``, :math:`k < |m - n|`) that cap the degree (Filip et al. 2018,
    Sec. 5), and the normalisation :math:`\beta_0^T \beta = \beta_0^T \beta_0` along the start.
    The system is bilinear (:math:`h \beta`) and Newton starts from the float64 solution; the
    residual is computed in mp, the correction solved in float64 (iterative refinement: each
    step gains about :math:`-\log_{10}(\kappa \varepsilon)` digits), in mp when that fails to
    contract (small systems only).  Returns ``(alpha, beta, h)`` or None if the Jacobian is singular or Newton
    does not settle.
    """
    N2, N1 = len(ref), len(t)
    d = abs(m - n)
    # Row i scaled by |l_x'(x_i)|^(-1/2), the scaling under which Filip et al. (2018, Sec. 4)
    # show the barycentric conditions well conditioned on clustered references (their C_* with
    # C_ij = 1/(x_i - t_j) times |l_t(x_i)|, i.e. l_j(x_i) here).
    L = []
    for i, x in enumerate(ref):
        diffs = [x - tj for tj in t]
        row = [mpmath.fprod(diffs[:j] + diffs[j + 1:]) for j in range(N1)]
        dl = mpmath.sqrt(abs(mpmath.fprod(x - ref[k] for k in range(N2) if k != i)))
        L.append([v / dl for v in row])
    lo_t, hi_t = min(t), max(t)
    tau = [(2 * tj - lo_t - hi_t) / (hi_t - lo_t) for tj in t]
    moments = [[mpmath.chebyt(k, tj) for tj in tau] for k in range(d)]
    b0 = list(beta)
    nb0 = mpmath.fsum(v * v for v in b0)
    sgn = [(-1) ** i * winv[i] for i in range(N2)]
    a, b = list(alpha), list(beta)
    tiny = mpmath.eps * 1000
    settled = mpmath.sqrt(mpmath.eps)
    prev = mpmath.inf
    use_mp = False
    for _ in range(POLISH_NEWTON):
        G = mpmath.matrix(2 * N1 + 1, 1)
        J = mpmath.matrix(2 * N1 + 1, 2 * N1 + 1)
        for i in range(N2):
            c = Fs[i] - sgn[i] * h
            Li = L[i]
            G[i] = mpmath.fsum(Li[j] * (a[j] - c * b[j]) for j in range(N1))
            for j in range(N1):
                J[i, j] = Li[j]
                J[i, N1 + j] = -c * Li[j]
            J[i, 2 * N1] = sgn[i] * mpmath.fsum(Li[j] * b[j] for j in range(N1))
        for k in range(d):
            row = N2 + k
            off = N1 if m > n else 0
            vec = b if m > n else a
            G[row] = mpmath.fsum(moments[k][j] * vec[j] for j in range(N1))
            for j in range(N1):
                J[row, off + j] = moments[k][j]
        G[2 * N1] = mpmath.fsum(b0[j] * b[j] for j in range(N1)) - nb0
        for j in range(N1):
            J[2 * N1, N1 + j] = b0[j]
        du = _newton_step(J, G, use_mp=use_mp)
        if du is None:
            if use_mp or 2 * N1 + 1 > POLISH_MP_LU_MAX:
                return None
            use_mp = True  # the float64 correction did not contract: exact steps from here
            continue
        a = [a[j] - du[j] for j in range(N1)]
        b = [b[j] - du[N1 + j] for j in range(N1)]
        h = h - du[2 * N1]
        step = max(abs(du[k]) for k in range(2 * N1 + 1))
        size = max(max(abs(v) for v in a), max(abs(v) for v in b), abs(h))
        if step <= tiny * size:
            return a, b, h
        if step <= settled * size and step > prev / 4:
            # convergence has hit the rounding floor of the (conditioned) solve
            return a, b, h
        if step > 2 * prev and not use_mp:
            if 2 * N1 + 1 > POLISH_MP_LU_MAX:
                return None
            use_mp = True
        prev = step
    return None


def _newton_step(J: Any, G: Any, *, use_mp: bool) -> list | None:
    """Solve ``J du = G``: residual ``G`` in mp, the solve in float64 (iterative refinement,
    Wilkinson 1963; Higham 2002, ch. 12) or, when that does not contract, in mp."""
    if use_mp:
        try:
            du = mpmath.lu_solve(J, G)
        except ZeroDivisionError:
            return None
        return [du[k] for k in range(J.rows)]
    Jf = np.array(J.tolist(), dtype=float)
    Gf = np.array([float(G[k]) for k in range(G.rows)])
    # equilibrate columns (barycentric weights of clustered support points are tiny)
    cs = np.max(np.abs(Jf), axis=0)
    cs[cs == 0] = 1.0
    try:
        with np.errstate(all="ignore"):
            du = scipy.linalg.lu_solve(scipy.linalg.lu_factor(Jf / cs, check_finite=True), Gf) / cs
    except (ValueError, np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return None
    if not np.all(np.isfinite(du)):
        return None
    return [mpmath.mpf(float(v)) for v in du]


def _bary_mp(t: list, a: list, b: list, x: Any) -> Any:
    """r(x) = sum a_j/(x - t_j) / sum b_j/(x - t_j) in mp (a_j/b_j at a support point)."""
    num = den = mpmath.mpf(0)
    for tj, aj, bj in zip(t, a, b):
        dx = x - tj
        if dx == 0:
            return aj / bj
        num += aj / dx
        den += bj / dx
    return num / den


def _polish(prob: _Problem, out: dict[str, Any], m: int, n: int) -> dict[str, Any]:
    r"""Extended-precision end game of a converged float64 exchange.

    The long-double version (:func:`_polish_ld`: same steps, vectorised, ~2 ms on exp (4, 4)
    against ~90 ms for this one) runs first; what follows is the mpmath version, the fallback.
    In double the error :math:`e = \omega(F - r)` is known only to about
    :math:`\varepsilon \max|F|`, so when :math:`E^*` is small next to :math:`\max|F|` (exp at
    type (4, 4): :math:`E^* = 1.5 \cdot 10^{-10}`) the computed extrema are blurred by noise,
    the reference is off by :math:`\sqrt{\varepsilon \max|F| / E^*}` relative, and the levelled
    error and the rational are correct to a few significant digits only (5.6 for exp (4, 4)).
    The polish keeps the float64 run's support points and re-does the last exchange steps in
    mpmath: Newton on the interpolation conditions (:func:`_newton_levelled`), then each
    reference point moved to the local extremum of the mp error nearby (Brent 1973), until
    :math:`\max|e| - |h| \le` ``POLISH_TOL`` :math:`|h|`.  The result is rounded to a float64
    barycentric rational once, and its error re-evaluated in mp at the extrema.  A float64 scan
    of the whole domain guards against an extremum away from the reference (the polish only
    moves things by the float64 noise level; anything beyond that level the scan would see).
    Returns ``out`` unchanged when the polish does not apply or does not improve the gap.
    """
    N2 = m + n + 2
    r = out["rational"]
    ref = np.asarray(out["reference"], dtype=float)
    habs, emax = float(out["levelled_error"]), float(out["max_error"])
    if (not _polish_applies(prob, N2) or not out.get("converged")
            or out.get("reason") != "converged" or ref.size != N2 or not habs > 0
            or emax - habs <= POLISH_RTOL * habs):
        return out
    if LD_AVAILABLE:
        fast = _polish_ld(prob, out, m, n)
        if fast is not None:
            return fast
    wmp = prob.weight_mp if prob.weight is not None else (lambda x: mpmath.mpf(1))
    dps = _polish_dps(prob, ref, habs)
    noise = _noise(prob, m, n)
    try:
        with workdps(dps):
            t = [mpmath.mpf(float(v)) for v in r.support_points]
            a = [mpmath.mpf(float(v)) * mpmath.mpf(float(w)) for v, w in zip(r.values, r.weights)]
            b = [mpmath.mpf(float(w)) for w in r.weights]
            x = [mpmath.mpf(float(v)) for v in ref]
            h = mpmath.mpf(float(np.sign(prob.err(r, ref[:1])[0]) or 1.0) * habs)
            fixed = {float(v) for iv in prob.intervals for v in iv}
            fixed |= {float(v) for v in prob.breakpoints}

            def err(z: Any) -> Any:
                return wmp(z) * (prob.f_mp(z) - _bary_mp(t, a, b, z))

            gap = mpmath.inf
            steps = 0
            for steps in range(1, POLISH_ITERS + 1):  # noqa: B007 (steps is reported)
                Fs = [prob.f_mp(v) for v in x]
                winv = [1 / wmp(v) for v in x]
                sol = _newton_levelled(x, Fs, winv, t, a, b, h, m, n)
                if sol is None:
                    return out
                a, b, h = sol
                new_x, new_e = _refine_reference_mp(prob, x, err, fixed)
                ee = [abs(v) for v in new_e]
                if any(
                        (new_e[i] > 0) == (new_e[i + 1] > 0) for i in range(N2 - 1)):
                    return out  # the alternation broke: leave the float64 result alone
                x = new_x
                gap = (max(ee) - abs(h)) / abs(h)
                if gap <= POLISH_TOL:
                    break
            # one float64 rational: support points as they were, weights and values rounded
            sc = max(abs(v) for v in b)
            vals = np.array([float(aj / bj) for aj, bj in zip(a, b)])
            wts = np.array([float(bj / sc) for bj in b])
            vals, wts = _nudge_rounding(prob, t, vals, wts, x, wmp)
            rr = BarycentricRational(np.array([float(v) for v in t]), vals, wts, type=r.type)
            tr = [mpmath.mpf(float(v)) for v in rr.support_points]
            wr = [mpmath.mpf(float(v)) for v in rr.weights]
            ar = [mpmath.mpf(float(v)) * w for v, w in zip(rr.values, wr)]

            def err_r(z: Any) -> Any:
                return wmp(z) * (prob.f_mp(z) - _bary_mp(tr, ar, wr, z))

            xr, er = _refine_reference_mp(prob, x, err_r, fixed)
            emax_r = max(abs(v) for v in er)
            hr = abs(h)
    except (ZeroDivisionError, ValueError, ArithmeticError, InvalidInputError):
        return out
    xs = np.array([float(v) for v in xr])
    nodes = _search_nodes(prob, xs)
    if _sign_changes(prob, rr, nodes) > 0:
        return out
    _, _, emax_f = _alternating_extrema(prob, rr, nodes)
    if not emax_f <= float(emax_r) + 4 * noise:
        return out  # an extremum the polish did not follow: keep the float64 run
    if not float(emax_r) - float(hr) < emax - habs:
        return out
    hist = list(out["history"])
    hist.append({"iteration": out["iterations"], "levelled_error": float(hr),
                 "max_error": float(emax_r), "ratio": float(emax_r / hr), "polish": "mpmath",
                 "dps": dps, "polish_steps": steps, "polish_gap_mp": float(gap),
                 "float64_max_error_before": emax})
    res = dict(out)
    res.update(rational=rr, levelled_error=float(hr), max_error=float(emax_r),
               reference=np.sort(xs), history=hist)
    return res


def _nudge_rounding(prob: _Problem, t: list, vals: np.ndarray, wts: np.ndarray, x: list,
                    wmp: Callable[[Any], Any]) -> tuple[np.ndarray, np.ndarray]:
    r"""Round the polished barycentric data to float64 with the smallest error on the reference.

    Rounding each value :math:`f_j` to the nearest double moves ``r`` by up to half an ulp of
    :math:`f_j` near :math:`t_j` -- for exp at type (4, 4) that is ~1e-6 of :math:`E^*`.  Of the
    neighbouring doubles (one ulp up or down, values and weights, coordinate by coordinate) we
    keep the choice that lowers :math:`\max_k |e(x_k)|` on the reference; a few sweeps.  The
    result is still an honest float64 rational whose error is measured afterwards.
    """
    N1, N2 = len(t), len(x)
    if N1 * N2 * N1 > POLISH_NUDGE_WORK:
        return vals, wts
    Fw = [(prob.f_mp(v), wmp(v)) for v in x]
    inv = [[1 / (xi - tj) if xi != tj else None for tj in t] for xi in x]

    def objective(fv: np.ndarray, wv: np.ndarray) -> Any:
        fm = [mpmath.mpf(float(v)) for v in fv]
        wm = [mpmath.mpf(float(v)) for v in wv]
        worst = mpmath.mpf(0)
        for (F, w), row in zip(Fw, inv):
            hit = next((j for j, c in enumerate(row) if c is None), None)
            if hit is not None:
                rv = fm[hit]
            else:
                num = mpmath.fsum(c * wj * fj for c, wj, fj in zip(row, wm, fm))
                den = mpmath.fsum(c * wj for c, wj in zip(row, wm))
                rv = num / den
            worst = max(worst, abs(w * (F - rv)))
        return worst

    best = objective(vals, wts)
    for _ in range(POLISH_NUDGE_SWEEPS):
        improved = False
        for arr_name in ("vals", "wts"):
            for j in range(N1):
                for direction in (np.inf, -np.inf):
                    fv, wv = vals.copy(), wts.copy()
                    arr = fv if arr_name == "vals" else wv
                    arr[j] = np.nextafter(arr[j], direction)
                    val = objective(fv, wv)
                    if val < best:
                        best, vals, wts, improved = val, fv, wv, True
        if not improved:
            break
    return vals, wts


def _refine_reference_mp(prob: _Problem, x: list, err: Callable[[Any], Any], fixed: set
                         ) -> tuple[list, list]:
    """Move every reference point to the extremum of ``err`` next to it (mp, Brent's method).

    Bracket of ``x_k``: half-way to its neighbours, clipped to its interval of the domain;
    interval ends and breakpoints stay (the error peaks there without a zero derivative).  On a
    grid the neighbouring grid points (three either side) are compared instead.
    """
    out_x, out_e = [], []
    xtol = mpmath.sqrt(mpmath.eps) * 4
    for k, xk in enumerate(x):
        ek = err(xk)
        s = 1 if ek > 0 else -1
        if prob.points is not None:
            i = int(np.searchsorted(prob.points, float(xk)))
            cand = [mpmath.mpf(float(v)) for v in prob.points[max(0, i - 3): i + 4]]
            lo_n = x[k - 1] if k > 0 else -mpmath.inf
            hi_n = x[k + 1] if k + 1 < len(x) else mpmath.inf
            cand = [c for c in cand if lo_n < c < hi_n] or [xk]
            vals = [err(c) for c in cand]
            j = max(range(len(cand)), key=lambda i2: s * vals[i2])
            out_x.append(cand[j])
            out_e.append(vals[j])
            continue
        if float(xk) in fixed:
            out_x.append(xk)
            out_e.append(ek)
            continue
        a_iv, b_iv = next(((mpmath.mpf(a), mpmath.mpf(b)) for a, b in prob.intervals
                           if a <= float(xk) <= b), (xk, xk))
        lo = max(a_iv, (x[k - 1] + xk) / 2) if k > 0 else a_iv
        hi = min(b_iv, (xk + x[k + 1]) / 2) if k + 1 < len(x) else b_iv
        # Brent's tolerance is absolute for |x| < 1; search in u = (x - lo)/(hi - lo) so that
        # a bracket at y ~ 1e-30 (|x| at high degree, parity-reduced) is refined as finely
        w = hi - lo
        if w <= 0:
            out_x.append(xk)
            out_e.append(ek)
            continue
        ub, gb = brent_max_mp(lambda u, s=s, lo=lo, w=w: s * err(lo + u * w), mpmath.mpf(0),
                              mpmath.mpf(1), (xk - lo) / w, s * ek, xtol)
        xb = lo + ub * w
        out_x.append(xb)
        out_e.append(s * gb)
    return out_x, out_e


# --------------------------------------------------------------------------- long-double polish
#: numpy's long double: the x86 80-bit format (64-bit significand, unit roundoff 5.4e-20) on
#: Linux/x86-64; where it is plain double (Windows, Apple silicon) the fast polish is off.
_LD = np.longdouble
LD_EPS = float(np.finfo(_LD).eps)
LD_AVAILABLE = LD_EPS <= 1e-18
#: Bits of the mpmath evaluation of F that is rounded to long double (a margin over its 64).
LD_F_BITS = 80
#: The long-double polish stops when max|e| - |h| is below this multiple of eps_ld max|w F|.
LD_NOISE_FACTOR = 4.0
#: Newton steps per levelled solve, and parabolic rounds per extremum refinement.
LD_NEWTON = 8
LD_ROUNDS = 4
#: A Newton step below this (relative) whose residual no longer falls has reached the floor.
LD_NEWTON_SETTLED = 1e-6
#: Parabolic extremum steps: samples LD_DELTA x the bracket width either side (smaller, and the
#: long-double rounding of e would dominate the curvature of e on exp (4, 4)); a point whose
#: last move was below LD_SETTLED x the width is done (the next move would be ~ its square).
LD_DELTA = 1e-3
LD_SETTLED = 3e-5


class _LDError:
    """e = omega (F - r) in long double at float64 points, F from mpmath (cached)."""

    def __init__(self, prob: _Problem) -> None:
        self.prob = prob
        self.cache: dict[float, Any] = {}

    def f(self, x: np.ndarray) -> np.ndarray:
        """F(x) rounded to long double: f_mp at LD_F_BITS bits, significand rounded to 63 bits
        and scaled exactly (uint64 -> long double and ldexp are exact)."""
        new = [v for v in dict.fromkeys(x.tolist()) if v not in self.cache]
        if new:
            man, ex, neg = [], [], []
            with workprec(LD_F_BITS):
                for v in new:
                    s, mn, e, bc = mpmath.mpf(self.prob.f_mp(mpmath.mpf(v)))._mpf_
                    sh = bc - 63
                    if sh > 0:
                        mn, e = (mn + (1 << (sh - 1))) >> sh, e + sh
                    man.append(mn)
                    ex.append(e)
                    neg.append(s)
            vals = np.ldexp(np.array(man, dtype=np.uint64).astype(_LD), np.array(ex))
            vals[np.array(neg, dtype=bool)] *= -1
            self.cache.update(zip(new, vals))
        return np.array([self.cache[v] for v in x.tolist()], dtype=_LD)

    def __call__(self, t: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        """omega(x) (F(x) - r(x)), r = sum a_j/(x - t_j) / sum b_j/(x - t_j); ``a, b`` of shape
        (N1,) or (N1, K) (K rationals at once, result (len(x), K))."""
        return self.prob.omega(x).reshape((-1,) + (1,) * (a.ndim - 1)) * (
            self.f(x).reshape((-1,) + (1,) * (a.ndim - 1)) - _bary_ld(t, a, b, x))


def _bary_ld(t: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The barycentric quotient in long double (a_j/b_j at a support point)."""
    D = x.astype(_LD)[:, None] - t.astype(_LD)[None, :]
    hit = D == 0
    C = 1 / np.where(hit, 1, D)
    with np.errstate(all="ignore"):
        r = (C @ a) / (C @ b)
    rows, cols = np.nonzero(hit)
    if rows.size:
        r[rows] = a[cols] / b[cols]
    return r


def _products_ld(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    r""":math:`P_{ij} = \prod_{k \ne j} (x_i - t_k)` in long double (so that
    :math:`\sum_j P_{ij} c_j = \ell_t(x_i) \sum_j c_j / (x_i - t_j)`, also at a support point)."""
    D = x.astype(_LD)[:, None] - t.astype(_LD)[None, :]
    Pk = np.broadcast_to(D[:, None, :], (x.size, t.size, t.size)).copy()
    idx = np.arange(t.size)
    Pk[:, idx, idx] = 1  # the j-th factor left out
    return np.prod(Pk, axis=2)


def _rebase_ld(t: np.ndarray, a: np.ndarray, b: np.ndarray, tn: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    r"""The same rational :math:`\sum_j a_j/(x - t_j) / \sum_j b_j/(x - t_j)` on the support
    points ``tn`` (as many): with :math:`p = \sum_j a_j \prod_{k \ne j}(x - t_k)` and ``q``
    likewise its numerator and denominator polynomials (degree < ``len(t)``), the weights on
    ``tn`` are :math:`q(\tau_j) / \prod_{k \ne j}(\tau_j - \tau_k)` and the numerator ones
    :math:`p(\tau_j) / \prod_{k \ne j}(\tau_j - \tau_k)` (Lagrange interpolation of p and q
    in the barycentric form, Berrut & Trefethen 2004), scaled to max |b| = 1."""
    P = _products_ld(tn, t)
    Dn = tn.astype(_LD)[:, None] - tn.astype(_LD)[None, :]
    np.fill_diagonal(Dn, 1)
    lam = np.prod(Dn, axis=1)
    an, bn = (P @ a) / lam, (P @ b) / lam
    sc = np.max(np.abs(bn))
    return an / sc, bn / sc


def _newton_ld(x: np.ndarray, F: np.ndarray, winv: np.ndarray, t: np.ndarray, a: np.ndarray,
               b: np.ndarray, h: Any, m: int, n: int) -> tuple[np.ndarray, np.ndarray, Any] | None:
    r"""The Newton iteration of :func:`_newton_levelled` with the residual in long double.

    Same unknowns :math:`(\alpha, \beta, h)`, equations (row ``i`` scaled by
    :math:`|\ell_x'(x_i)|^{-1/2}`, Filip et al. 2018, Sec. 4), moment rows and normalisation;
    every residual is formed in long double, each correction solved in float64 with a fresh LU
    (iterative refinement, Higham 2002, ch. 12: the residual's precision, not the solve's,
    limits the attainable accuracy).  None if a solve fails or the steps do not settle.
    """
    N2, N1 = x.size, t.size
    d = abs(m - n)
    xl, tl = x.astype(_LD), t.astype(_LD)
    Dx = np.abs(xl[:, None] - xl[None, :])
    np.fill_diagonal(Dx, 1)
    L = _products_ld(x, t) / np.sqrt(np.prod(Dx, axis=1))[:, None]
    lo_t, hi_t = tl.min(), tl.max()
    tau = (2 * tl - lo_t - hi_t) / (hi_t - lo_t)
    T = [np.ones_like(tau), tau]
    while len(T) < d:
        T.append(2 * tau * T[-1] - T[-2])
    M = np.array(T[:d], dtype=_LD).reshape(d, N1)
    sgn = (-1.0) ** np.arange(N2) * winv
    b0 = b.copy()
    nb0 = np.sum(b0 * b0)
    rows = 2 * N1 + 1
    best_res, step, size = math.inf, math.inf, 1.0
    for _ in range(LD_NEWTON):
        c = F - sgn * h
        G = np.empty(rows, dtype=_LD)
        G[:N2] = L @ a - c * (L @ b)
        G[N2:N2 + d] = M @ (b if m > n else a)
        G[-1] = b0 @ b - nb0
        res = float(np.max(np.abs(G)))
        if res >= best_res / 4 and step <= LD_NEWTON_SETTLED * size:
            # the residual is at its long-double floor: further steps only move (alpha, beta)
            # within the conditioning of the system (|x| at (80, 80): ~1e-9), not e on the
            # reference
            return a, b, h
        best_res = min(best_res, res)
        Lf = L.astype(float)
        J = np.zeros((rows, rows))
        J[:N2, :N1] = Lf
        J[:N2, N1:2 * N1] = -c.astype(float)[:, None] * Lf
        J[:N2, -1] = sgn * (Lf @ b.astype(float))
        off = N1 if m > n else 0
        J[N2:N2 + d, off:off + N1] = M.astype(float)
        J[-1, N1:2 * N1] = b0.astype(float)
        cs = np.max(np.abs(J), axis=0)
        cs[cs == 0] = 1.0
        try:
            with np.errstate(all="ignore"):
                du = scipy.linalg.lu_solve(scipy.linalg.lu_factor(J / cs), G.astype(float)) / cs
        except (ValueError, np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            return None
        if not np.all(np.isfinite(du)):
            return None
        a, b, h = a - du[:N1], b - du[N1:2 * N1], h - du[-1]
        step = float(np.max(np.abs(du)))
        size = float(max(np.max(np.abs(a)), np.max(np.abs(b)), abs(h)))
        if step <= 4 * LD_EPS * size:
            return a, b, h
    return None


def _brackets(prob: _Problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each reference point: the search bracket (half-way to the neighbours, clipped to its
    interval of the domain) and whether it may move (interval ends and breakpoints stay)."""
    lo = np.concatenate([[-np.inf], (x[:-1] + x[1:]) / 2])
    hi = np.concatenate([(x[:-1] + x[1:]) / 2, [np.inf]])
    movable = np.ones(x.size, dtype=bool)
    for a, b in prob.intervals:
        inb = (x >= a) & (x <= b)
        lo = np.where(inb, np.maximum(lo, a), lo)
        hi = np.where(inb, np.minimum(hi, b), hi)
        movable &= (x != a) & (x != b)
    movable &= ~np.isin(x, prob.breakpoints) & (hi > lo)
    return lo, hi, movable


def _refine_reference_ld(prob: _Problem, x: np.ndarray, err: Callable[[np.ndarray], np.ndarray]
                         ) -> tuple[np.ndarray, np.ndarray]:
    r"""Move every reference point to the extremum of ``err`` (long double) next to it.

    Successive parabolic interpolation (Brent 1973, ch. 5), all points at once: the vertex of
    the parabola through :math:`e(x - \delta), e(x), e(x + \delta)`, :math:`\delta` =
    ``LD_DELTA`` times the bracket (:func:`_brackets`), kept only where it raises :math:`|e|`
    (Newton's method on :math:`e' = 0` with central differences: quadratic convergence).  The
    levelled error is stationary in the reference at the optimum, so a location error
    :math:`u` costs only :math:`O(u^2)` in ``|h|``.  On a grid the three grid points either side
    are compared instead.
    """
    e = err(x)
    if prob.points is not None:
        P = prob.points
        i = np.searchsorted(P, x)
        cand = np.clip(i[:, None] + np.arange(-3, 4)[None, :], 0, P.size - 1)
        X = P[cand]
        lo_n = np.concatenate([[-np.inf], x[:-1]])
        hi_n = np.concatenate([x[1:], [np.inf]])
        ok = (X > lo_n[:, None]) & (X < hi_n[:, None])
        E = err(X.ravel()).reshape(X.shape)
        score = np.where(ok, np.sign(e)[:, None] * E, -np.inf)
        k = np.argmax(score, axis=1)
        better = score[np.arange(x.size), k] > np.sign(e) * e
        rows = np.arange(x.size)
        return np.where(better, X[rows, k], x), np.where(better, E[rows, k], e)
    lo, hi, movable = _brackets(prob, x)
    width = np.where(movable, hi - lo, 0.0)
    s = np.sign(e).astype(_LD)
    act = movable.copy()
    for _ in range(LD_ROUNDS):
        if not np.any(act):
            break
        xa, w = x[act], width[act]
        xm = np.maximum(xa - LD_DELTA * w, lo[act])
        xp = np.minimum(xa + LD_DELTA * w, hi[act])
        em, ep = err(np.concatenate([xm, xp])).reshape(2, -1)
        sa, e0 = s[act], e[act]
        gm, g0, gp = sa * em, sa * e0, sa * ep
        # vertex of the parabola through (xm, gm), (xa, g0), (xp, gp)
        u, v = (xa - xm).astype(_LD), (xp - xa).astype(_LD)
        num = u * u * (g0 - gp) - v * v * (g0 - gm)
        den = u * (g0 - gp) + v * (g0 - gm)
        with np.errstate(all="ignore"):
            step = num / (2 * den)
        concave = (den > 0) & np.isfinite(step)
        xv = np.where(concave, xa - step.astype(float), np.where(gp > gm, xp, xm))
        inside = (xv >= lo[act]) & (xv <= hi[act])
        xv = np.clip(xv, lo[act], hi[act])
        # a move u leaves O(u^2 / w) in the location: an interior vertex within LD_SETTLED w
        # of the point would raise |e| by ~1e-9 relative at most -- settled, not evaluated
        # (a vertex clipped to the bracket is a maximum at the end of an interval: taken)
        go = ~(concave & inside & (np.abs(xv - xa) <= LD_SETTLED * w))
        ev = e0.copy()
        ev[go] = err(xv[go]) if np.any(go) else ev[go]
        better = go & (sa * ev > g0)
        x, e = x.copy(), e.copy()
        x[act], e[act] = np.where(better, xv, xa), np.where(better, ev, e0)
        still = np.zeros_like(act)
        still[act] = better & (np.abs(xv - xa) > LD_SETTLED * w)
        act = still
    return x, e


def _nudge_rounding_ld(err: _LDError, t: np.ndarray, vals: np.ndarray, wts: np.ndarray,
                       x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`_nudge_rounding` with the objective in long double, all one-ulp moves at once.

    Each step evaluates :math:`\max_k |e(x_k)|` for the ``4 (max(m, n) + 1)`` data sets that
    differ from the current one by one ulp in one value or weight, and takes the best move while
    it lowers the maximum (steepest descent over the neighbouring doubles).
    """
    N1 = t.size
    if N1 * x.size * N1 > POLISH_NUDGE_WORK:
        return vals, wts

    def objective(V: np.ndarray, W: np.ndarray) -> np.ndarray:
        Wl = W.astype(_LD)
        return np.max(np.abs(err(t, V.astype(_LD) * Wl, Wl, x)), axis=0)

    best = objective(vals[:, None], wts[:, None])[0]
    j = np.arange(N1)
    for _ in range(POLISH_NUDGE_SWEEPS * 2 * N1):
        V = np.repeat(vals[:, None], 4 * N1, axis=1)
        W = np.repeat(wts[:, None], 4 * N1, axis=1)
        V[j, j], V[j, N1 + j] = np.nextafter(vals, np.inf), np.nextafter(vals, -np.inf)
        W[j, 2 * N1 + j], W[j, 3 * N1 + j] = np.nextafter(wts, np.inf), np.nextafter(wts, -np.inf)
        obj = objective(V, W)
        k = int(np.argmin(obj))
        if not obj[k] < best:
            break
        best, vals, wts = obj[k], V[:, k].copy(), W[:, k].copy()
    return vals, wts


def _polish_ld(prob: _Problem, out: dict[str, Any], m: int, n: int) -> dict[str, Any] | None:
    r"""The end game of :func:`_polish` in long double, vectorised: None when it falls short.

    Only the *residuals* need more than double: :math:`e = \omega (F - r)` loses
    :math:`\log_{10}(\max|F| / E^*)` digits to cancellation, while the Newton corrections and
    the extremum locations need only a few correct digits each.  So: Newton on the interpolation
    conditions with long-double residuals (:func:`_newton_ld`), extrema by parabolic steps on
    the long-double error (:func:`_refine_reference_ld`), repeated until
    :math:`\max|e| - |h|` is below ``POLISH_TOL`` :math:`|h|` or ``LD_NOISE_FACTOR``
    :math:`\varepsilon_{ld} \max|\omega F|`; then the float64 rounding with the smallest
    error on the reference (:func:`_nudge_rounding_ld`) and the error of that float64 rational
    at its extrema.  F comes from ``f_mp`` rounded to long double (:class:`_LDError`), so any
    target with an mpmath evaluation works.  Where the nudge runs (``POLISH_NUDGE_WORK``), the
    rational is first moved to support points between the reference points
    (:func:`_midpoint_support`, :func:`_rebase_ld`): a support
    point on an extremum pins the error there to :math:`F(t_j) - f_j`, so rounding that one
    value to double moves it by up to half an ulp of :math:`f_j` (exp (4, 4) at x = 1: 1.4e-6
    of :math:`E^*`); between extrema each error mixes several roundings, which the nudge can
    balance (exp (4, 4): 7.9e-7 to 9.3e-7 above :math:`E^*` with the exchange's support
    points in the runs measured, 3.8e-7 with midpoints).  With 11 more bits than double this resolves
    :math:`E^*` about 2000 times finer than the float64 rounding of the result, which is then
    what limits the accuracy (exp at type (4, 4): 3.8e-7 relative above :math:`E^*`).  None --
    and the mpmath polish runs -- when a Newton solve fails, the alternation breaks, or the gap
    is not reached within ``POLISH_ITERS`` rounds.
    """
    N2 = m + n + 2
    r = out["rational"]
    x = np.asarray(out["reference"], dtype=float)
    habs, emax = float(out["levelled_error"]), float(out["max_error"])
    err = _LDError(prob)
    t0 = np.asarray(r.support_points, dtype=float)
    b0 = np.asarray(r.weights, dtype=float).astype(_LD)
    try:
        with np.errstate(all="ignore"):
            # the same rational on support points between the reference points (see above),
            # where the nudge then balances the roundings (small problems)
            a0 = np.asarray(r.values, dtype=float).astype(_LD) * b0
            t, a, b = t0, a0, b0
            if t0.size ** 2 * N2 <= POLISH_NUDGE_WORK:
                t = _midpoint_support(prob, x, m, n)
                a, b = _rebase_ld(t0, a0, b0, t)
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.unique(t).size != t.size:
                return None
            e0 = err(t, a, b, x[:1])
            h = _LD(float(np.sign(e0[0]) or 1.0) * habs)
            scale = float(np.max(np.abs(prob.omega(x) * prob.f(x))))
            floor = LD_NOISE_FACTOR * LD_EPS * scale
            gap = math.inf
            steps = 0
            for steps in range(1, POLISH_ITERS + 1):  # noqa: B007 (steps is reported)
                sol = _newton_ld(x, err.f(x), 1 / prob.omega(x), t, a, b, h, m, n)
                if sol is None:
                    return None
                a, b, h = sol
                x, e = _refine_reference_ld(prob, x, lambda z, a=a, b=b: err(t, a, b, z))
                if x.size != N2 or np.any(e[1:] * e[:-1] >= 0) or np.any(np.diff(x) <= 0):
                    return None  # the alternation broke
                gap = float(np.max(np.abs(e)) - abs(h))
                if gap <= max(POLISH_TOL * float(abs(h)), floor):
                    break
            else:
                return None
            sc = np.max(np.abs(b))
            vals, wts = (a / b).astype(float), (b / sc).astype(float)
            vals, wts = _nudge_rounding_ld(err, t, vals, wts, x)
            wl = wts.astype(_LD)
            al = vals.astype(_LD) * wl
            xr, er = _refine_reference_ld(prob, x, lambda z: err(t, al, wl, z))
            rr = BarycentricRational(t, vals, wts, type=r.type)
    except (ArithmeticError, ValueError, InvalidInputError):
        return None
    emax_r, hr = float(np.max(np.abs(er))), float(abs(h))
    nodes = _search_nodes(prob, xr)
    if _sign_changes(prob, rr, nodes) > 0:
        return None
    # a float64 scan between the reference points: an extremum the polish did not follow
    # would show here far above the rounding level
    if not float(np.max(np.abs(prob.err(rr, nodes)))) <= emax_r + 4 * _noise(prob, m, n):
        return None
    if not emax_r - hr < emax - habs:
        return None
    hist = list(out["history"])
    hist.append({"iteration": out["iterations"], "levelled_error": hr, "max_error": emax_r,
                 "ratio": emax_r / hr, "polish": "long double", "polish_steps": steps,
                 "polish_gap_ld": gap, "float64_max_error_before": emax})
    res = dict(out)
    res.update(rational=rr, levelled_error=hr, max_error=emax_r, reference=xr, history=hist)
    return res


# --------------------------------------------------------------------------- parity
def _symmetric(domain: Domain) -> bool:
    ivs = [(Decimal(a), Decimal(b)) for a, b in domain.intervals]
    mirrored = sorted((-b, -a) for a, b in ivs)
    return ivs == mirrored


def _parity_problem(target: Target, domain: Domain, kind: str) -> _Problem:
    r"""The problem in y = x^2 on the image of the domain's right half.

    even: :math:`F(y) = f(\sqrt y)`;  odd: :math:`F(y) = f(\sqrt y)/\sqrt y` with weight
    :math:`\sqrt y`, so that :math:`\sqrt y (F(y) - R(y)) = f(x) - x R(x^2)` (the domain must
    not contain 0 then).
    """
    ivs = []
    for a, b in domain.intervals_float():
        if b <= 0:
            continue
        lo = max(a, 0.0)
        ivs.append((lo * lo, b * b))
    bps = np.array(sorted({float(Decimal(c)) ** 2 for c in target.breakpoints}))
    # the hull [-b, b] in x is [0, b^2] in y: check the denominator's sign on [0, y_lo) too
    gaps = _Problem.gaps_of(ivs, lo=0.0)
    if kind == "even":
        return _Problem(f=lambda y: target(np.sqrt(y)), intervals=ivs, points=None,
                        breakpoints=bps, weight=None, cluster_depth=CLUSTER_DEPTH**2,
                        gap_points=gaps, f_mp=lambda y: target.mp(mpmath.sqrt(y)))
    return _Problem(f=lambda y: target(np.sqrt(y)) / np.sqrt(y), intervals=ivs, points=None,
                    breakpoints=bps, weight=np.sqrt, cluster_depth=CLUSTER_DEPTH**2,
                    cluster_at=tuple(a for a, _ in ivs), gap_points=gaps,
                    f_mp=lambda y: target.mp(mpmath.sqrt(y)) / mpmath.sqrt(y),
                    weight_mp=mpmath.sqrt)


def _from_parity(R: BarycentricRational, m: int, n: int, kind: str) -> BarycentricRational:
    """r(x) = R(x^2) (even) or x R(x^2) (odd) in barycentric form in x (module docstring).

    :math:`\frac{1}{x^2 - y_j} = \frac{1}{2 s_j}\big(\frac{1}{x - s_j} - \frac{1}{x + s_j}\big)`
    and :math:`\frac{x}{x^2 - y_j} = \frac12\big(\frac{1}{x - s_j} + \frac{1}{x + s_j}\big)`:
    support points :math:`\\pm s_j`, weights :math:`\\pm w_j/(2 s_j)`, values :math:`f_j`
    (even) or :math:`\\pm s_j f_j` (odd).
    """
    y, f, w = R.support_points, R.values, R.weights
    if np.any(y <= 0):
        raise InvalidInputError("internal: a parity-reduced support point is not positive")
    s = np.sqrt(y)
    c = w / (2 * s)
    z = np.concatenate([-s[::-1], s])
    weights = np.concatenate([-c[::-1], c])
    if kind == "even":
        values = np.concatenate([f[::-1], f])
    else:
        values = np.concatenate([-(s * f)[::-1], s * f])
    return BarycentricRational(z, values, weights, type=(m, n))


def _parity_reference(ref_y: np.ndarray, err_y: np.ndarray, N2: int, kind: str) -> np.ndarray:
    """Alternation set in x from one in y: +-sqrt(y_k), trimmed to N2 alternating points."""
    s = np.sqrt(ref_y)
    x = np.concatenate([-s[::-1], s])
    sign = 1.0 if kind == "even" else -1.0
    e = np.concatenate([sign * err_y[::-1], err_y])
    x, idx = np.unique(x, return_index=True)
    e = e[idx]
    # merge equal-sign neighbours (the pair -s_0, s_0 when y_0 > 0), keeping the larger
    keep_x, keep_e = [x[0]], [e[0]]
    for xi, ei in zip(x[1:], e[1:]):
        if np.sign(ei) == np.sign(keep_e[-1]):
            if abs(ei) > abs(keep_e[-1]):
                keep_x[-1], keep_e[-1] = xi, ei
        else:
            keep_x.append(xi)
            keep_e.append(ei)
    return _trim(np.array(keep_x), np.array(keep_e), N2)[0]


def _parity_kind(tgt: Target, dom: Domain, m: int, n: int, weight: Any) -> str | None:
    """Which parity reduction applies (module docstring), or None."""
    if weight is not None or dom.is_discrete or not _symmetric(dom):
        return None
    if tgt.parity == "even" and max(m, n) >= 2:
        return "even"
    contains_zero = any(Decimal(a) <= 0 <= Decimal(b) for a, b in dom.intervals)
    if tgt.parity == "odd" and m % 2 == 1 and n % 2 == 0 and not contains_zero and m + n >= 3:
        return "odd"
    return None


def _relu_from_abs(m: int, n: int, dom: Domain, max_iter: int, tol: float) -> ExchangeRun:
    r"""ReLU at type (m, n), m >= n + 1, on a symmetric domain, from |x| at type (m, n).

    :math:`\mathrm{relu}(x) = (x + |x|)/2`, and :math:`s \mapsto (x + s)/2` maps
    :math:`R_{m,n}` onto itself when :math:`m \ge n + 1` (:math:`(x q + p)/q` keeps the type),
    so the best approximations correspond, :math:`r^* = (x + s^*)/2`, with half the error and the
    same alternation points.  |x| is even, so ``s*`` comes from the parity-reduced problem; this
    is what keeps the SAE gate types (3, 2), ..., (9, 8) and higher cheap and robust.  In
    barycentric form the support points and weights stay and the values become
    :math:`(z_j + f_j)/2`, exact because the weights of the even form sum to zero in pairs
    (:math:`\sum_j w_j z_j/(x - z_j) = x \sum_j w_j/(x - z_j) - \sum_j w_j`).
    """
    run = _remez_float("abs", m, n, dom, max_iter=max_iter, tol=tol, use_parity=True)
    s = run.rational
    z, f, w = s.support_points, s.values, s.weights
    r = BarycentricRational(z, (z + f) / 2, w, type=(m, n))
    for hrow in run.history:
        hrow["reduction"] = "relu = (x + |x|)/2"
        for key in ("levelled_error", "max_error", "float64_max_error_before"):
            if key in hrow:
                hrow[key] = hrow[key] / 2
    return ExchangeRun(
        rational=r, levelled_error=run.levelled_error / 2, max_error=run.max_error / 2,
        reference=list(run.reference), iterations=run.iterations, history=run.history,
        converged=run.converged, defect=run.defect, reason=run.reason, dps=None,
    )


def _mp_weight(weight: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """The weight at one ``mpf`` for the polish (``minimax`` documents that it accepts one);
    None when it does not (the polish is then skipped)."""
    if weight is None:
        return None

    def wmp(x: Any) -> Any:
        v = weight(x)  # once per point: the weight may be costly
        return mpmath.mpf(v.item() if isinstance(v, np.ndarray) else v)

    try:
        wmp(mpmath.mpf("0.5"))
    except Exception:  # a float64-only weight: no polish
        return None
    return wmp


def _relu_diagonal(prob: _Problem, k: int, dom: Domain, max_iter: int, tol: float
                   ) -> dict[str, Any] | None:
    r"""ReLU at type (k, k) from the reference of its best type (k + 1, k) approximation.

    :math:`(x + s^*)/2` (:func:`_relu_from_abs`) is not of type (k, k), but its error curve has
    the shape of the (k, k) one: ``2k + 3`` alternation points clustering at the kink, of which
    dropping one end leaves a reference from which the exchange converges in a few steps --
    where the AAA-Lawson start and the continuation from type (k - 1, k - 1) end in
    ``"singular"`` for k >= 18 (the exchange sticks at the type (k - 1, k - 1) error level).
    Measured: k = 18 .. 40 converge in 7-8 steps; on the 4001 grid (from the grid's own type
    (k + 1, k) fit) k = 16, where the snapped continuous reference fails.  None if neither end
    works.
    """
    try:
        if dom.is_discrete:  # a grid: its own type (k + 1, k) fit (snapped from the continuous)
            sub = _remez_float("relu", k + 1, k, dom, max_iter=max_iter, tol=tol)
        else:
            sub = _relu_from_abs(k + 1, k, dom, max_iter, tol)
    except InvalidInputError:
        return None
    ref = np.asarray(sub.reference, dtype=float)
    N2 = 2 * k + 2
    if not sub.converged or ref.size < N2:
        return None
    for cut in (ref[ref.size - N2:], ref[:N2]):  # drop the left end first, then the right
        out = _iterate(prob, k, k, cut, max_iter, tol)
        if out["converged"]:
            for hrow in out["history"]:
                hrow["start"] = f"reference of relu type ({k + 1}, {k})"
            return out
    return None


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[None]:
    """Limit BLAS to one thread for the block (threadpoolctl, when installed).

    The exchange does thousands of small dense operations (QR, SVD, eigh, matrix products of a
    few thousand by ~100); a multithreaded BLAS spends more time waking threads than computing,
    and on a busy machine it can be 30x slower (|x| at (80, 80): 5 s single-threaded, 150 s
    with two contended threads, measured).  The controller (a scan of the loaded libraries,
    ~0.4 ms) is made once per process; ``limit`` then costs ~10 us.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional: without it, the process-wide BLAS setting applies
            _BLAS_CONTROLLER = False
        else:
            _BLAS_CONTROLLER = ThreadpoolController()
    if _BLAS_CONTROLLER is False:
        yield
        return
    with _BLAS_CONTROLLER.limit(limits=1, user_api="blas"):
        yield


#: threadpoolctl's controller once made (False: threadpoolctl is not installed)
_BLAS_CONTROLLER: Any = None


# --------------------------------------------------------------------------- public
def remez_float(
    target: str | Target | Callable[[Any], Any],
    m: int,
    n: int,
    domain: Domain | None = None,
    *,
    weight: Callable[[np.ndarray], np.ndarray] | None = None,
    max_iter: int = 40,
    tol: float | None = None,
    use_parity: bool = True,
) -> ExchangeRun:
    r"""Best type ``(m, n)`` rational approximation in float64 by barycentric Remez exchange.

    Minimises :math:`\max_{x \in D} |\omega(x)(f(x) - r(x))|` over rationals ``r`` of type
    ``(m, n)`` following Filip, Nakatsukasa, Trefethen & Beckermann (2018); see the module
    docstring for the steps and the parity reduction.

    Parameters
    ----------
    target : str, Target or callable
        A named target (``"abs"``, ``"relu"``, ``"sign"``, ``"exp"``, ``"step:T"``,
        ``"jumprelu:T"``) or a callable (see :func:`ratapprox.targets.get_target`).
    m, n : int
        Numerator and denominator degrees (``>= 0``).
    domain : Domain, optional
        Interval, union of intervals, grid or exclusion domain; default [-1, 1].
    weight : callable, optional
        Positive weight :math:`\omega(x)` (vectorised float64).
    max_iter : int
        Maximum number of exchange steps.
    tol : float, optional
        Stop when :math:`\max|e| - |h| \le \mathrm{tol}\,|h|` (default ``1e-10``), or when the
        gap is below the float64 noise floor ``256 eps max|w f|``.
    use_parity : bool
        Exploit symmetry on a symmetric interval domain (default True): an even target, an odd
        one with ``m`` odd and ``n`` even on a domain without 0, and ReLU with ``m >= n + 1``
        through ``relu = (x + |x|)/2`` (module docstring).

    Returns
    -------
    ExchangeRun
        ``rational`` (float64 :class:`BarycentricRational`, declared type ``(m, n)``),
        ``levelled_error`` :math:`|h|`, ``max_error`` (sampled estimate), ``reference`` (the
        alternating set of the final error, ``m + n + 2 - defect`` points), ``iterations``,
        ``history``, ``converged``, ``defect`` and ``reason`` (``"converged"``, ``"defect"``,
        ``"singular"``, ``"iteration_limit"``).

    Raises
    ------
    InvalidInputError
        Bad degrees, domain or weight; a target that is not finite on the domain.

    Examples
    --------
    >>> run = remez_float("abs", 3, 0)            # best cubic to |x|: x^2 + 1/8 (ATAP ch. 10)
    >>> bool(abs(run.levelled_error - 0.125) < 1e-12)
    True
    """
    with _blas_single_thread():
        return _remez_float(target, m, n, domain, weight=weight, max_iter=max_iter, tol=tol,
                            use_parity=use_parity)


def _remez_float(
    target: str | Target | Callable[[Any], Any],
    m: int,
    n: int,
    domain: Domain | None = None,
    *,
    weight: Callable[[np.ndarray], np.ndarray] | None = None,
    max_iter: int = 40,
    tol: float | None = None,
    use_parity: bool = True,
) -> ExchangeRun:
    """:func:`remez_float` without the BLAS thread limit (the recursive calls use it)."""
    try:
        m, n = int(m), int(n)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"degrees must be integers, got {m!r}, {n!r}") from exc
    if m < 0 or n < 0:
        raise InvalidInputError(f"degrees must be non-negative, got (m, n) = ({m}, {n})")
    if int(max_iter) < 1:
        raise InvalidInputError(f"`max_iter` must be at least 1, got {max_iter}")
    tol = DEFAULT_TOL if tol is None else float(tol)
    if not tol > 0:
        raise InvalidInputError(f"`tol` must be positive, got {tol}")
    tgt = get_target(target)
    dom = Domain.interval(-1, 1) if domain is None else domain
    if not isinstance(dom, Domain):
        raise InvalidInputError(f"`domain` must be a ratapprox Domain, got {type(dom).__name__}")
    N2 = m + n + 2

    if (use_parity and tgt.name == "relu" and m >= n + 1 and weight is None
            and not dom.is_discrete and _symmetric(dom)):
        return _relu_from_abs(m, n, dom, int(max_iter), tol)
    kind = _parity_kind(tgt, dom, m, n, weight) if use_parity else None
    if kind is not None:
        mp_, np_ = (m // 2, n // 2) if kind == "even" else ((m - 1) // 2, n // 2)
        prob = _parity_problem(tgt, dom, kind)
        out = _polish(prob, _exchange(prob, mp_, np_, int(max_iter), tol), mp_, np_)
        R = out["rational"]
        r = _from_parity(R, m, n, kind)
        ref_y = np.asarray(out["reference"])
        ref_x = _parity_reference(ref_y, prob.err(R, ref_y), N2, kind)
        defect = max(0, N2 - ref_x.size, int(out["defect"]))
        reason, converged = out["reason"], out["converged"]
        if converged and defect:
            # the reduced best approximation has lower type in x (d >= 1) and alternates on
            # ref_x.size = m + n + 2 - defect points: best of type (m, n) by the
            # characterisation with defect (Achieser 1956)
            reason = "defect"
        for hrow in out["history"]:
            hrow["parity"] = kind
        return ExchangeRun(
            rational=r, levelled_error=out["levelled_error"], max_error=out["max_error"],
            reference=[float(v) for v in ref_x], iterations=out["iterations"],
            history=out["history"], converged=converged, defect=defect, reason=reason, dps=None,
        )

    if dom.is_discrete:
        pts = dom.points_float()
        intervals = [(float(pts[0]), float(pts[-1]))]
    else:
        pts = None
        intervals = dom.intervals_float()
    prob = _Problem(
        f=tgt, intervals=intervals, points=pts,
        breakpoints=np.array(sorted({float(Decimal(c)) for c in tgt.breakpoints})),
        weight=weight, gap_points=_Problem.gaps_of(intervals), f_mp=tgt.mp,
        weight_mp=_mp_weight(weight),
    )
    out = None
    # ReLU at type (k, k): from the type (k + 1, k) reference (_relu_diagonal); on a grid only
    # after the snapped continuous problem
    relu_diagonal = use_parity and tgt.name == "relu" and m == n and m >= 1 and weight is None
    if relu_diagonal and pts is None and _symmetric(dom):
        out = _relu_diagonal(prob, m, dom, int(max_iter), tol)
    if out is None and pts is not None and pts.size >= GRID_SNAP_FACTOR * N2 and not any(
            Decimal(a) < Decimal(j) < Decimal(b) for j in tgt.jumps for a, b in dom.intervals):
        # A dense grid problem is close to the same problem on the grid's intervals: solve that
        # one (fast, parity-reduced where possible) and snap its reference to the grid.
        cont = _remez_float(tgt, m, n, Domain(dom.intervals), weight=weight, max_iter=max_iter,
                           tol=tol, use_parity=use_parity)
        if cont.converged and len(cont.reference) == N2:
            nearest = np.abs(pts[None, :] - np.asarray(cont.reference)[:, None]).argmin(axis=1)
            snapped = np.unique(pts[nearest])
            if N2 - GRID_PAD_MAX <= snapped.size < N2:
                # reference points closer than the grid spacing (ReLU clusters at 0 far below
                # it at type (19, 18)) merge: fill the widest gaps with grid points
                snapped = _extend_reference(prob, snapped, N2 - snapped.size)
            if snapped.size == N2:
                out = _iterate(prob, m, n, snapped, int(max_iter), tol)
                for hrow in out["history"]:
                    hrow["start"] = "continuous problem, snapped to the grid"
                if not out["converged"]:
                    out = None
    if out is None and relu_diagonal and pts is not None:
        out = _relu_diagonal(prob, m, dom, int(max_iter), tol)
    if out is None:
        out = _exchange(prob, m, n, int(max_iter), tol)
    out = _polish(prob, out, m, n)
    return ExchangeRun(
        rational=out["rational"], levelled_error=out["levelled_error"], max_error=out["max_error"],
        reference=[float(v) for v in out["reference"]], iterations=out["iterations"],
        history=out["history"], converged=out["converged"], defect=int(out["defect"]),
        reason=out["reason"], dps=None,
    )
