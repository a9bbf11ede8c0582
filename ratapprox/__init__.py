"""ratapprox: certified best rational approximation.

Best (minimax) rational approximation by a relaxed Remez exchange in float64 and at any mpmath
precision (:func:`minimax`), Zolotarev's optimal approximants of ``sign`` in closed form
(:func:`zolotarev`), conversion to the pole-free safe-Padé form (:func:`to_safe_pade`), and a
certificate ``[error_lower, error_upper]`` for every error reported (:func:`certify`).

No torch dependency.  The command-line front end is ``ratapprox`` (see :mod:`ratapprox.cli`).
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .domains import Domain
from .errors import (
    CertificationError,
    ConvergenceError,
    InvalidInputError,
    PrecisionError,
    RatapproxError,
    TargetEvaluationError,
)
from .targets import Target, get_target

try:
    __version__: str = _metadata.version("ratapprox-rsae")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from .barycentric import BarycentricRational
from .certify import Certificate, certify
from .pade import SafePade, to_safe_pade
from .remez import MinimaxResult, minimax
from .zolotarev import ZolotarevResult, zolotarev

__all__ = [
    "BarycentricRational",
    "Certificate",
    "CertificationError",
    "ConvergenceError",
    "Domain",
    "InvalidInputError",
    "MinimaxResult",
    "PrecisionError",
    "RatapproxError",
    "SafePade",
    "Target",
    "TargetEvaluationError",
    "ZolotarevResult",
    "__version__",
    "certify",
    "get_target",
    "minimax",
    "to_safe_pade",
    "zolotarev",
]
