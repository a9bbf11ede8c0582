r"""Rational functions in barycentric form, in float64 and in mpmath.

A rational function of type :math:`(m, n)` is stored by ``N + 1`` distinct *support points*
:math:`z_j`, *values* :math:`f_j` and *weights* :math:`w_j` (``N >= max(m, n)``):

.. math::

    r(x) = \frac{\sum_{j=0}^{N} \frac{w_j f_j}{x - z_j}}{\sum_{j=0}^{N} \frac{w_j}{x - z_j}}
         = \frac{p(x)}{q(x)}, \qquad
    p(x) = \sum_j w_j f_j \ell_j(x), \quad q(x) = \sum_j w_j \ell_j(x), \quad
    \ell_j(x) = \prod_{k \ne j} (x - z_k).

If :math:`w_j \ne 0` then :math:`r(z_j) = f_j` (the form interpolates).  ``p`` and ``q`` have
degree at most ``N``; the coefficient of :math:`x^{N-k}` in ``q`` is a combination of the moments
:math:`\sum_j w_j z_j^i`, :math:`i \le k`, so

* :math:`\deg q \le N - d` iff :math:`\sum_j w_j z_j^i = 0` for :math:`i = 0, \dots, d-1`;
* :math:`\deg p \le N - d` iff :math:`\sum_j w_j f_j z_j^i = 0` for :math:`i = 0, \dots, d-1`.

This is how a type :math:`(m, n)` with :math:`m \ne n` is represented (Filip, Nakatsukasa,
Trefethen & Beckermann 2018, Sec. 5; Chebfun ``minimax``): ``max(m, n) + 1`` support points and
``|m - n|`` linear constraints on the weights, imposed by whoever computes the weights (the Remez
engines, :func:`ratapprox.aaa.aaa`).  The class records the *declared* type in :attr:`type`.

The barycentric form is the numerically stable way to hold a high-degree rational: evaluation in
floating point is backward stable-ish and insensitive to the clustering of poles and alternation
points that makes monomial coefficients useless in double (Berrut & Trefethen 2004; Filip et al.
2018).  Monomial coefficients are therefore only produced *exactly* from the data, in rational
arithmetic, and rounded once to the requested mpmath precision (:meth:`to_monomial`).

One class, two arithmetics: the data are either float64 numpy arrays or lists of ``mpf``.  Float
evaluation (:meth:`__call__`) always works (mpf data are rounded to double once and cached);
:meth:`eval_mp` works at the caller's current mpmath precision (float data are converted to
``mpf`` exactly).

References
----------
.. [1] J.-P. Berrut and L. N. Trefethen, "Barycentric Lagrange interpolation", SIAM Review 46(3),
   2004. :doi:`10.1137/S0036144502417715`
.. [2] P. W. Lawrence, "Fast reduction of generalized companion matrix pairs for barycentric
   Lagrange interpolants", SIAM J. Matrix Anal. Appl. 34(3), 2013; G. Klein, PhD thesis,
   Fribourg 2012 (the arrowhead pencil for poles and zeros).
.. [3] Y. Nakatsukasa, O. Sète and L. N. Trefethen, "The AAA algorithm for rational
   approximation", SIAM J. Sci. Comput. 40(3), 2018. :doi:`10.1137/16M1106122`
.. [4] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen and B. Beckermann, "Rational minimax
   approximation via adaptive barycentric representations", SIAM J. Sci. Comput. 40(4), 2018.
   :doi:`10.1137/17M1132409`

Possible issues
---------------
* Monomial coefficients of a high-degree rational (say type (80, 80) for ``|x|``) are computed
  exactly, but they are an ill-conditioned representation: evaluate them in high precision only.
* For a declared type with ``m != n`` the constraints on the weights hold only up to rounding in
  float64 data; :meth:`to_monomial` drops the (tiny) coefficients above the declared degrees,
  so the monomial rational and the barycentric one differ by that rounding.  Certify the
  monomial pair you use (``ratapprox.certify`` does).
* :meth:`poles` and :meth:`zeros` are computed in float64 (LAPACK ``ggev``) whatever the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import scipy.linalg

from ._context import workdps
from .errors import InvalidInputError, RatapproxError

__all__ = ["BarycentricRational"]

_FORMAT = "ratapprox.barycentric/1"
_CHUNK = 8192  # rows of the Cauchy matrix evaluated at once (bounds memory for huge x arrays)


# --------------------------------------------------------------------------- exact helpers
def _to_fraction(x: Any) -> Fraction:
    """Exact rational value of a float, int, mpf or decimal string (no rounding)."""
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = x._mpf_
        if not man and exp:  # inf / nan
            raise InvalidInputError(f"non-finite value {x}")
        v = Fraction(int(man)) * (Fraction(2) ** int(exp))
        return -v if sign else v
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise InvalidInputError(f"non-finite value {x!r}")
        return Fraction(float(x))
    if isinstance(x, str):
        return Fraction(x)
    return Fraction(x)


def _mpf_from_fraction(q: Fraction) -> mpmath.mpf:
    """Round an exact rational once, correctly, to the current mpmath precision."""
    raw = mpmath.libmp.from_rational(q.numerator, q.denominator, mpmath.mp.prec, mpmath.libmp.round_nearest)
    return mpmath.mp.make_mpf(raw)


def _mpf_exact_from_fraction(q: Fraction) -> mpmath.mpf:
    """An mpf equal to a dyadic rational ``q``, exactly, whatever the working precision."""
    den = q.denominator
    if den & (den - 1):
        raise InvalidInputError(f"{q} is not a dyadic rational; cannot hold it exactly in an mpf")
    raw = mpmath.libmp.from_man_exp(q.numerator, -(den.bit_length() - 1))
    return mpmath.mp.make_mpf(raw)


def _exact_decimal(x: mpmath.mpf) -> str:
    """The exact decimal expansion of a binary floating-point number (finite for any dyadic)."""
    q = _to_fraction(x)
    if q == 0:
        return "0"
    sign = "-" if q < 0 else ""
    q = abs(q)
    k = q.denominator.bit_length() - 1  # q = num / 2^k = num * 5^k / 10^k
    digits = str(q.numerator * 5**k)
    if k == 0:
        return sign + digits
    digits = digits.rjust(k + 1, "0")
    s = digits[:-k] + "." + digits[-k:]
    s = s.rstrip("0").rstrip(".")
    return sign + s


def _poly_mul_linear(c: list[Fraction], z: Fraction) -> list[Fraction]:
    """Coefficients (ascending) of c(x) * (x - z)."""
    out = [Fraction(0)] * (len(c) + 1)
    for i, ci in enumerate(c):
        out[i + 1] += ci
        out[i] -= z * ci
    return out


def _poly_div_linear(c: list[Fraction], z: Fraction) -> list[Fraction]:
    """Exact quotient (ascending) of c(x) / (x - z) when z is a root of c (synthetic division)."""
    n = len(c) - 1
    out = [Fraction(0)] * n
    acc = Fraction(0)
    for i in range(n, 0, -1):
        acc = c[i] + acc * z
        out[i - 1] = acc
    return out


def _as_mpf(v: Any) -> mpmath.mpf:
    """``v`` as an mpf without rounding: mpf kept, float converted exactly (53 bits)."""
    if isinstance(v, mpmath.mpf):
        return v
    if isinstance(v, (float, np.floating)):
        return mpmath.mp.make_mpf(mpmath.libmp.from_float(float(v)))
    return mpmath.mpf(v)


def _is_mp_sequence(seq: Any) -> bool:
    return isinstance(seq, (list, tuple)) and any(isinstance(v, mpmath.mpf) for v in seq)


# --------------------------------------------------------------------------- the class
class BarycentricRational:
    r"""A rational function :math:`r = p/q` in barycentric form.

    .. math::

        r(x) = \sum_j \frac{w_j f_j}{x - z_j} \Big/ \sum_j \frac{w_j}{x - z_j}

    Parameters
    ----------
    support_points, values, weights : array_like or list of mpf
        :math:`z_j` (distinct, real), :math:`f_j`, :math:`w_j`, all of the same length ``N + 1``.
        float64 arrays give a float64 rational; lists containing ``mpf`` give an mpmath rational
        (all three are then held as ``mpf``).
    type : (int, int), optional
        The declared type ``(m, n)``, an upper bound on the degrees of ``p`` and ``q``; default
        ``(N, N)``.  When ``N > min(m, n)`` the weights must satisfy the degree constraints stated
        in the module docstring; fewer support points than ``max(m, n) + 1`` are allowed (a
        degenerate rational of lower type, e.g. a best approximation with a defect).

    Attributes
    ----------
    support_points, values, weights : numpy.ndarray or list of mpf
    type : tuple of int
    is_mp : bool
        Whether the data are ``mpf``.

    Examples
    --------
    >>> import numpy as np
    >>> r = BarycentricRational.from_monomial([0.0, 1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0])
    >>> bool(abs(r(0.5) - 0.5 / 1.25) < 1e-15)  # x / (1 + x^2)
    True
    """

    def __init__(
        self,
        support_points: Sequence[Any] | np.ndarray,
        values: Sequence[Any] | np.ndarray,
        weights: Sequence[Any] | np.ndarray,
        *,
        type: tuple[int, int] | None = None,
    ) -> None:
        self.is_mp = any(_is_mp_sequence(s) for s in (support_points, values, weights))
        if self.is_mp:
            # an mpf is kept as it is (mpf() would round it to the current precision)
            z = [_as_mpf(v) for v in support_points]
            f = [_as_mpf(v) for v in values]
            w = [_as_mpf(v) for v in weights]
            if not all(mpmath.isfinite(v) for v in (*z, *f, *w)):
                raise InvalidInputError("barycentric data must be finite")
        else:
            z = np.array(support_points, dtype=float).ravel()
            f = np.array(values, dtype=float).ravel()
            w = np.array(weights, dtype=float).ravel()
            if not (np.all(np.isfinite(z)) and np.all(np.isfinite(f)) and np.all(np.isfinite(w))):
                raise InvalidInputError("barycentric data must be finite")
        if not (len(z) == len(f) == len(w)):
            raise InvalidInputError(
                f"`support_points`, `values`, `weights` need equal lengths, got {len(z)}, {len(f)}, {len(w)}"
            )
        if len(z) == 0:
            raise InvalidInputError("a barycentric rational needs at least one support point")
        distinct = len(np.unique(z)) == len(z) if not self.is_mp else len(set(z)) == len(z)
        if not distinct:
            raise InvalidInputError("`support_points` must be distinct")
        if all(v == 0 for v in w):
            raise InvalidInputError("`weights` must not all be zero")
        N = len(z) - 1
        if type is None:
            type = (N, N)
        m, n = (int(t) for t in type)
        if m < 0 or n < 0:
            raise InvalidInputError(f"`type` must be non-negative, got {type}")
        self.support_points = z
        self.values = f
        self.weights = w
        self.type: tuple[int, int] = (m, n)
        self._float_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.support_points)

    def __repr__(self) -> str:
        kind = "mpmath" if self.is_mp else "float64"
        return f"BarycentricRational(type={self.type}, support points={len(self)}, {kind})"

    def _float_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._float_cache is None:
            if self.is_mp:
                self._float_cache = tuple(  # type: ignore[assignment]
                    np.array([float(v) for v in s]) for s in (self.support_points, self.values, self.weights)
                )
            else:
                self._float_cache = (self.support_points, self.values, self.weights)
        return self._float_cache  # type: ignore[return-value]

    def _mp_data(self) -> tuple[list, list, list]:
        # mpf(float) is exact, so float data lose nothing here.
        if self.is_mp:
            return self.support_points, self.values, self.weights
        data = (self.support_points, self.values, self.weights)
        return tuple([_as_mpf(float(v)) for v in s] for s in data)  # type: ignore[return-value]

    def to_float(self) -> BarycentricRational:
        """The same rational with data rounded to float64."""
        z, f, w = self._float_data()
        return BarycentricRational(z.copy(), f.copy(), w.copy(), type=self.type)

    def to_mp(self) -> BarycentricRational:
        """The same rational with ``mpf`` data (exact conversion of float data)."""
        z, f, w = self._mp_data()
        return BarycentricRational(list(z), list(f), list(w), type=self.type)

    # ------------------------------------------------------------------ evaluation
    def __call__(self, x: Any) -> Any:
        """Evaluate in float64, vectorised; exact (``f_j``) at the support points.

        Parameters
        ----------
        x : float or array_like
            Real (or complex) evaluation points.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``x``.
        """
        z, f, w = self._float_data()
        xa = np.asarray(x)
        dtype = complex if np.iscomplexobj(xa) else float
        xv = xa.astype(dtype).ravel()
        out = np.empty(xv.shape, dtype=dtype)
        wf = w * f
        for s in range(0, len(xv), _CHUNK):
            xs = xv[s : s + _CHUNK]
            diff = xs[:, None] - z[None, :]
            hit = diff == 0
            with np.errstate(divide="ignore", invalid="ignore"):
                C = 1.0 / np.where(hit, 1.0, diff)
                r = (C @ wf) / (C @ w)
            # At a support point the formula reads inf/inf: the interpolation property gives f_j.
            rows, cols = np.nonzero(hit)
            r[rows] = f[cols]
            out[s : s + _CHUNK] = r
        if xa.ndim == 0:
            return out[0].item()
        return out.reshape(xa.shape)

    def eval_mp(self, x: Any) -> Any:
        """Evaluate at the current mpmath precision.

        ``x`` is a number (returns ``mpf``/``mpc``) or a sequence (returns a list).  Float data are
        converted to ``mpf`` exactly, so the only roundings are those of the evaluation itself.
        """
        if isinstance(x, (list, tuple, np.ndarray)):
            return [self.eval_mp(v) for v in x]
        z, f, w = self._mp_data()
        xm = mpmath.mpmathify(x)
        num = mpmath.mpf(0)
        den = mpmath.mpf(0)
        for zj, fj, wj in zip(z, f, w):
            d = xm - zj
            if d == 0:
                return +fj
            c = wj / d
            num += c * fj
            den += c
        return num / den

    def denominator_sign_changes(self, x: np.ndarray) -> int:
        """Number of sign changes of :math:`q(x) = \\ell(x) \\sum_j w_j/(x - z_j)` along sorted ``x``.

        A pole-free rational on an interval has none; used by the Remez engines to pick the
        eigenvector of the levelled-error problem that gives a pole-free trial function.
        """
        z, _, w = self._float_data()
        xs = np.sort(np.asarray(x, dtype=float).ravel())
        diff = xs[:, None] - z[None, :]
        hit = diff == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            D = (np.where(hit, 0.0, w[None, :] / np.where(hit, 1.0, diff))).sum(axis=1)
        # sign of ell(x) = prod (x - z_k): (-1)^(number of z_k > x)
        sgn_ell = np.where(np.sum(diff < 0, axis=1) % 2 == 0, 1.0, -1.0)
        s = np.sign(D) * sgn_ell
        at = hit.any(axis=1)
        if np.any(at):  # q(z_j) = w_j * prod_{k != j} (z_j - z_k)
            rows, cols = np.nonzero(hit)
            zc = z[cols]
            nbig = np.sum(z[None, :] > zc[:, None], axis=1)
            s[rows] = np.sign(w[cols]) * np.where(nbig % 2 == 0, 1.0, -1.0)
        s = s[s != 0]
        return int(np.sum(s[1:] != s[:-1]))

    # ------------------------------------------------------------------ poles, zeros, residues
    def _arrowhead_eigs(self, coeffs: np.ndarray) -> np.ndarray:
        """Finite eigenvalues of the arrowhead pencil (Klein 2012; Nakatsukasa et al. 2018).

        .. math::

            E = \\begin{pmatrix} 0 & c^T \\\\ \\mathbf{1} & \\mathrm{diag}(z) \\end{pmatrix},
            \\quad B = \\mathrm{diag}(0, 1, \\dots, 1),

        whose finite eigenvalues are the roots of :math:`\\sum_j c_j/(x - z_j)` (poles for
        :math:`c = w`, zeros for :math:`c = w f`).
        """
        z, _, _ = self._float_data()
        ev = self._pencil(z, coeffs)
        az = np.abs(z)
        if ev.size == 0 or np.any(az == 0) or az.min() > 1e-3 * az.max():
            return ev
        # Roots far below the scale of the support points (|x| at high degree has poles at
        # 1e-11 i next to support points up to 1) get only absolute accuracy eps max|z| from the
        # pencil.  With u = 1/x the sum becomes -u sum_j (c_j/z_j)/(u - 1/z_j): the same pencil
        # in u gives the small roots to relative accuracy.  Keep each root from the pencil that
        # resolves it.
        inv = self._pencil(1.0 / z, coeffs / z)
        inv = inv[inv != 0]
        tau = float(np.sqrt(az.min() * az.max()))
        small = 1.0 / inv[np.abs(inv) > 1.0 / tau]
        large = ev[np.abs(ev) >= tau]
        if small.size + large.size != ev.size:
            return ev  # the two pencils disagree on the count: keep the direct one
        return np.concatenate([small, large])

    @staticmethod
    def _pencil(z: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
        N1 = len(z)
        scale = np.max(np.abs(coeffs))
        if scale == 0:
            return np.array([], dtype=complex)
        E = np.zeros((N1 + 1, N1 + 1))
        E[0, 1:] = coeffs / scale
        E[1:, 0] = 1.0
        E[1:, 1:] = np.diag(z)
        B = np.eye(N1 + 1)
        B[0, 0] = 0.0
        ev = scipy.linalg.eigvals(E, B)
        return ev[np.isfinite(ev)]

    @staticmethod
    def _keep(ev: np.ndarray, count: int) -> np.ndarray:
        # Rounding of the degree constraints turns "infinite" eigenvalues into huge finite ones:
        # keep the declared number, the smallest in modulus.
        ev = ev[np.argsort(np.abs(ev))][:count]
        return np.sort_complex(ev)

    def poles(self) -> np.ndarray:
        """Poles (complex, float64): the finite eigenvalues of the arrowhead pencil with ``c = w``.

        At most ``n`` (declared denominator degree) are returned, the smallest in modulus.
        """
        _, _, w = self._float_data()
        return self._keep(self._arrowhead_eigs(w), self.type[1])

    def zeros(self) -> np.ndarray:
        """Zeros (complex, float64): the arrowhead pencil with ``c = w f``; at most ``m`` of them."""
        _, f, w = self._float_data()
        return self._keep(self._arrowhead_eigs(w * f), self.type[0])

    roots = zeros

    def residues(self, poles: np.ndarray | None = None) -> np.ndarray:
        r"""Residues at the (simple) poles: :math:`\mathrm{res}_{p} r = N(p) / D'(p)`.

        With :math:`N(x) = \sum_j w_j f_j/(x - z_j)` and :math:`D(x) = \sum_j w_j/(x - z_j)`,
        :math:`D'(x) = -\sum_j w_j/(x - z_j)^2`.
        """
        z, f, w = self._float_data()
        p = self.poles() if poles is None else np.asarray(poles, dtype=complex)
        C = 1.0 / (p[:, None] - z[None, :])
        return (C @ (w * f)) / (-(C**2) @ w)

    # ------------------------------------------------------------------ monomial conversion
    def _exact_pq(self) -> tuple[list[Fraction], list[Fraction]]:
        """Exact ascending coefficients of p and q (degree N) in rational arithmetic."""
        zq = [_to_fraction(v) for v in self.support_points]
        fq = [_to_fraction(v) for v in self.values]
        wq = [_to_fraction(v) for v in self.weights]
        ell = [Fraction(1)]
        for zj in zq:
            ell = _poly_mul_linear(ell, zj)
        N1 = len(zq)
        p = [Fraction(0)] * N1
        q = [Fraction(0)] * N1
        for zj, fj, wj in zip(zq, fq, wq):
            if wj == 0:
                continue
            lj = _poly_div_linear(ell, zj)
            wf = wj * fj
            for i, c in enumerate(lj):
                q[i] += wj * c
                p[i] += wf * c
        return p, q

    def to_monomial(self, dps: int | None = None) -> tuple[list[mpmath.mpf], list[mpmath.mpf]]:
        """Power-basis coefficients ``(num, den)``, ascending, with ``den[0] == 1``.

        The coefficients of :math:`p = \\sum_j w_j f_j \\ell_j` and :math:`q = \\sum_j w_j \\ell_j`
        are computed exactly (``fractions.Fraction``: float and mpf data are dyadic rationals),
        divided by :math:`q(0)` exactly, truncated to the declared type ``(m, n)``, and each
        rounded once to ``dps`` digits (default: the current mpmath precision).

        Raises
        ------
        RatapproxError
            If :math:`q(0) = 0` (the normalisation ``den[0] = 1`` is impossible).
        """
        p, q = self._exact_pq()
        if q[0] == 0:
            raise RatapproxError(
                "the denominator vanishes at x = 0, so it cannot be normalised to den[0] = 1 "
                "(a pole at 0); shift the variable or use the barycentric form"
            )
        q0 = q[0]
        m, n = self.type
        num = [c / q0 for c in p[: m + 1]]
        den = [c / q0 for c in q[: n + 1]]
        num += [Fraction(0)] * (m + 1 - len(num))
        den += [Fraction(0)] * (n + 1 - len(den))
        with workdps(dps if dps is not None else mpmath.mp.dps):
            return [_mpf_from_fraction(c) for c in num], [_mpf_from_fraction(c) for c in den]

    def monomial_truncation(self) -> tuple[float, float]:
        """Relative size of the exact coefficients that :meth:`to_monomial` drops.

        Returns ``(num_dropped, den_dropped)``: max |dropped coefficient| / max |kept
        coefficient| for the numerator and the denominator (0.0 when the declared type uses every
        degree of freedom).
        """
        p, q = self._exact_pq()
        m, n = self.type

        def rel(c: list[Fraction], k: int) -> float:
            kept = max((abs(v) for v in c[: k + 1]), default=Fraction(0))
            drop = max((abs(v) for v in c[k + 1 :]), default=Fraction(0))
            return float(drop / kept) if kept else (0.0 if drop == 0 else math.inf)

        return rel(p, m), rel(q, n)

    @classmethod
    def from_monomial(
        cls, num: Sequence[Any], den: Sequence[Any], support_points: Sequence[Any] | np.ndarray
    ) -> BarycentricRational:
        r"""Barycentric form of :math:`p/q` (ascending coefficients) on given support points.

        :math:`f_j = p(z_j)/q(z_j)` and :math:`w_j = q(z_j)/\ell'(z_j)`,
        :math:`\ell'(z_j) = \prod_{k \ne j}(z_j - z_k)`, because :math:`q \ell^{-1} \cdot \ell =
        \sum_j w_j \ell_j` is the Lagrange interpolant of ``q`` at the ``N + 1 >= deg q + 1``
        support points (Berrut & Trefethen 2004).  Computed in mpmath at the current precision
        when any input is ``mpf``, otherwise in float64.  The declared type is
        ``(len(num) - 1, len(den) - 1)``.
        """
        m, n = len(num) - 1, len(den) - 1
        if m < 0 or n < 0:
            raise InvalidInputError("`num` and `den` need at least one coefficient each")
        use_mp = any(_is_mp_sequence(list(s)) for s in (num, den, support_points))
        N1 = len(support_points)
        if N1 < max(m, n) + 1:
            raise InvalidInputError(f"type {(m, n)} needs at least {max(m, n) + 1} support points, got {N1}")
        if use_mp:
            z = [mpmath.mpf(v) for v in support_points]
            a = [mpmath.mpf(v) for v in num]
            b = [mpmath.mpf(v) for v in den]
            qz = [mpmath.polyval(b[::-1], zj) for zj in z]
            pz = [mpmath.polyval(a[::-1], zj) for zj in z]
            if any(v == 0 for v in qz):
                raise InvalidInputError("the denominator vanishes at a support point")
            dl = [mpmath.fprod(zj - zk for k, zk in enumerate(z) if k != j) for j, zj in enumerate(z)]
            w = [qj / dj for qj, dj in zip(qz, dl)]
            f = [pj / qj for pj, qj in zip(pz, qz)]
            s = max(abs(v) for v in w)
            w = [v / s for v in w]
            return cls(z, f, w, type=(m, n))
        z = np.asarray(support_points, dtype=float)
        qz = np.polyval(np.asarray(den, dtype=float)[::-1], z)
        pz = np.polyval(np.asarray(num, dtype=float)[::-1], z)
        if np.any(qz == 0):
            raise InvalidInputError("the denominator vanishes at a support point")
        diff = z[:, None] - z[None, :]
        np.fill_diagonal(diff, 1.0)
        # prod of many factors can under/overflow: accumulate in logs with signs.
        logd = np.sum(np.log(np.abs(diff)), axis=1)
        sgn = np.prod(np.sign(diff), axis=1)
        logw = np.log(np.abs(qz)) - logd
        w = np.sign(qz) * sgn * np.exp(logw - np.max(logw))
        return cls(z, pz / qz, w, type=(m, n))

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> dict[str, Any]:
        """Exact serialisation: float data as ``repr`` (round-trips), mpf data as exact decimals."""
        if self.is_mp:
            conv = _exact_decimal
            arith = "mpmath"
        else:
            conv = lambda v: repr(float(v))
            arith = "float64"
        return {
            "format": _FORMAT,
            "arithmetic": arith,
            "type": list(self.type),
            "support_points": [conv(v) for v in self.support_points],
            "values": [conv(v) for v in self.values],
            "weights": [conv(v) for v in self.weights],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BarycentricRational:
        """Inverse of :meth:`to_json` (bit-exact for both arithmetics)."""
        try:
            arith = d.get("arithmetic", "float64")
            keys = ("support_points", "values", "weights")
            if arith == "mpmath":
                data = [[_mpf_exact_from_fraction(Fraction(s)) for s in d[k]] for k in keys]
            elif arith == "float64":
                data = [np.array([float(s) for s in d[k]]) for k in keys]
            else:
                raise InvalidInputError(f"unknown arithmetic {arith!r} (want 'float64' or 'mpmath')")
            typ = tuple(int(t) for t in d["type"]) if "type" in d else None
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"malformed barycentric JSON: {exc}") from exc
        return cls(*data, type=typ)  # type: ignore[arg-type]
