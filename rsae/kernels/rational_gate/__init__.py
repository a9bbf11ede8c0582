"""The rational (safe-Padé) gate: reference, autograd Function and dispatch.

Layout after fla's ``ops/<op>/``: :mod:`.naive` is the specification, :mod:`.function` the
autograd Function plus backend dispatch, ``triton.py`` / ``ops.py`` the GPU kernels (optional).
"""

from rsae.kernels.rational_gate.function import (
    BACKENDS,
    RationalGateFunction,
    rational_gate,
    resolve_backend,
)
from rsae.kernels.rational_gate.naive import (
    naive_rational_gate,
    naive_rational_gate_bwd,
    naive_rational_gate_fwd,
)

__all__ = [
    "BACKENDS",
    "RationalGateFunction",
    "naive_rational_gate",
    "naive_rational_gate_bwd",
    "naive_rational_gate_fwd",
    "rational_gate",
    "resolve_backend",
]
