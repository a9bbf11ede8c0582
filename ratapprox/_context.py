"""Local working precision for mpmath, restored even on error.

Library code never sets ``mpmath.mp.dps`` for the caller: it raises precision inside a ``with``
block, as mpmath's own ``workdps``/``extraprec`` do (``ctx_mp.PrecisionManager``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import mpmath

__all__ = ["bits_for_dps", "workdps", "workprec"]


def bits_for_dps(dps: int) -> int:
    """Binary precision that holds ``dps`` decimal digits (mpmath's own rule)."""
    return mpmath.libmp.dps_to_prec(int(dps))


@contextlib.contextmanager
def workprec(bits: int) -> Iterator[None]:
    """Set the binary precision of ``mpmath.mp`` and ``mpmath.iv`` for the block, restore on exit."""
    old_mp, old_iv = mpmath.mp.prec, mpmath.iv.prec
    try:
        mpmath.mp.prec = int(bits)
        mpmath.iv.prec = int(bits)
        yield
    finally:
        mpmath.mp.prec, mpmath.iv.prec = old_mp, old_iv


@contextlib.contextmanager
def workdps(dps: int) -> Iterator[None]:
    """Set ``mpmath.mp.dps = dps`` (and ``mpmath.iv.dps``) for the block, restore on exit."""
    with workprec(bits_for_dps(dps)):
        yield
