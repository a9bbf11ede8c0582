"""Golden-section maximisation in mpmath for the tests' independent error maxima.

Kept apart from ``ratapprox.extrema`` on purpose: a certificate is checked against a maximum that
the library's own search did not produce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath


def golden_max(g: Callable[[Any], Any], a: Any, b: Any, steps: int = 90) -> Any:
    """max of g on [a, b] by golden-section search (g unimodal there), at the current mp dps."""
    c = (mpmath.sqrt(5) - 1) / 2
    x1, x2 = b - c * (b - a), a + c * (b - a)
    g1, g2 = g(x1), g(x2)
    for _ in range(steps):
        if g1 < g2:
            a, x1, g1 = x1, x2, g2
            x2 = a + c * (b - a)
            g2 = g(x2)
        else:
            b, x2, g2 = x2, x1, g1
            x1 = b - c * (b - a)
            g1 = g(x1)
    return max(g1, g2, g(a), g(b))
