"""Error-curve plots: ``f - r`` over the domain, the levelled error ``+-E`` and the alternation.

A best approximation of type (m, n) is characterised by equioscillation (Chebyshev's theorem;
Achieser 1956, Sec. 2.4): ``f - r`` attains ``+-E`` with alternating signs at no fewer than
``m + n + 2 - d`` points (``d`` the defect).  The picture shows exactly that: the error curve,
the two horizontal lines ``+-E``, and the alternation points marked on the curve.

For targets with a kink or a jump at 0 (relu, abs, sign, step:0) the alternation points of a
best approximation cluster exponentially near 0 (Newman 1964; Stahl 1993), so the x-axis is
symmetric-logarithmic there.  Where the error is far below double precision (mpmath fits), the
curve is evaluated in mpmath at the fit's precision and only the (small) result is rounded to
float64 for drawing.

matplotlib is imported lazily, with the non-interactive ``Agg`` backend, so that importing
``ratapprox`` never needs it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from ._context import workdps
from .domains import Domain
from .errors import InvalidInputError
from .targets import Target, get_target

__all__ = ["error_curve", "plot_error_curve", "plot_minimax", "plot_zolotarev"]

#: Points per plot (split over the intervals of the domain).
N_SAMPLES = 1500


def _sample(domain: Domain, extra: Sequence[float], breakpoints: Sequence[float], n: int) -> np.ndarray:
    """Dense sample of the domain: Chebyshev-like points, geometric points near break points."""
    if domain.is_discrete:
        return domain.points_float()
    xs = [domain.sample(n)]
    for c in breakpoints:
        for a, b in domain.intervals_float():
            # Geometric spacing towards c, where the best approximation's error clusters.
            if a <= c < b:
                xs.append(c + (b - c) * np.geomspace(1e-12, 1, n // 4))
            if a < c <= b:
                xs.append(c - (c - a) * np.geomspace(1e-12, 1, n // 4))
            if c < a:
                xs.append(a + (b - a) * np.geomspace(1e-12, 1, n // 8))
            if c > b:
                xs.append(b - (b - a) * np.geomspace(1e-12, 1, n // 8))
    xs.append(np.asarray(list(extra), dtype=float))
    x = np.unique(np.concatenate(xs))
    return x[domain.contains(x)]


def error_curve(
    f: Callable[[Any], Any],
    r: Callable[[Any], Any],
    x: np.ndarray,
    dps: int | None = None,
    f_float: Callable[[np.ndarray], np.ndarray] | None = None,
    r_float: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Values of ``f(x) - r(x)`` at the float64 points ``x``.

    With ``dps`` set, ``f`` and ``r`` are evaluated one point at a time in mpmath at ``dps``
    digits (the difference is rounded to float64 only at the end, so errors far below 1e-16
    are drawn correctly); otherwise the vectorised float64 versions are used.
    """
    if dps is None and f_float is not None and r_float is not None:
        return np.asarray(f_float(x), dtype=float) - np.asarray(r_float(x), dtype=float)
    with workdps(dps or 30):
        return np.array([float(f(mpmath.mpf(float(t))) - r(mpmath.mpf(float(t)))) for t in x])


def _axes_scale(ax: Any, breakpoints: Sequence[float], alternation: np.ndarray, domain: Domain) -> None:
    """Symmetric-log x-axis when the alternation points cluster at a break point at 0."""
    if not any(b == 0.0 for b in breakpoints) or alternation.size == 0:
        return
    lo, hi = float(domain.lower), float(domain.upper)
    span = max(abs(lo), abs(hi))
    # A reference point at (or rounding-close to) 0 itself says nothing about the clustering scale.
    nz = np.abs(alternation[np.abs(alternation) > 1e-9 * span])
    gap = min((abs(a) for iv in domain.intervals_float() for a in iv if a != 0), default=span)
    smallest = min(float(nz.min()) if nz.size else span, gap)
    if smallest < 0.05 * span:
        linthresh = smallest / 2
        ax.set_xscale("symlog", linthresh=linthresh, linscale=0.3)
        # Decade ticks outside the linear core only: labels inside it would overprint.
        k = np.arange(np.ceil(np.log10(2 * linthresh)), np.floor(np.log10(span)) + 1)
        decades = 10.0 ** k
        ax.set_xticks(np.concatenate([-decades[::-1], [0.0], decades]))


def plot_error_curve(
    target: Target | str,
    r_mp: Callable[[Any], Any],
    domain: Domain,
    error: Any,
    alternation_points: Sequence[Any],
    out: str | os.PathLike,
    *,
    title: str | None = None,
    dps: int | None = None,
    r_float: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Path:
    """Draw ``f - r`` on ``domain`` with ``+-error`` and the alternation points; write a PNG.

    Parameters
    ----------
    target : Target or str
        The approximated function ``f``.
    r_mp : callable
        ``r`` at one mpf (used when ``dps`` is set or ``r_float`` is missing).
    domain : Domain
    error : number
        The levelled error ``E`` (drawn as the lines ``+-E``).
    alternation_points : sequence
        Where ``f - r`` equioscillates.
    out : path
        PNG file; written atomically.
    dps : int, optional
        Evaluate in mpmath at this precision.
    r_float : callable, optional
        Vectorised float64 ``r``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = get_target(target)
    E = float(error)
    alt = np.array(sorted(float(p) for p in alternation_points))
    bps = [float(b) for b in t.breakpoints]
    x = _sample(domain, alt, bps, N_SAMPLES)
    if x.size == 0:
        raise InvalidInputError(f"nothing to plot: the domain {domain} has no sample point")
    e = error_curve(t.mp, r_mp, x, dps, t.f_float, r_float)
    e_alt = error_curve(t.mp, r_mp, alt, dps, t.f_float, r_float) if alt.size else alt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    # Break the line across the gaps of a union of intervals.
    segs = [(a, b) for a, b in domain.intervals_float()]
    for k, (a, b) in enumerate(segs):
        sel = (x >= a) & (x <= b)
        style = "." if domain.is_discrete else "-"
        ax.plot(x[sel], e[sel], style, color="C0", lw=1, ms=2, label="f - r" if k == 0 else None)
    ax.axhline(E, color="C3", ls="--", lw=0.8, label=f"±E, E = {E:.4g}")
    ax.axhline(-E, color="C3", ls="--", lw=0.8)
    if alt.size:
        ax.plot(alt, e_alt, "o", color="C1", ms=4, label=f"{alt.size} alternation points")
    _axes_scale(ax, bps, alt, domain)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x) - r(x)")
    ax.set_title(title or f"{t.name} on {domain}")
    ax.grid(alpha=0.3)
    # Below the axes: the curve reaches +-E everywhere, so any inside position hides a peak.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".png", dir=out.parent)
    os.close(fd)
    from .tables import _default_file_mode

    os.chmod(tmp, _default_file_mode())  # mkstemp creates 0600
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def plot_minimax(result: Any, out: str | os.PathLike) -> Path:
    """Error curve of a :class:`ratapprox.remez.MinimaxResult`."""
    rational = result.rational
    m, n = result.type
    mode = "float64" if result.dps is None else f"dps {result.dps}"
    return plot_error_curve(
        result.target, rational.eval_mp, result.domain, result.error, result.alternation_points, out,
        title=f"{result.target}, type ({m}, {n}) on {result.domain} [{mode}]",
        dps=result.dps, r_float=rational if result.dps is None else None,
    )


def _monomial_mp(num: Sequence[Any], den: Sequence[Any]) -> Callable[[Any], Any]:
    """``r(x) = sum num_k x^k / sum den_k x^k`` in mpmath (Horner, coefficients ascending)."""
    def r(x: Any) -> Any:
        return mpmath.polyval([mpmath.mpf(c) for c in num[::-1]], x) / mpmath.polyval(
            [mpmath.mpf(c) for c in den[::-1]], x
        )

    return r


def plot_zolotarev(result: Any, delta: Any, r: int, out: str | os.PathLike, dps: int = 50) -> Path:
    """Error curve of Zolotarev's type (2r+1, 2r) approximant of sign on [-1,-delta] U [delta,1]."""
    domain = Domain.sign_domain(delta)
    with workdps(dps):
        num = [mpmath.mpf(c) for c in result.numerator]
        den = [mpmath.mpf(c) for c in result.denominator]
    return plot_error_curve(
        "sign", _monomial_mp(num, den), domain, result.error,
        getattr(result, "alternation_points", None) or [], out,
        title=f"Zolotarev sign approximant, type ({2 * r + 1}, {2 * r}), delta = {delta}",
        dps=dps,
    )
