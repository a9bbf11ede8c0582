r"""Best type (2k, 2k) approximation of |x| on [-1, 1] through sqrt on [0, 1], certified.

Reduction.  The best approximation of the even |x| on [-1, 1] is even (uniqueness of best real
rational approximation, Achieser 1956, Sec. 2.3), and an even rational of type (2k, 2k) is
``P(x^2)/Q(x^2)`` with ``deg P, deg Q <= k``; so with ``t = x^2``,
``E_{2k,2k}(|x|; [-1,1]) = E_{k,k}(sqrt t; [0,1])``.

Representation.  We hold the approximant in partial fractions in ``t``,

.. math:: r(t) = c + \sum_{j=1}^{k} \frac{w_j}{t + q_j}, \qquad q_j > 0,

a type (k, k) rational with denominator ``prod (t + q_j) > 0`` on [0, 1].  The poles of the best
approximants of |x| lie on the imaginary axis (``x = +-i sqrt(q_j)``, down to ``1e-11`` for
n = 90; Stahl 1993), and this form is well conditioned where the monomial basis is useless
(its coefficients span hundreds of decades at n = 90).  The error is studied in ``x = sqrt t``:
``e(x) = x - r(x^2)`` on [0, 1].

Algorithm (rational Remez, multiple exchange; Remez 1934, Werner 1962; Varga, Ruttan &
Carpenter 1993 used the same sqrt reduction to tabulate E_{n,n}(|x|) in high precision):

1. warm starts, tried in turn: continuation from n - 2 (poles and reference resampled in log
   scale, then ``c, w`` by least squares with the poles fixed; reliable for n <= 58 here, it
   often stalls beyond); a bridge between the solutions at n - 2 and n + 2 (same, averaged);
   ``ratapprox.remez_float.remez_float("abs", 2k, 2k)`` (float64 barycentric Remez, a few seconds
   at n = 90): its poles give ``q_j``, the sign runs of its error on a log grid a reference
   ``0 = x_0 < ... < x_{2k+1} = 1`` (a spurious real pole pair, as at n = 84, is replaced);
2. levelled system ``x_i - r(x_i^2) = (-1)^i h`` (2k+2 equations, unknowns ``c, w, log q, h``)
   solved by Newton in mpmath: residuals in working precision, Jacobian in float64 after
   equilibration (a quasi-Newton step that contracts by about cond(J) 1e-16 per step), with a
   full mpmath LU step as fallback;
3. exchange: every interior reference point moves to the nearby extremum of ``e`` (Newton on
   ``e' = 0`` in ``log x``); stop when ``(max|e(x_i)| - |h|)/|h| < tol``.  When no start
   converges (n = 84: every start stalls or loses the alternation; the levelled system's Jacobian
   becomes nearly singular after an exchange) the alternating state with the smallest gap is
   returned with ``converged=False``: it is still certifiable, and its bracket decides.

Certificate (:func:`certify_sqrt_pf`), rigorous and in exact integer arithmetic:

* lower bound: de la Vallée Poussin (1910) for R_{k,k} on [0, 1] -- if ``e`` alternates in sign
  on 2k+2 points and the denominator of ``r`` is positive, ``E_{k,k} >= min |e(x_i)|``; each
  ``e(x_i)`` is enclosed exactly (below);
* upper bound: branch and bound over ``x`` in [0, 1] with Taylor models.  On a box
  ``[m-h, m+h]`` the Taylor coefficients of ``1/(x^2+q)`` at ``m`` are
  ``a_n = (-1)^n Im((m - i y)^{-(n+1)})/y`` (``y^2 = q``) = ``(-1)^n B_{n+1}/rho^{2n+2}``
  with ``(m + i y)^n = A_n + i y B_n``, ``rho^2 = m^2 + q``, and ``A, B`` follow the integer
  recurrence ``A_{n+1} = m A_n - q B_n``, ``B_{n+1} = A_n + m B_n``.  With ``m, h, c, w, q``
  dyadic rationals (box ends on a 2^-201 grid; the coefficients are the mpmath numbers
  themselves), every coefficient of ``e(m + h s)`` up to degree p is an exact rational, rounded
  outward once to a 2^-160 grid.  ``|B_{n+1}| <= (n+1) rho^n`` bounds the tail beyond p by
  ``sum_j |w_j|/rho_j^2 (p+2) r_j^{p+1}/(1-r_j)^2``, ``r_j = h/rho_j`` (boxes keep
  ``r_j <= 1/8``); the cubic part's maximum on [-1, 1] is found exactly (critical points
  enclosed by an integer square root) and the degree 4..p terms are bounded by their absolute
  values.  A box whose bound exceeds ``(1 + rel_tol) max |e(x_i)|`` is bisected; the bound
  returned is the maximum over the final boxes, rigorous whatever the box budget.

The only floating-point step of the certificate is the tail bound (a few float64 operations on
positive numbers, multiplied by 2, far above their relative rounding error 1e-15).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath as mp
import numpy as np

__all__ = [
    "SqrtCertificate",
    "SqrtPF",
    "SqrtResult",
    "best_sqrt_pf",
    "certify_sqrt_pf",
    "monomial_in_x",
]

_L1 = 201  # box centres and half-widths live on the 2^-201 grid
_F = 160  # Taylor coefficients rounded outward to the 2^-160 grid


@dataclass
class SqrtPF:
    """``r(t) = c + sum_j w_j/(t + q_j)``: a type (k, k) rational in ``t = x^2`` (mpmath data)."""

    c: object
    w: list
    q: list

    @property
    def k(self) -> int:
        return len(self.q)

    def err(self, x):
        """``e(x) = x - r(x^2)`` at the current mpmath precision."""
        t = x * x
        return x - self.c - mp.fsum(wj / (t + qj) for wj, qj in zip(self.w, self.q))

    def err_d(self, x) -> tuple:
        """``(e, e', e'')`` at ``x`` (derivatives in ``x``)."""
        t = x * x
        s0 = s1 = s2 = mp.mpf(0)
        for wj, qj in zip(self.w, self.q):
            d = 1 / (t + qj)
            s0 += wj * d
            s1 += wj * d * d
            s2 += wj * (2 * qj - 6 * t) * d * d * d
        return x - self.c - s0, 1 + 2 * x * s1, s2

    def err_float(self, xs: np.ndarray) -> np.ndarray:
        """Float64 error on a grid (only to locate extrema: ~1e-16 absolute)."""
        w = np.array([float(v) for v in self.w])
        q = np.array([float(v) for v in self.q])
        return xs - float(self.c) - np.sum(w / (xs[:, None] ** 2 + q), axis=1)


@dataclass
class SqrtResult:
    """Best type (k, k) approximation of sqrt on [0, 1] = best (2k, 2k) of |x| on [-1, 1]."""

    n: int  # |x| type (n, n), n = 2k
    rational: SqrtPF | None
    levelled: object  # |h| (mpf)
    max_error: object  # max |e| over the final reference (mpf)
    reference: list  # 2k+2 points of [0, 1] in x = sqrt(t)
    iterations: int
    converged: bool
    dps: int
    seconds: float
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------------ warm start
def _sign_run_extrema(xs: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Index of the largest |e| in each run of constant sign."""
    s = np.sign(e)
    cut = np.flatnonzero(s[1:] != s[:-1]) + 1
    out = []
    for seg in np.split(np.arange(xs.size), cut):
        out.append(seg[np.argmax(np.abs(e[seg]))])
    return np.array(out)


def _log_grid(ymin: float, per: int) -> np.ndarray:
    lo = math.log10(ymin) - 2
    return np.concatenate([[0.0], np.logspace(lo, 0, int(per * (-lo) + 200))])


def _float_start(k: int) -> tuple[SqrtPF, list]:
    """Poles and a reference from ratapprox's float64 fit of |x| at type (2k, 2k), then c, w."""
    # ratapprox's float64 barycentric exchange (Filip et al. 2018); ``remez_float`` directly: the
    # ``minimax`` wrapper adds monomial post-processing that we do not need here
    from ratapprox.remez_float import remez_float

    fit = remez_float("abs", 2 * k, 2 * k)
    if fit.rational is None:
        raise ArithmeticError(f"float64 start for k = {k}: ratapprox.remez_float returned no rational")
    R = fit.rational
    p = R.poles()
    good = (p.imag > 0) & (np.abs(p.real) <= 1e-6 * np.maximum(1.0, np.abs(p)))
    y = np.sort(p.imag[good])
    repaired = 0
    # a fit that did not converge can carry a spurious real pole pair (|x| at (84, 84): +-0.80);
    # replace each missing imaginary pair by one in the widest gap (in log scale) of the others
    while 0 < y.size < k:
        ly = np.log(y)
        i = int(np.argmax(np.diff(ly))) if y.size > 1 else 0
        new = math.exp((ly[i] + ly[i + 1]) / 2) if y.size > 1 else 2 * y[0]
        y = np.sort(np.append(y, new))
        repaired += 1
    if y.size != k:
        raise ArithmeticError(f"float64 start for k = {k}: {y.size} imaginary pole pairs, need {k}")
    q = y**2
    xs = _log_grid(float(y[0]), 40 + 15 * k)
    A = np.concatenate([np.ones((xs.size, 1)), 1 / (xs[:, None] ** 2 + q)], axis=1)
    sc = np.max(np.abs(A), axis=0)
    # c, w: least squares to the fit itself, or to sqrt when its poles had to be repaired
    sol = np.linalg.lstsq(A / sc, xs if repaired else R(xs), rcond=None)[0] / sc
    ex = xs - A @ sol
    pts = xs[_sign_run_extrema(xs, ex)]
    while repaired and 2 < pts.size < 2 * k + 2:  # too few runs after a repair: split the widest gaps
        lp = np.log(pts[1:])
        i = int(np.argmax(np.diff(lp)))
        pts = np.sort(np.append(pts, math.exp((lp[i] + lp[i + 1]) / 2)))
    if pts.size != 2 * k + 2:
        raise ArithmeticError(f"float64 start for k = {k}: {pts.size} sign runs, need {2 * k + 2}")
    rat = SqrtPF(mp.mpf(float(sol[0])), [mp.mpf(float(v)) for v in sol[1:]], [mp.mpf(float(v)) for v in q])
    ref = [mp.mpf(float(v)) for v in pts]
    ref[0], ref[-1] = mp.mpf(0), mp.mpf(1)
    return rat, ref


# ------------------------------------------------------------------------------------ Newton
def _residual(rat: SqrtPF, h, ref: list) -> list:
    return [rat.err(x) - (h if i % 2 == 0 else -h) for i, x in enumerate(ref)]


def _jacobian_float(rat: SqrtPF, ref: list) -> np.ndarray:
    """d residual / d (c, w, log q, h) in float64."""
    x = np.array([float(v) for v in ref])
    w = np.array([float(v) for v in rat.w])
    q = np.array([float(v) for v in rat.q])
    d = 1 / (x[:, None] ** 2 + q)
    sg = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0)
    return np.concatenate([-np.ones((x.size, 1)), -d, w * q * d * d, -sg[:, None]], axis=1)


def _jacobian_mp(rat: SqrtPF, ref: list):
    k = rat.k
    N = 2 * k + 2
    J = mp.matrix(N, N)
    for i, x in enumerate(ref):
        t = x * x
        J[i, 0] = -1
        J[i, N - 1] = -1 if i % 2 == 0 else 1
        for j in range(k):
            d = 1 / (t + rat.q[j])
            J[i, 1 + j] = -d
            J[i, 1 + k + j] = rat.w[j] * rat.q[j] * d * d
    return J


def _apply_step(rat: SqrtPF, h, dx: list) -> tuple[SqrtPF, object]:
    k = rat.k
    c = rat.c - dx[0]
    w = [rat.w[j] - dx[1 + j] for j in range(k)]
    q = [rat.q[j] * mp.exp(-dx[1 + k + j]) for j in range(k)]
    return SqrtPF(c, w, q), h - dx[2 * k + 1]


def _newton(rat: SqrtPF, h, ref: list, *, maxit: int = 30) -> tuple[SqrtPF, object, int]:
    """Solve the levelled system on ``ref``; returns (rational, h, steps).

    Undamped Newton steps (the max-norm residual may grow on the first step from a rough start
    and still converge) except that no pole moves by more than a factor e per step.  The
    Jacobian is taken in float64 (equilibrated) while that keeps halving the residual; once it
    stalls above the working-precision floor, exact mpmath LU steps take over.  The best iterate
    is returned.
    """
    floor = mp.mpf(10) ** (-(mp.mp.dps - 6))
    F = _residual(rat, h, ref)
    fnorm = max(abs(v) for v in F)
    best = (fnorm, rat, h)
    steps = 0
    use_mp = False
    stall = 0
    for _ in range(maxit):
        if fnorm <= floor + abs(h) * mp.mpf(10) ** -18:
            break
        if use_mp:
            try:
                dxm = mp.lu_solve(_jacobian_mp(rat, ref), mp.matrix(F))
            except (ZeroDivisionError, TypeError) as exc:  # mpmath's LU on a singular matrix
                raise ArithmeticError(f"singular levelled-system Jacobian ({exc!r})") from exc
            dx = [dxm[i] for i in range(len(F))]
        else:
            J = _jacobian_float(rat, ref)
            cs = np.max(np.abs(J), axis=0)
            rs = np.max(np.abs(J / cs), axis=1)
            Fs = np.array([float(v) for v in F])
            y = np.linalg.solve(J / cs / rs[:, None], Fs / rs) / cs
            dx = [mp.mpf(float(v)) for v in y]
        big = max(abs(float(v)) for v in dx[1 + rat.k : 1 + 2 * rat.k])
        if big > 1:
            dx = [v / big for v in dx]
        rat, h = _apply_step(rat, h, dx)
        F = _residual(rat, h, ref)
        f2 = max(abs(v) for v in F)
        steps += 1
        if f2 < best[0]:
            stall = 0 if f2 < best[0] / 2 else stall + 1
            best = (f2, rat, h)
        else:
            stall += 1
        fnorm = f2
        if stall >= 3:
            if use_mp:
                break
            use_mp, stall = True, 0
            fnorm, rat, h = best
            F = _residual(rat, h, ref)
        if not mp.isfinite(fnorm) or fnorm > 1e6 * best[0]:
            break
    return best[1], best[2], steps


# ------------------------------------------------------------------------------------ exchange
def _extremum_near(rat: SqrtPF, x0, lo, hi):
    """Local extremum of e near x0 inside (lo, hi): Newton on e' = 0 in u = log x."""
    u = mp.log(x0)
    ulo, uhi = mp.log(lo) if lo > 0 else u - 10, mp.log(hi)
    for _ in range(30):
        x = mp.exp(u)
        _, d1, d2 = rat.err_d(x)
        g1 = x * d1
        g2 = x * d1 + x * x * d2
        if g2 == 0:
            break
        du = -g1 / g2
        un = u + du
        if not ulo < un < uhi:
            un = (u + (uhi if du > 0 else ulo)) / 2
        if abs(un - u) < mp.mpf(10) ** (-(mp.mp.dps // 2 + 4)):
            u = un
            break
        u = un
    x = mp.exp(u)
    return x if abs(rat.err(x)) >= abs(rat.err(x0)) else x0


def _exchange(rat: SqrtPF, ref: list) -> list:
    new = [ref[0]]
    for i in range(1, len(ref) - 1):
        new.append(_extremum_near(rat, ref[i], (ref[i - 1] + ref[i]) / 2, (ref[i] + ref[i + 1]) / 2))
    new.append(ref[-1])
    return new


def _log_quantiles(vals: list, size: int) -> np.ndarray:
    """``log(vals)`` resampled to ``size`` points by linear interpolation over the quantile index."""
    lv = np.log(np.array([float(v) for v in vals]))
    return np.interp(np.linspace(0, 1, size), np.linspace(0, 1, lv.size), lv)


def _continuation_start(prev: SqrtResult, k: int) -> tuple[SqrtPF, list]:
    """Start for degree k from the solution at k - 1: poles and reference resampled in log scale
    (quantile interpolation) and scaled by sqrt(k/(k-1)), since the extremal points and poles of
    the best approximants of |x| scale like exp(-c sqrt(n)) (Stahl 1993); c, w by least squares.
    Works for steps of one degree (k - 1 -> k); from k - 4 the exchange loses the alternation."""

    def resample(vals: list, size: int, scale: float) -> np.ndarray:
        # quantile interpolation of log(vals), then an affine stretch that fixes the largest
        # value (the reference's x = 1; the largest pole, q ~ 20, barely moves with k)
        li = _log_quantiles(vals, size)  # li[-1] = log(vals[-1]): interp is exact at the end point
        return np.exp(li[-1] + (li - li[-1]) * scale)

    sc = math.sqrt(k / prev.rational.k)
    q = resample(prev.rational.q, k, sc)
    rn = resample(prev.reference[1:], 2 * k + 1, sc)
    return _fit_cw(q, rn)


def _fit_cw(q: np.ndarray, rn: np.ndarray) -> tuple[SqrtPF, list]:
    """``c, w`` by least squares to sqrt with the poles ``q`` fixed; reference ``[0, *rn[:-1], 1]``."""
    k = q.size
    xs = _log_grid(math.sqrt(q[0]), 40 + 15 * k)
    A = np.concatenate([np.ones((xs.size, 1)), 1 / (xs[:, None] ** 2 + q)], axis=1)
    cs = np.max(np.abs(A), axis=0)
    sol = np.linalg.lstsq(A / cs, xs, rcond=None)[0] / cs
    rat = SqrtPF(mp.mpf(float(sol[0])), [mp.mpf(float(v)) for v in sol[1:]], [mp.mpf(float(v)) for v in q])
    return rat, [mp.mpf(0), *[mp.mpf(float(v)) for v in rn[:-1]], mp.mpf(1)]


def _bridge_start(lo: SqrtResult, hi: SqrtResult, k: int) -> tuple[SqrtPF, list]:
    """Start for degree k from the solutions at k - 1 and k + 1: poles and reference of both
    resampled to the size needed (quantiles in log scale) and averaged in log scale."""

    q = np.exp((_log_quantiles(lo.rational.q, k) + _log_quantiles(hi.rational.q, k)) / 2)
    m = 2 * k + 1
    rn = np.exp((_log_quantiles(lo.reference[1:], m) + _log_quantiles(hi.reference[1:], m)) / 2)
    return _fit_cw(q, rn)


def _remez(k: int, rat: SqrtPF, ref: list, tol: float, maxit: int) -> tuple:
    """Exchange loop; returns the final state, or, when it does not converge, the alternating state
    with the smallest gap ``(max|e(x_i)| - |h|)/|h|`` seen (still certifiable: de la Vallée Poussin
    needs only the alternation, the upper bound only the rational)."""
    h = mp.mpf(0)
    notes: list[str] = []
    best = None
    for it in range(1, maxit + 1):
        if h == 0:
            e0 = rat.err(ref[0])
            h = mp.mpf(float(np.median(np.abs([float(rat.err(x)) for x in ref])))) * mp.sign(e0)
        rat, h, _ = _newton(rat, h, ref)
        ref = _exchange(rat, ref)
        vals = [rat.err(x) for x in ref]
        emax = max(abs(v) for v in vals)
        if not all((vals[i] > 0) != (vals[i + 1] > 0) for i in range(len(vals) - 1)):
            notes.append(f"reference lost its alternation at exchange {it}")
            break
        gap = (emax - abs(h)) / abs(h)
        if best is None or gap < best[0]:
            best = (gap, rat, h, ref, emax, it)
        if gap < tol:
            return rat, h, ref, emax, it, True, notes
        if it >= 3 and gap >= best[0] and best[5] <= it - 2:
            notes.append(f"exchange stalled at gap {float(best[0]):.2g}")
            break
    if best is None:
        return rat, h, ref, None, maxit, False, notes
    gap, rat, h, ref, emax, it = best
    notes.append(f"not converged: best alternating state has gap {float(gap):.2g} (exchange {it})")
    return rat, h, ref, emax, it, False, notes


_FAILURES = (ArithmeticError, ZeroDivisionError, ValueError, np.linalg.LinAlgError)


def best_sqrt_pf(
    k: int,
    *,
    prev: SqrtResult | None = None,
    bridge: tuple[SqrtResult, SqrtResult] | None = None,
    tol: float = 1e-12,
    maxit: int = 12,
    dps: int | None = None,
) -> SqrtResult:
    """Best type (k, k) approximation of sqrt on [0, 1] (the (2k, 2k) of |x|), see the module doc.

    Parameters
    ----------
    k : int
        ``>= 1``; ``n = 2k`` is the |x| degree.
    prev : SqrtResult, optional
        The result at ``k - 1``: first start tried, by continuation.
    bridge : (SqrtResult, SqrtResult), optional
        Results at ``k - 1`` and ``k + 1``: start interpolated between them (tried next).  The
        last start tried is ratapprox's float64 fit of |x|.  Without convergence the alternating
        state with the smallest gap is returned (``converged=False``; still certifiable).
    tol : float
        Stop when ``(max_i |e(x_i)| - |h|)/|h| < tol`` on the exchanged reference.
    maxit : int
        Exchange steps.
    dps : int, optional
        Working decimal digits; default ``30 + k // 2`` (the equilibrated Jacobian has condition
        about 1e13 at k = 45, and we want the levelled error to 1e-12 relative).

    Raises
    ------
    ValueError
        ``k`` not a positive integer.
    ArithmeticError
        No start gave an alternating reference.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}")
    t0 = time.perf_counter()
    dps = int(dps or 30 + k // 2)
    notes: list[str] = []
    with mp.workdps(dps):
        starts = []
        if prev is not None and prev.rational is not None and prev.n == 2 * k - 2:
            starts.append((f"continuation from n = {prev.n}", lambda: _continuation_start(prev, k)))
        if bridge is not None:
            lo, hi = bridge
            starts.append((f"bridge between n = {lo.n} and {hi.n}", lambda: _bridge_start(lo, hi, k)))
        starts.append(("ratapprox.remez_float (float64)", lambda: _float_start(k)))
        best = None
        for name, make in starts:
            try:
                out = _remez(k, *make(), tol, maxit)
            except _FAILURES as exc:
                notes.append(f"start {name} failed ({exc!r})")
                continue
            notes.append(f"start: {name}" + ("" if out[5] else f" (not converged: {'; '.join(out[6])})"))
            if out[5]:
                best = out
                break
            # out = (rational, h, reference, max|e| or None, exchanges, converged, notes)
            if out[3] is not None and (best is None or (out[3] - abs(out[1])) / abs(out[1])
                                       < (best[3] - abs(best[1])) / abs(best[1])):
                best = out
        if best is None:
            raise ArithmeticError(f"k = {k}: no start led to an alternating reference ({'; '.join(notes)})")
        rat, h, ref, emax, it, conv, _more = best
        secs = time.perf_counter() - t0
        return SqrtResult(2 * k, rat, abs(h), emax, ref, it, conv, dps, secs, notes)


# ------------------------------------------------------------------------------------ certificate
def _dyadic(v) -> tuple[int, int]:
    if not isinstance(v, mp.mpf):
        with mp.workprec(4096):  # exact for float / int input; never round an mpf
            v = mp.mpf(v)
    if v == 0:
        return 0, 0
    sign, man, exp, _bc = v._mpf_  # (mpf.man_exp drops the sign)
    return (-int(man) if sign else int(man)), int(exp)


class _Exact:
    """The rational's data as integers: ``c = cm 2^ce``, ``w_j = Wm_j 2^We_j``, ``q_j = Q_j 2^-2L1``."""

    def __init__(self, rat: SqrtPF) -> None:
        self.c = _dyadic(rat.c)
        self.W = [_dyadic(v) for v in rat.w]
        self.Q = []
        for v in rat.q:
            man, ex = _dyadic(v)
            if man <= 0 or ex + 2 * _L1 < 0:
                raise ValueError(f"pole parameter q = {v} is not positive or not on the 2^-{2 * _L1} grid")
            self.Q.append(man << (ex + 2 * _L1))
        self.wf = [abs(float(v)) for v in rat.w]
        self.qf = [float(v) for v in rat.q]

    def taylor(self, MI: int, H: int, p: int) -> tuple[list, list]:
        """Enclosures (integers at scale 2^-F) of the coefficients of ``e(m + h s)`` in ``s``,
        ``m = MI 2^-L1``, ``h = H 2^-L1``, degrees 0..p."""
        lo = [0] * (p + 1)
        hi = [0] * (p + 1)
        # the "x" of e(x) = x - r(x^2): m + h s
        lo[0] += (MI << _F) >> _L1
        hi[0] += -((-(MI << _F)) >> _L1)
        if p >= 1:
            lo[1] += (H << _F) >> _L1
            hi[1] += -((-(H << _F)) >> _L1)
        cm, ce = self.c
        if _F + ce >= 0:
            lo[0] -= cm << (_F + ce)
            hi[0] -= cm << (_F + ce)
        else:
            lo[0] -= -((-cm) >> -(_F + ce))  # subtract ceil(c)
            hi[0] -= cm >> -(_F + ce)  # subtract floor(c)
        M2 = MI * MI
        for (wm, we), Qj in zip(self.W, self.Q):
            D = M2 + Qj
            A, B = 1, 0
            Dn, Hn = D, 1
            e0 = 2 * _L1 + _F + we
            for n in range(p + 1):
                A, B = MI * A - Qj * B, A + MI * B  # (M + iY)^(n+1) = A + i Y B
                num = -wm * B * Hn if n % 2 == 0 else wm * B * Hn
                if e0 >= 0:
                    num, den = num << e0, Dn
                else:
                    den = Dn << (-e0)
                lo[n] += num // den
                hi[n] += -((-num) // den)
                Dn *= D
                Hn *= H
        return lo, hi

    def tail(self, m: float, h: float, p: int) -> float:
        """Bound on the terms of degree > p (times 2 for the float64 rounding)."""
        s = 0.0
        for wj, qj in zip(self.wf, self.qf):
            rho2 = m * m + qj
            r = h / math.sqrt(rho2)
            s += wj / rho2 * (p + 2) * r ** (p + 1) / (1 - r) ** 2
        return 2 * s


def _cubic_max(lo: list, hi: list) -> Fraction:
    """Upper bound of ``max_{|s|<=1} |sum_n U_n s^n|`` for enclosed ``U_n`` (scale 2^-F integers):
    exact maximum of the midpoint cubic + radii + ``sum_{n>3} |U_n|``."""
    mid = [Fraction(a + b, 2) for a, b in zip(lo, hi)]
    rad = sum(Fraction(b - a, 2) for a, b in zip(lo, hi))
    c = (mid + [Fraction(0)] * 4)[:4]
    rest = sum((abs(v) for v in mid[4:]), Fraction(0))

    def P(s: Fraction) -> Fraction:
        return c[0] + s * (c[1] + s * (c[2] + s * c[3]))

    cands = [Fraction(-1), Fraction(1)]
    slack = Fraction(0)
    if c[3] != 0:
        disc = c[2] * c[2] - 3 * c[1] * c[3]
        if disc >= 0:
            K = 1 << 120
            den = disc.denominator
            s_lo = Fraction(math.isqrt(disc.numerator * den * K * K), den * K)  # sqrt(disc) >= s_lo
            s_hi = s_lo + Fraction(1, den * K)
            for sg in (1, -1):
                for sq in (s_lo, s_hi):
                    s = (-c[2] + sg * sq) / (3 * c[3])
                    if -1 < s < 1:
                        cands.append(s)
            # the critical point lies between the two candidates of its sign: P varies there by
            # at most max|P'| times their distance
            slack = (abs(c[1]) + 2 * abs(c[2]) + 3 * abs(c[3])) * Fraction(1, den * K) / abs(3 * c[3])
    elif c[2] != 0:
        s = -c[1] / (2 * c[2])
        if -1 < s < 1:
            cands.append(s)
    return max(abs(P(s)) for s in cands) + slack + rad + rest


@dataclass
class SqrtCertificate:
    lower: float
    upper: float
    rigorous: bool
    boxes: int
    seconds: float
    method: str
    notes: list


def certify_sqrt_pf(
    rat: SqrtPF, reference: list, *, rel_tol: float = 1e-6, max_boxes: int = 40_000
) -> SqrtCertificate:
    """Rigorous bracket ``lower <= E_{k,k}(sqrt, [0,1]) <= max_[0,1] |e| <= upper`` (module doc)."""
    t0 = time.perf_counter()
    ex = _Exact(rat)
    notes: list[str] = []
    if len(reference) != 2 * rat.k + 2:
        raise ValueError(f"reference needs 2k+2 = {2 * rat.k + 2} points, got {len(reference)}")
    # --- lower bound: exact enclosures of e at the reference points rounded to the 2^-L1 grid
    signs, mags = [], []
    for x in reference:
        MI = int(mp.nint(mp.ldexp(x, _L1)))
        MI = min(max(MI, 0), 1 << _L1)
        lo, hi = ex.taylor(MI, 0, 0)
        if lo[0] > 0:
            signs.append(1)
            mags.append(lo[0])
        elif hi[0] < 0:
            signs.append(-1)
            mags.append(-hi[0])
        else:
            signs.append(0)
            mags.append(0)
    alternates = all(s != 0 for s in signs) and all(signs[i] != signs[i + 1] for i in range(len(signs) - 1))
    lower = min(mags) / 2.0**_F if alternates else 0.0
    if not alternates:
        notes.append("error does not alternate on the reference: lower bound 0")
    M = max(mags) / 2.0**_F
    # --- upper bound: branch and bound with Taylor models
    target = Fraction(max(mags)) * (1 + Fraction(rel_tol)) if M > 0 else Fraction(0)
    L = _L1 - 1
    ymin = math.sqrt(min(ex.qf))
    edges = [0, max(1, int(ymin / 8 * 2.0**L))]
    while edges[-1] < (1 << L):
        edges.append(min(1 << L, edges[-1] * 9 // 7 + 1))  # b/a <= 9/7 keeps h/m <= 1/8
    stack = list(itertools.pairwise(edges))
    worst = Fraction(0)
    nbox = 0
    budget_hit = False
    while stack:
        A, B = stack.pop()
        nbox += 1
        MI, H = A + B, B - A
        m, h = MI / 2.0**_L1, H / 2.0**_L1
        p = None
        for pp in range(3, 48):
            tl = ex.tail(m, h, pp)
            if tl < 1e-3 * rel_tol * M:
                p = pp
                break
        if p is None:
            p, tl = 47, ex.tail(m, h, 47)
        lo, hi = ex.taylor(MI, H, p)
        bound = _cubic_max(lo, hi) + Fraction(tl) * (1 << _F)
        if bound <= target or B - A < 2 or (budget_hit := nbox + len(stack) >= max_boxes):
            worst = max(worst, bound)
        else:
            mid = (A + B) // 2
            stack += [(A, mid), (mid, B)]
    if budget_hit:
        notes.append(f"box budget {max_boxes} reached: upper bound rigorous but loose")
    upper = float(worst / (1 << _F)) * (1 + 2**-50)  # round the Fraction up into a float
    return SqrtCertificate(
        lower=lower * (1 - 2**-50),
        upper=upper,
        rigorous=alternates,
        boxes=nbox,
        seconds=time.perf_counter() - t0,
        method=(
            f"lower: de la Vallee Poussin on {len(reference)} points (exact integer enclosures); "
            f"upper: Taylor-model branch and bound on [0,1] ({nbox} boxes, exact integer arithmetic)"
        ),
        notes=notes,
    )


def _fraction(v) -> Fraction:
    man, ex = _dyadic(v)
    return Fraction(man) * Fraction(2) ** ex


def monomial_in_x(rat: SqrtPF) -> tuple[list[Fraction], list[Fraction]]:
    """Exact monomial coefficients (ascending, in ``x``) of ``r(x^2)``: ``P(x^2)/Q(x^2)`` with
    ``Q(t) = prod (t + q_j)`` and ``P = c Q + sum_j w_j prod_{i != j} (t + q_i)``.

    For ``ratapprox.certify`` (which takes monomial pairs); exact, so the rational certified
    there is the same one.
    """
    qs = [_fraction(v) for v in rat.q]
    ws = [_fraction(v) for v in rat.w]

    def times(p: list, a: Fraction) -> list:  # p(t) (t + a)
        out = [Fraction(0)] * (len(p) + 1)
        for i, v in enumerate(p):
            out[i] += v * a
            out[i + 1] += v
        return out

    Q = [Fraction(1)]
    for a in qs:
        Q = times(Q, a)
    c = _fraction(rat.c)
    P = [c * v for v in Q]
    for j, wj in enumerate(ws):
        Pj = [Fraction(1)]
        for i, a in enumerate(qs):
            if i != j:
                Pj = times(Pj, a)
        for i, v in enumerate(Pj):
            P[i] += wj * v
    k = len(qs)
    num = [Fraction(0)] * (2 * k + 1)
    den = [Fraction(0)] * (2 * k + 1)
    for i in range(k + 1):
        num[2 * i], den[2 * i] = P[i], Q[i]
    return num, den
