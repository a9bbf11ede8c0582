"""Best (minimax) rational approximation: :func:`minimax` and its result :class:`MinimaxResult`.

:func:`minimax` is the public front of two exchange engines:

* ``dps=None`` -- the float64 engine :func:`ratapprox.remez_float.remez_float` (barycentric
  formulation of Filip, Nakatsukasa, Trefethen & Beckermann 2018, robust at high degree);
* ``dps=D`` -- the arbitrary-precision engine :func:`ratapprox.remez_mp.remez_mp` (linearised
  rational Remez of Werner 1962 / Maehly 1963 in a Chebyshev basis, mpmath), which raises its own
  working precision when the problem needs it.

Both return an :class:`~ratapprox._exchange.ExchangeRun`; this module validates the input, turns
the run into a :class:`MinimaxResult` (monomial coefficients, barycentric form, timing), asks
:func:`ratapprox.certify.certify` for the error bracket, and raises a
:class:`~ratapprox.errors.ConvergenceError` carrying the best result when the run did not
converge.  See :mod:`ratapprox.remez_mp` for the equations.
"""

from __future__ import annotations

import itertools
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import mpmath
import numpy as np

from ._context import workdps
from .domains import Domain
from .errors import (
    ConvergenceError,
    InvalidInputError,
    PrecisionError,
    RatapproxError,
    TargetEvaluationError,
)
from .remez_mp import ChebRational, _remez_mp_run
from .targets import Target, get_target

__all__ = ["MinimaxResult", "minimax"]

#: Smallest accepted ``dps`` (below this double precision is better; use ``dps=None``).
MIN_DPS = 15
#: Default iteration limit of the exchange.
DEFAULT_MAX_ITER = 40


@dataclass(frozen=True)
class MinimaxResult:
    """A best rational approximation and what is known about its error.

    Attributes
    ----------
    target : str
        Canonical target name.
    type : (int, int)
        The requested type ``(m, n)``.
    domain : Domain
    rational : BarycentricRational
        The approximant in barycentric form (stable to evaluate at any degree).
    numerator, denominator : list
        Power-basis coefficients in ``x``, ascending, ``denominator[0] == 1``; ``mpf`` at the
        working precision on the mp path, ``float`` on the float64 path.  ``decimal_strings()``
        writes them with all their digits.
    error : float or mpf
        max :math:`|w(f - r)|` found by the final extremum search (an estimate).
    error_lower, error_upper : float or mpf or None
        The certified bracket (:func:`ratapprox.certify.certify`) when ``certificate`` is set;
        otherwise the de la Vallée Poussin lower bound ``min |e|`` on the alternation set and the
        sampled maximum ``error`` (estimates, not certificates).
    certificate : Certificate or None
    alternation_points : list
        Points where the error equioscillates (at least ``m + n + 2 - defect`` of them).
    iterations : int
    history : list of dict
        Per iteration: ``levelled_error``, ``max_error``, ``ratio``, working ``dps``, and
        ``engine``.
    converged : bool
    defect : int
        Degree defect of the best approximation (0 when non-degenerate).
    dps : int or None
        The requested decimal precision (None: float64).  The working precision of the last
        iteration is in ``history[-1]["dps"]``.
    seconds : float
        Wall time of the fit (excluding certification).
    """

    target: str
    type: tuple[int, int]
    domain: Domain
    rational: Any
    numerator: list
    denominator: list
    error: Any
    error_lower: Any
    error_upper: Any
    certificate: Any
    alternation_points: list
    iterations: int
    history: list = field(default_factory=list)
    converged: bool = True
    defect: int = 0
    dps: int | None = None
    seconds: float = 0.0

    def decimal_strings(self) -> dict[str, list[str] | str]:
        """Coefficients, error and alternation points as decimal strings with all their digits.

        A float is written by its shortest round-trip ``repr``; an ``mpf`` with enough decimal
        digits to round-trip its mantissa (at least the working precision of the run).
        """
        work = max((h.get("dps") or 0 for h in self.history), default=0) or self.dps or 17
        bits_work = mpmath.libmp.dps_to_prec(int(work))

        def s(v: Any) -> str:
            if isinstance(v, mpmath.mpf):
                # the number's own mantissa length (coefficients may carry more than `work`)
                bits = max(bits_work, int(v._mpf_[3]))
                digits = mpmath.libmp.libmpf.repr_dps(bits)
                with workdps(digits + 5):
                    return mpmath.nstr(v, digits, strip_zeros=False, min_fixed=1, max_fixed=0)
            return repr(float(v))

        return {
            "numerator": [s(c) for c in self.numerator],
            "denominator": [s(c) for c in self.denominator],
            "alternation_points": [s(x) for x in self.alternation_points],
            "error": s(self.error),
        }

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        return (
            f"MinimaxResult({self.target}, type {self.type}, {self.domain}: error "
            f"{mpmath.nstr(self.error, 12)}, {len(self.alternation_points)} alternation points, "
            f"{self.iterations} iterations, {state}, defect {self.defect})"
        )


# --------------------------------------------------------------------------- input checks
def _check_degree(name: str, v: Any) -> int:
    try:
        k = operator.index(v)
    except TypeError as exc:
        raise InvalidInputError(f"`{name}` must be an integer, got {v!r}") from exc
    if k < 0:
        raise InvalidInputError(f"`{name}` must be >= 0, got {k}")
    return k


def _check_inputs(target: Any, m: Any, n: Any, domain: Any, dps: Any, weight: Any,
                  max_iter: Any, tol: Any) -> tuple[Target, int, int, Domain, int | None, int]:
    m = _check_degree("m", m)
    n = _check_degree("n", n)
    if domain is None:
        domain = Domain.interval(-1, 1)
    if not isinstance(domain, Domain):
        raise InvalidInputError(f"`domain` must be a ratapprox Domain, got {type(domain).__name__}")
    try:
        tgt = get_target(target)
    except RatapproxError:
        raise
    except Exception as exc:  # a malformed spec that get_target itself did not anticipate
        raise InvalidInputError(f"`target`: cannot interpret {target!r}") from exc
    if dps is not None:
        try:
            dps = operator.index(dps)
        except TypeError as exc:
            raise InvalidInputError(f"`dps` must be an integer or None, got {dps!r}") from exc
        if dps < MIN_DPS:
            raise InvalidInputError(f"`dps` must be >= {MIN_DPS} (use dps=None for float64), got {dps}")
    if weight is not None and not callable(weight):
        raise InvalidInputError("`weight` must be a callable w(x) > 0 or None")
    if max_iter is None:
        max_iter = DEFAULT_MAX_ITER
    try:
        max_iter = operator.index(max_iter)
    except TypeError as exc:
        raise InvalidInputError(f"`max_iter` must be an integer, got {max_iter!r}") from exc
    if max_iter < 1:
        raise InvalidInputError(f"`max_iter` must be >= 1, got {max_iter}")
    if tol is not None and not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise InvalidInputError(f"`tol` must be a number in (0, 1), got {tol!r}")
    N = m + n + 2
    if domain.is_discrete:
        npts = len(domain.points_float())
        if npts < N:
            raise InvalidInputError(
                f"the grid has {npts} points; type ({m}, {n}) needs at least m + n + 2 = {N}")
    else:
        # Uniform approximation by a continuous function cannot converge across a jump.
        for j in tgt.jumps:
            dj = Decimal(j)
            if any(Decimal(a) < dj < Decimal(b) for a, b in domain.intervals):
                raise InvalidInputError(
                    f"target `{tgt.name}` jumps at x = {j}, inside the domain {domain}; exclude a "
                    f"neighbourhood of the jump (Domain.excluding / --gap) or fit on a grid")
    # Evaluate once on a sample: a NaN/Inf target fails here with a clear message.
    x = domain.sample(200)
    try:
        tgt(x)
    except TargetEvaluationError:
        raise
    except Exception as exc:
        raise TargetEvaluationError(f"target `{tgt.name}` cannot be evaluated in float64: {exc}") from exc
    if weight is not None:
        wv = np.array([float(weight(mpmath.mpf(float(v)))) for v in x[:: max(1, len(x) // 50)]])
        if not np.all(np.isfinite(wv)) or np.any(wv <= 0):
            raise InvalidInputError("`weight` must be finite and positive on the domain")
    return tgt, m, n, domain, dps, max_iter


# --------------------------------------------------------------------------- result assembly
def _support_points(ref: list, k: int) -> list:
    """``k`` support points for the barycentric form: midpoints of consecutive reference points.

    Between two alternation points ``f - r`` changes sign, so midpoints stay away from the
    extrema (as in Filip et al. 2018, where ``r`` interpolates ``f`` between them).
    """
    mids = [(a + b) / 2 for a, b in itertools.pairwise(ref)]
    if len(mids) < k:  # tiny references: add the end points
        mids = sorted([ref[0], *mids, ref[-1]])
    idx = np.round(np.linspace(0, len(mids) - 1, k)).astype(int)
    return [mids[i] for i in sorted(set(idx.tolist()))][:k]


def _barycentric_from_cheb(r: ChebRational, m: int, n: int, ref: list) -> Any:
    """The barycentric form of ``r`` on ``max(m, n) + 1`` support points, at the current precision.

    :math:`f_j = r(z_j)`, :math:`w_j = q(z_j)/\\ell'(z_j)` (Berrut & Trefethen 2004) with ``q``
    evaluated in the Chebyshev basis -- no detour through monomial coefficients.
    """
    from .barycentric import BarycentricRational

    M = max(m, n)
    z = _support_points(ref, M + 1)
    if len(z) < M + 1:  # degenerate spacing; fall back to Chebyshev points of the hull
        t = [mpmath.cos(mpmath.pi * (j + mpmath.mpf(1) / 2) / (M + 1)) for j in range(M + 1)]
        z = sorted(r.lo + (r.hi - r.lo) * (tj + 1) / 2 for tj in t)
    qz = [r.den(zj) for zj in z]
    pz = [r.num(zj) for zj in z]
    dl = [mpmath.fprod(zj - zk for k, zk in enumerate(z) if k != j) for j, zj in enumerate(z)]
    w = [qj / dj for qj, dj in zip(qz, dl)]
    s = max(abs(v) for v in w)
    return BarycentricRational(z, [pj / qj for pj, qj in zip(pz, qz)], [v / s for v in w], type=(m, n))


def _estimate_bracket(err_at: Callable[[Any], Any], alternation: list, error: Any) -> tuple[Any, Any]:
    """(min |e| on the alternation set, sampled max): de la Vallée Poussin estimate bracket."""
    if not alternation:
        return None, error
    return min(abs(err_at(x)) for x in alternation), error


#: target relative tightness of the certified upper bound (loosened to the fit's own gap)
_CERT_RTOL = 1e-8
#: box budgets of the upper-bound branch and bound on the monomial form (mpmath intervals): a
#: float64 fit of high degree whose target has no float64 enclosure gets a rigorous but looser
#: upper end in bounded time; call ratapprox.certify directly for a tighter one.
_CERT_BOXES_FLOAT = 20_000
_CERT_BOXES_MP = 200_000
#: box budget of the float64 barycentric certifier (piecewise-linear targets, float64 fits):
#: |x| at (80,80) needs ~560 boxes (< 0.3 s), so this only caps pathological cases
_CERT_BOXES_BARY = 500_000


def _certify(result: MinimaxResult, tgt: Target, m: int, n: int) -> MinimaxResult:
    """Fill ``certificate``, ``error_lower``, ``error_upper``.

    * float64 fits of the piecewise-linear targets (``relu, abs, sign, step:THETA,
      jumprelu:THETA``) on a continuous domain: :func:`ratapprox.certify_barycentric.
      certify_barycentric` certifies the returned *barycentric* form ``rational`` (support
      points, weights, values as stored; the exact projection onto the declared type when
      ``m != n`` is in the notes) in float64 interval arithmetic;
    * everything else (mpmath fits, ``exp``, callables, grids), or when that certificate is not
      rigorous: :func:`ratapprox.certify.certify` on the returned monomial pair
      ``numerator/denominator`` (exact values of the stored numbers).

    Unweighted in both cases.  Without a normalised monomial form (``q(0) = 0``) and no
    barycentric certificate, nothing is certified and the estimates stay.
    """
    # The bracket cannot be narrower than the gap between the levelled (lower) estimate and the
    # maximum of the error curve; proving the upper end far more tightly than that gap only
    # multiplies the boxes (a float64 fit at type (80,80) leaves a gap of ~1e-3).
    rel_tol = _CERT_RTOL
    try:
        lo, hi = float(result.error_lower), float(result.error)
        if lo > 0 and hi > lo:
            rel_tol = max(rel_tol, 0.1 * (hi - lo) / lo)
    except (TypeError, ValueError):
        pass
    if result.dps is None:
        try:
            from .certify_barycentric import certify_barycentric, supports_barycentric
        except ImportError:
            supports_barycentric = None  # type: ignore[assignment]
        if supports_barycentric is not None and supports_barycentric(tgt, result.rational, result.domain):
            try:
                bcert = certify_barycentric(
                    tgt, result.rational, result.domain, alternation_points=result.alternation_points,
                    m=m, n=n, defect=result.defect, rel_tol=rel_tol, max_boxes=_CERT_BOXES_BARY)
            except InvalidInputError:
                bcert = None  # e.g. more degree constraints than the exact projection handles
            if bcert is not None and bcert.rigorous:
                return replace(result, certificate=bcert, error_lower=bcert.lower, error_upper=bcert.upper)
    if not result.numerator or not result.denominator:
        return result
    try:
        from .certify import certify as _cert
    except ImportError:
        return result  # certification module absent: keep the estimates, certificate None
    cdps = result.dps if result.dps is not None else 30
    cert = _cert(tgt, result.numerator, result.denominator, result.domain,
                 alternation_points=result.alternation_points, m=m, n=n, defect=result.defect,
                 dps=cdps, rel_tol=rel_tol,
                 max_boxes=_CERT_BOXES_FLOAT if result.dps is None else _CERT_BOXES_MP)
    return replace(result, certificate=cert, error_lower=cert.lower, error_upper=cert.upper)


def _monomial_coefficients(r: ChebRational, wdps: int) -> tuple[list, list]:
    """Power-basis coefficients of ``r`` carrying enough digits to reproduce it to ``wdps``.

    With ``den[0] = 1`` the monomial coefficients of, e.g., a sign approximant with a small gap
    grow like ``delta**-k`` and cancel massively at ``|x| ~ 1``: rounded to ``wdps`` digits they
    would define a different rational.  So the conversion is redone with as many extra digits as
    the largest coefficient has before the decimal point (plus a guard).
    """
    with workdps(wdps):
        num, den = r.to_monomial()
        big = max(abs(c) for c in num + den)
    extra = max(0, int(mpmath.ceil(mpmath.log10(big)))) if big > 0 else 0
    if extra > 2:
        with workdps(wdps + extra + 5):
            num, den = r.to_monomial()
    return num, den


def _run_mp(tgt: Target, m: int, n: int, domain: Domain, dps: int, weight: Callable | None,
            max_iter: int, tol: float | None, start: Any) -> tuple[MinimaxResult, str, Any]:
    t0 = time.perf_counter()
    run, r, wdps = _remez_mp_run(tgt, m, n, domain, dps=dps, weight=weight, max_iter=max_iter,
                                 tol=tol, start=start)
    for h in run.history:
        h["engine"] = "mpmath"
    try:
        num, den = _monomial_coefficients(r, wdps)
    except ZeroDivisionError as exc:
        raise ConvergenceError(
            "the best approximation's denominator vanishes at x = 0, so it cannot be "
            "normalised to den[0] = 1", reason="singular", best=None) from exc
    with workdps(wdps):
        m_eff, n_eff = len(r.a) - 1, len(r.b) - 1
        num = num + [mpmath.mpf(0)] * (m - m_eff)
        den = den + [mpmath.mpf(0)] * (n - n_eff)
        rational = _barycentric_from_cheb(r, m, n, list(run.reference) or list(r.a))

        def err_at(x: Any) -> Any:
            e = tgt.mp(x) - r(x)
            return e * weight(x) if weight is not None else e

        lower, upper = _estimate_bracket(err_at, run.reference, run.max_error)
        fscale = max(abs(tgt.mp(x)) for x in run.reference) if run.reference else mpmath.mpf(1)
        exact = bool(run.history) and run.history[-1].get("note") == "exact"
    res = MinimaxResult(
        target=tgt.name, type=(m, n), domain=domain, rational=rational, numerator=num,
        denominator=den, error=run.max_error, error_lower=lower, error_upper=upper,
        certificate=None, alternation_points=list(run.reference), iterations=run.iterations,
        history=run.history, converged=run.converged, defect=run.defect, dps=dps,
        seconds=time.perf_counter() - t0,
    )
    tiny = mpmath.mpf(10) ** (-dps) * max(fscale, mpmath.mpf(1) / 10**dps)
    if run.converged and not exact and run.max_error < tiny:
        raise PrecisionError(
            f"the best error {mpmath.nstr(run.max_error, 5)} is below 10^-{dps} relative to the "
            f"target's size: dps = {dps} cannot resolve this problem; raise dps", best=res)
    return res, run.reason, run


def _run_float(tgt: Target, m: int, n: int, domain: Domain, weight: Callable | None,
               max_iter: int, tol: float | None, start: Any) -> tuple[MinimaxResult, str, Any]:
    try:
        from .remez_float import remez_float
    except ImportError as exc:
        raise RatapproxError("the float64 engine (ratapprox.remez_float) is not available; "
                             "pass dps=... for the mpmath engine") from exc
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {"weight": weight, "max_iter": max_iter}
    if tol is not None:
        kwargs["tol"] = tol
    run = remez_float(tgt, m, n, domain, **kwargs)
    for h in run.history:
        h.setdefault("engine", "float64")
    rational = run.rational
    try:
        num_mp, den_mp = rational.to_monomial(dps=30)
        num = [float(c) for c in num_mp]
        den = [float(c) for c in den_mp]
    except RatapproxError:
        num, den = [], []  # q(0) = 0: no normalised monomial form; the barycentric form stands

    # The estimate bracket is evaluated in mp, exactly for the float64 data: in double the error
    # f - r of, e.g., exp at (4, 4) (1.5e-10 next to max|f| = e) carries ~1e-6 relative noise.
    fscale = float(np.max(np.abs(tgt(domain.sample(200)))))
    ratio = max(fscale, 1e-300) / max(float(run.max_error), 1e-300)
    edps = 25 + (max(0, math.ceil(math.log10(ratio))) if math.isfinite(ratio) else 0)

    def err_at(x: Any) -> Any:
        with workdps(min(edps, 120)):
            xm = mpmath.mpf(float(x))
            e = tgt.mp(xm) - rational.eval_mp(xm)
            if weight is not None:
                e = e * weight(xm)
            return float(e)

    ref = [float(x) for x in run.reference]
    lower, upper = _estimate_bracket(err_at, ref, float(run.max_error))
    hull_poles = _real_poles_in_hull(rational, domain)
    res = MinimaxResult(
        target=tgt.name, type=(m, n), domain=domain, rational=rational, numerator=num,
        denominator=den, error=float(run.max_error), error_lower=lower, error_upper=upper,
        certificate=None, alternation_points=ref, iterations=run.iterations,
        history=run.history, converged=run.converged, defect=run.defect, dps=None,
        seconds=time.perf_counter() - t0,
    )
    if hull_poles:
        # Outside the class minimax searches (r continuous on the hull): equioscillation no
        # longer proves optimality there, and a gate would blow up in the gap.
        raise ConvergenceError(
            f"the float64 engine returned a rational with real pole(s) at "
            f"{', '.join(f'{p:.6g}' for p in hull_poles)} inside the hull of {domain}; retry with "
            f"dps=... (the mpmath engine keeps the denominator positive on the hull)",
            reason="singular", best=replace(res, converged=False))
    return res, run.reason, run


#: a computed pole with |Im p| <= this * |p| is taken as real
_REAL_POLE_RTOL = 1e-8


def _real_poles_in_hull(rational: Any, domain: Domain) -> list[float]:
    """Real poles of ``rational`` in ``[min X, max X]`` (float64 eigenvalue computation)."""
    try:
        poles = np.asarray(rational.poles())
    except Exception:  # no pole finder: nothing to report
        return []
    lo, hi = float(domain.lower), float(domain.upper)
    # Relative test: the poles of a best approximation to |x| sit at +-5e-11 i at type
    # (80,80) -- tiny, but as complex as can be; an absolute tolerance would call them real.
    real = poles[np.abs(poles.imag) <= _REAL_POLE_RTOL * np.abs(poles)].real
    found = sorted(float(p) for p in real if lo <= p <= hi)
    if not found and hasattr(rational, "denominator_sign_changes"):
        # A simple real pole shows as a sign change of the denominator q on the hull.
        xs = np.linspace(lo, hi, 20001)
        if rational.denominator_sign_changes(xs):
            found = [float("nan")]
    return found


def minimax(target: str | Target | Callable[[Any], Any], m: int, n: int,
            domain: Domain | None = None, dps: int | None = None, *,
            weight: Callable[[Any], Any] | None = None, max_iter: int | None = None,
            tol: float | None = None, certify: bool = True, start: Any = None) -> MinimaxResult:
    """Best type ``(m, n)`` rational approximation in the (weighted) uniform norm.

    Finds :math:`r^* = p/q`, :math:`\\deg p \\le m`, :math:`\\deg q \\le n`, minimising
    :math:`\\max_{x \\in X} |w(x)(f(x) - r(x))|` over the domain :math:`X` (an interval, a union of
    intervals, or a finite grid) by the rational Remez exchange (Remez 1934; Werner 1962;
    Maehly 1963; Powell 1981, ch. 10).

    Parameters
    ----------
    target : str, Target or callable
        ``"relu"``, ``"abs"``, ``"sign"``, ``"exp"``, ``"step:THETA"``, ``"jumprelu:THETA"``, or
        a Python callable accepting floats and ``mpf``.
    m, n : int
        Numerator and denominator degrees, ``>= 0``.
    domain : Domain, optional
        Default ``Domain.interval(-1, 1)``.  A target with a jump inside a continuous domain is
        rejected (exclude a neighbourhood of the jump, or use a grid).
    dps : int, optional
        ``None``: the float64 engine.  ``D >= 15``: the mpmath engine; results carry at least ``D``
        correct digits where the problem allows, working precision rises as needed.
    weight : callable, optional
        :math:`w(x) > 0` (called with ``mpf``); default 1.
    max_iter : int, optional
        Iteration limit of the exchange (default 40).
    tol : float, optional
        Stop when :math:`(\\max|e| - |h|)/|h| \\le` ``tol`` (default ``10**-(dps//2)`` on the mp
        path, the float engine's own default otherwise).
    certify : bool
        Compute the certified bracket with :func:`ratapprox.certify.certify` (when that module is
        installed; otherwise the estimates described under ``error_lower`` stay).
    start : sequence or MinimaxResult, optional
        A start reference (mp path): at least ``m + n + 2`` distinct points (a previous result's
        ``alternation_points`` will do); extra points are dropped from the ends.

    Returns
    -------
    MinimaxResult

    Raises
    ------
    InvalidInputError
        Negative or non-integer degrees, unknown target, bad domain / dps / weight / max_iter,
        a grid with fewer than ``m + n + 2`` points, a jump inside a continuous domain.
    TargetEvaluationError
        The target returns NaN/Inf on the domain.
    ConvergenceError
        The exchange did not converge; ``.reason`` is ``"defect"``, ``"precision"``,
        ``"iteration_limit"`` or ``"singular"`` and ``.best`` the best :class:`MinimaxResult`
        found (``converged=False``).
    PrecisionError
        ``dps`` cannot resolve the problem (the best error is below ``10**-dps`` times ``max|f|``).

    Notes
    -----
    On a reference :math:`x_0 < \\dots < x_{m+n+1}` the levelled error :math:`h` solves
    :math:`p(x_i) - (f(x_i) - (-1)^i h / w(x_i))\\, q(x_i) = 0`, an eigenvalue problem
    (see :mod:`ratapprox.remez_mp`); by de la Vallée Poussin (1910),
    :math:`|h| \\le E^*_{mn} \\le \\max|w(f - r)|`.  The class searched is the rationals with no
    real pole on the hull ``[min X, max X]`` (continuous in the gaps of a union of intervals too);
    there the alternation characterises the best approximation uniquely.  A float64 result with
    a pole on the hull is refused (``ConvergenceError``).  When the target has a parity and the domain is
    symmetric, the best approximation has that parity and may be of lower exact type; the
    reduced problem is solved and ``defect`` reports it (e.g. ``|x|`` at odd ``n``).

    References
    ----------
    .. [1] E. Ya. Remez, C. R. Acad. Sci. Paris 199 (1934) 337-340.
    .. [2] H. Werner, Arch. Rational Mech. Anal. 11 (1962) 368-384.
    .. [3] H. J. Maehly, J. ACM 10 (1963) 257-277.
    .. [4] M. J. D. Powell, *Approximation Theory and Methods*, CUP 1981, ch. 10.
    .. [5] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen, B. Beckermann, SIAM J. Sci. Comput.
       40(4) (2018) A2427-A2455, :doi:`10.1137/17M1132409`.
    .. [6] C. J. de la Vallée Poussin, Bull. Acad. Roy. Belgique (1910).

    Possible issues
    ---------------
    * The reported ``error`` is a sampled maximum; only ``certificate`` is a proof.
    * Rational Remez needs a decent start; the mp path starts from the float64 engine's fit
      when double resolves the error (|x| (20, 20) at dps 30: 6 s; sign (17, 16) at
      delta = 1e-4: 6 s).  Hard problems may still end in ``ConvergenceError`` (reported, with
      the best attempt); a ``start`` reference can be passed explicitly.
    * float64 results carry the rounding of their float64 data: exp at (4, 4) is within 8e-7 of
      E*; exp at (6, 6) and beyond (E* below double's resolution) raise ``PrecisionError``.
    * Monomial coefficients of high-degree fits are ill-conditioned: evaluate ``rational``.

    Examples
    --------
    >>> res = minimax("abs", 3, 0, dps=20, certify=False)   # best cubic to |x| is x^2 + 1/8
    >>> mpmath.nstr(res.error, 10)
    '0.125'
    """
    tgt, m, n, domain, dps, max_iter = _check_inputs(target, m, n, domain, dps, weight, max_iter, tol)
    if dps is None:
        res, reason, _ = _run_float(tgt, m, n, domain, weight, max_iter, tol, start)
    else:
        res, reason, _ = _run_mp(tgt, m, n, domain, dps, weight, max_iter, tol, start)
    if not res.converged:
        if reason == "converged":
            reason = "iteration_limit"
        if reason == "precision":
            if dps is None:
                raise PrecisionError(
                    f"minimax {tgt.name} type ({m}, {n}) on {domain}: the best error is below what "
                    f"float64 resolves (an attempt reached {float(res.error):.3g}, at the "
                    f"rounding level of the target's values); use the mpmath engine (dps=..., "
                    f"--dps)", best=res)
            raise PrecisionError(
                f"minimax {tgt.name} type ({m}, {n}) on {domain}: the levelled error is too small "
                f"for the working precision the engine may use at dps = {dps}; raise dps",
                best=res)
        raise ConvergenceError(
            f"minimax {tgt.name} type ({m}, {n}) on {domain}: no convergence ({reason}) after "
            f"{res.iterations} iterations; best max error {mpmath.nstr(res.error, 6)}",
            reason=reason, best=res)
    if certify and weight is None:  # certify() bounds the unweighted error only
        res = _certify(res, tgt, m, n)
    return res
