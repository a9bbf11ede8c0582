"""Target functions by name, each in three arithmetics: float64, mpmath, interval.

=================  ============================  ==============================
name               f(x)                          notes
=================  ============================  ==============================
``relu``           max(x, 0)                     kink at 0
``abs``            |x|                           kink at 0 (Newman 1964; Stahl 1993)
``sign``           sign(x), sign(0) = 0          jump at 0: use a gapped domain
``exp``            exp(x)                        analytic
``step:THETA``     H(x - theta), H(0) = 1/2      jump at theta
``jumprelu:THETA`` x H(x - theta)                jump at theta (for theta != 0)
=================  ============================  ==============================

All three SAE gates are ``h (sign(h - c) + 1) / 2`` (ReLU: c = 0; JumpReLU: c = theta_j; TopK
with a supplied threshold: c = tau_k), hence the choice of H(0) = 1/2 and sign(0) = 0.

A :class:`Target` carries a float64 vectorised evaluation, an mpmath evaluation, and, for named
targets, a rigorous interval enclosure ``f_iv`` (mpmath ``iv``) used by :mod:`ratapprox.certify`.
An arbitrary Python callable gets ``f_iv = None``: its errors can only be *estimated* by dense
sampling, never certified, and results say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import mpmath
import numpy as np

from .errors import InvalidInputError, TargetEvaluationError

__all__ = ["TARGET_NAMES", "Target", "get_target"]

TARGET_NAMES = ("relu", "abs", "sign", "exp", "step:THETA", "jumprelu:THETA")


@dataclass(frozen=True)
class Target:
    """A function to approximate.

    Attributes
    ----------
    name : str
        Canonical name (``"relu"``, ``"step:0.3"``, or ``"callable:<qualname>"``).
    f_float : callable
        Vectorised float64 evaluation, ``np.ndarray -> np.ndarray``.
    f_mp : callable
        Evaluation at one ``mpf`` at the current mpmath precision.
    f_iv : callable or None
        Rigorous enclosure of the range over an ``mpmath.iv.mpf`` interval, or ``None``.
    breakpoints : tuple of str
        Points (exact decimals) where ``f`` is not smooth; the error curve may peak there.
    jumps : tuple of str
        Points where ``f`` is discontinuous.  Uniform rational approximation cannot converge on a
        domain containing a jump in its interior: exclude a neighbourhood (``--gap``).
    parity : {"even", "odd", None}
        Symmetry about 0, when there is one.
    df_iv : callable or None
        Rigorous enclosure of the (generalised, Clarke) derivative of ``f`` over an
        ``mpmath.iv.mpf`` interval ``X``, or ``None`` when unknown.  It returns ``None`` for an
        ``X`` on which ``f`` is not Lipschitz (``X`` meets a jump).  With it,
        :mod:`ratapprox.certify` uses the mean-value form
        :math:`e(X) \\subseteq e(c) + e'(X)(X - c)`, whose overestimation is :math:`O(|X|^2)`
        near an extremum instead of :math:`O(|X|)`.
    d2f_iv : callable or None
        Rigorous enclosure of ``f''`` over ``X``, or ``None`` (unknown, or ``X`` meets a
        breakpoint where ``f'`` is not continuous).  With it, certify uses the second-order form
        :math:`e(c) + e'(c)(X - c) + e''(X)(X - c)^2/2`.
    taylor_iv : callable or None
        ``taylor_iv(X, K)``: enclosures of the normalised Taylor coefficients
        :math:`f^{(k)}(\\xi)/k!`, valid for every :math:`\\xi \\in X`, ``k = 0..K`` (a list of
        ``K + 1`` ``mpmath.iv.mpf``), or ``None`` on an ``X`` where ``f`` is not analytic (it
        meets a breakpoint).  With it, certify uses Taylor models of order ``K`` (Makino & Berz
        2003): :math:`e(c + t) \\in \\sum_{k \\le K} e_k(c) t^k + e_{K+1}(X) T^{K+1}`.
    """

    name: str
    f_float: Callable[[np.ndarray], np.ndarray]
    f_mp: Callable[[Any], Any]
    f_iv: Callable[[Any], Any] | None = None
    breakpoints: tuple[str, ...] = ()
    jumps: tuple[str, ...] = ()
    parity: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    df_iv: Callable[[Any], Any] | None = None
    d2f_iv: Callable[[Any], Any] | None = None
    taylor_iv: Callable[[Any, int], list[Any] | None] | None = None

    @property
    def certifiable(self) -> bool:
        """Whether a rigorous interval enclosure exists (named targets)."""
        return self.f_iv is not None

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """float64 values; raises :class:`TargetEvaluationError` on NaN/Inf."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(self.f_float(x), dtype=float)
        if y.shape != x.shape:
            y = np.broadcast_to(y, x.shape).astype(float)
        if not np.all(np.isfinite(y)):
            bad = float(x[~np.isfinite(y)].ravel()[0])  # a plain float in the message
            raise TargetEvaluationError(f"target `{self.name}` returned a non-finite value at x = {bad!r}")
        return y

    def mp(self, x: Any) -> mpmath.mpf:
        """mpmath value at the current precision; raises on NaN/Inf."""
        y = self.f_mp(mpmath.mpf(x))
        try:
            y = mpmath.mpf(y)
        except (TypeError, ValueError) as exc:
            raise TargetEvaluationError(f"target `{self.name}` returned a non-real value at x = {x}") from exc
        if not mpmath.isfinite(y):
            raise TargetEvaluationError(f"target `{self.name}` returned a non-finite value at x = {x}")
        return y


# --------------------------------------------------------------------------- interval helpers
def _iv_relu(x: Any) -> Any:
    a, b = x.a, x.b
    lo = a if a > 0 else mpmath.iv.mpf(0)
    hi = b if b > 0 else mpmath.iv.mpf(0)
    return mpmath.iv.mpf([lo.a, hi.b])


def _iv_abs(x: Any) -> Any:
    a, b = x.a, x.b
    if a >= 0:
        return x
    if b <= 0:
        return -x
    m = max(-a, b)
    return mpmath.iv.mpf([0, m.b])


def _iv_step(theta: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        # An enclosure of the exact decimal theta at the *current* iv precision: one made once at
        # 53 bits would leave a 1e-17-wide band in which no box could ever decide the branch.
        th = mpmath.iv.mpf(theta)
        if x.a > th.b:
            return mpmath.iv.mpf(1)
        if x.b < th.a:
            return mpmath.iv.mpf(0)
        return mpmath.iv.mpf([0, 1])

    return f


def _iv_jumprelu(theta: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        th = mpmath.iv.mpf(theta)  # at the current precision (see _iv_step)
        if x.a > th.b:
            return x
        if x.b < th.a:
            return mpmath.iv.mpf(0)
        # The interval straddles the jump: f takes 0 and values of x (and theta/2 at theta).
        lo = min(x.a, mpmath.iv.mpf(0).a)
        hi = max(x.b, mpmath.iv.mpf(0).b)
        return mpmath.iv.mpf([lo.a if hasattr(lo, "a") else lo, hi.b if hasattr(hi, "b") else hi])

    return f


def _iv_sign(x: Any) -> Any:
    if x.a > 0:
        return mpmath.iv.mpf(1)
    if x.b < 0:
        return mpmath.iv.mpf(-1)
    return mpmath.iv.mpf([-1, 1])


def _d_relu(x: Any) -> Any:
    if x.a > 0:
        return mpmath.iv.mpf(1)
    if x.b < 0:
        return mpmath.iv.mpf(0)
    return mpmath.iv.mpf([0, 1])


def _d_abs(x: Any) -> Any:
    if x.a > 0:
        return mpmath.iv.mpf(1)
    if x.b < 0:
        return mpmath.iv.mpf(-1)
    return mpmath.iv.mpf([-1, 1])


def _d_jump(theta: str, slope_right: int) -> Callable[[Any], Any]:
    """Derivative of a function that is 0 left of theta, slope ``slope_right`` right of it, and
    jumps at theta (step; jumprelu with theta != 0): no enclosure on an X that meets theta."""

    def f(x: Any) -> Any:
        th = mpmath.iv.mpf(theta)  # at the current precision (see _iv_step)
        if x.a > th.b:
            return mpmath.iv.mpf(slope_right)
        if x.b < th.a:
            return mpmath.iv.mpf(0)
        return None

    return f


def _d2_piecewise_linear(points: tuple[str, ...]) -> Callable[[Any], Any]:
    """f'' of a function that is linear between ``points``: 0 on an X that meets none of them."""

    def f(x: Any) -> Any:
        for p in points:
            th = mpmath.iv.mpf(p)
            if not (x.a > th.b or x.b < th.a):
                return None
        return mpmath.iv.mpf(0)

    return f


def _taylor_exp(x: Any, K: int) -> list[Any]:
    """exp^(k)(X)/k! = exp(X)/k! (the enclosure of exp(X) divided by the exact integer k!)."""
    ex = mpmath.iv.exp(x)
    out, fact = [], 1
    for k in range(K + 1):
        fact *= max(k, 1)
        out.append(ex / fact)
    return out


def _taylor_piecewise_linear(
    f_iv: Callable[[Any], Any], df_iv: Callable[[Any], Any], points: tuple[str, ...]
) -> Callable[[Any, int], list[Any] | None]:
    """Taylor coefficients ``[f(X), f'(X), 0, ..., 0]`` of a function linear between ``points``;
    ``None`` on an X that meets one of them (there ``f`` is not analytic)."""
    d2f_iv = _d2_piecewise_linear(points)  # 0, or None on an X that meets a point

    def f(x: Any, K: int) -> list[Any] | None:
        zero = d2f_iv(x)
        if zero is None:
            return None
        d = df_iv(x)
        if d is None:
            return None
        return [f_iv(x), d, *([zero] * max(K - 1, 0))][: K + 1]

    return f


# --------------------------------------------------------------------------- float/mp helpers
def _step_float(theta: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.where(x > theta, 1.0, np.where(x < theta, 0.0, 0.5))


def _step_mp(theta: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        th = mpmath.mpf(theta)
        return mpmath.mpf(1) if x > th else (mpmath.mpf(0) if x < th else mpmath.mpf(1) / 2)

    return f


def _parse_theta(spec: str, name: str) -> str:
    try:
        d = Decimal(spec)
    except InvalidOperation as exc:
        raise InvalidInputError(f"`{name}:THETA` needs a number after the colon, got {spec!r}") from exc
    if not d.is_finite():
        raise InvalidInputError(f"threshold must be finite, got {spec!r}")
    return spec


def _named(name: str) -> Target:
    if name == "relu":
        return Target(
            "relu",
            lambda x: np.maximum(x, 0.0),
            lambda x: x if x > 0 else mpmath.mpf(0),
            _iv_relu,
            breakpoints=("0",),
            df_iv=_d_relu,
            d2f_iv=_d2_piecewise_linear(("0",)),
            taylor_iv=_taylor_piecewise_linear(_iv_relu, _d_relu, ("0",)),
        )
    if name == "abs":
        return Target(
            "abs", np.abs, mpmath.fabs, _iv_abs, breakpoints=("0",), parity="even", df_iv=_d_abs,
            d2f_iv=_d2_piecewise_linear(("0",)),
            taylor_iv=_taylor_piecewise_linear(_iv_abs, _d_abs, ("0",)),
        )
    if name == "sign":
        return Target(
            "sign", np.sign, mpmath.sign, _iv_sign, breakpoints=("0",), jumps=("0",), parity="odd",
            df_iv=_d_jump("0", 0), d2f_iv=_d2_piecewise_linear(("0",)),
            taylor_iv=_taylor_piecewise_linear(_iv_sign, _d_jump("0", 0), ("0",)),
        )
    if name == "exp":
        return Target(
            "exp", np.exp, mpmath.exp, mpmath.iv.exp, df_iv=mpmath.iv.exp, d2f_iv=mpmath.iv.exp,
            taylor_iv=_taylor_exp,
        )
    if ":" in name:
        kind, _, spec = name.partition(":")
        if kind in ("step", "jumprelu"):
            theta = _parse_theta(spec, kind)
            tf = float(theta)
            if kind == "step":
                return Target(
                    name, _step_float(tf), _step_mp(theta), _iv_step(theta),
                    breakpoints=(theta,), jumps=(theta,), params={"theta": theta},
                    df_iv=_d_jump(theta, 0), d2f_iv=_d2_piecewise_linear((theta,)),
                    taylor_iv=_taylor_piecewise_linear(_iv_step(theta), _d_jump(theta, 0), (theta,)),
                )
            hs, hm = _step_float(tf), _step_mp(theta)
            djr = _d_relu if Decimal(theta) == 0 else _d_jump(theta, 1)
            return Target(
                name, lambda x: x * hs(x), lambda x: x * hm(x), _iv_jumprelu(theta),
                breakpoints=(theta,), jumps=(theta,) if Decimal(theta) != 0 else (),
                params={"theta": theta},
                df_iv=djr,
                d2f_iv=_d2_piecewise_linear((theta,)),
                taylor_iv=_taylor_piecewise_linear(_iv_jumprelu(theta), djr, (theta,)),
            )
    raise InvalidInputError(f"unknown target `{name}`; known: {', '.join(TARGET_NAMES)} or a Python callable")


def get_target(spec: str | Target | Callable[[Any], Any]) -> Target:
    """Resolve a target name, a :class:`Target`, or a Python callable.

    A callable must accept a Python float and an ``mpf`` and return a real number.  Its float64
    evaluation is vectorised with :func:`numpy.vectorize`; it has no interval enclosure, so its
    errors are estimates (``Certificate.rigorous = False``).
    """
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, str):
        return _named(spec.strip().lower())
    if callable(spec):
        fv = np.vectorize(lambda t: float(spec(float(t))), otypes=[float])
        qual = getattr(spec, "__qualname__", type(spec).__name__)
        return Target(f"callable:{qual}", fv, spec, None)
    raise InvalidInputError(f"a target is a name or a callable, got {type(spec).__name__}")
