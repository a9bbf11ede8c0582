r"""Best type (2k, 2k) approximation of |x| on [-1, 1] through sqrt on [0, 1] (mpmath Remez).

Why a dedicated solver: ``ratapprox.minimax("abs", n, n)`` is general-purpose and, at the time of
writing, needs minutes per degree beyond n = 12; Theorem 3 needs n up to a few dozen.  The best
approximation of the even function |x| on [-1, 1] is even (uniqueness of best real rational
approximation, Achieser 1956, Sec. 2.3), and an even rational of type (2k, 2k) is exactly
``P(x^2)/Q(x^2)`` with ``deg P, deg Q <= k``; so with ``t = x^2``,
``E_{2k,2k}(|x|; [-1,1]) = E_{k,k}(sqrt t; [0,1])``.  We solve the latter, written in the variable
``x = sqrt t`` in [0, 1] (where the alternation points are less clustered).

Algorithm (rational Remez; Werner 1962, Maehly 1963; Varga, Ruttan & Carpenter 1993 for |x|):

1. reference ``0 = x_0 < ... < x_{2k+1} = 1``;
2. levelled error: ``P(x_i^2) - x_i Q(x_i^2) = -(-1)^i h Q(x_i^2)`` is the generalised eigenproblem
   ``A c = h B c``; we take the eigenvalue whose ``Q`` keeps one sign on the reference
   (pole-free) with the smallest ``|h|``;
3. local maxima of ``|x - P/Q|`` on a log-spaced grid plus the reference, refined by golden
   section in ``log x``; multiple exchange when 2k+2 alternating extrema are found, single-point
   exchange otherwise;
4. stop when ``(max|e| - |h|)/|h| < tol``.

Start references come from the previous degree (continuation), resampled in ``log x`` and scaled
by ``sqrt(k/(k-1))`` (the extremal points scale like ``exp(-c sqrt n)``).  The output is *not*
trusted: :mod:`proofs_checks.thm3_relu` certifies every result with ``ratapprox.certify``.
Possible issues: at high degree the exchange may stall (reported as not converged); with the
working precision below it converges to n = 34 at least.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp

__all__ = ["AbsResult", "best_abs_sequence"]


@dataclass
class AbsResult:
    n: int  # type (n, n) for |x|, n = 2k
    levelled: object
    max_error: object
    num: list  # P coefficients in t = x^2 (ascending), Q[0] = 1
    den: list
    reference: list  # points in [0, 1]
    iterations: int
    converged: bool
    dps: int


def _levelled(xs: list, k: int) -> tuple:
    ts = [x * x for x in xs]
    N = 2 * k + 2
    A = mp.matrix(N, N)
    B = mp.matrix(N, N)
    for i in range(N):
        s = (-1) ** i
        tp = mp.mpf(1)
        for j in range(k + 1):
            A[i, j] = tp
            A[i, k + 1 + j] = -xs[i] * tp
            B[i, k + 1 + j] = -s * tp
            tp *= ts[i]
    E, ER = mp.eig(mp.inverse(A) * B)
    best = None
    for idx in range(N):
        mu = E[idx]
        if abs(mu) == 0 or abs(mp.im(mu)) > abs(mu) * mp.mpf(10) ** (-10):
            continue
        c = [mp.re(ER[j, idx]) for j in range(N)]
        b = c[k + 1:]
        qv = [mp.polyval(b[::-1], t) for t in ts]
        if all(q > 0 for q in qv) or all(q < 0 for q in qv):
            h = 1 / mp.re(mu)
            if best is None or abs(h) < abs(best[0]):
                best = (h, [x / b[0] for x in c[:k + 1]], [x / b[0] for x in b])
    if best is None:
        raise ArithmeticError("no pole-free levelled solution on this reference")
    return best


def _err(x, a, b):
    t = x * x
    return x - mp.polyval(a[::-1], t) / mp.polyval(b[::-1], t)


def _extrema(a, b, grid):
    vals = [_err(x, a, b) for x in grid]
    idx = [0]
    for i in range(1, len(grid) - 1):
        if abs(vals[i]) >= abs(vals[i - 1]) and abs(vals[i]) >= abs(vals[i + 1]):
            idx.append(i)
    idx.append(len(grid) - 1)
    out = []
    g = (mp.sqrt(5) - 1) / 2
    for i in idx:
        if not 0 < i < len(grid) - 1:
            out.append((grid[i], vals[i]))
            continue
        lo, hi = grid[i - 1], grid[i + 1]
        ul = mp.log(lo) if lo > 0 else mp.log(grid[i]) - 5
        uh = mp.log(hi)

        def f(u):
            return -abs(_err(mp.exp(u), a, b))

        c, d = uh - g * (uh - ul), ul + g * (uh - ul)
        fc, fd = f(c), f(d)
        for _ in range(34):
            if fc < fd:
                uh, d, fd = d, c, fc
                c = uh - g * (uh - ul)
                fc = f(c)
            else:
                ul, c, fc = c, d, fd
                d = ul + g * (uh - ul)
                fd = f(d)
        x = mp.exp((ul + uh) / 2)
        v = _err(x, a, b)
        out.append((x, v) if abs(v) >= abs(vals[i]) else (grid[i], vals[i]))
    return out


def _alternating(ext, npts):
    alt = []
    for x, v in ext:
        if alt and (alt[-1][1] > 0) == (v > 0):
            if abs(v) > abs(alt[-1][1]):
                alt[-1] = (x, v)
        else:
            alt.append((x, v))
    while len(alt) > npts:
        if abs(alt[0][1]) < abs(alt[-1][1]):
            alt.pop(0)
        else:
            alt.pop()
    return alt


def _remez(k: int, ref: list, dps: int, maxit: int, tol: float) -> AbsResult:
    with mp.workdps(dps):
        n = 2 * k
        L = int(mp.pi * mp.sqrt(n) * 1.6 / mp.log(10)) + 4
        grid = [mp.mpf(0)] + [mp.mpf(10) ** (-mp.mpf(L) * (1 - mp.mpf(i) / (60 * L)))
                              for i in range(60 * L + 1)]
        ref = [mp.mpf(x) for x in ref]
        converged = False
        h = a = b = emax = None
        it = 0
        for it in range(1, maxit + 1):  # noqa: B007 (it is reported)
            h, a, b = _levelled(ref, k)
            ext = _extrema(a, b, sorted(set(grid + ref)))
            emax = max(abs(v) for _, v in ext)
            if (emax - abs(h)) / abs(h) < tol:
                converged = True
                break
            alt = _alternating(ext, 2 * k + 2)
            if len(alt) == 2 * k + 2:
                ref = [x for x, _ in alt]
                continue
            # single-point exchange: swap the global maximum in, keeping the alternation
            xs, vs = max(ext, key=lambda p: abs(p[1]))
            ev = [_err(x, a, b) for x in ref]
            j = max(i for i in range(len(ref)) if ref[i] <= xs)
            if (ev[j] > 0) == (vs > 0):
                ref[j] = xs
            elif j + 1 < len(ref) and (ev[j + 1] > 0) == (vs > 0):
                ref[j + 1] = xs
            elif j == len(ref) - 1:
                ref = [*ref[1:], xs]
            else:
                ref = [xs, *ref[:-1]]
        return AbsResult(n, abs(h), emax, a, b, ref, it, converged, dps)


def _start_reference(k: int, prev: AbsResult | None) -> list:
    if prev is None:
        # k = 1: a rough geometric reference
        return [mp.mpf(0), mp.mpf("0.2"), mp.mpf("0.65"), mp.mpf(1)]
    r = prev.reference
    m = len(r) - 1
    qs = [mp.mpf(j) / m for j in range(1, m + 1)]
    ls = [mp.log(x) for x in r[1:]]
    scale = mp.sqrt(mp.mpf(k) / (k - 1))
    M = 2 * k + 1
    ref = [mp.mpf(0)]
    for j in range(1, M + 1):
        q = mp.mpf(j) / M
        if q <= qs[0]:
            lv = ls[0] + (ls[1] - ls[0]) * (q - qs[0]) / (qs[1] - qs[0])
        else:
            i = max(i for i in range(m) if qs[i] <= q)
            lv = ls[i] if i == m - 1 else ls[i] + (ls[i + 1] - ls[i]) * (q - qs[i]) / (qs[i + 1] - qs[i])
        ref.append(mp.exp(lv * scale))
    ref[-1] = mp.mpf(1)
    return ref


def best_abs_sequence(k_max: int, *, maxit: int = 30, tol: float = 1e-10, stop_on_failure: bool = True):
    """Best (2k, 2k) approximations of |x| on [-1, 1] for k = 1 .. k_max (continuation in k).

    Working precision ``60 + 6k`` digits (the monomial basis in ``t`` on [0, 1] and the
    eigenproblem lose several digits per degree; with ``40 + 4k`` the exchange stalled at
    n = 28).  A degree that does not converge is returned with ``converged=False``; by default
    the sequence stops there.
    """
    out: list[AbsResult] = []
    prev = None
    for k in range(1, k_max + 1):
        try:
            with mp.workdps(60 + 6 * k):
                ref = _start_reference(k, prev)
            res = _remez(k, ref, 60 + 6 * k, maxit, tol)
        except (ArithmeticError, ZeroDivisionError, ValueError) as exc:
            out.append(AbsResult(2 * k, None, None, [], [], [], 0, False, 60 + 6 * k))
            out[-1].failure = repr(exc)  # type: ignore[attr-defined]
            break
        out.append(res)
        if not res.converged and stop_on_failure:
            break
        prev = res
    return out
