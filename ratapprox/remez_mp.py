"""The arbitrary-precision rational Remez exchange (mpmath).

Given a target :math:`f`, a weight :math:`w > 0` and a type :math:`(m, n)`, the best approximation
:math:`r^* = p/q` minimises :math:`\\max_{x \\in X} |w(x)(f(x) - r(x))|` over the domain :math:`X`.
When it is non-degenerate (defect 0), Chebyshev's theorem (Achieser 1956; Powell 1981, ch. 10)
characterises it by an *alternation*: :math:`N = m + n + 2` points
:math:`x_0 < \\dots < x_{N-1}` of :math:`X` where :math:`w(f - r^*)` takes the value
:math:`\\pm\\|w(f - r^*)\\|` with alternating signs.  The Remez exchange (Remez 1934) iterates on
such a reference.

Levelled error (Werner 1962; Maehly 1963)
-----------------------------------------
On a reference, find :math:`p \\in \\mathcal P_m`, :math:`q \\in \\mathcal P_n` and the levelled error
:math:`h` with

.. math::  p(x_i) - \\Bigl(f(x_i) - \\frac{(-1)^i h}{w(x_i)}\\Bigr) q(x_i) = 0, \\qquad i = 0..N-1.

With :math:`V_m, V_n` the Chebyshev-Vandermonde matrices (basis :math:`T_k(t)`, :math:`t` the
affine map of the domain's hull onto [-1, 1], far better conditioned than monomials),
:math:`F = \\operatorname{diag}(f_i)`, :math:`S = \\operatorname{diag}((-1)^i / w_i)`, this reads
:math:`V_m a - (F - hS) V_n b = 0`.  Let the columns of :math:`U` (:math:`N \\times (n+1)`) span the
orthogonal complement of :math:`\\operatorname{range} V_m` (from a full QR factorisation).  Then

.. math::  (U^T F V_n)\\, b = h\\, (U^T S V_n)\\, b,

an :math:`(n+1) \\times (n+1)` generalised eigenproblem, reduced to a standard one and solved by
``mpmath.eig``.  Of its eigenvalues, the admissible one is real with a denominator that does not
change sign on the hull of the domain (of these we take the one of smallest modulus); then
:math:`a` solves :math:`V_m a = (F - hS) V_n b` (consistent, solved by least squares).  This is the
linearised formulation of Werner and Maehly; Filip, Nakatsukasa, Trefethen & Beckermann (2018)
use the same eigenproblem in a barycentric basis for their float64 algorithm.

Exchange
--------
The local extrema of :math:`e = w(f - r)` are found by :func:`ratapprox.extrema.local_extrema_mp`;
a new alternating reference of :math:`N` points is chosen by the multi-point rule
(:func:`ratapprox.extrema.alternating_subset`), with a one-point exchange as fallback.  The
iteration stops when :math:`(\\max|e| - |h|)/|h| \\le` ``tol``; by de la Vallée Poussin (1910)
:math:`|h| \\le E^* \\le \\max|e|`, so the relative gap bounds the error in the computed optimum.

The class searched
------------------
Denominators without a real zero on the hull :math:`[\\min X, \\max X]`, so that ``r`` is
continuous there, also in the gaps of a union of intervals.  In this class the alternation
theorem characterises the best approximation uniquely: for two candidates the numerator of
:math:`r - r'` (degree :math:`\\le m + n`) would have :math:`m + n + 1` sign changes, since
:math:`q q' > 0` throughout.  Allowing a pole in a gap breaks that argument (and gives gates that
blow up between the intervals): on ``jumprelu:0.3`` with the gap (0.28, 0.32) a rational with a
pole at 0.2994 equioscillates with a slightly smaller error than the pole-free best one.

Precision
---------
The working precision starts at ``dps + 10`` and rises when :math:`|h|` is small compared with
:math:`\\max|f|` (the error curve is a difference of nearly equal numbers) or when the eigenproblem
is ill-conditioned; the precision used is reported.

Degree defect
-------------
If the target has a parity (``Target.parity``) and the domain is symmetric about 0, the best
approximation has the same parity (uniqueness), so its exact type :math:`(m', n')` drops to the
right parities and the defect is :math:`d = \\min(m - m', n - n')`.  The engine then solves the
reduced type, which has no such degeneracy, and reports ``defect = d`` together with the
alternation it finds (at least :math:`m + n + 2 - d` points).  Other degeneracies show up as a
singular eigenproblem and end the run with reason ``"singular"``.

Possible issues
---------------
* The start reference matters for rational Remez.  The cascade (:func:`_start_references`) is:
  a user ``start``; the float64 engine's alternation set (:func:`ratapprox.remez_float.remez_float`
  with its parity reduction and mpmath polish; accurate to ~1e-6 relative or better, so two to
  four quadratically converging steps follow, and its error sets the first working precision);
  the alternation of a discrete best approximation on a dense sample by the differential
  correction algorithm (Cheney & Loeb 1961; Barrodale, Powell & Roberts 1972), solved as linear
  programmes by HiGHS with rows scaled by the current denominator; for a grid, the same problem
  on the grid's intervals solved at low precision and snapped to the grid; Chebyshev points;
  last, the float64 engine without parity reduction.  The next start is tried only after a
  singular solve.  Problems whose error is below what double resolves (exp at (8, 8)) skip the
  float64 stages.
* Measured (dps 30-40, shared 2-core machine, ``certify=False``): ``|x|`` at (12, 12) 2.2 s,
  (20, 20) 6.4 s; ReLU (9, 8) on the 4001 grid 0.9 s; ``sign`` (9, 8) at delta = 1e-3 1.3 s and
  (17, 16) at delta = 1e-4 5.7 s, both equal to Zolotarev's error to ~1e-50.  Each iteration
  costs seconds at degree 20 and more (pure-Python mpmath: the QR of the Chebyshev-Vandermonde
  matrix, the extremum search); the first iteration pays for a dense ``mpmath.eig``, the later
  ones use inverse iteration.
* Working precision: the loss of digits in ``e = f - r`` (``max|f| / |h|``), the condition of
  the eigenproblem, and the dynamic range of the denominator on the reference (``q`` near a gap
  or kink is many orders below its Chebyshev coefficients: ~1e-35 for sign (17, 16) at
  delta = 1e-4) all add digits; without the last, that run "converged" 1.5e-16 away from
  Zolotarev's error.
* The convergence test asks for ``max|e|/|h| - 1 <= tol`` (default ``10**-dps``); when rounding
  stops the quadratic convergence above that (two iterations without a tenfold gain, gap below
  ``10**-(dps/2)``), or the reference is a fixed point of the exchange (grids), the run ends as
  converged and the history says so.
* A kink of a bare callable target, where the error peaks, is located by Brent's search only to
  about ``sqrt(eps)`` in x; declare it in ``Target.breakpoints`` to hit it exactly.
* Extrema narrower than the sample spacing between two reference points can be missed; the
  reported ``max_error`` is an estimate, and certification (:mod:`ratapprox.certify`) is separate.
* Degeneracies other than parity (e.g. a target that happens to be a rational of lower type) are
  detected only as singular solves; they end in :class:`~ratapprox.errors.ConvergenceError`.

References
----------
.. [1] E. Ya. Remez, "Sur le calcul effectif des polynômes d'approximation de Tchebichef",
   C. R. Acad. Sci. Paris 199 (1934) 337-340.
.. [2] H. Werner, "Die konstruktive Ermittlung der Tschebyscheff-Approximierenden im Bereich der
   rationalen Funktionen", Arch. Rational Mech. Anal. 11 (1962) 368-384.
.. [3] H. J. Maehly, "Methods for fitting rational approximations, Parts II and III",
   J. ACM 10 (1963) 257-277.
.. [4] M. J. D. Powell, *Approximation Theory and Methods*, Cambridge University Press, 1981, ch. 10.
.. [5] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen, B. Beckermann, "Rational minimax
   approximation via adaptive barycentric representations", SIAM J. Sci. Comput. 40(4) (2018)
   A2427-A2455, :doi:`10.1137/17M1132409`.
.. [6] C. J. de la Vallée Poussin, "Sur les polynômes d'approximation et la représentation
   approchée d'un angle", Bull. Acad. Roy. Belgique (1910).
.. [7] I. Barrodale, M. J. D. Powell, F. K. Roberts, "The differential correction algorithm for
   rational l-infinity approximation", SIAM J. Numer. Anal. 9 (1972) 493-504.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import mpmath
import numpy as np

from ._context import workdps
from ._exchange import ExchangeRun
from .domains import Domain
from .errors import ConvergenceError, InvalidInputError
from .extrema import alternating_subset, local_extrema_float, local_extrema_mp
from .targets import Target

__all__ = ["ChebRational", "parity_reduced_type", "remez_mp"]

#: Extra decimal digits carried above the requested ``dps``.
GUARD_DPS = 10
#: Below this relative error level (error / max|f|) the float64 start stages are skipped.
FLOAT_START_FLOOR = 1e-11
#: Below this relative gap max|e|/|h| - 1 the next levelled solve uses inverse iteration
#: shifted by the current h (see _levelled_error).
SHIFT_GAP = 1e-3
#: The working precision never exceeds ``MAX_DPS_FACTOR * dps + 100`` digits.
MAX_DPS_FACTOR = 4


class _Singular(Exception):
    """The levelled-error solve found no admissible eigenvalue."""


class _NeedPrecision(Exception):
    """The levelled-error matrix is too ill-conditioned for the working precision."""

    def __init__(self, cond: Any) -> None:
        super().__init__(f"condition number {mpmath.nstr(cond, 3)}")
        self.cond = cond


# --------------------------------------------------------------------------- rational in Chebyshev form
@dataclass
class ChebRational:
    """:math:`r(x) = \\sum_k a_k T_k(t) / \\sum_k b_k T_k(t)`, :math:`t = (2x - lo - hi)/(hi - lo)`.

    The working representation of the mp engine: coefficients are mpf, the hull ``[lo, hi]``
    mpf.  ``to_monomial`` converts to power-basis coefficients in ``x``.
    """

    a: list
    b: list
    lo: Any
    hi: Any

    def _t(self, x: Any) -> Any:
        return (2 * x - self.lo - self.hi) / (self.hi - self.lo)

    @staticmethod
    def _clenshaw(c: Sequence[Any], t: Any) -> Any:
        b1 = b2 = 0
        for ck in reversed(c[1:]):
            b1, b2 = 2 * t * b1 - b2 + ck, b1
        return t * b1 - b2 + c[0]

    def num(self, x: Any) -> Any:
        return self._clenshaw(self.a, self._t(x))

    def den(self, x: Any) -> Any:
        return self._clenshaw(self.b, self._t(x))

    def __call__(self, x: Any) -> Any:
        t = self._t(x)
        return self._clenshaw(self.a, t) / self._clenshaw(self.b, t)

    def den_float(self, x: np.ndarray) -> np.ndarray:
        t = (2 * x - float(self.lo) - float(self.hi)) / (float(self.hi) - float(self.lo))
        return np.polynomial.chebyshev.chebval(t, [float(c) for c in self.b])

    def eval_float(self, x: np.ndarray) -> np.ndarray:
        t = (2 * x - float(self.lo) - float(self.hi)) / (float(self.hi) - float(self.lo))
        cheb = np.polynomial.chebyshev.chebval
        return cheb(t, [float(c) for c in self.a]) / cheb(t, [float(c) for c in self.b])

    def to_monomial(self) -> tuple[list, list]:
        """Power-basis coefficients in ``x``, ascending, scaled so that ``den[0] == 1``.

        Uses the current mp precision.  Raises ``ZeroDivisionError`` if ``q(0) = 0``.
        """
        alpha = 2 / (self.hi - self.lo)
        beta = -(self.lo + self.hi) / (self.hi - self.lo)
        num = _compose(_cheb_to_power(self.a), alpha, beta)
        den = _compose(_cheb_to_power(self.b), alpha, beta)
        if den[0] == 0:
            raise ZeroDivisionError("q(0) = 0: cannot scale the denominator to den[0] = 1")
        d0 = den[0]
        return [c / d0 for c in num], [c / d0 for c in den]


def _cheb_to_power(c: Sequence[Any]) -> list:
    """Power-basis coefficients (ascending, in t) of :math:`\\sum_k c_k T_k(t)` (exact recurrence)."""
    n = len(c)
    out = [mpmath.mpf(0)] * n
    tkm1, tk = [1], [0, 1]  # T_0, T_1 as integer coefficient lists
    for k, ck in enumerate(c):
        if k == 0:
            poly = tkm1
        elif k == 1:
            poly = tk
        else:
            nxt = [0] + [2 * v for v in tk]
            for j, v in enumerate(tkm1):
                nxt[j] -= v
            tkm1, tk = tk, nxt
            poly = tk
        for j, v in enumerate(poly):
            out[j] += ck * v
    return out


def _compose(c: Sequence[Any], alpha: Any, beta: Any) -> list:
    """Coefficients in x of :math:`\\sum_j c_j (\\alpha x + \\beta)^j` (Horner on polynomials)."""
    res = [mpmath.mpf(0)]
    for cj in reversed(c):
        # res <- res * (alpha x + beta) + cj
        new = [mpmath.mpf(0)] * (len(res) + 1)
        for i, v in enumerate(res):
            new[i] += v * beta
            new[i + 1] += v * alpha
        new[0] += cj
        res = new
    return res[: len(c)]


# --------------------------------------------------------------------------- helpers
def _cheb_vander(ts: Sequence[Any], k: int) -> Any:
    """Matrix ``[T_j(t_i)]`` (rows i, columns j = 0..k) in mp."""
    mat = mpmath.matrix(len(ts), k + 1)
    for i, t in enumerate(ts):
        tj, tjm1 = mpmath.mpf(1), None
        for j in range(k + 1):
            if j == 0:
                val = mpmath.mpf(1)
            elif j == 1:
                val = t
            else:
                val = 2 * t * tj - tjm1
            if j >= 1:
                tjm1, tj = tj, val
            mat[i, j] = val
    return mat


def _is_symmetric(domain: Domain) -> bool:
    """Whether the domain is its own mirror image under x -> -x (decided in exact decimals)."""
    ivs = [(Decimal(a), Decimal(b)) for a, b in domain.intervals]
    mirrored = sorted((-b, -a) for a, b in ivs)
    if mirrored != ivs:
        return False
    if domain.points is not None:
        pts = sorted(Decimal(p) for p in domain.points)
        return pts == sorted(-p for p in pts)
    if domain.grid is not None:
        return Decimal(domain.grid[0]) == -Decimal(domain.grid[1])
    return True


def parity_reduced_type(target: Target, domain: Domain, m: int, n: int,
                        weight: Callable | None = None) -> tuple[int, int, int]:
    """Exact type ``(m', n')`` forced by parity, and the defect ``d = min(m - m', n - n')``.

    Applies when the target is even or odd, the domain symmetric about 0 and no weight is given
    (a weight of unknown parity could break the symmetry).  An even best approximation has even
    numerator and denominator; an odd one an odd numerator and an even denominator.
    """
    if weight is not None or target.parity not in ("even", "odd") or not _is_symmetric(domain):
        return m, n, 0
    n2 = n - (n % 2)
    m2 = m - (m % 2) if target.parity == "even" else (m if m % 2 == 1 else m - 1)
    if m2 < 0:
        # Odd target with m = 0: the best approximation is r = 0, of type (0, 0).
        m2, n2 = 0, 0
    return m2, n2, min(m - m2, n - n2)


# --------------------------------------------------------------------------- levelled error
def _sign_definite_per_piece(xs: np.ndarray, qs: np.ndarray, pieces: Sequence[tuple[float, float]]
                             ) -> bool:
    """Whether ``q`` keeps one strict sign on each piece of the domain (checked at ``xs``).

    On a union of intervals the denominator may change sign in a gap between two pieces (a
    pole outside the domain is allowed), but not inside a piece.
    """
    for a, b in pieces:
        sel = qs[(xs >= a) & (xs <= b)]
        if len(sel) and not (np.all(sel > 0) or np.all(sel < 0)):
            return False
    return True


def _inverse_iteration(C: Any, shift: Any, steps: int = 12) -> tuple[Any, list] | None:
    r"""Eigenpair of the real matrix ``C`` nearest ``shift`` by inverse iteration (Wielandt 1944;
    Wilkinson 1965, ch. 9), at the current mp precision, or None if it does not settle.

    One LU of :math:`C - \sigma I` (plain lists: ``mpmath.matrix`` indexing dominates at these
    sizes), then :math:`O(n^2)` per step; each step multiplies the error by
    :math:`|\lambda - \sigma| / |\lambda' - \sigma|`, tiny when the shift is the previous
    iterate's levelled error (the exchange converges quadratically).  The eigenvalue is the
    Rayleigh quotient :math:`v^T C v / v^T v` of the converged vector (first order in its
    error, which is at rounding level then).
    """
    k = C.rows
    A = [[C[i, j] - (shift if i == j else 0) for j in range(k)] for i in range(k)]
    perm = list(range(k))
    for c in range(k):  # LU with partial pivoting, in place
        p = max(range(c, k), key=lambda i: abs(A[i][c]))
        if A[p][c] == 0:
            return None
        A[c], A[p] = A[p], A[c]
        perm[c], perm[p] = perm[p], perm[c]
        for i in range(c + 1, k):
            f = A[i][c] / A[c][c]
            A[i][c] = f
            Ai, Ac = A[i], A[c]
            for j in range(c + 1, k):
                Ai[j] -= f * Ac[j]

    def solve(b: list) -> list:
        y = [b[perm[i]] for i in range(k)]
        for i in range(k):
            y[i] -= mpmath.fsum(A[i][j] * y[j] for j in range(i))
        for i in range(k - 1, -1, -1):
            y[i] = (y[i] - mpmath.fsum(A[i][j] * y[j] for j in range(i + 1, k))) / A[i][i]
        return y

    v = [mpmath.mpf(1)] * k
    lam_old = None
    tol = mpmath.eps * 100
    for _ in range(steps):
        y = solve(v)
        ny = max(abs(t) for t in y)
        if ny == 0 or not mpmath.isfinite(ny):
            return None
        v = [t / ny for t in y]
        Cv = [mpmath.fsum(C[i, j] * v[j] for j in range(k)) for i in range(k)]
        lam = mpmath.fsum(a * b for a, b in zip(v, Cv)) / mpmath.fsum(t * t for t in v)
        res = max(abs(Cv[i] - lam * v[i]) for i in range(k))
        scale = max(abs(lam), max(abs(C[i, j]) for i in range(k) for j in range(k)))
        if res <= tol * scale:
            return lam, v
        settled = lam_old is not None and abs(lam - lam_old) <= tol * abs(lam)
        if settled and res <= mpmath.sqrt(mpmath.eps) * scale:
            return lam, v
        lam_old = lam
    return None


def _admissible_q(b: list, Vn: Any, xs: list, N: int, n: int, check_float: np.ndarray | None,
                  check_mp: list | None, pieces: Sequence[tuple[float, float]]) -> list | None:
    """The values at the reference of the denominator with Chebyshev coefficients ``b`` when it
    keeps one strict sign on each piece of the domain (at the reference, in mp, and at
    ``check_float``, whose points mapped to [-1, 1] in mp are ``check_mp``), else None."""
    qv = [sum(Vn[i, j] * b[j] for j in range(n + 1)) for i in range(N)]
    if any(v == 0 for v in qv):
        return None
    # The signs on the reference are decided in mp; only their pattern is compared.
    qsign = np.array([1.0 if v > 0 else -1.0 for v in qv])
    if not _sign_definite_per_piece(np.array([float(x) for x in xs]), qsign, pieces):
        return None
    if check_float is not None and n > 0:
        # In mp: near a kink q spans many orders of magnitude and a float64 evaluation of
        # its Chebyshev sum returns noise of either sign where q is small.
        qs = np.array([1.0 if ChebRational._clenshaw(b, tv) > 0 else -1.0 for tv in check_mp])
        if not _sign_definite_per_piece(check_float, qs, pieces):
            return None
    return qv


def _levelled_error(xs: list, fs: list, ws: list, m: int, n: int, lo: Any, hi: Any,
                    check_float: np.ndarray | None,
                    pieces: Sequence[tuple[float, float]] | None = None,
                    shift: Any = None, max_cond: Any = None) -> tuple[Any, ChebRational, Any]:
    """Solve the linearised levelled-error problem on the reference ``xs``.

    The admissible eigenvalue is the real one of smallest modulus whose denominator keeps a
    strict sign on each piece of the domain (on the reference, in mp, and on ``check_float``);
    ``pieces`` defaults to the hull ``[lo, hi]``.  With ``shift`` (the previous iterate's
    levelled error, near convergence) the eigenpair nearest it is found by inverse iteration and
    taken if admissible -- one LU instead of a dense QR eigen-solve, the cost that dominated
    (mpmath's ``eig`` works in complex arithmetic); otherwise, all eigenvalues by ``mpmath.eig``.
    Returns ``(h, r, cond)`` where ``cond`` estimates the condition number of the
    eigenproblem's right-hand matrix (used to decide whether to raise the precision); raises
    ``_NeedPrecision`` before the eigen-solve when ``cond`` exceeds ``max_cond``.
    """
    if pieces is None:
        pieces = [(float(lo), float(hi))]
    N = len(xs)
    ts = [(2 * x - lo - hi) / (hi - lo) for x in xs]
    Vm = _cheb_vander(ts, m)
    Vn = _cheb_vander(ts, n)
    try:
        Qfull, Rfull = mpmath.qr(Vm, mode="full")
    except (ZeroDivisionError, ValueError) as exc:
        raise _Singular(f"QR of the numerator basis failed: {exc!r}") from exc
    # Columns m+1..N-1 of the full Q span the orthogonal complement of range(V_m).
    U = Qfull[:, m + 1:N]
    sgn = [(-1) ** i / ws[i] for i in range(N)]
    FV = mpmath.matrix(N, n + 1)
    SV = mpmath.matrix(N, n + 1)
    for i in range(N):
        for j in range(n + 1):
            FV[i, j] = fs[i] * Vn[i, j]
            SV[i, j] = sgn[i] * Vn[i, j]
    A = U.T * FV
    B = U.T * SV
    try:
        Binv = mpmath.inverse(B)
    except ZeroDivisionError as exc:
        raise _Singular("the levelled-error matrix U^T S V_n is singular") from exc
    cond = mpmath.mnorm(B, 1) * mpmath.mnorm(Binv, 1)
    if max_cond is not None and cond > max_cond:
        raise _NeedPrecision(cond)
    C = Binv * A
    check_mp = None
    if check_float is not None and n > 0:
        check_mp = [(2 * mpmath.mpf(float(v)) - lo - hi) / (hi - lo) for v in check_float]
    cands = []
    fast = None
    if shift is not None and n > 0:
        # the exchange can flip the sign pattern of the reference, and with it that of h
        for sigma in (shift, -shift):
            got = _inverse_iteration(C, sigma)
            qv = None if got is None else _admissible_q(got[1], Vn, xs, N, n, check_float,
                                                        check_mp, pieces)
            if qv is not None:
                fast = (got[0], got[1], qv)
                break
    if fast is not None:
        # its vector has max |b_j| = 1 already (inverse iteration normalises so)
        lam, b, qv = fast
        cands.append((abs(lam), lam, [-v for v in b] if qv[0] < 0 else b))
    else:
        # the eigenpair nearest the shift is not admissible (or no shift): look at all of them
        if n == 0:
            evals, evecs = [C[0, 0]], mpmath.matrix([[1]])
        else:
            try:
                evals, evecs = mpmath.eig(C)
            except (ZeroDivisionError, ValueError, ArithmeticError) as exc:
                raise _Singular(f"the eigenvalue solver failed: {exc!r}") from exc
        scale = max(abs(v) for v in evals) or mpmath.mpf(1)
        imag_tol = mpmath.eps ** (mpmath.mpf(1) / 2) * scale
        for k, lam in enumerate(evals):
            if abs(mpmath.im(lam)) > imag_tol:
                continue
            b = [mpmath.re(evecs[j, k]) for j in range(n + 1)]
            nb = max(abs(v) for v in b)
            if nb == 0:
                continue
            b = [v / nb for v in b]
            qv = _admissible_q(b, Vn, xs, N, n, check_float, check_mp, pieces)
            if qv is None:
                continue
            if qv[0] < 0:
                b = [-v for v in b]
            cands.append((abs(mpmath.re(lam)), mpmath.re(lam), b))
    if not cands:
        raise _Singular("no real eigenvalue with a sign-definite denominator")
    _, h, b = min(cands, key=lambda c: c[0])
    # Numerator: V_m a = (F - h S) V_n b; consistent, so least squares solves it exactly.
    rhs = mpmath.matrix(N, 1)
    for i in range(N):
        qi = sum(Vn[i, j] * b[j] for j in range(n + 1))
        rhs[i] = (fs[i] - h * sgn[i]) * qi
    # Back substitution with the QR factors already at hand (mpmath's qr_solve divides by
    # sign(0) = 0 when a diagonal entry happens to vanish exactly, e.g. on symmetric references).
    c = Qfull.T * rhs
    a = [mpmath.mpf(0)] * (m + 1)
    for i in range(m, -1, -1):
        if Rfull[i, i] == 0:
            raise _Singular("the numerator basis is rank deficient on the reference")
        a[i] = (c[i] - sum(Rfull[i, j] * a[j] for j in range(i + 1, m + 1))) / Rfull[i, i]
    return h, ChebRational(a, b, lo, hi), cond


# --------------------------------------------------------------------------- start references
def _chebyshev_reference(domain: Domain, N: int) -> list[float]:
    """N points: Chebyshev extreme points per interval, counts proportional to length."""
    if domain.is_discrete:
        pts = domain.points_float()
        idx = np.round((1 - np.cos(np.pi * np.arange(N) / (N - 1))) / 2 * (len(pts) - 1)).astype(int)
        idx = np.unique(idx)
        if len(idx) < N:  # few points: spread evenly instead
            idx = np.round(np.linspace(0, len(pts) - 1, N)).astype(int)
        return [float(v) for v in pts[idx]]
    ivs = domain.intervals_float()
    lens = np.array([b - a for a, b in ivs])
    k = len(ivs)
    counts = np.maximum(2 if N >= 2 * k else 1, np.floor(N * lens / lens.sum()).astype(int))
    while counts.sum() > N:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < N:
        counts[np.argmax(lens / counts)] += 1
    out = []
    for (a, b), c in zip(ivs, counts):
        if c == 1:
            out.append((a + b) / 2)
            continue
        t = -np.cos(np.pi * np.arange(c) / (c - 1))
        out.extend(a + (b - a) * (t + 1) / 2)
    return sorted(out)


def _dense_sample(domain: Domain, breakpoints: Sequence[float], n: int = 600) -> np.ndarray:
    """Chebyshev points per interval plus points clustered geometrically at the breakpoints."""
    if domain.is_discrete:
        pts = domain.points_float()
        if len(pts) <= n:
            return pts
        # A thinned grid keeps the LP small; the points next to interval ends and breakpoints
        # (where the error peaks) are all kept.
        keep = np.zeros(len(pts), dtype=bool)
        keep[:: max(1, len(pts) // n)] = True
        ends = [v for ab in domain.intervals_float() for v in ab] + list(breakpoints)
        for c in ends:
            keep[np.argsort(np.abs(pts - c))[:20]] = True
        keep[[0, -1]] = True
        return pts[keep]
    x = domain.sample(n)
    extra = []
    span = float(Decimal(domain.upper) - Decimal(domain.lower))
    for bp in breakpoints:
        d = span * np.geomspace(1e-9, 0.5, 60)
        extra.extend([bp - d, bp + d, [bp]])
    if extra:
        x = np.concatenate([x, *extra])
    return np.unique(x[domain.contains(x)])


def _dc_start(x: np.ndarray, f: np.ndarray, w: np.ndarray, m: int, n: int, lo: float, hi: float,
              max_iter: int = 40, gaps: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Best discrete approximation on ``x`` by differential correction (Barrodale et al. 1972).

    Each step solves the LP: minimise ``d`` over ``(a, b, d)`` subject to
    ``|w_i (f_i q(x_i) - p(x_i))| - Delta_k q(x_i) <= d q_k(x_i)`` and ``|b_j| <= 1``; then
    ``Delta_{k+1} = max w |f - p/q|``.  Returns Chebyshev coefficients ``(a, b)`` and the error,
    or ``None`` when the LP solver fails.
    """
    from scipy.optimize import linprog  # scipy is a core dependency; imported late (start-up cost)

    cheb = np.polynomial.chebyshev
    t = (2 * x - lo - hi) / (hi - lo)
    Vm = cheb.chebvander(t, m)
    Vn = cheb.chebvander(t, n)
    # Points of the hull outside the sample's pieces (gaps): q must stay positive there too.
    if gaps is not None and len(gaps):
        Vg = cheb.chebvander((2 * gaps - lo - hi) / (hi - lo), n)
        G = np.hstack([np.zeros((len(gaps), m + 1)), -Vg, np.zeros((len(gaps), 1))])
    else:
        G = np.zeros((0, m + n + 3))
    # Start: the polynomial least-squares fit (q = 1).
    a = np.linalg.lstsq(Vm, f, rcond=None)[0]
    b = np.zeros(n + 1)
    b[0] = 1.0
    delta = float(np.max(w * np.abs(f - Vm @ a)))
    best = (a, b, delta)
    nv = (m + 1) + (n + 1) + 1
    cost = np.zeros(nv)
    cost[-1] = 1.0
    bounds = [(None, None)] * (m + 1) + [(-1.0, 1.0)] * (n + 1) + [(None, None)]
    for _ in range(max_iter):
        qk = Vn @ b
        wf = (w * f)[:, None] * Vn
        wp = w[:, None] * Vm
        # +(w f q - w p) - Delta q - d qk <= 0  and  -(w f q - w p) - Delta q - d qk <= 0
        # Rows are divided by q_k(x_i) > 0: the constraints then read in units of the error, so
        # the LP solver's absolute feasibility tolerance does not swamp the points where q is
        # small (near a kink q varies over many orders of magnitude).
        A1 = np.hstack([-wp, wf - delta * Vn, -qk[:, None]]) / qk[:, None]
        A2 = np.hstack([wp, -wf - delta * Vn, -qk[:, None]]) / qk[:, None]
        res = linprog(cost, A_ub=np.vstack([A1, A2, G]), b_ub=np.zeros(2 * len(x) + len(G)),
                      bounds=bounds, method="highs")
        if res.status != 0:
            return None if best[2] == np.inf else best
        z = res.x
        if z[-1] >= -1e-14 * max(delta, 1e-300):
            break
        a_new, b_new = z[: m + 1], z[m + 1: m + n + 2]
        q_new = Vn @ b_new
        if not np.all(q_new > 0):
            break
        delta_new = float(np.max(w * np.abs(f - (Vm @ a_new) / q_new)))
        if delta_new >= delta * (1 - 1e-9):
            break  # stagnation: the LP tolerances are reached
        a, b, delta = a_new, b_new, delta_new
        best = (a, b, delta)
    return best


def _reference_from_curve(err: Callable[[np.ndarray], np.ndarray], domain: Domain,
                          breakpoints: Sequence[float], N: int) -> list[float] | None:
    """N alternating extrema of a float64 error curve, or None if it has fewer."""
    xe, ee = local_extrema_float(err, domain, breakpoints=breakpoints)
    alt = alternating_subset(list(zip(xe.tolist(), ee.tolist())), N)
    if len(alt) < max(2, N // 2):
        return None
    return _pad_reference([x for x, _ in alt], N, domain)


def _pad_reference(pts: list[float], N: int, domain: Domain) -> list[float] | None:
    """Complete a sorted point list to N distinct domain points by splitting the widest gaps.

    A start may lack a point or two (a symmetric curve alternates an odd number of times, the LP
    start stops short of the optimum).  Any N distinct points make a valid reference; the exchange
    puts them right.
    """
    pts = sorted(set(pts))
    while len(pts) < N:
        k = max(range(len(pts) - 1), key=lambda i: pts[i + 1] - pts[i])
        mid = (pts[k] + pts[k + 1]) / 2
        if domain.is_discrete:
            grid = domain.points_float()
            mid = float(grid[np.argmin(np.abs(grid - mid))])
            if mid in pts:
                return None
        elif not domain.contains(mid):
            return None
        pts.insert(k + 1, mid)
    return pts


def _float_weight(weight: Callable | None, x: np.ndarray) -> np.ndarray:
    if weight is None:
        return np.ones_like(x)
    return np.array([float(weight(mpmath.mpf(float(v)))) for v in x])


def _start_references(target: Target, domain: Domain, m: int, n: int, weight: Callable | None,
                      start: Any, use_float_engine: bool) -> Iterator[tuple]:
    """Start references, best first: tuples ``(reference, where[, error_hint])``.

    ``where`` says where the reference came from; ``error_hint`` (float64 engine starts) is its
    max error, which sets the first working precision.  Generated lazily: a later (costlier)
    candidate is only computed when the exchange from the earlier ones failed.
    """
    N = m + n + 2
    if start is not None:
        pts = getattr(start, "alternation_points", None) or getattr(start, "reference", None) or start
        pts = sorted(set(pts), key=lambda v: mpmath.mpf(v))
        if len(pts) < N:
            raise InvalidInputError(f"`start` must hold at least {N} distinct points, got {len(pts)}")
        while len(pts) > N:  # e.g. a previous result's alternation set: any N points will do
            pts = pts[1:] if len(pts) % 2 else pts[:-1]
        yield list(pts), "user"
    if use_float_engine and weight is None:
        # Warm start: the float64 engine (barycentric, parity-reduced, mp-polished end game)
        # gives the alternation set to ~1e-6 relative in well under a second for the gate
        # problems, from which the mp exchange converges quadratically in two or three steps.
        got = _float_engine_reference(target, domain, m, n)
        if got is not None:
            yield got[0], "remez_float", got[1]
    bps = [float(b) for b in target.breakpoints]
    lo, hi = float(domain.lower), float(domain.upper)
    x = _dense_sample(domain, bps)
    tiny_error = False
    if len(x) >= N:
        try:
            f = target(x)
        except Exception:
            f = None  # a float64 evaluation failure leaves the mp path to decide
        if f is not None:
            w = _float_weight(weight, x)
            fscale = max(float(np.max(np.abs(f))), 1e-300)
            hull = lo + (hi - lo) * (1 - np.cos(np.pi * np.arange(201) / 200)) / 2
            gaps = hull[~domain.contains(hull)]
            dc = _dc_start(x, f, w, m, n, lo, hi, gaps=gaps)
            if dc is not None and dc[2] > FLOAT_START_FLOOR * fscale:
                a, b, _ = dc
                cheb = np.polynomial.chebyshev

                def err(z: np.ndarray) -> np.ndarray:
                    tz = (2 * z - lo - hi) / (hi - lo)
                    return _float_weight(weight, z) * (target(z) - cheb.chebval(tz, a) / cheb.chebval(tz, b))

                ref = _reference_from_curve(err, domain, bps, N)
                if ref is not None:
                    yield ref, "differential_correction"
            elif dc is not None:
                # The error is below what double can see: the float64 engine cannot help
                # either, and for such (smooth) problems Chebyshev points are a good start.
                tiny_error = True
    if domain.is_discrete and not any(
            Decimal(a) < Decimal(j) < Decimal(b) for j in target.jumps for a, b in domain.intervals):
        # A grid problem is close to the same problem on the grid's intervals: solve that one
        # (a cheap, low-precision run) and move its reference to the nearest grid points.
        try:
            cont, _, _ = _remez_mp_run(target, m, n, Domain(domain.intervals), dps=15, tol=1e-8,
                                       use_float_engine=False)
            grid = domain.points_float()
            snapped = [float(grid[np.argmin(np.abs(grid - float(x)))]) for x in cont.reference]
            ref = _pad_reference(snapped, N, domain)
            while ref is not None and len(ref) > N:
                ref = ref[1:] if len(ref) % 2 else ref[:-1]  # any N distinct points will do
            if ref is not None and len(ref) == N:
                yield ref, "continuous_counterpart"
        except ConvergenceError:
            pass  # no continuous solution either; go on down the cascade
    yield _chebyshev_reference(domain, N), "chebyshev"
    if use_float_engine and weight is None and not tiny_error:
        # last resort: the float64 engine without its parity reduction (a different path)
        got = _float_engine_reference(target, domain, m, n, use_parity=False)
        if got is not None:
            yield got[0], "remez_float (no parity)", got[1]


def _float_engine_reference(target: Target, domain: Domain, m: int, n: int, *,
                            use_parity: bool = True) -> tuple[list, float] | None:
    """The alternation set of the float64 engine's type ``(m, n)`` fit and its max error, or None.

    None when that run did not converge, has a defect (its reference is then short), or its
    error is at the float64 noise level (``FLOAT_START_FLOOR`` relative to ``max|f|``: the
    reference would be noise).
    """
    try:
        from .remez_float import remez_float  # imported late: remez_float imports this module's siblings

        run = remez_float(target, m, n, domain, use_parity=use_parity)
    except Exception:  # any failure of the float engine just means "no start from it"
        return None
    N = m + n + 2
    if not run.converged or len(run.reference) != N:
        return None
    try:
        fscale = float(np.max(np.abs(target(domain.sample(200)))))
    except Exception:
        return None
    if not run.max_error > FLOAT_START_FLOOR * max(fscale, 1e-300):
        return None
    # Interval ends and breakpoints are exact decimals (delta = 1e-4 is no double): a reference
    # point at the double nearest to one is moved onto it, or the levelled error would be
    # perturbed to first order (e'(delta) * 5e-21: 1.5e-16 relative for sign (17, 16) at 1e-4).
    exact = [v for ab in domain.intervals for v in ab] + list(target.breakpoints)
    out: list = []
    for v in run.reference:
        v = float(v)
        hit = next((e for e in exact if abs(v - float(e)) <= 8 * np.spacing(abs(float(e)))), None)
        out.append(hit if hit is not None else v)
    return out, float(run.max_error)


def _float_error(target: Target, r: ChebRational, weight: Callable | None
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """float64 version of the error curve (coefficients rounded once), for grid prefiltering."""
    def e(x: np.ndarray) -> np.ndarray:
        return _float_weight(weight, x) * (target(x) - r.eval_float(x))

    return e


# --------------------------------------------------------------------------- the exchange
def _one_point_exchange(ref: list, eref: list, xstar: Any, estar: Any) -> list:
    """Swap ``xstar`` into the reference keeping alternation (classical one-point rule)."""
    k = sum(1 for x in ref if x < xstar)
    same = lambda e: (e > 0) == (estar > 0)
    new = list(ref)
    if k == 0:
        if same(eref[0]):
            new[0] = xstar
        else:
            new = [xstar, *new[:-1]]
    elif k == len(ref):
        if same(eref[-1]):
            new[-1] = xstar
        else:
            new = [*new[1:], xstar]
    else:
        j = k - 1 if same(eref[k - 1]) else k
        new[j] = xstar
    return new


def _to_mpf_list(pts: Sequence[Any]) -> list:
    # A double converts exactly; strings and mpf keep their own digits.
    return [mpmath.mpf(float(p)) if isinstance(p, (float, np.floating)) else mpmath.mpf(p) for p in pts]


@dataclass
class _Attempt:
    """State of one exchange run from one start reference."""

    best: tuple | None = None  # (max_error, h, r, reference, extrema, wdps)
    converged: bool = False
    reason: str = "iteration_limit"
    iterations: int = 0


def _exchange(target: Target, m_red: int, n_red: int, domain: Domain, ref0: list, *, dps: int,
              weight: Callable | None, max_iter: int, tol: float, history: list,
              error_hint: float | None = None) -> _Attempt:
    """Remez iterations from the reference ``ref0``: levelled error, extrema, exchange.

    ``error_hint``: the start's approximate max error (sets the first working precision).
    """
    N = m_red + n_red + 2
    bps = list(target.breakpoints)
    # The class searched: denominators without a real zero on the hull of the domain, i.e. r is
    # continuous on [min X, max X].  In that class the alternation theorem characterises the
    # best approximation uniquely (the numerator of r - r' has m + n + 1 forced sign changes
    # because q q' > 0 throughout); a pole in a gap of a union of intervals would escape that
    # argument -- and would be fatal for a gate evaluated between the intervals.
    hull_lo, hull_hi = float(domain.lower), float(domain.upper)
    hull = hull_lo + (hull_hi - hull_lo) * (1 - np.cos(np.pi * np.arange(401) / 400)) / 2
    dom_pts = domain.sample(400) if not domain.is_discrete else np.zeros(0)
    # Gaps of a union of intervals get their own Chebyshev points: a pole pair hiding in a
    # narrow gap (sign on E_delta, delta = 1e-4) is invisible to a sample of the hull.
    ivs = domain.intervals_float()
    gap_pts = [a + (b - a) * (1 - np.cos(np.pi * np.arange(1, 64) / 64)) / 2
               for (_, a), (b, _) in itertools.pairwise(ivs)]
    check = np.unique(np.concatenate([dom_pts, hull, *gap_pts]))
    pieces = [(hull_lo, hull_hi)]
    wdps = dps + GUARD_DPS
    if error_hint is not None and error_hint > 0:
        # The start's error level is known (float64 engine): start at the precision that the
        # loss of digits in e = f - r calls for, instead of discovering it one solve later.
        fs0 = max(abs(float(v)) for v in target(np.array([float(x) for x in ref0])))
        wdps += max(0, math.ceil(math.log10(max(fs0, 1e-300) / error_hint)))
    prev_h, prev_gap = None, mpmath.inf
    att = _Attempt()
    best = None
    reason = "iteration_limit"
    converged = False
    with workdps(wdps):
        ref = _to_mpf_list(ref0)
    it = 0
    retried = False
    gaps: list = []
    for it in range(1, max_iter + 1):
        with workdps(wdps):
            ref = [mpmath.mpf(x) for x in ref]
            lo, hi = (mpmath.mpf(domain.lower), mpmath.mpf(domain.upper))
            fs = [target.mp(x) for x in ref]
            ws = [mpmath.mpf(weight(x)) for x in ref] if weight is not None else [mpmath.mpf(1)] * N
            # digits lost in e = f - r, as far as known before the solve (previous h or hint)
            h_est = abs(prev_h) if prev_h else (error_hint or 0)
            fscale = max(max(abs(v) for v in fs), mpmath.mpf(10) ** (-dps))
            lost0 = max(0, math.ceil(float(mpmath.log10(fscale / h_est)))) if h_est else 0
            try:
                shift = prev_h if prev_gap <= SHIFT_GAP else None
                h, r, cond = _levelled_error(ref, fs, ws, m_red, n_red, lo, hi, check, pieces,
                                             shift=shift,
                                             max_cond=mpmath.mpf(10) ** (wdps - dps - lost0))
            except _NeedPrecision as exc:
                # The same rule as after a solve (below), applied before the costly eigen-solve.
                need = dps + GUARD_DPS + lost0 + max(
                    0, math.ceil(float(mpmath.log10(exc.cond))) - GUARD_DPS)
                if need > MAX_DPS_FACTOR * dps + 100:
                    reason = "precision"
                    history.append({"iteration": it, "levelled_error": None, "max_error": None,
                                    "ratio": None, "dps": wdps,
                                    "note": f"would need {need} digits; giving up"})
                    break
                wdps = max(need, wdps + 1) + GUARD_DPS // 2
                history.append({"iteration": it, "levelled_error": None, "max_error": None,
                                "ratio": None, "dps": wdps,
                                "note": f"working precision raised to {wdps} ({exc})"})
                continue
            except _Singular as exc:
                history.append({"iteration": it, "levelled_error": None, "max_error": None,
                                "ratio": None, "note": str(exc), "dps": wdps})
                if not retried:
                    # Clustered references make the eigenproblem ill-conditioned; rounding can
                    # hide the admissible eigenvalue.  Try once more with twice the digits.
                    retried = True
                    wdps = 2 * wdps
                    continue
                reason = "singular"
                break

            def err(x: Any, r: ChebRational = r) -> Any:
                e = target.mp(x) - r(x)
                return e * weight(x) if weight is not None else e

            roundoff = mpmath.mpf(10) ** (-(wdps - 5)) * fscale
            if abs(h) <= roundoff:
                # |h| at rounding level: either f is (numerically) of type (m, n) -- an exact
                # fit -- or the precision is far too low; the error curve tells which.
                ext = local_extrema_mp(err, domain, reference=ref, breakpoints=bps)
                emax = max(abs(e) for _, e in ext)
                if emax <= 10 * roundoff:
                    history.append({"iteration": it, "levelled_error": abs(h), "max_error": emax,
                                    "ratio": None, "dps": wdps, "note": "exact"})
                    best = (emax, h, r, list(ref), ext, wdps)
                    converged, reason = True, "converged"
                    break
            # Raise the working precision if |h| is small next to max|f| or the solve is
            # ill-conditioned: keep dps digits of the error curve e = f - r.
            lost = 0 if h == 0 else max(0, math.ceil(float(mpmath.log10(fscale / abs(h)))))
            lost += max(0, math.ceil(float(mpmath.log10(cond))) - GUARD_DPS)
            # ... or the denominator is tiny next to its Chebyshev coefficients somewhere on the
            # reference (sign near a gap delta: q(delta) ~ 1e-35 max|b| at type (17, 16),
            # delta = 1e-4): rounding b then moves r there by that factor more.
            qmin = min(abs(r.den(x)) for x in ref)
            qscale = max(abs(c) for c in r.b)
            if qmin > 0 and qscale > 0:
                lost += max(0, math.ceil(float(mpmath.log10(qscale / qmin))))
            need = dps + GUARD_DPS + lost
            if need < wdps - GUARD_DPS:
                # A poor early reference can give a tiny |h|; do not pay for it ever after.
                wdps = need
            if need > wdps:
                if need > MAX_DPS_FACTOR * dps + 100:
                    reason = "precision"
                    history.append({"iteration": it, "levelled_error": abs(h), "max_error": None,
                                    "ratio": None, "dps": wdps,
                                    "note": f"would need {need} digits; giving up"})
                    break
                # A margin, so that the estimate creeping up by a digit or two does not cost
                # one iteration per digit.
                wdps = need + GUARD_DPS // 2
                history.append({"iteration": it, "levelled_error": abs(h), "max_error": None,
                                "ratio": None, "note": f"working precision raised to {wdps}",
                                "dps": wdps})
                # the same reference again, at more digits: this h is an excellent shift
                prev_h, prev_gap = h, mpmath.mpf(0)
                continue

            pre = None
            if domain.is_discrete and abs(h) > FLOAT_START_FLOOR * 1000 * fscale:
                pre = _float_error(target, r, weight)
            ext = local_extrema_mp(err, domain, reference=ref, breakpoints=bps, prefilter=pre)
            emax = max(abs(e) for _, e in ext)
            ratio = emax / abs(h) if h != 0 else mpmath.inf
            history.append({"iteration": it, "levelled_error": abs(h), "max_error": emax,
                            "ratio": ratio, "dps": wdps})
            if best is None or emax < best[0]:
                best = (emax, h, r, list(ref), ext, wdps)
            gap = (emax - abs(h)) / abs(h) if h != 0 else mpmath.inf
            prev_h, prev_gap = h, gap
            if gap <= tol:
                converged, reason = True, "converged"
                best = (emax, h, r, list(ref), ext, wdps)
                break
            gaps.append(abs(gap))
            if (len(gaps) >= 3 and max(gaps[-2:]) <= mpmath.mpf(10) ** (-(dps // 2))
                    and min(gaps[-2:]) > gaps[-3] / 10):
                # Quadratic convergence has ended at a floor set by rounding (the levelled solve,
                # the extremum search): two iterations without a tenfold gain, both gaps small
                # (a gap that jumps back up means a peak the search only sometimes sees, which
                # is not convergence).  E* is then known to >= dps/2 digits.
                converged, reason = True, "converged"
                history[-1]["note"] = f"stalled at max|e|/|h| - 1 = {mpmath.nstr(gap, 3)}"
                best = (emax, h, r, list(ref), ext, wdps)
                break
            new = alternating_subset(ext, N)
            if len(new) == N:
                new_ref = [x for x, _ in new]
                if new_ref == ref and gap <= mpmath.mpf(10) ** (-(dps // 2)):
                    # A fixed point of the exchange (a discrete domain reaches it exactly): the
                    # remaining gap is rounding in the levelled solve, not a worse reference.
                    converged, reason = True, "converged"
                    history[-1]["note"] = "stationary reference"
                    best = (emax, h, r, list(ref), ext, wdps)
                    break
                ref = new_ref
            else:
                xs, es = max(ext, key=lambda p: abs(p[1]))
                ref = _one_point_exchange(ref, [err(x) for x in ref], xs, es)
    att.best, att.converged, att.reason, att.iterations = best, converged, reason, it
    return att


def _remez_mp_run(target: Target, m: int, n: int, domain: Domain, *, dps: int,
                  weight: Callable | None = None, max_iter: int = 40, tol: float | None = None,
                  start: Any = None, use_float_engine: bool = True
                  ) -> tuple[ExchangeRun, ChebRational | None, int]:
    """The exchange with its start cascade; returns ``(run, rational in Chebyshev form, dps)``.

    Start references are tried in turn (:func:`_start_references`) until one converges; the
    best attempt (smallest max error) is returned otherwise.  The returned ``ChebRational``'s
    coefficients are mpf at the working precision.
    """
    m_red, n_red, defect = parity_reduced_type(target, domain, m, n, weight)
    if tol is None:
        # Near the optimum the ratio max|e|/|h| - 1 shrinks quadratically, so asking for dps
        # digits costs one or two extra iterations and buys coefficients good to ~dps digits.
        tol = 10.0 ** (-dps)
    history: list[dict] = []
    chosen: _Attempt | None = None
    origin = "none"
    total_it = 0
    for ref0, where, *hint in _start_references(target, domain, m_red, n_red, weight, start,
                                                use_float_engine):
        history.append({"iteration": total_it, "levelled_error": None, "max_error": None,
                        "ratio": None, "note": f"start: {where}"})
        att = _exchange(target, m_red, n_red, domain, ref0, dps=dps, weight=weight,
                        max_iter=max_iter, tol=tol, history=history,
                        error_hint=hint[0] if hint else None)
        total_it += att.iterations
        if att.best is not None and (chosen is None or att.converged or att.best[0] < chosen.best[0]):
            chosen, origin = att, where
        if att.converged or att.reason != "singular":
            # Only a breakdown of the linear algebra calls for another start; an iteration
            # limit or a precision failure would recur from any start.
            break
    if chosen is None or chosen.best is None:
        raise ConvergenceError(
            f"Remez ({m}, {n}) on {domain}: no start reference gave a levelled-error solution "
            f"(singular)", reason="singular", best=None)
    emax, h, r, _ref, ext, bdps = chosen.best
    converged, reason, it = chosen.converged, chosen.reason, total_it
    with workdps(bdps):
        # The alternation: extrema within the convergence tolerance of |h| (or of the max error,
        # whichever is smaller), alternating in sign.
        # Points outside the reference are only first-order accurate in the coefficients, while
        # the ratio max|e|/|h| - 1 is second order: allow a slack of ~sqrt of the achieved gap.
        gap = max(mpmath.mpf(tol), abs(emax / abs(h) - 1) if h != 0 else mpmath.mpf(1))
        slack = min(mpmath.mpf("1e-3"), max(100 * mpmath.sqrt(gap), mpmath.mpf("1e-12")))
        thresh = min(abs(h), emax) * (1 - slack)
        alt = alternating_subset([(x, e) for x, e in ext if abs(e) >= thresh])
        alt_pts = [x for x, _ in alt]
        # A parity reduction must still give the full count m + n + 2 - d.
        if converged and len(alt_pts) < m + n + 2 - defect:
            converged, reason = False, "defect"
        run = ExchangeRun(rational=r, levelled_error=abs(h), max_error=emax, reference=alt_pts,
                          iterations=it, history=history, converged=converged, defect=defect,
                          reason=reason, dps=bdps)
    run.start = origin  # type: ignore[attr-defined]  # diagnostic only
    return run, r, bdps


def remez_mp(target: Target, m: int, n: int, domain: Domain, *, dps: int = 30,
             weight: Callable | None = None, max_iter: int = 40, tol: float | None = None,
             start: Any = None) -> ExchangeRun:
    """Arbitrary-precision rational Remez exchange; returns an :class:`ExchangeRun`.

    ``run.rational`` is a :class:`ChebRational` (mpf coefficients at ``run.dps`` digits);
    :func:`ratapprox.remez.minimax` converts it to a ``BarycentricRational`` and to monomial
    coefficients.  See the module docstring for the equations and the possible issues.
    """
    run, _, _ = _remez_mp_run(target, m, n, domain, dps=dps, weight=weight, max_iter=max_iter,
                              tol=tol, start=start)
    return run
