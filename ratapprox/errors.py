"""Exceptions raised by ratapprox.

Every failure that a user can provoke with bad input is a :class:`RatapproxError` (a
``ValueError``), so a caller can catch one type; the command-line front end turns it into one line
on stderr and exit status 2.  Numerical failures carry what was found before the failure, in the
spirit of mpmath's ``NoConvergence``: a minimax run that does not converge hands back its best
approximation and says why.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CertificationError",
    "ConvergenceError",
    "InvalidInputError",
    "PrecisionError",
    "RatapproxError",
    "TargetEvaluationError",
]


class RatapproxError(ValueError):
    """Base class of every error ratapprox raises on purpose."""


class InvalidInputError(RatapproxError):
    """An argument is out of range or malformed (degree, interval, delta, target name, ...)."""


class TargetEvaluationError(RatapproxError):
    """The target function returned NaN/Inf or could not be evaluated at a point of the domain."""


class ConvergenceError(RatapproxError):
    """The Remez exchange did not converge.

    Attributes
    ----------
    reason : str
        One of ``"defect"`` (degenerate approximation / fewer alternation points than m+n+2),
        ``"precision"`` (the working precision cannot resolve the levelled error),
        ``"iteration_limit"`` or ``"singular"`` (the linear algebra of the exchange broke down).
    best : Any
        The best result found (a :class:`ratapprox.remez.MinimaxResult` with ``converged=False``),
        or ``None`` if there was none.
    """

    def __init__(self, message: str, *, reason: str, best: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.best = best


class PrecisionError(ConvergenceError):
    """The requested accuracy is beyond the working precision (e.g. ``dps`` too small)."""

    def __init__(self, message: str, *, best: Any = None) -> None:
        super().__init__(message, reason="precision", best=best)


class CertificationError(RatapproxError):
    """An error bound could not be certified (the enclosure is too wide to decide)."""
