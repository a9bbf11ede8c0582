r"""Certified error brackets for a float64 rational in *barycentric* form (fast path).

:func:`certify_barycentric` returns the same :class:`~ratapprox.certify.Certificate` as
:func:`ratapprox.certify.certify`, ``lower <= E*_{m,n}(f; X) <= ||f - r||_X <= upper``, for the
rational ``r`` held by a :class:`~ratapprox.barycentric.BarycentricRational` with float64 data,

.. math::

    r(x) = \sum_k \frac{w_k f_k}{x - z_k} \Big/ \sum_k \frac{w_k}{x - z_k},

without converting it to monomial coefficients.  At high degree the monomial coefficients of a
best approximation span hundreds of orders of magnitude (|x| at type (80, 80): ~1e300) and their
interval Horner evaluation overestimates massively, while the barycentric data are well
conditioned (Berrut & Trefethen 2004; Filip, Nakatsukasa, Trefethen & Beckermann 2018).

Enclosure of the error on a box
-------------------------------
On a box :math:`X = [a, b]` with centre :math:`c` let :math:`z_j` be the support point nearest to
``c``, :math:`t = x - z_j` and :math:`L(x) = s x + \lambda` the target on ``X`` (each target is
linear between its breakpoints; ``s, lambda`` in {-1, 0, 1}).  With the node errors
:math:`\delta_k = L(z_k) - f_k` (small: the support points of a Remez fit are reference points)
and :math:`W_0 = \sum_k w_k`, the identity :math:`L(x) - f_k = s (x - z_k) + \delta_k` gives, after
multiplying numerator and denominator by ``t``,

.. math::

    e(x) = f(x) - r(x) = \frac{N(x)}{D(x)}, \quad
    N = w_j \delta_j + t \Big(s W_0 + \sum_{k \ne j} \frac{w_k \delta_k}{x - z_k}\Big), \quad
    D = w_j + t \sum_{k \ne j} \frac{w_k}{x - z_k},

regular on ``X`` even when ``X`` contains :math:`z_j` (a box holding a second support point gets
an infinite enclosure and is bisected).  The dependency problem of interval arithmetic makes the
natural extension of such sums useless at :math:`|e| \sim 10^{-12}` (its width is of the order of
``h`` times the sum of the terms' slopes), so each box gets a *Taylor model* of order ``K = 8``
in :math:`\tau = x - c` (Makino & Berz 2003; Neumaier 2003): the expansion of every term is exact,

.. math::

    \frac{1}{c + \tau - z_k} = \sum_{i < K} \frac{(-\tau)^i}{d_k^{i+1}}
        + \tau^K \frac{(-1)^K}{d_k^K\,(x - z_k)}, \qquad d_k = c - z_k,

with the last factor enclosed over ``X``.  Sums and the product by :math:`t = (c - z_j) + \tau`
give models ``N = sum_i N_i tau^i + R_N tau^K`` and likewise ``D``.  With ``p`` the Taylor
polynomial of ``N/D`` (float coefficients from the midpoints; any polynomial would do),

.. math::

    e(X) \subseteq \operatorname{range}_X p + \frac{(N - p D)(X)}{D(X)},

where the range of ``p`` is exact for its quadratic part (end values and vertex) and Horner for
the rest, and ``N - p D`` is a model whose coefficients are rounding-sized.  The overestimation
is then of order :math:`(h/d)^{K+1}` plus the float64 rounding of ``N`` (about
:math:`10^{-15}` absolute for |x| at (80, 80)).  A box that meets a breakpoint of the target
(an inexact decimal ``THETA`` is enclosed between two doubles) gets the natural extension of
:math:`(f(x) - f_j) - t A/D` instead, :math:`A = \sum_{k \ne j} w_k (f_k - f_j)/(x - z_k)`.

All boxes of a round are evaluated at once, vectorised in numpy, in outward-rounded float64
interval arithmetic (:mod:`ratapprox._float_interval`: IEEE 754 correctly rounded operations
widened by one ulp, sums by error-free TwoSum steps; Rump 1999; Ogita, Rump & Oishi 2005).
Boxes are bisected until every box's upper end is at most :math:`(1 + tol) M`, ``M`` the largest
proven :math:`|e(c)|`, or the box budget is spent; the returned upper end is the largest enclosure
over a cover of the domain, so it is rigorous whatever the stopping reason.  A domain, data and
target with the same exact parity are covered on :math:`x \ge 0` only.

*No pole*: on every final box :math:`D(X)` excludes 0.  Then :math:`q(x) = \ell_j(x) D(x)`,
:math:`\ell_j = \prod_{k \ne j}(x - z_k) \ne 0` on ``X``, so the denominator of ``r`` has no zero
on the domain (the analogue of the monomial path's proof of ``Q > 0``); an unproven box leaves an
infinite upper end.

*Lower bound*: de la Vallée Poussin (1910) as in :mod:`ratapprox.certify`, with ``e`` (the
intersection of both forms above) and the sign of :math:`q = \ell_j D` enclosed at the
alternation points by the same arithmetic.  The degrees of
``p`` and ``q`` (hence the defect) are read exactly from the moments
:math:`\sum_k w_k z_k^i` and :math:`\sum_k w_k f_k z_k^i` in rational arithmetic: ``q`` has degree
``N - i0``, ``i0`` the first non-vanishing moment (``N + 1`` support points).

What is rigorous
----------------
* The data: support points, weights and values are float64 numbers taken at their exact binary
  values.  For a declared type ``(m, n)`` with ``m != n`` the float weights satisfy the degree
  constraints only up to rounding; the certified rational is then the one with the weights (for
  ``m > n``) or values (for ``m < n``) projected *exactly* (in ``fractions.Fraction``) onto the
  constraints -- a change at the rounding level, reported in the notes -- each enclosed in a
  float64 interval.  It has type ``(m, n)`` exactly, so ``E* <= ||f - r||`` holds.
* The targets: those that are exactly linear, with float64 coefficients, between breakpoints,
  the piecewise-linear ``relu, abs, sign, step:THETA, jumprelu:THETA`` (an inexact decimal
  ``THETA`` is enclosed between two doubles; a box that meets it gets the hull of both
  branches).  Other targets (``exp``, callables) and mpmath data go through
  :func:`ratapprox.certify.certify`.
* Continuous domains only (a grid goes through :func:`ratapprox.certify.certify`).

Possible issues
---------------
* float64 interval arithmetic resolves ``e`` only to about ``cond * 1e-16`` absolute; when that is
  not far below ``|e|`` the upper end cannot get tighter than that (the stopping rule notices and
  says so in the notes).  A rational with a pole-zero pair on the domain cannot be certified.

References
----------
.. [1] J.-P. Berrut and L. N. Trefethen, "Barycentric Lagrange interpolation", SIAM Review 46(3),
   2004. :doi:`10.1137/S0036144502417715`
.. [2] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen and B. Beckermann, "Rational minimax
   approximation via adaptive barycentric representations", SIAM J. Sci. Comput. 40(4), 2018.
.. [3] R. E. Moore, *Interval Analysis*, Prentice-Hall, 1966; K. Makino and M. Berz, "Taylor
   models and other validated functional inclusion methods", Int. J. Pure Appl. Math. 4(4),
   2003; A. Neumaier, "Taylor forms -- use and limits", Reliable Computing 9, 2003.
.. [4] S. M. Rump, "INTLAB - INTerval LABoratory", 1999; IEEE Std 754-2008; T. Ogita, S. M. Rump
   and S. Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005.
.. [5] C. de la Vallée Poussin, 1910; N. I. Achieser, *Theory of Approximation*, 1956, sec. 2.11.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from . import _float_interval as fi
from .barycentric import BarycentricRational
from .certify import (
    Certificate,
    _alternating_lower,
    _pieces,
    _place_points,
    _right_half,
    _symmetric_domain,
)
from .domains import Domain
from .errors import InvalidInputError
from .targets import Target, get_target

__all__ = ["certify_barycentric", "supports_barycentric"]

#: array elements (boxes x support points x Taylor order) per vectorised batch: bounds the
#: memory (~20 such float64 arrays are alive at once, ~170 MB)
_BATCH_ELEMENTS = 2**20
#: initial sub-boxes per support-point cell
_INITIAL_SPLIT = 4
#: order K of the Taylor models (terms tau^0 .. tau^(K-1), remainder coefficient of tau^K)
_ORDER = 8
#: largest |m - n| handled by the exact projection onto the degree constraints
_MAX_CONSTRAINTS = 8

_PL_KINDS = ("relu", "abs", "sign", "step", "jumprelu")


# --------------------------------------------------------------------------- target enclosures
def _kind(tgt: Target) -> str | None:
    name = tgt.name
    if name in ("relu", "abs", "sign"):
        return name
    kind = name.partition(":")[0]
    if kind in ("step", "jumprelu") and "theta" in tgt.params:
        return kind
    return None


def supports_barycentric(target: Any, rational: Any, domain: Domain) -> bool:
    """Whether :func:`certify_barycentric` applies: a piecewise-linear named target, float64
    barycentric data, a continuous domain."""
    try:
        tgt = get_target(target)
    except InvalidInputError:
        return False
    return (
        _kind(tgt) is not None
        and isinstance(rational, BarycentricRational)
        and not rational.is_mp
        and isinstance(domain, Domain)
        and not domain.is_discrete
    )


class _TargetFI:
    """Float64 interval enclosures of a piecewise-linear target and of its linear pieces."""

    def __init__(self, tgt: Target) -> None:
        kind = _kind(tgt)
        if kind is None:
            raise InvalidInputError(f"target `{tgt.name}` has no float64 interval enclosure")
        self.kind = kind
        th = Fraction(Decimal(tgt.params["theta"])) if kind in ("step", "jumprelu") else Fraction(0)
        self.th_lo, self.th_hi = fi.enclose_fraction(th)
        if kind == "jumprelu" and th == 0:
            self.kind = "relu"  # x H(x) with H(0) = 1/2 is relu (0 at 0): no jump

    def f(self, lo: np.ndarray, hi: np.ndarray) -> fi.Interval:
        k = self.kind
        if k == "relu":
            return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
        if k == "abs":
            flo = np.where(lo >= 0, lo, np.where(hi <= 0, -hi, 0.0))
            return flo, np.maximum(-lo, hi)
        right, left = lo > self.th_hi, hi < self.th_lo
        if k in ("sign", "step"):
            base = -1.0 if k == "sign" else 0.0
            flo = np.where(right, 1.0, base)
            fhi = np.where(left, base, 1.0)
            return flo, fhi
        # jumprelu: 0 left of theta, x right of it, both (and theta/2) on a box meeting theta
        flo = np.where(right, lo, np.where(left, 0.0, np.minimum(lo, 0.0)))
        fhi = np.where(right, hi, np.where(left, 0.0, np.maximum(hi, 0.0)))
        return flo, fhi

    def piece(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(s, c, ok)``: on the boxes with ``ok``, ``f(x) = s x + c`` exactly (s, c in {-1, 0, 1})."""
        k = self.kind
        zero = np.zeros(lo.shape)
        if k in ("relu", "abs"):
            right, left = lo >= 0, hi <= 0
            s_left = 0.0 if k == "relu" else -1.0
            return np.where(right, 1.0, s_left), zero, right | left
        right, left = lo > self.th_hi, hi < self.th_lo
        if k == "jumprelu":
            return np.where(right, 1.0, 0.0), zero, right | left
        base = -1.0 if k == "sign" else 0.0
        return zero, np.where(right, 1.0, base), right | left


# --------------------------------------------------------------------------- exact data
def _moments_first_nonzero(z: Sequence[Fraction], c: Sequence[Fraction]) -> int:
    """Smallest i with sum_k c_k z_k^i != 0 (len(z) if none): deg = N - i."""
    pw = [Fraction(1)] * len(z)
    for i in range(len(z)):
        if sum(ck * pk for ck, pk in zip(c, pw)) != 0:
            return i
        pw = [pk * zk for pk, zk in zip(pw, z)]
    return len(z)


def _project(v: list[Fraction], rows: list[list[Fraction]]) -> list[Fraction]:
    """Exact orthogonal projection of ``v`` onto ``{x : rows @ x = 0}`` (Gaussian elimination)."""
    d = len(rows)
    G = [[sum(a * b for a, b in zip(rows[i], rows[k])) for k in range(d)] for i in range(d)]
    rhs = [sum(a * b for a, b in zip(rows[i], v)) for i in range(d)]
    for col in range(d):  # solve G y = rhs exactly
        piv = next(r for r in range(col, d) if G[r][col] != 0)
        G[col], G[piv] = G[piv], G[col]
        rhs[col], rhs[piv] = rhs[piv], rhs[col]
        for r in range(d):
            if r != col and G[r][col] != 0:
                fac = G[r][col] / G[col][col]
                G[r] = [a - fac * b for a, b in zip(G[r], G[col])]
                rhs[r] -= fac * rhs[col]
    y = [rhs[i] / G[i][i] for i in range(d)]
    return [vk - sum(y[i] * rows[i][k] for i in range(d)) for k, vk in enumerate(v)]


class _Data:
    """Support points (sorted), interval weights and values of the rational actually certified."""

    def __init__(self, rational: BarycentricRational, m: int, n: int) -> None:
        z0, f0, w0 = (np.asarray(a, dtype=float)
                      for a in (rational.support_points, rational.values, rational.weights))
        keep = w0 != 0  # a zero weight contributes to neither sum
        z0, f0, w0 = z0[keep], f0[keep], w0[keep]
        if z0.size == 0:
            raise InvalidInputError("all weights are zero")
        order = np.argsort(z0)
        z0, f0, w0 = z0[order], f0[order], w0[order]
        self.notes: list[str] = []
        zq = [Fraction(float(v)) for v in z0]
        wq = [Fraction(float(v)) for v in w0]
        fq = [Fraction(float(v)) for v in f0]
        N = len(zq) - 1
        dq, dp = max(0, N - n), max(0, N - m)
        if max(dq, dp) > _MAX_CONSTRAINTS:
            raise InvalidInputError(
                f"type ({m}, {n}) with {N + 1} support points needs {max(dq, dp)} exact degree "
                f"constraints (at most {_MAX_CONSTRAINTS} handled)")
        if dq and _moments_first_nonzero(zq, wq) < dq:
            rows = [[zk**i for zk in zq] for i in range(dq)]
            new = _project(wq, rows)
            rel = max(abs(a - b) for a, b in zip(new, wq)) / max(abs(b) for b in wq)
            self.notes.append(f"weights projected exactly onto deg q <= {n} "
                              f"(relative change {float(rel):.1e})")
            wq = new
        if dp and _moments_first_nonzero(zq, [a * b for a, b in zip(wq, fq)]) < dp:
            rows = [[wk * zk**i for wk, zk in zip(wq, zq)] for i in range(dp)]
            new = _project(fq, rows)
            scale_f = max(max(abs(b) for b in fq), Fraction(1, 10**300))
            rel = max(abs(a - b) for a, b in zip(new, fq)) / scale_f
            self.notes.append(f"values projected exactly onto deg p <= {m} "
                              f"(relative change {float(rel):.1e})")
            fq = new
        if all(v == 0 for v in wq):
            raise InvalidInputError("the projected weights vanish: no rational of this type")
        self.deg_q = N - _moments_first_nonzero(zq, wq)
        i_p = _moments_first_nonzero(zq, [a * b for a, b in zip(wq, fq)])
        self.deg_p = N - i_p if i_p <= N else -1
        self.z = z0
        W = [fi.enclose_fraction(v) for v in wq]
        F = [fi.enclose_fraction(v) for v in fq]
        self.W = (np.array([a for a, _ in W]), np.array([b for _, b in W]))
        self.F = (np.array([a for a, _ in F]), np.array([b for _, b in F]))
        self.w_point = bool(np.all(self.W[0] == self.W[1]))
        self.zq, self.wq, self.fq = zq, wq, fq

    def symmetric(self) -> str | None:
        """'even'/'odd' when the data prove r(-x) = r(x) / -r(x) exactly, else None.

        The barycentric form with nodes ``-z_k`` and the same ``w, f`` is ``r(-x)``; it is the
        same rational when ``z -> -z`` permutes the nodes with ``f`` unchanged (even) or negated
        (odd) and ``w`` unchanged or negated throughout.
        """
        zq, wq, fq = self.zq, self.wq, self.fq
        idx = {v: i for i, v in enumerate(zq)}
        perm = [idx.get(-v) for v in zq]
        if any(p is None for p in perm):
            return None
        w_same = all(wq[p] == wq[i] for i, p in enumerate(perm))
        w_flip = all(wq[p] == -wq[i] for i, p in enumerate(perm))
        if not (w_same or w_flip):
            return None
        if all(fq[p] == fq[i] for i, p in enumerate(perm)):
            return "even"
        if all(fq[p] == -fq[i] for i, p in enumerate(perm)):
            return "odd"
        return None


# --------------------------------------------------------------------------- the box enclosure
class _Evaluator:
    """Vectorised enclosures of e = f - r (and e') on many boxes at once."""

    def __init__(self, data: _Data, tfi: _TargetFI) -> None:
        self.d = data
        self.t = tfi
        z = data.z
        self.order = _ORDER
        self.W0 = fi.enclose_fraction(sum(data.wq, Fraction(0)))  # sum_k w_k, exactly enclosed
        # nearest support point of a centre: split the line at the midpoints between nodes
        self.cuts = z[:-1] + (z[1:] - z[:-1]) / 2

    def nearest(self, c: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cuts, c)

    def _wmul(self, a: fi.Interval) -> fi.Interval:
        W = self.d.W
        if self.d.w_point:
            return fi.scale(W[0][None, :], a)
        return fi.mul((W[0][None, :], W[1][None, :]), a)

    def eval(self, lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
        """Natural extension of ``e = (f - f_j) - t A / D`` on the boxes ``[lo, hi]`` (arrays of
        equal length; lo == hi: a point), and of ``D``."""
        d = self.d
        z = d.z
        j = self.nearest(lo + (hi - lo) / 2)
        zj = z[j]
        S = z.size
        self_mask = np.arange(S)[None, :] == j[:, None]
        # u_k = 1 / (X - z_k), and 0 for k = j (that term is taken out of the sums)
        xz = (fi.down(lo[:, None] - z[None, :]), fi.up(hi[:, None] - z[None, :]))
        u = fi.recip(xz)
        u = (np.where(self_mask, 0.0, u[0]), np.where(self_mask, 0.0, u[1]))
        Flo, Fhi = d.F
        Fj = (Flo[j], Fhi[j])
        Wj = (d.W[0][j], d.W[1][j])
        fdiff = fi.sub((Flo[None, :], Fhi[None, :]), (Fj[0][:, None], Fj[1][:, None]))
        wu = self._wmul(u)
        B = fi.row_sum(wu)
        A = fi.row_sum(fi.mul(wu, fdiff))
        T = (fi.down(lo - zj), fi.up(hi - zj))
        D = fi.add(Wj, fi.mul(T, B))
        den_ok = (D[0] > 0) | (D[1] < 0)
        g = fi.div(A, D)
        fX = self.t.f(lo, hi)
        e = fi.sub(fi.sub(fX, Fj), fi.mul(T, g))
        return {"e": e, "den_ok": den_ok, "D": D}

    def taylor(self, lo: np.ndarray, hi: np.ndarray, s_L: np.ndarray, c_L: np.ndarray
               ) -> tuple[fi.Interval, fi.Interval, fi.Interval]:
        """Taylor-model enclosure on boxes where ``f = s_L x + c_L``: ``(e(X), e(c), Den(X))``.

        The mathematics is in the module docstring ("Enclosure of the error on a box").
        """
        d, K = self.d, self.order
        z = d.z
        S = z.size
        c = lo + (hi - lo) / 2
        c = np.minimum(np.maximum(c, lo), hi)
        j = self.nearest(c)
        keep = np.arange(S)[None, :] != j[:, None]
        tau = (fi.down(lo - c), fi.up(hi - c))
        tau = (np.minimum(tau[0], 0.0), np.maximum(tau[1], 0.0))
        dk = (fi.down(c[:, None] - z[None, :]), fi.up(c[:, None] - z[None, :]))
        inv = fi.recip(dk)
        inv = (np.where(keep, inv[0], 0.0), np.where(keep, inv[1], 0.0))
        U = fi.recip((fi.down(lo[:, None] - z[None, :]), fi.up(hi[:, None] - z[None, :])))
        U = (np.where(keep, U[0], 0.0), np.where(keep, U[1], 0.0))
        # coefficients of 1/(c + tau - z_k) = sum_i (-1)^i tau^i / d_k^(i+1) + remainder
        pw = [inv]
        for _ in range(K - 1):
            pw.append(fi.mul(pw[-1], inv))
        a_lo = np.stack([pw[i][0] if i % 2 == 0 else -pw[i][1] for i in range(K)], axis=1)
        a_hi = np.stack([pw[i][1] if i % 2 == 0 else -pw[i][0] for i in range(K)], axis=1)
        rho = fi.mul(pw[K - 1], U)
        if K % 2:
            rho = fi.neg(rho)
        # delta_k = L(z_k) - f_k, L(x) = s_L x + c_L the target on the box
        sz = s_L[:, None] * z[None, :]  # exact: s_L in {-1, 0, 1}
        delta = fi.sub(fi.add((sz, sz), (c_L[:, None], c_L[:, None])), (d.F[0][None, :], d.F[1][None, :]))
        Wb = (d.W[0][None, :], d.W[1][None, :])
        wd = fi.mul(Wb, delta)
        W3 = (Wb[0][:, None, :], Wb[1][:, None, :])
        wd3 = (wd[0][:, None, :], wd[1][:, None, :])
        B = fi.row_sum(fi.mul(W3, (a_lo, a_hi)))  # (M, K)
        A = fi.row_sum(fi.mul(wd3, (a_lo, a_hi)))
        RB = fi.row_sum(fi.mul(Wb, rho))
        RA = fi.row_sum(fi.mul(wd, rho))
        rows = np.arange(lo.size)
        wj = (d.W[0][j], d.W[1][j])
        wdj = (wd[0][rows, j], wd[1][rows, j])
        t0 = (fi.down(c - z[j]), fi.up(c - z[j]))
        # Num = t (s_L W0 + A) + w_j delta_j,  Den = t B + w_j,  t = t0 + tau
        sW0 = fi.mul((s_L, s_L), self.W0)
        A = (A[0].copy(), A[1].copy())
        A0 = fi.add((A[0][:, 0], A[1][:, 0]), sW0)
        A[0][:, 0], A[1][:, 0] = A0
        Nc, NR = self._mul_t((A, RA), t0, tau)
        Dc, DR = self._mul_t((B, RB), t0, tau)
        N0 = fi.add((Nc[0][:, 0], Nc[1][:, 0]), wdj)
        Nc[0][:, 0], Nc[1][:, 0] = N0
        D0 = fi.add((Dc[0][:, 0], Dc[1][:, 0]), wj)
        Dc[0][:, 0], Dc[1][:, 0] = D0
        # p: the Taylor polynomial of e = Num/Den at c from the midpoints (any polynomial would
        # do: the remainder (Num - p Den)/Den below is enclosed rigorously)
        Nm = (Nc[0] + Nc[1]) / 2
        Dm = (Dc[0] + Dc[1]) / 2
        with np.errstate(all="ignore"):
            P = np.zeros_like(Nm)
            for i in range(K):
                acc = Nm[:, i] - sum(P[:, l] * Dm[:, i - l] for l in range(i)) if i else Nm[:, 0]
                P[:, i] = acc / Dm[:, 0]
        P = np.where(np.isfinite(P), P, 0.0)
        # Z = Num - p Den: low coefficients (tiny) and the remainder coefficient
        conv: list[fi.Interval] = []
        for i in range(2 * K - 1):
            acc = None
            for l in range(max(0, i - K + 1), min(i, K - 1) + 1):
                term = fi.scale(P[:, l], (Dc[0][:, i - l], Dc[1][:, i - l]))
                acc = term if acc is None else fi.add(acc, term)
            conv.append(acc)  # type: ignore[arg-type]
        Z = [fi.sub((Nc[0][:, i], Nc[1][:, i]), conv[i]) for i in range(K)]
        high = _horner(conv[K:], tau)
        p_range_full = _horner([(P[:, i], P[:, i]) for i in range(K)], tau)
        RZ = fi.sub(NR, fi.add(high, fi.mul(p_range_full, DR)))
        tK = self._tau_pow(tau, K)
        ZX = fi.add(_horner(Z, tau), fi.mul(RZ, tK))
        DX = fi.add(_horner([(Dc[0][:, i], Dc[1][:, i]) for i in range(K)], tau), fi.mul(DR, tK))
        eX = fi.add(_poly_range(P, tau), fi.div(ZX, DX))
        ec = fi.add((P[:, 0], P[:, 0]), fi.div(Z[0], (Dc[0][:, 0], Dc[1][:, 0])))
        return eX, ec, DX

    @staticmethod
    def _tau_pow(tau: fi.Interval, k: int) -> fi.Interval:
        """Range of tau^k over [tau_lo, tau_hi] (tau_lo <= 0 <= tau_hi), rounded outward."""

        def power(m: np.ndarray) -> np.ndarray:
            p = np.ones_like(m)
            for _ in range(k):
                p = fi.up(p * m)
            return p

        if k % 2 == 0:
            return np.zeros_like(tau[0]), power(np.maximum(-tau[0], tau[1]))
        return -power(-tau[0]), power(tau[1])

    def _mul_t(self, tm: tuple[fi.Interval, fi.Interval], t0: fi.Interval, tau: fi.Interval
               ) -> tuple[fi.Interval, fi.Interval]:
        """(t0 + tau) * (sum_i c_i tau^i + R tau^K), truncated to order K."""
        (clo, chi), R = tm
        K = clo.shape[1]
        t0_2 = (t0[0][:, None], t0[1][:, None])
        prod = fi.mul(t0_2, (clo, chi))
        shifted = (np.concatenate([np.zeros((clo.shape[0], 1)), clo[:, :-1]], axis=1),
                   np.concatenate([np.zeros((chi.shape[0], 1)), chi[:, :-1]], axis=1))
        new = fi.add(prod, shifted)
        top = (clo[:, K - 1], chi[:, K - 1])
        R2 = fi.add(fi.add(fi.mul(t0, R), fi.mul(tau, R)), top)
        return (new[0], new[1]), R2

    def boxes(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(upper bound of |e| on each box, inf where the denominator is not proven non-zero;
        proven |e(c)| at its centre; width of the centre enclosure)."""
        ub = np.empty(lo.size)
        lbc = np.empty(lo.size)
        wc = np.empty(lo.size)
        step = max(64, _BATCH_ELEMENTS // (self.d.z.size * self.order))
        for s in range(0, lo.size, step):
            a, b = lo[s : s + step], hi[s : s + step]
            s_L, c_L, lin = self.t.piece(a, b)
            ub_b = np.full(a.size, np.inf)
            lbc_b = np.zeros(a.size)
            wc_b = np.zeros(a.size)
            if np.any(lin):
                i = np.nonzero(lin)[0]
                eX, ec, DX = self.taylor(a[i], b[i], s_L[i], c_L[i])
                ok = (DX[0] > 0) | (DX[1] < 0)
                ub_b[i] = np.where(ok, fi.mag(eX), np.inf)
                lbc_b[i] = np.where(ok, fi.mig(ec), 0.0)
                wc_b[i] = ec[1] - ec[0]
            if np.any(~lin):  # a box meeting a kink or jump: natural extension
                i = np.nonzero(~lin)[0]
                X = self.eval(a[i], b[i])
                cc = a[i] + (b[i] - a[i]) / 2
                C = self.eval(cc, cc)
                ub_b[i] = np.where(X["den_ok"], fi.mag(X["e"]), np.inf)
                lbc_b[i] = np.where(C["den_ok"], fi.mig(C["e"]), 0.0)
                wc_b[i] = 0.0
            ub[s : s + step], lbc[s : s + step] = ub_b, lbc_b
            wc[s : s + step] = wc_b
        return ub, lbc, wc


def _horner(coef: list[fi.Interval], tau: fi.Interval) -> fi.Interval:
    """sum_i coef_i tau^i by Horner's scheme in interval arithmetic."""
    acc = coef[-1]
    for cf in reversed(coef[:-1]):
        acc = fi.add(fi.mul(acc, tau), cf)
    return acc


def _poly_range(P: np.ndarray, tau: fi.Interval) -> fi.Interval:
    """Enclosure of the range of the float polynomial sum_i P_i tau^i over tau in [tau_lo, tau_hi]
    (0 inside): the quadratic part exactly (end values and vertex), the rest by Horner."""
    p0, p1, p2 = ((P[:, i], P[:, i]) for i in range(3))
    vals = []
    for t in (tau[0], tau[1]):
        T = (t, t)
        vals.append(fi.add(fi.add(p0, fi.mul(p1, T)), fi.mul(p2, fi.mul(T, T))))
    out = fi.hull(vals[0], vals[1])
    with np.errstate(all="ignore"):
        tv = -P[:, 1] / (2 * P[:, 2])
    inside = np.isfinite(tv) & (tv > tau[0]) & (tv < tau[1])
    if np.any(inside):
        # vertex value p0 - p1^2 / (4 p2), enclosed
        vtx = fi.sub(p0, fi.div(fi.sqr(p1), fi.scale(4.0, p2)))
        out = (np.where(inside, np.minimum(out[0], vtx[0]), out[0]),
               np.where(inside, np.maximum(out[1], vtx[1]), out[1]))
    if P.shape[1] > 3:
        rest = _horner([(P[:, i], P[:, i]) for i in range(3, P.shape[1])], tau)
        t3 = fi.mul(tau, fi.sqr(tau))
        out = fi.add(out, fi.mul(rest, t3))
    return out


# --------------------------------------------------------------------------- lower bound
def _point_values(ev: _Evaluator, lo: np.ndarray, hi: np.ndarray
                  ) -> tuple[fi.Interval, fi.Interval, np.ndarray]:
    """Enclosures of e and of D = w_j + t B over tiny boxes (points), and the index j used.

    Both forms, ``(f - f_j) - t A / D`` and, on a linear piece of the target, the Taylor-model
    form (numerator built from the small ``delta_k = L(z_k) - f_k``), are enclosures; their
    intersection is kept (each is the tighter one at some points; at 1e-12 it matters).
    """
    out = ev.eval(lo, hi)
    e_lo, e_hi = out["e"][0].copy(), out["e"][1].copy()
    d_lo, d_hi = out["D"][0].copy(), out["D"][1].copy()
    s_L, c_L, lin = ev.t.piece(lo, hi)
    if np.any(lin):  # both are enclosures: keep their intersection
        i = np.nonzero(lin)[0]
        eX, _, DX = ev.taylor(lo[i], hi[i], s_L[i], c_L[i])
        e_lo[i], e_hi[i] = fi.intersect((e_lo[i], e_hi[i]), eX)
        d_lo[i], d_hi[i] = fi.intersect((d_lo[i], d_hi[i]), DX)
    c = np.minimum(np.maximum(lo + (hi - lo) / 2, lo), hi)
    return (e_lo, e_hi), (d_lo, d_hi), ev.nearest(c)


def _lower_bound(ev: _Evaluator, points: Sequence[Any], domain: Domain, m: int, n: int,
                 defect: int) -> tuple[float, float, list[str], int]:
    """De la Vallée Poussin: (lower, largest proven |e| at the points, notes, points used)."""
    xs, notes = _place_points(points, domain)
    d = ev.d
    d_true = min(m - d.deg_p, n - d.deg_q)
    if defect > d_true:
        notes.append(f"claimed defect {defect} exceeds the exact defect {d_true} of the barycentric data; "
                     "the theorem needs the latter")
    need = m + n + 2 - d_true
    if not xs:
        return 0.0, 0.0, [*notes, "no alternation points in the domain: lower bound 0"], 0
    enc = [fi.enclose_fraction(x) for x in xs]
    lo = np.array([a for a, _ in enc])
    hi = np.array([b for _, b in enc])
    e, D, j = _point_values(ev, lo, hi)
    den_ok = (D[0] > 0) | (D[1] < 0)
    seen = float(np.max(fi.mig(e) * den_ok))
    # sign of q(x) = l_j(x) D(x), l_j = prod_{k != j} (x - z_k): (-1)^(number of z_k > x, k != j)
    zq = d.zq
    qsign = []
    for i, x in enumerate(xs):
        if not den_ok[i]:
            notes.append(f"denominator not proven non-zero at x = {float(x):.17g}")
            return 0.0, seen, notes, 0
        above = sum(1 for k, zk in enumerate(zq) if k != int(j[i]) and zk > x)
        qsign.append((-1) ** above * (1 if D[0][i] > 0 else -1))
    if len(set(qsign)) > 1:
        notes.append("the denominator changes sign between alternation points: lower bound 0")
        return 0.0, seen, notes, 0
    vals: list[tuple[int, float]] = []
    for i, x in enumerate(xs):
        if e[0][i] > 0:
            vals.append((1, float(e[0][i])))
        elif e[1][i] < 0:
            vals.append((-1, float(-e[1][i])))
        else:
            notes.append(f"sign of the error undecided at x = {float(x):.17g}; point ignored")
    best, used = _alternating_lower(vals, need, notes, 0.0)
    return best, seen, notes, used


# --------------------------------------------------------------------------- branch and bound
def _initial_boxes(ev: _Evaluator, pieces: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Each piece, outward rounded, cut at the midpoints between support points (one node per
    cell) and each cell into ``_INITIAL_SPLIT`` equal parts."""
    los, his = [], []
    for a, b in pieces:
        lo = fi.enclose_fraction(Fraction(Decimal(a)))[0]
        hi = fi.enclose_fraction(Fraction(Decimal(b)))[1]
        inner = ev.cuts[(ev.cuts > lo) & (ev.cuts < hi)]
        edges = np.concatenate([[lo], inner, [hi]])
        t = np.arange(_INITIAL_SPLIT + 1) / _INITIAL_SPLIT
        fine = (edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * t[None, :])
        starts = fine[:, :-1].ravel()
        ends = np.concatenate([fine[:, 1:-1], edges[1:, None]], axis=1).ravel()
        ok = starts < ends
        los.append(starts[ok])
        his.append(ends[ok])
    # consecutive boxes share their end points exactly, so the cover has no holes
    return np.concatenate(los), np.concatenate(his)


def _branch_and_bound(ev: _Evaluator, pieces: list[tuple[str, str]], rel_tol: float, max_boxes: int,
                      lower: float, seed: float) -> tuple[float, dict[str, Any]]:
    lo, hi = _initial_boxes(ev, pieces)
    ub, lbc, wc = ev.boxes(lo, hi)
    n_eval = lo.size
    best = max(seed, float(np.max(lbc)))
    i = int(np.argmax(lbc))
    argbest = float(lo[i] + (hi[i] - lo[i]) / 2) if lbc[i] >= seed else None
    done_max = 0.0
    noise = 0.0
    stop = "tolerance"
    stuck = 0
    while True:
        near = lbc >= 0.5 * best
        if np.any(near):
            noise = max(noise, float(np.max(wc[near])))
        tol = rel_tol
        if lower > 0 and best > lower:
            tol = max(tol, 0.01 * (best - lower) / best)
        if best > 0:
            # float64 cannot resolve |e| more finely than its rounding at the peaks
            tol = max(tol, noise / best)
        thr = best * (1.0 + tol)
        fin = ub <= thr
        if np.any(fin):
            done_max = max(done_max, float(np.max(ub[fin])))
        lo, hi, ub = lo[~fin], hi[~fin], ub[~fin]
        if lo.size == 0:
            break
        if n_eval >= max_boxes:
            stop = "box budget"
            break
        room = (max_boxes - n_eval) // 2
        if lo.size > room:
            order = np.argsort(-ub, kind="stable")
            take, keep = order[:room], order[room:]
            if take.size == 0:
                stop = "box budget"
                break
            done_max = max(done_max, float(np.max(ub[keep])))  # unrefined boxes keep their bound
            lo, hi, ub = lo[take], hi[take], ub[take]
        mid = lo + (hi - lo) / 2
        split = (lo < mid) & (mid < hi)
        if np.any(~split):  # boxes a double cannot split: their bound stands
            stuck += int(np.count_nonzero(~split))
            done_max = max(done_max, float(np.max(ub[~split])))
            lo, hi, mid = lo[split], hi[split], mid[split]
        nlo = np.concatenate([lo, mid])
        nhi = np.concatenate([mid, hi])
        ub, lbc, wc = ev.boxes(nlo, nhi)
        n_eval += nlo.size
        if lbc.size and float(np.max(lbc)) > best:
            i = int(np.argmax(lbc))
            best, argbest = float(lbc[i]), float(nlo[i] + (nhi[i] - nlo[i]) / 2)
        lo, hi = nlo, nhi
    upper = max(done_max, float(np.max(ub)) if ub.size else 0.0)
    return upper, {"boxes": n_eval, "stop": stop, "stuck": stuck, "best": best,
                   "argbest": argbest,
                   "noise": noise, "tol": tol}


# --------------------------------------------------------------------------- public
def certify_barycentric(
    target: Any,
    rational: BarycentricRational,
    domain: Domain,
    *,
    alternation_points: Sequence[Any] | None = None,
    m: int | None = None,
    n: int | None = None,
    defect: int = 0,
    rel_tol: float = 1e-8,
    max_boxes: int = 2_000_000,
) -> Certificate:
    r"""Bracket the error of a float64 barycentric rational: ``lower <= E* <= ||f - r|| <= upper``.

    Parameters
    ----------
    target : str or Target
        A piecewise-linear named target: ``relu, abs, sign, step:THETA, jumprelu:THETA``.
    rational : BarycentricRational
        float64 data (support points, values, weights), taken at their exact binary values.
    domain : Domain
        A continuous domain (union of intervals).
    alternation_points : sequence, optional
        Points where ``f - r`` should alternate in sign; without them ``lower = 0``.
    m, n : int, optional
        The type of the best-approximation problem (default ``rational.type``).
    defect : int
        The defect the caller believes ``r`` has; only the exact defect of the data is used.
    rel_tol : float
        Target relative tightness of the upper end: subdivision stops when every box is below
        ``(1 + tol) M`` (``M`` the largest proven ``|e|``), ``tol`` relaxed to 1% of the gap
        ``(M - lower)/M`` and to the float64 rounding width of ``e`` at the peaks (relative to ``M``).
    max_boxes : int
        Budget of box evaluations; the bound stays rigorous when it is hit.

    Returns
    -------
    Certificate
        ``method`` names the barycentric float64 enclosure; ``rigorous`` is ``False`` only when a
        box could not be proven free of a pole (``upper = inf``).

    Notes
    -----
    The mathematics and exactly what is rigorous are in the module docstring.  The best cubic
    to :math:`|x|` on [-1, 1] is :math:`x^2 + 1/8` with error 1/8 (Trefethen 2013, ch. 10); as a
    barycentric interpolant at four points:

    >>> import numpy as np
    >>> from ratapprox import Domain
    >>> from ratapprox.barycentric import BarycentricRational
    >>> z = np.array([-1.0, -0.5, 0.5, 1.0])
    >>> r = BarycentricRational.from_monomial([0.125, 0.0, 1.0], [1.0], z)
    >>> c = certify_barycentric("abs", r, Domain.interval(-1, 1), m=3, n=0,
    ...                         alternation_points=[-1, -0.5, 0, 0.5, 1])
    >>> bool(c.lower <= 0.125 <= c.upper), c.rigorous, float(c.relative_width) < 1e-6
    (True, True, True)
    """
    t0 = time.perf_counter()
    tgt = get_target(target)
    if not supports_barycentric(tgt, rational, domain):
        raise InvalidInputError(
            "certify_barycentric needs a piecewise-linear named target (relu, abs, sign, step:THETA, "
            "jumprelu:THETA), float64 barycentric data and a continuous domain")
    m = rational.type[0] if m is None else int(m)
    n = rational.type[1] if n is None else int(n)
    if m < 0 or n < 0 or int(defect) < 0:
        raise InvalidInputError(f"type ({m}, {n}) and defect {defect} must be non-negative")
    if not float(rel_tol) > 0:
        raise InvalidInputError(f"`rel_tol` must be positive, got {rel_tol}")
    if int(max_boxes) < 1:
        raise InvalidInputError(f"`max_boxes` must be >= 1, got {max_boxes}")
    data = _Data(rational, m, n)
    ev = _Evaluator(data, _TargetFI(tgt))
    notes = list(data.notes)
    if alternation_points is not None:
        lower, seed, lnotes, used = _lower_bound(ev, alternation_points, domain, m, n, int(defect))
        notes.extend(lnotes)
    else:
        lower, seed, used = 0.0, 0.0, 0
        notes.append("no alternation points given: lower bound 0")
    pieces = _pieces(domain, tgt)
    sym = data.symmetric()
    halved = False
    # |e| even needs f and r of the same parity
    if sym is not None and sym == tgt.parity and _symmetric_domain(domain):
        # |e(-x)| = |e(x)| exactly (symmetric data, target and domain): x >= 0 suffices
        halved = True
        pieces = _right_half(pieces)
    upper, st = _branch_and_bound(ev, pieces, float(rel_tol), int(max_boxes), lower, seed)
    rigorous = bool(np.isfinite(upper))
    if st["stop"] == "box budget":
        notes.append(f"box budget {max_boxes} exhausted: upper bound is rigorous but loose")
    if not rigorous:
        notes.append("denominator not proven non-zero on the domain: no finite upper bound")
    if st["best"] > 0 and st["noise"] > 0 and st["tol"] <= st["noise"] / st["best"] \
            and st["noise"] / st["best"] > float(rel_tol):
        notes.append(f"float64 rounding of e at the peaks ({st['noise']:.1e}) limits the upper end's "
                     f"tightness to ~{st['noise'] / st['best']:.1e} relative")
    if st["stuck"]:
        notes.append(f"{st['stuck']} box(es) too narrow to split in float64")
    if st["argbest"] is not None:
        # where the error curve peaks: a Remez reference that missed this point shows up here
        notes.append(f"largest proven |e| {st['best']:.10g} at x = {st['argbest']:.17g}")
    how_low = (f"de la Vallée Poussin on {used} alternating points" if used
               else "lower bound 0 (no alternating set proven)")
    how_up = (f"float64 interval branch-and-bound on the barycentric form (Taylor models of order "
              f"{_ORDER}, outward-rounded IEEE 754 double, {st['boxes']} boxes"
              + (", by symmetry on x >= 0 only)" if halved else ")"))
    notes.append(f"{time.perf_counter() - t0:.2f} s")
    return Certificate(
        lower=mpmath.mpf(lower), upper=mpmath.mpf(upper) if np.isfinite(upper) else mpmath.mpf("inf"),
        rigorous=rigorous, method=f"{how_low}; {how_up}", notes="; ".join(notes),
    )
