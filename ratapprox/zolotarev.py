r"""Zolotarev's best rational approximation of ``sign`` on a set with a gap, in closed form.

The problem
-----------
Among real rational functions of type :math:`(2r+1, 2r)`, find the one that minimises
:math:`\max_{x \in E_\delta} |\operatorname{sign}(x) - R(x)|` on
:math:`E_\delta = [-1, -\delta] \cup [\delta, 1]`, :math:`0 < \delta < 1`.

The closed form (Zolotarev 1877; Akhiezer 1990, *Elements of the Theory of Elliptic Functions*,
ch. 9; Nakatsukasa & Freund 2016, SIAM Review 58(3), sec. 4, eqs. (4.1)-(4.2))
-------------------------------------------------------------------------------
With :math:`\ell = \delta`, :math:`\ell' = \sqrt{1 - \ell^2}`, :math:`K' = K(\ell'^2)` (parameter
convention, see :mod:`ratapprox.elliptic`) and :math:`n = 2r + 1`,

.. math::

    c_i = \ell^2\, \frac{\mathrm{sn}^2(iK'/n \,|\, \ell'^2)}{\mathrm{cn}^2(iK'/n \,|\, \ell'^2)}
    \quad (i = 1, \dots, 2r), \qquad
    \hat Z(x) = x \prod_{j=1}^{r} \frac{x^2 + c_{2j}}{x^2 + c_{2j-1}},

(``i`` is an index, not the imaginary unit).  On :math:`[\ell, 1]`, :math:`\hat Z` oscillates
between its values at the points
:math:`x_j = \mathrm{dn}(jK'/n \,|\, \ell'^2)`, :math:`j = 0, \dots, n` (so :math:`x_0 = 1`,
:math:`x_n = \ell`), with :math:`\hat Z(1) = \max` and :math:`\hat Z(\ell) = \min`.  The scaling
:math:`M = 2/(\hat Z(1) + \hat Z(\ell))` makes :math:`R = M\hat Z` equioscillate, and its error is

.. math::

    E_r(\delta) = \frac{\hat Z(1) - \hat Z(\ell)}{\hat Z(1) + \hat Z(\ell)},

with the :math:`4r + 4` alternation points :math:`\pm x_j` (the optimality certificate of the
Chebyshev alternation theorem: :math:`4r + 4 \ge (2r+1) + 2r + 2`).  This is the *closed-form*
error ``ZolotarevResult.error``.

The independent formula (``error_independent``)
-----------------------------------------------
:math:`\hat Z(x) = 1/R_n(1/x)` where :math:`R_n` is Jacobi's rational transformation of order
:math:`n` (the "second principal transformation", Jacobi 1829, *Fundamenta Nova* §§ 13-14;
Akhiezer 1990, sec. 9 and 52; Gončar 1969): it maps the modulus :math:`k = \delta` to the modulus
:math:`\lambda` with :math:`K'(\lambda)/K(\lambda) = K'(k)/(n K(k))`.  Along
:math:`s \in [1, 1/k]` it oscillates between 1 and :math:`1/\lambda`, hence
:math:`\hat Z([\delta, 1])` oscillates in :math:`[\lambda, 1]` and

.. math::

    E_r(\delta) = \frac{1 - \lambda}{1 + \lambda}
    = \frac{\vartheta_3^2(Q) - \vartheta_4^2(Q)}{\vartheta_3^2(Q) + \vartheta_4^2(Q)}
    = \frac{2\vartheta_2(Q^4)\,(\vartheta_3(Q) + \vartheta_4(Q))}{\vartheta_3^2(Q) + \vartheta_4^2(Q)},
    \qquad Q = \rho^{-n},\ \rho = \exp\!\Big(\pi \frac{K(\delta^2)}{K'(\delta^2)}\Big),

using :math:`\lambda = \vartheta_4^2/\vartheta_3^2` at the complementary nome
:math:`Q = e^{-\pi K(\lambda)/K'(\lambda)} = e^{-\pi n K(k)/K'(k)}` (Jacobi's theta formulas) and
:math:`\vartheta_3(q) - \vartheta_4(q) = 2\vartheta_2(q^4)` (so there is no cancellation).  Nothing
of the closed form above (the ``c_i``, ``sn``, ``cn``, ``dn``) enters it.

Asymptotics: :math:`\vartheta_3 = 1 + 2Q + O(Q^4)`, :math:`\vartheta_4 = 1 - 2Q + O(Q^4)` give

.. math::

    E_r(\delta) = 4 \rho^{-(2r+1)} \big(1 + O(\rho^{-2(2r+1)})\big), \qquad
    \log\rho = \frac{\pi K(\delta^2)}{K'(\delta^2)} \sim \frac{\pi^2}{2\log(4/\delta)}
    \ (\delta \to 0),

i.e. :math:`E_r \approx 4\exp(-\pi^2 (2r+1) / (2\log(4/\delta)))`: the paper's
:math:`\exp(-c\, r / \log(1/\delta))` with :math:`c = \pi^2` (Lemma 1 / Thm 2).

Derived gates
-------------
``zolotarev_abs`` (:math:`x R(x) \approx |x|`), ``zolotarev_relu`` (:math:`(x + xR(x))/2`),
``zolotarev_step`` and ``zolotarev_jumprelu`` (through :math:`y = (x - \theta)/(1 + |\theta|)`),
each with the bound proven in its docstring.

Possible issues
---------------
The monomial coefficients span a huge range for large ``r`` and small ``delta`` (at ``r = 32``,
``delta = 1e-12`` the denominator's coefficients reach :math:`10^{700}` and more): they are exact to
``dps`` digits as mpf numbers but overflow float64.  The product form is the primary
representation: ``__call__`` and ``eval_mp`` use it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Context, Decimal, InvalidOperation
from typing import Any

import mpmath
import numpy as np

from . import elliptic
from .certify import Certificate, certify
from .domains import Domain
from .errors import InvalidInputError

__all__ = [
    "ZolotarevGate",
    "ZolotarevResult",
    "zolotarev",
    "zolotarev_abs",
    "zolotarev_error",
    "zolotarev_error_asymptotic",
    "zolotarev_error_independent",
    "zolotarev_jumprelu",
    "zolotarev_relu",
    "zolotarev_step",
]


# --------------------------------------------------------------------------- input checks
def _delta_str(delta: Any) -> str:
    """``delta`` as an exact decimal string in (0, 1) (a float by its shortest repr)."""
    if isinstance(delta, (float, np.floating)):
        s = repr(float(delta))
    elif hasattr(delta, "_mpf_"):
        s = str(delta)
    else:
        s = str(delta).strip()
    try:
        d = Decimal(s)
    except InvalidOperation as exc:
        raise InvalidInputError(f"`delta` must be a number, got {delta!r}") from exc
    if not (d.is_finite() and 0 < d < 1):
        raise InvalidInputError(f"`delta` must lie in (0, 1), got {delta!r}")
    return s


def _check_r(r: Any) -> int:
    try:
        rr = int(r)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"`r` must be an integer >= 0, got {r!r}") from exc
    if rr != r or rr < 0:
        raise InvalidInputError(f"`r` must be an integer >= 0, got {r!r}")
    return rr


def _check_dps(dps: Any) -> int:
    d = int(dps)
    if d < 15:
        raise InvalidInputError(f"`dps` must be at least 15, got {dps}")
    return d


def _guard_digits(delta: str, r: int) -> int:
    """Extra digits: 1 - delta^2 costs 2 log10(1/delta); the error E costs log10(1/E)."""
    with mpmath.workdps(20):
        d = mpmath.mpf(delta)
        logrho = mpmath.pi * mpmath.ellipk(d**2) / elliptic.ellipkp(d**2)
        lost_E = float((2 * r + 1) * logrho / mpmath.log(10))
        return int(2 * max(0.0, -float(mpmath.log10(d))) + lost_E) + 25


# --------------------------------------------------------------------------- the error formulas
def _rho(d: Any) -> Any:
    m = d * d
    return mpmath.exp(mpmath.pi * elliptic.ellipk(m) / elliptic.ellipkp(m))


def zolotarev_error_independent(delta: Any, r: int, dps: int = 50) -> Any:
    r"""The theta-function formula for :math:`E_r(\delta)` (see the module docstring).

    :math:`E = 2\vartheta_2(Q^4)(\vartheta_3(Q) + \vartheta_4(Q)) /
    (\vartheta_3^2(Q) + \vartheta_4^2(Q))`, :math:`Q = \rho^{-(2r+1)}`.
    """
    ds, r, dps = _delta_str(delta), _check_r(r), _check_dps(dps)
    with mpmath.workdps(dps + _guard_digits(ds, r)):
        Q = _rho(mpmath.mpf(ds)) ** -(2 * r + 1)
        t3, t4 = mpmath.jtheta(3, 0, Q), mpmath.jtheta(4, 0, Q)
        E = 2 * mpmath.jtheta(2, 0, Q**4) * (t3 + t4) / (t3**2 + t4**2)
    with mpmath.workdps(dps):
        return +E


def zolotarev_error_asymptotic(delta: Any, r: int, dps: int = 50) -> Any:
    r""":math:`4\rho^{-(2r+1)}`, :math:`\rho = \exp(\pi K(\delta^2)/K'(\delta^2))` (leading term).

    The relative difference to the exact error is :math:`O(\rho^{-2(2r+1)})`; the exact error is
    below it (:math:`E = 4Q(1 - 4Q^2 + O(Q^4))`, :math:`Q = \rho^{-(2r+1)}`).
    """
    ds, r, dps = _delta_str(delta), _check_r(r), _check_dps(dps)
    with mpmath.workdps(dps + _guard_digits(ds, r)):
        v = 4 * _rho(mpmath.mpf(ds)) ** -(2 * r + 1)
    with mpmath.workdps(dps):
        return +v


def zolotarev_error(delta: Any, r: int, dps: int = 50) -> Any:
    """The closed-form error :math:`E_r(\\delta)` of Zolotarev's approximant (``zolotarev().error``)."""
    return zolotarev(delta, r, dps).error


# --------------------------------------------------------------------------- polynomials
def _poly_from_y_roots(cs: Sequence[Any]) -> list[Any]:
    """Coefficients (ascending, in y) of prod (y + c)."""
    p = [mpmath.mpf(1)]
    for c in cs:
        q = [mpmath.mpf(0)] * (len(p) + 1)
        for k, a in enumerate(p):
            q[k] += a * c
            q[k + 1] += a
        p = q
    return p


def _compose_affine(p: Sequence[Any], alpha: Any, beta: Any) -> list[Any]:
    """Coefficients of p(alpha + beta x) (Horner on polynomials)."""
    out = [mpmath.mpf(0)]
    for c in reversed(p):
        # out <- out * (alpha + beta x) + c
        new = [mpmath.mpf(0)] * (len(out) + 1)
        for k, a in enumerate(out):
            new[k] += a * alpha
            new[k + 1] += a * beta
        new[0] += c
        out = new
    while len(out) > 1 and out[-1] == 0:
        out.pop()
    return out


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class ZolotarevResult:
    r"""Zolotarev's best type :math:`(2r+1, 2r)` approximation of sign on :math:`E_\delta`.

    Attributes
    ----------
    delta : str
        The gap (exact decimal).
    r, dps : int
    scale : mpf
        :math:`M`.
    c : tuple of mpf
        :math:`c_1, \dots, c_{2r}` (``R(x) = M x prod (x^2 + c_{2j}) / (x^2 + c_{2j-1})``).
    numerator, denominator : tuple of mpf
        Monomial coefficients, ascending, ``denominator[0] == 1``.
    zeros, poles : tuple of mpc
        ``0, +-i sqrt(c_{2j})`` and ``+-i sqrt(c_{2j-1})``: all on the imaginary axis.
    error : mpf
        Closed-form error :math:`(\hat Z(1) - \hat Z(\delta))/(\hat Z(1) + \hat Z(\delta))`.
    error_independent : mpf
        The theta-function formula (Jacobi's transformation of order 2r+1).
    error_asymptotic : mpf
        :math:`4\rho^{-(2r+1)}`.
    alternation_points : tuple of mpf
        The :math:`4r + 4` points :math:`\pm\mathrm{dn}(jK'/(2r+1) | 1 - \delta^2)`, ascending.
    """

    delta: str
    r: int
    dps: int
    scale: Any
    c: tuple[Any, ...]
    numerator: tuple[Any, ...]
    denominator: tuple[Any, ...]
    zeros: tuple[Any, ...]
    poles: tuple[Any, ...]
    error: Any
    error_independent: Any
    error_asymptotic: Any
    alternation_points: tuple[Any, ...]

    @property
    def type(self) -> tuple[int, int]:
        return (2 * self.r + 1, 2 * self.r)

    @property
    def domain(self) -> Domain:
        return Domain.sign_domain(self.delta)

    @functools.cached_property
    def certificate(self) -> Certificate:
        """:meth:`certify_error` with its defaults (relative width 1e-6), computed on first use.

        Cost grows quickly with ``r`` (monomial form, interval branch-and-bound): about 1 s at
        ``r = 4``, 10 s at ``r = 8``, minutes at ``r = 16`` on one core.
        """
        return self.certify_error()

    def certify_error(self, rel_tol: float = 1e-6, max_boxes: int = 200_000) -> Certificate:
        """``certify`` on :math:`E_\\delta` with the closed-form alternation set."""
        return certify(
            "sign", list(self.numerator), list(self.denominator), self.domain,
            alternation_points=list(self.alternation_points), m=2 * self.r + 1, n=2 * self.r,
            dps=self.dps, rel_tol=rel_tol, max_boxes=max_boxes,
        )

    def __call__(self, x: Any) -> np.ndarray:
        """float64 evaluation in product form (vectorised)."""
        x = np.asarray(x, dtype=float)
        x2 = x * x
        out = float(self.scale) * x
        for j in range(self.r):
            out = out * ((x2 + float(self.c[2 * j + 1])) / (x2 + float(self.c[2 * j])))
        return out

    def eval_mp(self, x: Any, dps: int | None = None) -> Any:
        """mpmath evaluation in product form at ``dps`` digits (default: ``self.dps``)."""
        with mpmath.workdps(dps or self.dps):
            x = mpmath.mpf(x)
            x2 = x * x
            out = self.scale * x
            for j in range(self.r):
                out *= (x2 + self.c[2 * j + 1]) / (x2 + self.c[2 * j])
            return +out


def zolotarev(delta: Any, r: int, dps: int = 50) -> ZolotarevResult:
    r"""Zolotarev's best type :math:`(2r+1, 2r)` approximation of sign on :math:`E_\delta`.

    Parameters
    ----------
    delta : float, str or mpf
        The gap, :math:`0 < \delta < 1` (a float is read as its shortest decimal repr).
    r : int
        ``r >= 0``; the type is ``(2r + 1, 2r)``.
    dps : int
        Decimal digits of the returned numbers (the computation adds guard digits for the
        cancellation in :math:`1 - \delta^2` and in the error).

    Returns
    -------
    ZolotarevResult

    Examples
    --------
    >>> z = zolotarev(0.1, 2, dps=30)
    >>> abs(z.error - z.error_independent) < 1e-28
    True
    >>> float(abs(z(0.5) - 1)) <= float(z.error)
    True
    """
    ds, r, dps = _delta_str(delta), _check_r(r), _check_dps(dps)
    n = 2 * r + 1
    with mpmath.workdps(dps + _guard_digits(ds, r)):
        d = mpmath.mpf(ds)
        m = d * d  # the complementary parameter of l'^2 = 1 - delta^2
        Kp = elliptic.ellipkp(m)  # K(1 - delta^2), without forming 1 - delta^2
        # Nakatsukasa & Freund (2016), eq. (4.2): c_i = l^2 sn^2/cn^2 (i K'/n; l')
        c = [m * elliptic.sc(i * Kp / n, mc=m) ** 2 for i in range(1, 2 * r + 1)]
        odd, even = c[0::2], c[1::2]  # c_1, c_3, ... (poles) and c_2, c_4, ... (zeros)

        def zhat(x: Any) -> Any:
            out = x
            for j in range(r):
                out *= (x * x + even[j]) / (x * x + odd[j])
            return out

        a, b = zhat(mpmath.mpf(1)), zhat(d)
        M = 2 / (a + b)
        E = abs(a - b) / (a + b)
        # alternation points x_j = dn(j K'/n | 1 - delta^2), j = 0..n (x_0 = 1, x_n = delta)
        xs = [elliptic.dn(j * Kp / n, mc=m) for j in range(n + 1)]
        xs[0], xs[-1] = mpmath.mpf(1), d  # exactly the ends (dn(0) = 1, dn(K') = delta)
        # monomial form: den = prod (x^2 + c_odd) / prod c_odd, num = M x prod(x^2 + c_even) / ..
        s = mpmath.fprod(odd) if odd else mpmath.mpf(1)
        den_y = [v / s for v in _poly_from_y_roots(odd)]
        num_y = [M * v / s for v in _poly_from_y_roots(even)]
        den = [mpmath.mpf(0)] * (2 * r + 1)
        num = [mpmath.mpf(0)] * (2 * r + 2)
        for k, v in enumerate(den_y):
            den[2 * k] = v
        for k, v in enumerate(num_y):
            num[2 * k + 1] = v
        zeros = [mpmath.mpc(0)] + [s_ * mpmath.sqrt(v) * 1j for v in even for s_ in (-1, 1)]
        poles = [s_ * mpmath.sqrt(v) * 1j for v in odd for s_ in (-1, 1)]
    E_ind = zolotarev_error_independent(ds, r, dps)
    E_asy = zolotarev_error_asymptotic(ds, r, dps)
    with mpmath.workdps(dps):
        alts = sorted([-x for x in xs] + list(xs))
        return ZolotarevResult(
            delta=ds, r=r, dps=dps, scale=+M, c=tuple(+v for v in c),
            numerator=tuple(+v for v in num), denominator=tuple(+v for v in den),
            zeros=tuple(+z for z in zeros), poles=tuple(+p for p in poles),
            error=+E, error_independent=E_ind, error_asymptotic=E_asy,
            alternation_points=tuple(+x for x in alts),
        )


# --------------------------------------------------------------------------- derived gates
@dataclass(frozen=True)
class ZolotarevGate:
    r"""A gate built from Zolotarev's approximant, with a proven error bound on its domain.

    Attributes
    ----------
    name : str
        ``"abs"``, ``"relu"``, ``"step:THETA"`` or ``"jumprelu:THETA"`` (a ratapprox target name).
    domain : Domain
        Where ``bound`` holds.
    numerator, denominator : tuple of mpf
        Monomial coefficients, ascending, ``denominator[0] == 1``.
    bound : mpf
        Upper bound of the error on ``domain``, from Zolotarev's closed-form error (rounded up in
        its last digits); ``bound_note`` says how it follows.
    zolotarev : ZolotarevResult
        The sign approximant used (its ``delta`` may differ from the gate's, see ``bound_note``).
    theta, scale : mpf
        The affine map ``y = (x - theta) / scale`` into the sign domain (0 and 1 for abs/relu).
    """

    name: str
    domain: Domain
    numerator: tuple[Any, ...]
    denominator: tuple[Any, ...]
    bound: Any
    bound_note: str
    zolotarev: ZolotarevResult
    theta: Any
    scale: Any

    @property
    def type(self) -> tuple[int, int]:
        return (len(self.numerator) - 1, len(self.denominator) - 1)

    @functools.cached_property
    def certificate(self) -> Certificate:
        """``certify`` of the monomial form against the target on ``domain`` (first use)."""
        return certify(self.name, list(self.numerator), list(self.denominator), self.domain,
                       dps=self.zolotarev.dps, rel_tol=1e-6)

    def _combine(self, x: Any, zy: Any) -> Any:
        kind = self.name.split(":")[0]
        if kind == "abs":
            return x * zy
        if kind == "relu":
            return (x + x * zy) / 2
        if kind == "step":
            return (1 + zy) / 2
        return x * (1 + zy) / 2  # jumprelu

    def __call__(self, x: Any) -> np.ndarray:
        """float64 evaluation (product form of the sign approximant)."""
        x = np.asarray(x, dtype=float)
        y = (x - float(self.theta)) / float(self.scale)
        return self._combine(x, self.zolotarev(y))

    def eval_mp(self, x: Any, dps: int | None = None) -> Any:
        """mpmath evaluation at ``dps`` digits (default: the approximant's)."""
        with mpmath.workdps(dps or self.zolotarev.dps):
            x = mpmath.mpf(x)
            y = (x - self.theta) / self.scale
            return +self._combine(x, self.zolotarev.eval_mp(y, dps or self.zolotarev.dps))


def _round_up(x: Any, dps: int) -> Any:
    """``x`` enlarged by a few units in its last retained digit (a safe upper bound)."""
    with mpmath.workdps(dps):
        return +(x * (1 + mpmath.mpf(10) ** (5 - dps)))


def _shift(p: Sequence[Any]) -> list[Any]:
    return [mpmath.mpf(0), *p]


def zolotarev_abs(delta: Any, r: int, dps: int = 50) -> ZolotarevGate:
    r""":math:`x R(x) \approx |x|` on [-1, 1], type :math:`(2r+2, 2r)`.

    Bound: on :math:`|x| \ge \delta`, :math:`||x| - xR(x)| = |x||\mathrm{sign}(x) - R(x)| \le E`;
    on :math:`0 \le x \le \delta`, :math:`R` is odd, positive and increasing with
    :math:`R(\delta) = 1 - E`, so :math:`0 \le x(1 - R(x)) \le \delta`.  Hence
    :math:`\| |x| - xR \|_{[-1,1]} \le \max(E, \delta)`.

    The bound is attained (up to a few per cent) when :math:`E \ge \delta`; when
    :math:`E < \delta` it is pessimistic (for ``delta = 1e-5, r = 39`` the certified error is
    2.9e-7, not 1e-5): use ``.certificate`` for the true value.
    """
    z = zolotarev(delta, r, dps)
    with mpmath.workdps(z.dps):
        bound = _round_up(max(z.error, mpmath.mpf(z.delta)), z.dps)
        return ZolotarevGate(
            "abs", Domain.interval(-1, 1), tuple(_shift(z.numerator)), z.denominator, bound,
            "max(E_r(delta), delta): |x||sign - R| <= E off the gap, 0 <= x(1 - R) <= delta in it",
            z, mpmath.mpf(0), mpmath.mpf(1),
        )


def zolotarev_relu(delta: Any, r: int, dps: int = 50) -> ZolotarevGate:
    r""":math:`(x + xR(x))/2 \approx \max(x, 0)` on [-1, 1], type :math:`(2r+2, 2r)`.

    ``relu = (x + |x|)/2``, so the error is half that of :func:`zolotarev_abs`:
    :math:`\max(E, \delta)/2`.
    """
    z = zolotarev(delta, r, dps)
    with mpmath.workdps(z.dps):
        num = [(a + b) / 2 for a, b in zip(_shift(z.denominator) + [mpmath.mpf(0)] * 1,
                                           _shift(z.numerator))]
        while len(num) > 1 and num[-1] == 0:
            num.pop()
        bound = _round_up(max(z.error, mpmath.mpf(z.delta)) / 2, z.dps)
        return ZolotarevGate(
            "relu", Domain.interval(-1, 1), tuple(num), z.denominator, bound,
            "max(E_r(delta), delta)/2 (half the |x| bound, relu = (x + |x|)/2)",
            z, mpmath.mpf(0), mpmath.mpf(1),
        )


def _mapped_delta(theta: Any, delta: Any) -> tuple[str, str, str, Any]:
    """theta, delta as decimals; the sign-domain gap ``delta / (1 + |theta|)`` rounded down."""
    th = str(theta).strip() if not isinstance(theta, (float, np.floating)) else repr(float(theta))
    ds = _delta_str(delta) if not isinstance(delta, str) else delta.strip()
    try:
        t_dec, d_dec = Decimal(th), Decimal(ds)
    except InvalidOperation as exc:
        raise InvalidInputError(f"`theta` and `delta` must be numbers, got {theta!r}, {delta!r}") from exc
    if not (t_dec.is_finite() and -1 < t_dec < 1):
        raise InvalidInputError(f"`theta` must lie in (-1, 1), got {theta!r}")
    if not (d_dec.is_finite() and d_dec > 0):
        raise InvalidInputError(f"`delta` must be positive, got {delta!r}")
    scale = 1 + abs(t_dec)
    if not (t_dec - d_dec > -1 or t_dec + d_dec < 1):
        raise InvalidInputError("the exclusion (theta - delta, theta + delta) covers [-1, 1]")
    # Rounding the gap *down* enlarges the sign domain, so the bound still holds.
    dhat = (d_dec / scale).normalize(Context(prec=25, rounding=ROUND_FLOOR))
    if not dhat < 1:
        raise InvalidInputError(f"`delta` = {delta} leaves no room in [-1, 1]")
    return th, ds, str(dhat), scale


def zolotarev_step(theta: Any, delta: Any, r: int, dps: int = 50) -> ZolotarevGate:
    r""":math:`(1 + R(y))/2 \approx H(x - \theta)`, :math:`y = (x - \theta)/(1 + |\theta|)`.

    Domain :math:`D = [-1, \theta - \delta] \cup [\theta + \delta, 1]`; type :math:`(2r+1, 2r)`.
    For :math:`x \in D`, :math:`|y| \le 1` and :math:`|y| \ge \delta/(1 + |\theta|) \ge \hat\delta`
    (:math:`\hat\delta` is that ratio rounded down to 25 digits), so :math:`y \in E_{\hat\delta}` and
    :math:`|H(x - \theta) - (1 + R(y))/2| = |\mathrm{sign}(y) - R(y)|/2 \le E_r(\hat\delta)/2`.
    """
    th, ds, dhat, scale = _mapped_delta(theta, delta)
    z = zolotarev(dhat, r, dps)
    with mpmath.workdps(z.dps):
        t, s = mpmath.mpf(th), mpmath.mpf(str(scale))
        nz = _compose_affine(z.numerator, -t / s, 1 / s)
        dz = _compose_affine(z.denominator, -t / s, 1 / s)
        num = [(a + (dz[k] if k < len(dz) else 0)) / 2 for k, a in enumerate(nz)]
        num, den = [v / dz[0] for v in num], [v / dz[0] for v in dz]
        bound = _round_up(z.error / 2, z.dps)
        return ZolotarevGate(
            f"step:{th}", Domain.interval(-1, 1).excluding(th, ds), tuple(num), tuple(den), bound,
            f"E_r({dhat})/2 with y = (x - theta)/{scale} mapping the domain into E_{dhat}",
            z, t, s,
        )


def zolotarev_jumprelu(theta: Any, delta: Any, r: int, dps: int = 50) -> ZolotarevGate:
    r""":math:`x(1 + R(y))/2 \approx x H(x - \theta)`, type :math:`(2r+2, 2r)`.

    Same domain and map as :func:`zolotarev_step`; the error is
    :math:`|x|\,|\mathrm{sign}(y) - R(y)|/2 \le E_r(\hat\delta)/2` since :math:`|x| \le 1`.
    """
    step = zolotarev_step(theta, delta, r, dps)
    z = step.zolotarev
    with mpmath.workdps(z.dps):
        th = step.name.split(":", 1)[1]
        return ZolotarevGate(
            f"jumprelu:{th}", step.domain, tuple(_shift(step.numerator)), step.denominator,
            step.bound, step.bound_note.replace("E_r", "|x| E_r", 1), z, step.theta, step.scale,
        )
