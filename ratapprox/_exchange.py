"""The record one Remez exchange run hands back to :func:`ratapprox.minimax`.

Both engines -- the float64 barycentric engine (``remez_float.py``) and the arbitrary-precision
engine (``remez_mp.py``) -- return a :class:`ExchangeRun`; ``minimax`` turns it into the public
``MinimaxResult`` (certificate, monomial coefficients, timing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExchangeRun"]


@dataclass
class ExchangeRun:
    """Outcome of one exchange run (converged or not).

    Attributes
    ----------
    rational : BarycentricRational
        The last (best) trial rational.
    levelled_error : float or mpf
        |h| of the last levelled-error solve.
    max_error : float or mpf
        max |f - r| found by the extremum search (an estimate; certification comes later).
    reference : list
        The final alternation set (m + n + 2 - defect points), ascending.
    iterations : int
    history : list of dict
        One dict per iteration: ``{"iteration", "levelled_error", "max_error", "ratio"}``
        (ratio = max_error / levelled_error, which tends to 1).
    converged : bool
    defect : int
        Degree defect detected (0 for a non-degenerate best approximation).
    reason : str
        ``"converged"``, ``"defect"``, ``"precision"``, ``"iteration_limit"`` or ``"singular"``.
    dps : int or None
        Working precision used (None for float64).
    """

    rational: Any
    levelled_error: Any
    max_error: Any
    reference: list
    iterations: int
    history: list = field(default_factory=list)
    converged: bool = False
    defect: int = 0
    reason: str = "converged"
    dps: int | None = None
