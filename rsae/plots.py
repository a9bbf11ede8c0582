"""Plots of an upgrade (matplotlib, imported lazily; files written atomically).

* :func:`plot_gates` -- teacher / RSAE-init / fine-tuned gate in normalised units
  ``t = h' / C_in`` with a histogram of the real pre-activations beneath;
* :func:`plot_frontier` -- MSE against L0 for the teacher, RSAE-init and RSAE (and any other
  labelled points, e.g. a sweep).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ._io import write_atomic

__all__ = ["gate_curve", "plot_frontier", "plot_gates"]


def gate_curve(gate: torch.nn.Module, u: np.ndarray) -> np.ndarray:
    """Evaluate a RationalGate on folded pre-activations ``u`` (float64)."""
    with torch.no_grad():
        h = torch.as_tensor(u, dtype=torch.float64)
        return gate(h).double().numpy()


def _save(fig: object, path: Path) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))


def plot_gates(
    path: str | os.PathLike,
    *,
    kappa: float,
    gates: Mapping[str, torch.nn.Module],
    pre_acts: np.ndarray,
    u_range: tuple[float, float] | None = None,
    title: str = "",
    teacher_gate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Path:
    """Teacher gate and each rational gate on folded units ``u``, with a histogram.

    The teacher is ``teacher_gate(u)`` when given (``GateFit.teacher_gate``: it knows the offset
    of the edge placement of a jump), else ``u H(u - kappa)``.

    ``pre_acts`` are folded pre-activations ``u = h / c_j`` (all latents pooled); the histogram
    (log counts) shows where the gate is actually used.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pre = np.asarray(pre_acts, dtype=float).ravel()
    lo, hi = u_range or (max(-1.5, float(np.quantile(pre, 0.001))), max(1.5, float(np.quantile(pre, 0.9999))))
    # Left: the whole range of the data; right: the design interval, where the jump lives.
    ranges = [(lo, hi), (-1.2, 1.5)]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex="col", gridspec_kw={"height_ratios": [3, 1]})
    for col, (a, b) in enumerate(ranges):
        ax, axh = axes[0, col], axes[1, col]
        u = np.linspace(a, b, 3001)
        if teacher_gate is not None:
            teacher, tlabel = np.asarray(teacher_gate(u), dtype=float), "teacher"
        else:
            teacher, tlabel = np.where(u > kappa, u, 0.0), f"teacher  u·H(u − {kappa:g})"
        ax.plot(u, teacher, "k-", lw=2.5, alpha=0.35, label=tlabel)
        for name, g in gates.items():
            ax.plot(u, gate_curve(g, u), lw=1.4, label=name)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title((title or "gate shapes") + ("" if col == 0 else " — design interval"), fontsize=10)
        sel = pre[(pre >= a) & (pre <= b)]
        axh.hist(sel, bins=200, color="tab:blue", alpha=0.7, log=True)
        axh.set_xlabel("folded pre-activation u = h / c_j")
    axes[0, 0].set_ylabel("gate output (folded units)")
    axes[1, 0].set_ylabel("count (log)")
    axes[0, 0].legend(fontsize=8)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_frontier(
    path: str | os.PathLike,
    points: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "MSE vs L0",
) -> Path:
    """``points[label] = [(l0, mse), ...]`` -> scatter/line per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    markers = iter("o^s*Dvx+")
    for label, pts in points.items():
        pts = sorted(pts)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, marker=next(markers, "o"), ls="-" if len(pts) > 1 else "", label=label, ms=8)
    ax.set_xlabel("L0 (mean exact non-zeros per token)")
    ax.set_ylabel("MSE (sum over dims, mean over tokens)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
