"""Least-squares fits with 95% confidence intervals, and the verdict rules built on them.

Every rate in the report is the slope of an ordinary least-squares line ``y = a + b x`` (or of a
pooled line with one intercept per group and a common slope).  The 95% interval is the classical
one, ``b +- t_{0.975, nu} * se(b)`` with ``nu`` the residual degrees of freedom (Student 1908;
any regression text, e.g. Draper & Smith, *Applied Regression Analysis*, 1998, ch. 1, 3).

Caveat stated once, here: the data are deterministic (certified errors, not noisy samples), so the
"noise" the interval measures is the misfit of the straight line -- the pre-asymptotic terms.  A
narrow interval that excludes the predicted rate therefore means "the pre-asymptotic curvature is
still visible over this range", and the report shows the local slopes as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["Fit", "linear_fit", "local_slopes", "pooled_slope_fit", "verdict_from_fit"]


@dataclass(frozen=True)
class Fit:
    """Result of a least-squares line fit.

    Attributes
    ----------
    slope, intercept : float
        Least-squares estimates (for a pooled fit, ``intercept`` is the mean of the group
        intercepts and ``intercepts`` lists them).
    slope_ci95 : (float, float)
        95% confidence interval of the slope (t-distribution, ``dof`` degrees of freedom).
    intercept_ci95 : (float, float)
    dof : int
        Residual degrees of freedom (``n - 2``, or ``n - groups - 1`` when pooled).
    n : int
        Number of points.
    r2 : float
        Coefficient of determination.
    max_abs_residual : float
    """

    slope: float
    intercept: float
    slope_ci95: tuple[float, float]
    intercept_ci95: tuple[float, float]
    dof: int
    n: int
    r2: float
    max_abs_residual: float
    intercepts: tuple[float, ...] = ()

    def to_json(self) -> dict:
        d = asdict(self)
        d["slope_ci95"] = list(self.slope_ci95)
        d["intercept_ci95"] = list(self.intercept_ci95)
        d["intercepts"] = list(self.intercepts)
        return d


def _check_xy(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise ValueError(f"`x` and `y` must be 1-d of equal length, got {xa.shape} and {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("`x` and `y` must be finite")
    return xa, ya


def linear_fit(x: Sequence[float], y: Sequence[float]) -> Fit:
    """Ordinary least-squares fit ``y = a + b x`` with 95% intervals for ``a`` and ``b``.

    Parameters
    ----------
    x, y : sequence of float
        At least 3 points (two parameters plus one residual degree of freedom), ``x`` not constant.

    Returns
    -------
    Fit

    Notes
    -----
    ``se(b)^2 = s^2 / sum (x_i - xbar)^2`` with ``s^2 = RSS / (n - 2)``; the interval is
    ``b +- t_{0.975, n-2} se(b)``.  With an exact fit (``RSS = 0``) the interval collapses to a
    point, which is what a deterministic, exactly-linear data set deserves.
    """
    xa, ya = _check_xy(x, y)
    n = xa.size
    if n < 3:
        raise ValueError(f"a line with a confidence interval needs at least 3 points, got {n}")
    xm, ym = xa.mean(), ya.mean()
    sxx = float(np.sum((xa - xm) ** 2))
    if sxx == 0.0:
        raise ValueError("`x` is constant: the slope is not identifiable")
    b = float(np.sum((xa - xm) * (ya - ym)) / sxx)
    a = float(ym - b * xm)
    res = ya - (a + b * xa)
    dof = n - 2
    s2 = float(np.sum(res**2)) / dof
    se_b = math.sqrt(s2 / sxx)
    se_a = math.sqrt(s2 * (1.0 / n + xm**2 / sxx))
    t = float(stats.t.ppf(0.975, dof))
    syy = float(np.sum((ya - ym) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / syy if syy > 0 else 1.0
    return Fit(b, a, (b - t * se_b, b + t * se_b), (a - t * se_a, a + t * se_a), dof, n, r2,
               float(np.max(np.abs(res))))


def pooled_slope_fit(groups: Sequence[tuple[Sequence[float], Sequence[float]]]) -> Fit:
    """Common slope, one intercept per group: ``y_gi = a_g + b x_gi`` (analysis of covariance).

    Used for Theorem 5, where each ``eta`` has its own constant ``C(eta)`` but the theorem
    predicts one exponent.  ``dof = n - G - 1`` for ``G`` groups.
    """
    xs, ys, gid = [], [], []
    for g, (x, y) in enumerate(groups):
        xa, ya = _check_xy(x, y)
        xs.append(xa)
        ys.append(ya)
        gid.append(np.full(xa.size, g))
    G = len(xs)
    if G == 0:
        raise ValueError("no groups to fit")
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    g = np.concatenate(gid)
    n = x.size
    dof = n - G - 1
    if dof < 1:
        raise ValueError(f"pooled fit needs more points than groups + 1 ({n} points, {G} groups)")
    A = np.zeros((n, G + 1))
    A[np.arange(n), g] = 1.0
    A[:, G] = x
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    s2 = float(np.sum(res**2)) / dof
    cov = s2 * np.linalg.inv(A.T @ A)
    t = float(stats.t.ppf(0.975, dof))
    b = float(coef[G])
    se_b = math.sqrt(max(cov[G, G], 0.0))
    a = float(np.mean(coef[:G]))
    se_a = math.sqrt(max(float(np.mean(np.diag(cov)[:G])), 0.0))
    syy = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / syy if syy > 0 else 1.0
    return Fit(b, a, (b - t * se_b, b + t * se_b), (a - t * se_a, a + t * se_a), dof, n, r2,
               float(np.max(np.abs(res))), tuple(float(c) for c in coef[:G]))


def local_slopes(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """Slopes of consecutive chords ``(y_{i+1} - y_i) / (x_{i+1} - x_i)``: the pre-asymptotic drift."""
    xa, ya = _check_xy(x, y)
    return [float((ya[i + 1] - ya[i]) / (xa[i + 1] - xa[i])) for i in range(xa.size - 1)]


def verdict_from_fit(predicted: float, fit: Fit, *, rel_tol: float | None = None,
                     require_ci: bool = False) -> tuple[str, str]:
    """Computed verdict for a fitted rate against a predicted one.

    Rules (the reason string states which one decided):

    * ``"consistent"`` -- the prediction lies in the 95% interval, or (when ``rel_tol`` is given
      and ``require_ci`` is false) ``|fitted / predicted - 1| <= rel_tol``;
    * ``"inconsistent"`` -- otherwise.

    Returns
    -------
    (verdict, reason)
    """
    lo, hi = fit.slope_ci95
    in_ci = lo <= predicted <= hi
    rel = abs(fit.slope / predicted - 1.0) if predicted != 0 else abs(fit.slope)
    if in_ci:
        return "consistent", f"predicted {predicted:.6g} lies in the 95% CI [{lo:.6g}, {hi:.6g}]"
    if rel_tol is not None and not require_ci and rel <= rel_tol:
        return "consistent", (f"fitted {fit.slope:.6g} within {100 * rel_tol:g}% of predicted "
                              f"{predicted:.6g} "
                              f"(relative deviation {100 * rel:.3g}%); CI [{lo:.6g}, {hi:.6g}] excludes it")
    tail = f"; relative deviation {100 * rel:.3g}% > {100 * rel_tol:g}%" if rel_tol is not None else ""
    return "inconsistent", f"predicted {predicted:.6g} outside the 95% CI [{lo:.6g}, {hi:.6g}]{tail}"
