"""Initialise a Rational SAE from a ReLU / JumpReLU / TopK teacher (the paper's step 1).

The steps, each a named function:

1. **Normalised gate.**  All three teacher gates are ``h (sign(h - c) + 1) / 2``.  After
   per-latent scaling (step 3) every latent sees one normalised gate ``u H(u - kappa)`` (ReLU:
   ``kappa = 0``).  Two placements of the jump (``upgrade_init(jump=...)``):

   * ``"edge"`` (default for JumpReLU/TopK, :func:`edge_gate`): a shared offset
     ``beta = -(1 + kappa)`` folded into ``b_enc`` moves every threshold to ``t = -1``, where the
     gate is exactly 0 below by its specification; above it the teacher is the line
     ``t + 1 + kappa``, which the safe-Padé form represents exactly.  RSAE-init then *is* the
     (thresholded) teacher; no fit and no calibration.
   * ``"interior"`` (the paper's recipe, :func:`fit_normalised_gate`): :func:`ratapprox.minimax`
     (relaxed Remez exchange) on the paper's 4001-point grid on ``[-1, 1]``, with the
     neighbourhood ``(kappa, kappa + 2 delta)`` of the jump excluded (a rational cannot be
     uniformly close to a discontinuous function), converted with
     :func:`ratapprox.pade.to_safe_pade` to ``P(t) / (1 + |B(t)|)``.  Within 1.5-3.3% of the
     study's JumpReLU teachers in MSE: the excluded band holds up to 19% of the active elements.
2. **Exact sparsity** (interior; :func:`enforce_zero_region`, :func:`_constrained_numerator`).  The
   gate rectifies, ``z = C_out max(g, 0)``, and the sign of ``r = P/Q`` is the sign of ``P``
   (``Q >= 1``): the numerator is refitted under ``P <= 0`` on ``[-1, kappa]`` (a linear programme)
   and ``a_0`` lowered by whatever ``P > 0`` remains on a fine grid, so the RSAE never fires where
   the teacher does not.
3. **Weights and per-latent scales** (:func:`latent_scales`, :func:`fold_scales`).  JumpReLU is
   jointly homogeneous, ``h H(h - theta) = c (h/c) H(h/c - theta/c)``; with ``c_j = theta_j /
   kappa`` latent ``j`` sees ``u H(u - kappa)``.  ``1/c_j`` is folded into column ``j`` of
   ``W_enc`` and ``b_enc``, ``c_j`` into row ``j`` of ``W_dec``; nothing per-latent is added to the
   model.  ReLU is homogeneous for any ``c_j > 0``: we take a high quantile (default 0.99) of each
   latent's positive pre-activations, so every latent's active range maps onto ``[0, 1]``.  TopK,
   by default (``topk_thresholds="per_token"``): the RSAE keeps the teacher's per-token top-``k``
   selection (a TopK Rational SAE, ``z = TopK_k(phi(h))``; the paper's supplied threshold
   ``tau_k`` is then the per-token one, supplied by the selection) with the exact ReLU line gate
   (:func:`line_gate`) and *one* scale ``c`` for all latents (per-latent scales would change the
   per-token ranking): the 0.99 quantile of the teacher's non-zero codes; the init is the
   teacher up to float rounding.  The element-wise alternatives replace the selection by a
   threshold gate with thresholds ``tau_j`` and ``c_j = tau_j / kappa``: per latent, chosen to
   minimise the calibration reconstruction error at the teacher's L0
   (:func:`topk_latent_thresholds`, ``"per_latent"``), or one global ``tau_k``
   (:func:`estimate_topk_threshold`, ``"global"``); they hold the teacher's L0, not its MSE.
4. **Calibration** (interior; :func:`calibrate_gate`): Adam on ``(a, b, log C_in, log C_out)``
   minimising ``E |phi_rsae(h) - phi_teacher(h)|^2`` over the teacher's real (folded)
   pre-activations, with the projection of step 2 after every step so that exact sparsity is kept
   throughout.
5. **Decoder refit** (option ``refit_decoder``, off by default; :func:`refit_decoder_ridge`): ridge
   least squares of ``W_dec`` for the RSAE's codes on the calibration tokens.

Treatments of special latents (counted in :class:`UpgradeReport`):

* JumpReLU ``theta_j <= 0`` (the teacher then passes negative values through, which a rectified
  gate cannot): the threshold is raised to ``theta_floor = 0.01 * median(theta > 0)``.
* ReLU latents with no positive pre-activation on the calibration tokens (dead): ``c_j`` = median
  of the other latents' scales.
* TopK with ``rescale_acts_by_decoder_norm`` (SAELens): the decoder norms are folded into the
  linear maps before everything else, so the RSAE itself does not rescale.

References
----------
Molina, Schramowski & Kersting (2020), Padé activation units.  Rajamanoharan et al. (2024),
JumpReLU SAEs.  Gao et al. (2024), Scaling and evaluating sparse autoencoders (TopK).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._io import write_text_atomic

__all__ = [
    "DEFAULT_TYPES",
    "TEACHER_FAMILIES",
    "GateFit",
    "UpgradeReport",
    "calibrate_gate",
    "edge_gate",
    "effective_weights",
    "enforce_zero_region",
    "estimate_topk_threshold",
    "fit_normalised_gate",
    "fold_scales",
    "latent_scales",
    "line_gate",
    "normalised_teacher_gate",
    "refit_decoder_ridge",
    "topk_latent_thresholds",
    "upgrade_init",
]

#: Rational types of the paper's init: (3, 2) for ReLU, (9, 8) for the discontinuous gates (the
#: per-token TopK RSAE's gate is the ReLU line: (3, 2), :func:`line_gate`).
DEFAULT_TYPES = {"relu": (3, 2), "jumprelu": (9, 8), "topk": (9, 8)}
#: Normalised threshold: where the jump sits in t-space.  0.5 keeps the relative width of the
#: excluded neighbourhood (delta / kappa) small while leaving [kappa, 1] for the linear part.
DEFAULT_KAPPA = 0.5
DEFAULT_DELTA = 0.02


# --------------------------------------------------------------------------- step 1 + 2
@dataclass
class GateFit:
    """A fitted normalised gate ``r(t) = P(t) / (1 + |B(t)|)`` and how it was obtained."""

    family: str
    kappa: float
    delta: float
    type: tuple[int, int]
    grid_n: int
    a: list[float]
    b: list[float]
    remez_error: float  # minimax error of P/Q on its domain (ratapprox)
    safe_pade_exact: bool
    safe_pade_max_deviation: float
    error_safe_pade: float  # max |r - gate| on the fitted points, safe-Padé form of the Remez fit
    shift: float  # amount subtracted from a_0 for exact zeros
    error_before_shift: float  # max |max(r, 0) - gate| on the fitted points, before the shift
    error_after_shift: float  # ... after it: the uniform error of the gate actually used
    seconds: float
    method: str = "remez"
    notes: list[str] = field(default_factory=list)
    #: ``beta``: the fold adds it to every normalised pre-activation (``jump="edge"``, else 0), so
    #: the teacher's gate in the RSAE's units ``t`` is ``(t - beta) H(t - kappa - beta)``.
    offset: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def teacher_gate(self, t: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """The teacher's normalised gate in the RSAE's gate units (``C_in = 1``)."""
        if isinstance(t, Tensor):
            return torch.where(t > self.kappa + self.offset, t - self.offset, torch.zeros_like(t))
        return np.where(t > self.kappa + self.offset, t - self.offset, 0.0)


def edge_gate(family: str, kappa: float = DEFAULT_KAPPA, type: tuple[int, int] | None = None) -> GateFit:
    r"""The exact gate of the *edge* placement of the jump (``jump="edge"`` of :func:`upgrade_init`).

    With the per-latent scale ``c_j`` folded in, latent ``j`` of a JumpReLU (or thresholded TopK)
    teacher sees ``u H(u - kappa)``.  Adding the shared offset ``beta = -(1 + kappa)`` to every
    folded pre-activation (folded into ``b_enc``: ``t = u + beta``) moves the jump to ``t = -1``,
    the edge of the design interval, below which the gate is exactly 0 by its specification
    (:mod:`rsae.kernels.rational_gate.naive`).  Above the edge the teacher is the straight line
    ``t - beta = t + 1 + kappa``, which a safe-Padé rational represents *exactly*:

    .. math::  r(t) = \frac{(t + 1 + \kappa)(1 + \varepsilon t^2)}{1 + |\varepsilon t^2|}
               = t + 1 + \kappa \quad (t \in [-1, 1]),

    and the continuation ``r(1) + (t - 1)`` above ``t = 1`` is the same line.  So
    ``C_out max(g(t), 0)`` equals the teacher's gate for every input (up to float rounding), and no
    Remez fit, exact-zero shift or calibration is needed.  ``B = eps t^2 >= 0`` (``eps = 1``)
    instead of ``B = 0`` keeps the denominator trainable: with ``B = 0`` everywhere the kink
    convention ``sign(0) = 0`` gives ``b`` a zero gradient for ever.  Needs ``p >= 3, q >= 2``
    (smaller types get ``B = 0`` and ``P = 1 + kappa + t``, ``p >= 1``).

    The price, stated: the teacher's zero region maps to ``t < -1``, where the gate and its
    gradient are 0 (as for a JumpReLU without a straight-through estimator); through the gate's
    shape a fine-tune can raise thresholds (``r <= 0`` on ``[-1, s]``), lower them only all together
    (a larger ``C_in``) or by moving a latent's pre-activations (``W_enc``, ``b_enc``).
    """
    family = family.lower()
    if family not in ("jumprelu", "topk"):
        raise ValueError(f"the edge placement is for jump gates (jumprelu, topk), got {family!r}")
    if not kappa > 0:
        raise ValueError(f"`kappa` must be > 0, got {kappa}")
    return _line_gate(
        family, type or DEFAULT_TYPES[family], 1.0 + kappa, kappa=float(kappa), offset=-(1.0 + float(kappa)),
        method="edge-exact", note="jump at the edge t = -1 of the design interval; r(t) = t + 1 + kappa",
    )


def line_gate(type: tuple[int, int] | None = None) -> GateFit:
    r"""The exact ReLU gate ``max(r(t), 0)`` with ``r(t) = t`` (``topk_thresholds="per_token"``).

    .. math::  r(t) = \frac{t (1 + \varepsilon t^2)}{1 + |\varepsilon t^2|} = t \quad (t \in [-1, 1]),

    continued with slope 1 above ``t = 1`` and 0 below ``t = -1`` (:func:`edge_gate` with
    ``c = 0``): ``C_out max(g(t), 0) = max(t, 0)`` for every input, up to float rounding.  A
    TopK Rational SAE (``RationalSAE`` with ``cfg.k``) with this gate and the teacher's weights
    (one global scale folded in, so the per-token ranking is unchanged) *is* the TopK teacher:
    SAELens' ``TopK`` is ``relu(topk(h))``, and ``topk(relu(h))`` has the same values.  Default
    type ``(3, 2)`` (the ReLU type); needs ``p >= 1``.
    """
    return _line_gate("topk", type or DEFAULT_TYPES["relu"], 0.0, kappa=0.0, offset=0.0, method="line-exact",
                      note="ReLU line r(t) = t; the TopK selection is applied after the gate")


def _line_gate(family: str, type: tuple[int, int], c: float, *, kappa: float, offset: float, method: str,
               note: str) -> GateFit:
    """``r(t) = (c + t)(1 + eps t^2) / (1 + |eps t^2|) = c + t`` as a :class:`GateFit` (:func:`edge_gate`)."""
    p, q = type
    if p < 1:
        raise ValueError(f"an exact line gate needs a numerator of degree >= 1, got type ({p}, {q})")
    a, b = np.zeros(p + 1), np.zeros(q)
    if p >= 3 and q >= 2:
        eps = 1.0
        a[:4] = [c, 1.0, eps * c, eps]  # (c + t)(1 + eps t^2)
        b[1] = eps
    else:
        a[:2] = [c, 1.0]
    return GateFit(
        family=family, kappa=kappa, delta=0.0, type=(int(p), int(q)), grid_n=0, a=a.tolist(),
        b=b.tolist(), remez_error=0.0, safe_pade_exact=True, safe_pade_max_deviation=0.0,
        error_safe_pade=0.0, shift=0.0, error_before_shift=0.0, error_after_shift=0.0, seconds=0.0,
        method=method, notes=[note], offset=offset,
    )


def normalised_teacher_gate(t: np.ndarray | Tensor, kappa: float) -> np.ndarray | Tensor:
    """``t H(t - kappa)`` with ``H(0) = 0`` (the teacher is 0 at its threshold, SAELens' ``>``)."""
    if isinstance(t, Tensor):
        return torch.where(t > kappa, t, torch.zeros_like(t))
    return np.where(t > kappa, t, 0.0)


def _P_np(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.polynomial.polynomial.polyval(t, a)


def _r_np(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    B = np.polynomial.polynomial.polyval(t, np.concatenate([[0.0], b]))
    return _P_np(a, t) / (1.0 + np.abs(B))


def enforce_zero_region(a: np.ndarray | Tensor, lo: float, hi: float, n: int = 20001) -> float:
    """Lower ``a_0`` in place so that ``P(t) <= 0`` on ``[lo, hi]`` (grid of ``n`` points + ends).

    Returns the shift applied (>= 0).  ``P <= 0`` there means ``r = P / Q <= 0``, hence exact zeros
    after the rectifier.  The check is on a grid: between grid points ``P`` can exceed 0 by at most
    ``max|P'| * h / 2`` (``h`` the spacing), which :func:`calibrate_gate` reports as measured L0.
    """
    t = np.linspace(lo, hi, n)
    if isinstance(a, Tensor):
        with torch.no_grad():
            tt = torch.as_tensor(t, dtype=a.dtype, device=a.device)
            P = torch.zeros_like(tt)
            for c in a.flip(0):
                P = P * tt + c
            m = float(P.max())
            if m > 0:
                a[0] -= m
        return max(m, 0.0)
    m = float(_P_np(a, t).max())
    if m > 0:
        a[0] -= m
    return max(m, 0.0)


def fit_normalised_gate(
    family: str,
    *,
    kappa: float | None = None,
    delta: float = DEFAULT_DELTA,
    type: tuple[int, int] | None = None,
    grid_n: int = 4001,
    dps: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    refit_rectified: bool = True,
) -> GateFit:
    """Remez fit of the normalised teacher gate, converted to safe-Padé form and shifted.

    Parameters
    ----------
    family : {"relu", "jumprelu", "topk"}
    kappa : float, optional
        Normalised threshold (0 for ReLU; default 0.5 otherwise).
    delta : float
        Half-width of the excluded neighbourhood of the jump (JumpReLU/TopK).
    type : (p, q), optional
        Rational type; default :data:`DEFAULT_TYPES`.
    grid_n : int
        Points of the grid on ``[-1, 1]`` (the paper: 4001).
    refit_rectified : bool
        Also try the best numerator under the exact-zero constraint (:func:`_constrained_numerator`).
    cache_dir : path, optional
        Directory of JSON fits keyed by all the arguments (a (9, 8) Remez on the gapped grid takes
        about a minute; a re-run reads it back).  ``None``: no cache.

    Returns
    -------
    GateFit

    Notes
    -----
    Target ``relu`` (ReLU) or, for the jump, ``jumprelu:(kappa + delta)`` on
    ``Domain.grid_on(grid_n)`` minus ``(kappa, kappa + 2 delta)``: the excluded neighbourhood sits
    above the teacher's threshold, so that the fit is close to 0 on all of ``[-1, kappa]``.

    Why a constrained numerator: the gate uses ``max(r, 0)``, so on the zero region only
    ``r > 0`` is an error, while the minimax ``r`` oscillates by ``+-E`` there.  Shifting ``a_0``
    down by ``max P`` moves ``r`` by ``max P / Q(t)``: harmless when ``Q`` is nearly constant
    (ReLU (3, 2)), ruinous when ``Q`` is large near the threshold and 1 at ``t = 0`` (the (9, 8)
    jump fits: ``max P`` reached 29).  With the Remez denominator fixed, ``r`` is linear in ``a``,
    so the best uniform approximation of the rectified gate under ``P <= 0`` on ``[-1, kappa]`` is
    a linear programme; we solve it on the full grid (``(kappa, kappa + 2 delta)`` free), compare
    with the plain shift, and keep the better.  Every stage's error is recorded in the result.
    If the Remez exchange does not converge, its best iterate (``ConvergenceError.best``) is used
    and ``method`` says so.
    """

    import ratapprox
    from ratapprox import Domain
    from ratapprox.errors import ConvergenceError

    family = family.lower()
    if family not in DEFAULT_TYPES:
        raise ValueError(f"`family` must be one of {sorted(DEFAULT_TYPES)}, got {family!r}")
    if kappa is None:
        kappa = 0.0 if family == "relu" else DEFAULT_KAPPA
    if family != "relu" and not 0 < kappa < 1 - delta:
        raise ValueError(f"`kappa` must lie in (0, 1 - delta) for {family}, got {kappa}")
    m, n = type or DEFAULT_TYPES[family]
    # JumpReLU and TopK fit the same normalised gate: one cache entry ("jump") serves both.
    shape = "relu" if family == "relu" else "jump"
    rest = f"_k{kappa!r}_d{delta!r}_t{m}-{n}_g{int(grid_n)}_dps{dps}_r{int(refit_rectified)}.json"
    key = f"v9_{shape}{rest}"
    # earlier versions keyed the same fit by family (v8_jumprelu_..., v8_topk_...): read those too
    olds = [f"v8_{f}{rest}" for f in ((family,) if family == "relu" else ("jumprelu", "topk"))]
    for name in ([key, *olds] if cache_dir is not None else []):
        if (Path(cache_dir) / name).is_file():
            d = json.loads((Path(cache_dir) / name).read_text())
            d["type"] = tuple(d["type"])
            d["family"] = family
            return GateFit(**d)
    t0 = time.perf_counter()
    domain = Domain.grid_on(int(grid_n))
    if family == "relu":
        target = "relu"
        kappa = 0.0
    else:
        # The excluded interval lies entirely *above* the threshold, (kappa, kappa + 2 delta): the
        # fit must be ~0 on all of [-1, kappa] (exact sparsity up to the teacher's threshold) and ~t
        # from kappa + 2 delta on.  On the fitted points this target equals t H(t - kappa).
        center = round(kappa + delta, 12)
        target = f"jumprelu:{center!r}"
        domain = domain.excluding(repr(center), repr(delta))
    method, notes = "remez", []
    try:
        # certify=False: the interval-arithmetic certificate of the Remez error (6-7 s for (9, 8))
        # is not used here; every stage's error is measured on the grid below instead.
        res = ratapprox.minimax(target, m, n, domain=domain, dps=dps, certify=False)
        num, den, err = res.numerator, res.denominator, float(res.error)
        if not getattr(res, "converged", True):
            notes.append("Remez did not report convergence; using its final iterate")
    except ConvergenceError as exc:
        best = exc.best
        if best is None:
            raise
        num, den, err = best.numerator, best.denominator, float(best.error)
        method = "remez-best-iterate"
        notes.append(f"Remez stopped early: {exc}")
    pts = domain.points_float()
    a, b, sp_exact, sp_dev, how = _safe_pade(num, den, domain, target, pts)
    notes.append(f"safe-Padé conversion: {how}")
    gate = normalised_teacher_gate(pts, kappa)
    err_safe = float(np.max(np.abs(_r_np(a, b, pts) - gate)))
    # Two candidates for exact zeros, keep the one with the smaller uniform error of max(r, 0):
    # (1) the Remez numerator with a_0 lowered; (2) the best numerator for the Remez denominator
    # under the constraint P <= 0 on [-1, kappa] (a linear programme).
    def rect_err(aa: np.ndarray) -> float:
        return float(np.max(np.abs(np.maximum(_r_np(aa, b, pts), 0.0) - gate)))

    a1 = a.copy()
    cands = [(None, "Remez numerator, a_0 lowered", a1, rect_err(a), enforce_zero_region(a1, -1.0, kappa))]
    if refit_rectified:
        full = np.linspace(-1.0, 1.0, int(grid_n))
        a2 = _constrained_numerator(len(a) - 1, b, full, kappa, 2 * delta if family != "relu" else 0.0)
        if a2 is not None:
            before2 = rect_err(a2)
            sh2 = enforce_zero_region(a2, -1.0, kappa)  # LP tolerance: a tiny shift, if any
            cands.append((None, "constrained numerator (LP)", a2, before2, sh2))
    scored = [(rect_err(c[2]), *c[1:]) for c in cands]
    err_after, how_zero, a, err_before, shift = min(scored, key=lambda c: c[0])
    notes.append(f"exact zeros: {how_zero}")
    fit = GateFit(
        family=family, kappa=float(kappa), delta=float(delta) if family != "relu" else 0.0,
        type=(m, n), grid_n=int(grid_n), a=a.tolist(), b=b.tolist(), remez_error=err,
        safe_pade_exact=sp_exact, safe_pade_max_deviation=sp_dev,
        error_safe_pade=err_safe, shift=shift, error_before_shift=err_before, error_after_shift=err_after,
        seconds=time.perf_counter() - t0, method=method, notes=notes,
    )
    if cache_dir is not None:
        write_text_atomic(Path(cache_dir) / key, json.dumps(fit.to_json()))
    return fit


def _safe_pade(
    num: Any, den: Any, domain: Any, target: str, pts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool, float, str]:
    """``P/Q -> P / (1 + |B|)``; returns ``(a, b, exact, max_deviation, how)``.

    Uses :func:`ratapprox.pade.to_safe_pade` when it is available.  Otherwise: with ``Q(0) = 1``,
    ``P / Q`` *is* a safe-Padé rational (``B = Q - 1``) iff ``Q(t) >= 1`` on the domain, i.e.
    ``B >= 0`` there.  If not, no exact conversion exists (``1 + |B| >= 1 = Q(0)`` forces ``t = 0``
    to be the minimum of the denominator), and we refit the safe form by least squares on the
    domain's points from the Remez coefficients (Levenberg-Marquardt, scipy); ``max_deviation`` is
    then the uniform distance between the refit and the Remez rational on those points.
    """
    try:
        from ratapprox.pade import to_safe_pade
    except ImportError:
        to_safe_pade = None
    if to_safe_pade is not None:
        # no `target`: its certificate (about half of the 48 s this call took for (9, 8)) is not
        # needed, error_safe_pade is measured on the grid by the caller
        sp = to_safe_pade(num, den, domain, max_boxes=2000)
        a, b = np.array([float(v) for v in sp.a]), np.array([float(v) for v in sp.b])
        return a, b, bool(sp.exact), float(sp.max_deviation), "ratapprox.pade.to_safe_pade"
    den_f = np.array([float(v) for v in den])
    a = np.array([float(v) for v in num]) / den_f[0]
    b = den_f[1:] / den_f[0]
    Q = np.polynomial.polynomial.polyval(pts, np.concatenate([[1.0], b]))
    r_remez = _P_np(a, pts) / Q
    if np.all(Q - 1.0 >= 0):
        return a, b, True, float(np.max(np.abs(_r_np(a, b, pts) - r_remez))), "direct (B >= 0)"
    from scipy.optimize import least_squares

    from ratapprox import get_target

    f = get_target(target)(pts)
    p1 = len(a)

    def resid(v: np.ndarray) -> np.ndarray:
        return _r_np(v[:p1], v[p1:], pts) - f

    sol = least_squares(resid, np.concatenate([a, b]), method="lm", max_nfev=2000)
    a2, b2 = sol.x[:p1], sol.x[p1:]
    return a2, b2, False, float(np.max(np.abs(_r_np(a2, b2, pts) - r_remez))), "least-squares refit"


def _constrained_numerator(
    p: int, b: np.ndarray, pts: np.ndarray, kappa: float, free: float, floor: float = 1.0
) -> np.ndarray | None:
    """Best numerator for a fixed safe denominator with exact zeros, by linear programming.

    For ``Q = 1 + |B|`` fixed, ``r = P / Q`` is linear in ``a``.  We solve

    .. math::  \\min_{a, e} e \\quad \text{s.t.} \\quad |P(t_i)/Q(t_i) - t_i| \\le e
               \\ (t_i \\ge \\kappa + \text{free}), \\qquad P(t_j)/Q(t_j) \\le 0 \\ (t_j \\le \\kappa),

    i.e. the best uniform approximation of the *rectified* teacher gate on the grid with exact
    zeros (HiGHS via :func:`scipy.optimize.linprog`; ``a = 0`` is always feasible).  Points in
    ``(kappa, kappa + free)`` (the excluded neighbourhood of a jump) are unconstrained.
    Returns ``None`` if the solver fails.
    """
    from scipy.optimize import linprog

    B = np.polynomial.polynomial.polyval(pts, np.concatenate([[0.0], b]))
    Q = 1.0 + np.abs(B)
    on = pts >= kappa + free if free > 0 else pts > kappa
    off = pts <= kappa
    # Unknowns are the Chebyshev coefficients of P (the monomial basis with Q up to ~1e8, as
    # for the (9, 8) jump fits, makes the LP unsolvable for HiGHS); zero-region rows are scaled
    # to unit max-norm (scaling one inequality by a positive number does not change it).
    from numpy.polynomial import chebyshev

    V = chebyshev.chebvander(pts, p) / Q[:, None]  # r = V c
    Von, Voff, t_on = V[on], V[off], pts[on]
    scale = np.abs(Voff).max(axis=1, keepdims=True)
    Voff = Voff / scale
    ones = np.ones((len(t_on), 1))
    zeros = np.zeros((len(Voff), 1))
    A_ub = np.vstack([
        np.hstack([Von, -ones]),  # r - t <= e
        np.hstack([-Von, -ones]),  # t - r <= e
        np.hstack([Voff, zeros]),  # r <= 0 where the teacher is 0
        # r >= -floor there: costs nothing after the rectifier, but without it the LP may pick
        # huge cancelling coefficients that float32 evaluation cannot reproduce
        np.hstack([-Voff, zeros]),
    ])
    b_ub = np.concatenate([t_on, -t_on, np.zeros(len(Voff)), floor / scale[:, 0]])
    c = np.zeros(p + 2)
    c[-1] = 1.0
    bounds = [(None, None)] * (p + 1) + [(0, None)]
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    return chebyshev.cheb2poly(res.x[: p + 1]) if res.status == 0 else None


# --------------------------------------------------------------------------- step 3
TEACHER_FAMILIES = ("relu", "jumprelu", "topk")


def effective_weights(teacher: torch.nn.Module) -> tuple[Tensor, Tensor, Tensor]:
    """``(W_enc, b_enc, W_dec)`` in float64 with TopK decoder-norm rescaling folded in.

    SAELens TopK with ``rescale_acts_by_decoder_norm`` gates ``h_j n_j`` (``n_j = ||W_dec[j]||``)
    and decodes ``(z_j / n_j) W_dec[j]``; scaling column ``j`` of ``W_enc``/``b_enc`` by ``n_j`` and
    row ``j`` of ``W_dec`` by ``1 / n_j`` gives the same map without the option.
    """
    W_enc, b_enc, W_dec = (p.detach().double() for p in (teacher.W_enc, teacher.b_enc, teacher.W_dec))
    if teacher.cfg.rescale_acts_by_decoder_norm:
        n = W_dec.norm(dim=-1)
        W_enc, b_enc, W_dec = W_enc * n, b_enc * n, W_dec / n[:, None]
    return W_enc, b_enc, W_dec


def estimate_topk_threshold(pre_acts: Iterable[Tensor], k: float) -> tuple[float, int]:
    """Global threshold ``tau_k`` with mean count of ``h > tau_k`` equal to ``k`` on these tokens.

    With ``N`` tokens and all pre-activations pooled, ``tau_k`` is the midpoint between the
    ``m``-th and ``(m + 1)``-th largest values, ``m = round(N k)``, so exactly ``m`` values exceed
    it (barring ties), i.e. ``(1/N) sum_n #{j : h_nj > tau_k} = k`` up to ``1/(2N)``.
    :func:`upgrade_init` passes the teacher's measured L0 on the same tokens as ``k`` (equal to
    the TopK ``k`` unless some of a token's top ``k`` are ``<= 0`` and ReLU'd away), so that the
    thresholded gate has the teacher's L0.  This is the threshold that makes a
    JumpReLU-like gate ``h H(h - tau_k)`` match TopK's *average* L0; per token the count varies
    (Gao et al. 2024 propose the same estimator for inference-time thresholds).

    Parameters
    ----------
    pre_acts : iterable of [B, d_sae] tensors
    k : int

    Returns
    -------
    (tau_k, N)
    """
    chunks, N = [], 0
    for h in pre_acts:
        if h.dim() != 2:
            raise ValueError(f"pre-activations must be [B, d_sae], got shape {tuple(h.shape)}")
        chunks.append(h.detach().reshape(-1).double())
        N += int(h.shape[0])
    if N == 0:
        raise ValueError("no pre-activations to estimate the TopK threshold from")
    flat = torch.cat(chunks)
    m = round(N * float(k))
    if not 0 < m < flat.numel():
        raise ValueError(f"`k` = {k} must be between 1 and d_sae - 1 to define a threshold")
    # m-th largest = (numel - m + 1)-th smallest; (m + 1)-th largest = (numel - m)-th smallest.
    above = float(torch.kthvalue(flat, flat.numel() - m + 1).values)
    below = float(torch.kthvalue(flat, flat.numel() - m).values)
    return 0.5 * (above + below), N


def latent_scales(
    family: str,
    h_cal: Tensor,
    *,
    kappa: float,
    threshold: Tensor | None = None,
    relu_quantile: float = 0.99,
    tau: float | None = None,
) -> tuple[Tensor, dict[str, int]]:
    """Per-latent scales ``c_j > 0`` (float64) and counts of specially treated latents.

    JumpReLU: ``c_j = theta_j / kappa``; TopK: ``c_j = tau_k / kappa``; ReLU: the
    ``relu_quantile`` quantile of latent ``j``'s positive pre-activations in ``h_cal [N, d_sae]``.
    """
    d_sae = h_cal.shape[1]
    counts = {"theta_nonpositive": 0, "dead_scale_from_median": 0}
    if family == "jumprelu":
        theta = threshold.detach().double().clone()
        pos = theta > 0
        counts["theta_nonpositive"] = int((~pos).sum())
        if not bool(pos.any()):
            raise ValueError("every JumpReLU threshold is <= 0; the teacher is a ReLU SAE, upgrade it as one")
        floor = 0.01 * float(theta[pos].median())
        theta = torch.where(pos, theta, torch.full_like(theta, floor))
        return theta / kappa, counts
    if family == "topk":
        if tau is None or not tau > 0:
            raise ValueError(f"TopK needs a positive threshold tau_k, got {tau}")
        return torch.full((d_sae,), tau / kappa, dtype=torch.float64), counts
    # ReLU: high quantile of each latent's positive pre-activations, chunked for torch.quantile.
    h = h_cal.double()
    c = torch.full((d_sae,), float("nan"), dtype=torch.float64)
    step = max(1, (1 << 23) // max(h.shape[0], 1))
    for j0 in range(0, d_sae, step):
        blk = h[:, j0 : j0 + step]
        c[j0 : j0 + step] = torch.nanquantile(torch.where(blk > 0, blk, torch.nan), relu_quantile, dim=0)
    dead = torch.isnan(c) | (c <= 0)
    counts["dead_scale_from_median"] = int(dead.sum())
    fill = float(c[~dead].median()) if bool((~dead).any()) else 1.0
    return torch.where(dead, torch.full_like(c, fill), c), counts


def fold_scales(W_enc: Tensor, b_enc: Tensor, W_dec: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(W_enc / c, b_enc / c, c * W_dec)`` (columns of the encoder, rows of the decoder), float64."""
    c64 = c.double()
    return W_enc.double() / c64, b_enc.double() / c64, W_dec.double() * c64[:, None]


def _threshold_sweep(h: Tensor, R: Tensor, z: Tensor, W_dec: Tensor, wn: Tensor, hs: Tensor,
                     order: Tensor, npos: Tensor, floor: Tensor, thr: Tensor, lam: float,
                     block: int) -> None:
    """One pass of block coordinate descent over per-latent thresholds (in place on R, z, thr)."""
    N, d = h.shape
    idx = torch.arange(N + 1, device=h.device)[:, None]
    for j0 in range(0, d, block):
        sl = slice(j0, min(j0 + block, d))
        Wb, zb, hb = W_dec[sl], z[:, sl], h[:, sl]
        # <R_{-j}, W_j> with R_{-j} = R + z_j W_j: the residual without latent j
        rw = R @ Wb.T + zb * wn[sl]
        gain = hb * (hb * wn[sl] - 2.0 * rw) + lam  # loss change if latent j fires on row n
        cs = torch.cumsum(torch.gather(gain, 0, order[:, sl]), 0)  # fire the m largest, m = 1..N
        cs = torch.cat([torch.zeros(1, cs.shape[1], dtype=cs.dtype, device=cs.device), cs], 0)
        cs = torch.where(idx <= npos[sl][None, :], cs, torch.full_like(cs, math.inf))  # only h > 0 fire
        m = torch.argmin(cs, 0)
        hsb = hs[:, sl]
        upper = hsb.gather(0, (m - 1).clamp(min=0)[None])[0]
        lower = hsb.gather(0, m.clamp(max=N - 1)[None])[0].clamp(min=0.0)
        lower = torch.where(m < N, lower, torch.zeros_like(lower))
        # m = 0: fire nothing (a threshold above every value); else the midpoint below the m-th largest
        new = torch.where(m > 0, 0.5 * (upper + lower), hsb[0].clamp(min=0.0) + floor[sl])
        thr[sl] = torch.maximum(new, floor[sl])
        znew = torch.where(hb > thr[sl], hb, torch.zeros_like(hb))
        R -= (znew - zb) @ Wb
        z[:, sl] = znew


@torch.no_grad()
def topk_latent_thresholds(
    h: Tensor,
    x: Tensor,
    W_dec: Tensor,
    b_dec: Tensor,
    target_l0: float,
    *,
    tau: float,
    passes: int = 2,
    block: int = 64,
    max_iter: int = 12,
    rtol: float = 2e-3,
) -> tuple[Tensor, dict[str, float]]:
    r"""Per-latent thresholds of a JumpReLU that best reconstructs ``x`` at mean L0 ``target_l0``.

    Minimises, over thresholds ``tau_j > 0``,

    .. math::  \sum_n \Bigl\|x_n - b_{dec} - \sum_j h_{nj} [h_{nj} > \tau_j] W_{dec,j}\Bigr\|^2
               + \lambda \sum_{n, j} [h_{nj} > \tau_j]

    on the calibration rows by block coordinate descent: for latent ``j`` with the others fixed, the
    loss change of firing on row ``n`` is ``h_nj^2 ||W_j||^2 - 2 h_nj <R_n^{(-j)}, W_j> + lambda``
    (``R^{(-j)}`` the residual without ``j``); firing exactly the ``m`` largest ``h_nj`` is optimal
    among thresholds, and the best ``m`` is the argmin of a cumulative sum over the sorted column.
    Latents are updated ``block`` at a time (vectorised; the interaction *within* a block is
    ignored during its step; on the study's topk_8 teacher ``block = 64`` reached a held-out MSE
    within 0.2% of ``block = 8``).  ``lambda`` is found by a
    safeguarded regula falsi in log space so that the mean count equals ``target_l0`` to ``rtol``.  Starting
    point: the global threshold ``tau`` (:func:`estimate_topk_threshold`).  This is the JumpReLU
    objective of Rajamanoharan et al. (2024) with the encoder and decoder fixed; the thresholds are
    free in the RSAE because each one becomes a per-latent scale ``c_j = tau_j / kappa`` folded
    into the weights.

    Parameters
    ----------
    h : [N, d_sae] pre-activations (decoder-norm rescaling folded in), float64
    x : [N, d_in] the (normalised) inputs the decoder reconstructs
    W_dec, b_dec : effective decoder (rows match ``h``)
    target_l0 : mean count of non-zeros to hold
    tau : global threshold; it starts the descent and floors the thresholds at ``1e-3 tau``

    Returns
    -------
    (thresholds [d_sae], info) with ``info`` = lambda, iterations, the calibration L0 reached.
    """
    if not tau > 0:
        raise ValueError(f"`tau` must be > 0, got {tau}")
    h, x, W_dec, b_dec = h.double(), x.double(), W_dec.double(), b_dec.double()
    d = h.shape[1]
    hs, order = torch.sort(h, dim=0, descending=True)
    npos = (h > 0).sum(0)
    wn = (W_dec**2).sum(-1)
    floor = torch.full((d,), 1e-3 * tau, dtype=torch.float64, device=h.device)
    thr0 = torch.full((d,), float(tau), dtype=torch.float64, device=h.device)
    z0 = torch.where(h > thr0, h, torch.zeros_like(h))
    base = float(((x - z0 @ W_dec - b_dec) ** 2).sum(-1).mean())
    # Bracket of log(lambda) (lambda ~ the marginal MSE of one more active latent) and the signed
    # log-error f = log(L0 / target) at its ends once known; L0 falls as lambda grows.  Safeguarded
    # regula falsi (the step stays in the middle 80% of the bracket), bisection until both ends
    # have been evaluated.
    lo, hi = math.log(1e-4 * base), math.log(10.0 * base)
    f_lo: float | None = None
    f_hi: float | None = None
    best = (math.inf, thr0, float("nan"), 0.0)
    it = 0
    while it < max_iter:
        it += 1
        s = 0.5 * (lo + hi)
        if f_lo is not None and f_hi is not None and f_lo > 0 > f_hi:
            s = min(max(lo - f_lo * (hi - lo) / (f_hi - f_lo), lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo))
        lam = math.exp(s)
        thr, z = thr0.clone(), z0.clone()
        R = x - z @ W_dec - b_dec
        for _ in range(passes):
            _threshold_sweep(h, R, z, W_dec, wn, hs, order, npos, floor, thr, lam, block)
        l0 = float((z != 0).sum(-1).double().mean())
        dev = abs(l0 / target_l0 - 1.0)
        if dev < best[0]:
            best = (dev, thr.clone(), lam, l0)
        if dev <= rtol:
            break
        f = math.log(max(l0, 1e-12) / target_l0)
        if f > 0:
            lo, f_lo = s, f
        else:
            hi, f_hi = s, f
    dev, thr, lam, l0 = best
    return thr, {"lambda": lam, "iterations": it, "l0_calibration": l0, "l0_rel_dev": dev}


def refit_decoder_ridge(z: Tensor, x: Tensor, W_dec: Tensor, b_dec: Tensor, ridge: float = 1.0) -> Tensor:
    r"""Least-squares decoder for fixed codes, shrunk towards the given one (ridge regression).

    .. math::  W^* = \arg\min_W \|X - b_{dec} - Z W\|_F^2 + \mu \|W - W_{dec}\|_F^2,
               \qquad \mu = \text{ridge} \cdot \operatorname{mean}\operatorname{diag}(Z^T Z)

    (Hoerl & Kennard 1970), solved by the normal equations in float64.  ``b_dec`` is kept: with
    ``apply_b_dec_to_input`` it also enters the encoder.  ``ridge = 0`` is plain least squares.
    """
    z, x, W0 = z.double(), x.double(), W_dec.double()
    G = z.T @ z
    mu = float(ridge) * float(G.diagonal().mean().clamp(min=1e-300))
    rhs = z.T @ (x - b_dec.double()) + mu * W0
    G = G + mu * torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    if mu == 0:  # dead latents make Z^T Z singular: minimum-norm solution
        return torch.linalg.lstsq(G, rhs).solution
    return torch.linalg.solve(G, rhs)


# --------------------------------------------------------------------------- step 4
@dataclass
class CalibrationResult:
    a: list[float]
    b: list[float]
    c_in: float
    c_out: float
    loss_start: float
    loss_end: float
    steps: int
    n_elements: int
    seconds: float


def _gate_unrectified(u: Tensor, a: Tensor, b: Tensor, c_in: Tensor) -> Tensor:
    """``g(u / C_in)`` without the rectifier (naive.py's extension: 0 below -1, slope 1 above 1)."""
    t = u / c_in
    v = t.clamp(-1.0, 1.0)
    P = torch.zeros_like(v)
    for coef in a.flip(0):
        P = P * v + coef
    B = torch.zeros_like(v)
    for coef in b.flip(0):
        B = (B + coef) * v
    r = P / (1.0 + B.abs())
    return torch.where(t < -1.0, torch.zeros_like(r), r + (t - v))


def calibrate_gate(
    u: Tensor,
    y: Tensor,
    a0: Iterable[float],
    b0: Iterable[float],
    *,
    kappa: float,
    steps: int = 200,
    lr: float = 1e-3,
    max_kappa_t: float = 0.9,
    max_elements: int = 65536,
    seed: int = 0,
) -> CalibrationResult:
    """l2 calibration of ``(a, b, C_in, C_out)`` with exact sparsity kept by projection.

    Minimises ``mean_i (C_out g(u_i / C_in) - y_i)^2`` over elements ``i`` that the teacher keeps
    (``y_i > 0``) or that lie above the normalised threshold (``u_i > kappa``), where ``u`` are
    folded pre-activations and ``y`` the folded teacher outputs.  All other elements are zero for
    the teacher *and* for the RSAE (the projection keeps ``P <= 0`` on ``t in [-1, kappa / C_in]``),
    so they add nothing.  For kept elements where the gate is still ``<= 0`` the unrectified ``g``
    is used, so that they get a gradient pulling the zero crossing down to the threshold
    (with the rectified gate they would get none).  Adam (Kingma & Ba 2015) in float64; after each
    step ``C_in`` is kept at ``>= kappa / max_kappa_t`` (the zero region must stay inside
    ``[-1, 1]``) and ``a_0`` is projected by :func:`enforce_zero_region`.
    """
    t0 = time.perf_counter()
    keep = (y > 0) | (u > kappa)
    u, y = u[keep].double(), y[keep].double()
    if u.numel() > max_elements:  # a fixed random subset: the objective is a mean, 64k samples suffice
        pick = torch.randperm(u.numel(), generator=torch.Generator().manual_seed(seed))[:max_elements]
        u, y = u[pick], y[pick]
    a = torch.tensor(list(a0), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(list(b0), dtype=torch.float64, requires_grad=True)
    log_ci = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_co = torch.zeros((), dtype=torch.float64, requires_grad=True)
    teacher_on = y > 0
    min_log_ci = math.log(kappa / max_kappa_t) if kappa > 0 else -math.inf

    def loss_fn() -> Tensor:
        g = _gate_unrectified(u, a, b, log_ci.exp())
        # Rectified output where the teacher is off (only positive g costs); raw g where it is on.
        z = log_co.exp() * torch.where(teacher_on, g, g.clamp_min(0.0))
        return ((z - y) ** 2).mean()

    if u.numel() == 0:
        warnings.warn("no active teacher elements to calibrate on; keeping the Remez gate", RuntimeWarning,
                      stacklevel=2)
        return CalibrationResult(a.tolist(), b.tolist(), 1.0, 1.0, 0.0, 0.0, 0, 0, time.perf_counter() - t0)

    def objective() -> float:
        """The true l2 objective (rectified gate everywhere)."""
        g = _gate_unrectified(u, a, b, log_ci.exp())
        return float(((log_co.exp() * g.clamp_min(0.0) - y) ** 2).mean())

    with torch.no_grad():
        start = best_val = objective()
        best = [p.detach().clone() for p in (a, b, log_ci, log_co)]
    # Already exact (e.g. ReLU, where r(t) = t is in the family): nothing to calibrate.
    if start <= 1e-20 * max(float((y**2).mean()), 1e-300):
        steps = 0
    # created only when needed: the first torch.optim.Adam of a process imports torch._dynamo
    # (1.4 s measured here), which an exact start (ReLU) should not pay
    opt = torch.optim.Adam([a, b, log_ci, log_co], lr=lr) if steps > 0 else None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        with torch.no_grad():
            log_ci.clamp_(min=min_log_ci)
            enforce_zero_region(a, -1.0, kappa / float(log_ci.exp()) if kappa > 0 else 0.0)
            val = objective()
            if val < best_val:  # keep the best feasible iterate (the start included)
                best_val, best = val, [p.detach().clone() for p in (a, b, log_ci, log_co)]
    with torch.no_grad():
        for p, v in zip((a, b, log_ci, log_co), best):
            p.copy_(v)
        end = objective()
    return CalibrationResult(
        a=a.detach().tolist(), b=b.detach().tolist(), c_in=float(log_ci.detach().exp()),
        c_out=float(log_co.detach().exp()),
        loss_start=start, loss_end=end, steps=steps, n_elements=int(u.numel()),
        seconds=time.perf_counter() - t0,
    )


@dataclass
class UpgradeReport:
    """What the init did, with the numbers a user needs to judge it."""

    family: str
    gate_fit: GateFit
    calibration: CalibrationResult
    tau_k: float | None
    counts: dict[str, int]
    frac_t_below: float  # fraction of calibration pre-activations with t < -1 (after calibration)
    frac_t_above: float  # ... with t > 1
    n_calibration_tokens: int
    seconds: float
    jump: str = "interior"  # where the jump of a JumpReLU/TopK gate sits: "edge" or "interior"
    topk_thresholds: str | None = None  # "per_token", "per_latent" or "global" (TopK only)
    refit_decoder: bool = False  # W_dec refit by ridge least squares on the calibration tokens
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    extra: dict[str, Any] = field(default_factory=dict)  # stage details (threshold search, refit)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The init's choices in a few JSON-safe keys (for ``results.json`` under ``upgrade``)."""
        return {
            "jump": self.jump, "offset": self.gate_fit.offset, "gate_method": self.gate_fit.method,
            "topk_thresholds": self.topk_thresholds, "refit_decoder": self.refit_decoder,
            "timings": dict(self.timings), **self.extra,
        }


def _collect(batches: Iterable[Tensor], n_tokens: int, d_in: int) -> Tensor:
    """The first ``n_tokens`` rows of a stream of batches (checked width)."""
    from .activations import ActivationError, check_finite

    out, n = [], 0
    for x in batches:
        if x.shape[-1] != d_in:
            raise ActivationError(
                f"d_in mismatch: the teacher expects d_in = {d_in}, activations have {x.shape[-1]}"
            )
        check_finite(x, "calibration batch")
        out.append(x[: n_tokens - n])
        n += len(out[-1])
        if n >= n_tokens:
            break
    if n == 0:
        raise ActivationError("no calibration activations")
    return torch.cat(out)


@torch.no_grad()
def upgrade_init(
    teacher: torch.nn.Module,
    batches: Iterable[Tensor],
    *,
    n_calibration_tokens: int = 8192,
    kappa: float | None = None,
    delta: float = DEFAULT_DELTA,
    rational_type: tuple[int, int] | None = None,
    grid_n: int = 4001,
    relu_quantile: float = 0.99,
    calibration_steps: int = 200,
    calibration_lr: float = 1e-3,
    gate_fit: GateFit | None = None,
    gate_backend: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    jump: str | None = None,
    topk_thresholds: str = "per_token",
    refit_decoder: bool = False,
    refit_ridge: float = 1.0,
) -> tuple[torch.nn.Module, UpgradeReport]:
    """RSAE-init: the teacher's weights (scale-folded) with a rational gate that reproduces its gate.

    Parameters
    ----------
    teacher : rsae.sae.SAE
        ReLU, JumpReLU or TopK SAE.
    batches : iterable of [B, d_in] tensors
        Calibration activations (the first ``n_calibration_tokens`` rows are used).
    kappa, delta, rational_type, grid_n
        Passed to :func:`fit_normalised_gate` (ignored if ``gate_fit`` is given); ``kappa`` and
        ``rational_type`` also size the edge gate (:func:`edge_gate`), ``rational_type`` the line
        gate of ``topk_thresholds="per_token"`` (:func:`line_gate`, default (3, 2); ``kappa``,
        ``delta`` and ``grid_n`` are not used there).
    relu_quantile
        Quantile of positive pre-activations that sets a ReLU latent's scale.
    calibration_steps, calibration_lr
        Adam steps and rate of :func:`calibrate_gate` (0 steps: the shifted Remez gate as is);
        interior placement only (the edge gate is exact).
    jump : {"edge", "interior"}, optional
        JumpReLU/TopK only.  ``"edge"`` (the default unless ``gate_fit`` is an interior fit): the
        jump is moved to ``t = -1`` by a shared offset folded into ``b_enc`` and the gate is the
        exact line of :func:`edge_gate`, so the init reproduces the (thresholded) teacher up to
        float rounding.  ``"interior"``: the paper's recipe, a Remez fit of ``t H(t - kappa)`` with
        the jump inside ``[-1, 1]`` and l2 calibration (measured +1.5% to +3.3% MSE on the study's
        JumpReLU teachers: the fit cannot follow the jump inside ``(kappa, kappa + 2 delta)``).
    topk_thresholds : {"per_token", "per_latent", "global"}
        TopK only; how the separating threshold ``tau`` of the paper's supplied-threshold TopK
        ``h H(h - tau)`` is supplied.  ``"per_token"`` (default): by the selection itself -- the
        RSAE is a TopK Rational SAE (``cfg.k`` = the teacher's ``k``, ``z = TopK_k(phi(h))``, see
        :class:`~rsae.sae.RationalSAE`) with the exact ReLU line gate (:func:`line_gate`) and one
        global scale (the ``relu_quantile`` quantile of the teacher's non-zero codes) folded into
        the weights, so the init *is* the teacher up to float rounding.  The element-wise
        alternatives keep no selection (a plain RSAE with the edge or interior jump gate):
        ``"per_latent"``, thresholds that minimise the calibration reconstruction error at the
        teacher's L0 (:func:`topk_latent_thresholds`), and ``"global"``, one ``tau_k``
        (:func:`estimate_topk_threshold`); both hold the teacher's L0 but not its MSE (measured
        on the study's teachers: docs/rsae.md).  ``jump`` and ``gate_fit`` apply to them only.
    refit_decoder : bool
        After the init, refit ``W_dec`` by ridge least squares on the calibration tokens given the
        RSAE's codes (:func:`refit_decoder_ridge`, strength ``refit_ridge``).  Off by default: it
        is a calibration of the decoder, not a copy of the teacher; a study that uses it should
        give the same option to its controls.

    Returns
    -------
    (RationalSAE, UpgradeReport)
    """
    from .gates import TopKGate
    from .sae import RationalSAE, SAEConfig

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    tic = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - tic[0]
        tic[0] = now

    family = teacher.cfg.architecture
    if family not in TEACHER_FAMILIES:
        raise ValueError(f"the teacher must be one of {TEACHER_FAMILIES}, got architecture {family!r}")
    if jump is not None and jump not in ("edge", "interior"):
        raise ValueError(f"`jump` must be 'edge' or 'interior', got {jump!r}")
    if topk_thresholds not in ("per_token", "per_latent", "global"):
        raise ValueError(
            f"`topk_thresholds` must be 'per_token', 'per_latent' or 'global', got {topk_thresholds!r}"
        )
    per_token = family == "topk" and topk_thresholds == "per_token"
    if not refit_ridge >= 0:
        raise ValueError(f"`refit_ridge` must be >= 0, got {refit_ridge}")
    if per_token and (jump is not None or gate_fit is not None):
        raise ValueError(
            "`jump` and `gate_fit` place a threshold gate's jump: they apply to topk_thresholds='per_latent' "
            "or 'global', not to 'per_token' (its gate is the exact ReLU line, the selection is TopK)"
        )
    if family == "relu" or per_token:
        jump = "none"
    elif gate_fit is not None:
        given = "edge" if gate_fit.method == "edge-exact" else "interior"
        if jump is not None and jump != given:
            raise ValueError(f"`jump`={jump!r} contradicts the given gate_fit (a {given} gate)")
        jump = given
    elif jump is None:
        jump = "edge"
    x = _collect(batches, int(n_calibration_tokens), teacher.cfg.d_in).to(teacher.W_enc.device)
    lap("collect")
    h = teacher.pre_acts(x).double()  # what the gate sees (normalisation and rescaling included)
    y = teacher.activation(h.to(teacher.dtype)).double()
    lap("teacher_forward")
    # 1-2. the normalised gate
    if gate_fit is None:
        if per_token:
            gate_fit = line_gate(rational_type)
        elif jump == "edge":
            gate_fit = edge_gate(family, kappa=DEFAULT_KAPPA if kappa is None else kappa, type=rational_type)
        else:
            gate_fit = fit_normalised_gate(
                family, kappa=kappa, delta=delta, type=rational_type, grid_n=grid_n, cache_dir=cache_dir
            )
    kappa, beta = gate_fit.kappa, gate_fit.offset
    lap("gate_fit")
    # 3. per-latent scales, folded into the weights
    tau, extra = None, {}
    threshold = teacher.threshold if family == "jumprelu" else None
    W_enc, b_enc, W_dec = effective_weights(teacher)
    x_n = teacher._normalize_in(x.to(teacher.dtype))[0].double()  # what the decoder reconstructs
    b_dec = teacher.b_dec.detach().double()
    if per_token:
        # One scale for all latents (a per-latent one would change the per-token ranking): the
        # relu_quantile quantile of the teacher's non-zero codes maps the active range onto [0, 1].
        # It is carried by the gate (C_in = C_out = scale), not folded into the weights: the weights
        # stay the teacher's, so Adam's steps on them are the same as for the teacher's own
        # fine-tune (folding rescales W_enc by 1/scale and W_dec by scale, i.e. the relative step
        # sizes; measured on the layer-3 TopK L0~8 teacher, 300 steps: held-out MSE 13.14 unfolded
        # against 13.36 folded, control 13.33).
        nz = y[y > 0]
        if nz.numel() == 0:
            raise ValueError("the TopK teacher never fires on the calibration tokens: no gate scale")
        scale = float(torch.kthvalue(nz.cpu(), max(1, math.ceil(relu_quantile * nz.numel()))).values)
        c = torch.ones((teacher.cfg.d_sae,), dtype=torch.float64, device=h.device)
        counts = {"theta_nonpositive": 0, "dead_scale_from_median": 0}
        extra["topk_per_token"] = {"k": int(teacher.cfg.k), "scale": scale,
                                   "relu_quantile": float(relu_quantile)}
    else:
        if family == "topk":
            teacher_l0 = float((y != 0).sum(-1).double().mean())
            tau, _ = estimate_topk_threshold([h], teacher_l0)
            if not tau > 0:
                raise ValueError(
                    f"estimated TopK threshold tau_k = {tau:.4g} is not positive: k = {teacher.cfg.k} "
                    "exceeds the number of positive pre-activations per token"
                )
        if family == "topk" and topk_thresholds == "per_latent":
            threshold, info = topk_latent_thresholds(h, x_n, W_dec, b_dec, teacher_l0, tau=tau)
            extra["topk_threshold_search"] = {**info, "teacher_l0_calibration": teacher_l0}
            c, counts = threshold / kappa, {"theta_nonpositive": 0, "dead_scale_from_median": 0}
        else:  # ReLU, JumpReLU (threshold) and global-threshold TopK (tau)
            c, counts = latent_scales(
                family, h, kappa=kappa, threshold=threshold, relu_quantile=relu_quantile, tau=tau
            )
    lap("thresholds")
    W_enc, b_enc, W_dec = fold_scales(W_enc, b_enc, W_dec, c)
    b_enc = b_enc + beta  # the edge placement's offset (0 otherwise): t = h / c + beta
    u = h / c
    # What the gate must reproduce, per element, in folded units: the teacher's own output for
    # ReLU/JumpReLU and per-token TopK; for element-wise TopK the thresholded gate (the thresholds
    # were chosen for it above).
    y_n = normalised_teacher_gate(u, kappa) if family == "topk" and not per_token else y / c
    select = TopKGate(teacher.cfg.k) if per_token else None
    # 4. calibration on the teacher's real pre-activations (the edge gate is exact: none needed)
    if jump == "edge" or per_token:
        # exact by construction; the measured error on the calibration elements is reported
        a64, b64 = (torch.tensor(v, dtype=torch.float64) for v in (gate_fit.a, gate_fit.b))
        one = torch.ones((), dtype=torch.float64)
        c_gate = scale if per_token else 1.0
        if per_token:  # the selection needs whole rows: the gate on every element, 1024 rows at a time
            sc = torch.tensor(scale, dtype=torch.float64)
            z = torch.cat([select(sc * _gate_unrectified(ub, a64, b64, sc).clamp_min(0.0))
                           for ub in u.split(1024)])
            keep = (y_n > 0) | (z > 0)
            z = z[keep]
        else:
            keep = (y_n > 0) | (u > kappa)
            z = _gate_unrectified(u[keep] + beta, a64, b64, one).clamp_min(0.0)
        err = float(((z - y_n[keep]) ** 2).mean()) if bool(keep.any()) else 0.0
        cal = CalibrationResult(list(gate_fit.a), list(gate_fit.b), c_gate, c_gate, err, err, 0,
                                int(keep.sum()), 0.0)
    else:
        with torch.enable_grad():
            cal = calibrate_gate(u.reshape(-1).cpu(), y_n.reshape(-1).cpu(), gate_fit.a, gate_fit.b,
                                 kappa=kappa, steps=calibration_steps, lr=calibration_lr)
    lap("calibration")
    t = (u + beta) / cal.c_in
    cfg = SAEConfig(
        d_in=teacher.cfg.d_in, d_sae=teacher.cfg.d_sae, architecture="rational",
        apply_b_dec_to_input=teacher.cfg.apply_b_dec_to_input,
        normalize_activations=teacher.cfg.normalize_activations, dtype=teacher.cfg.dtype,
        device=teacher.cfg.device, source_format="rsae",
        metadata={**teacher.cfg.metadata, "teacher_architecture": family,
                  "teacher_source_format": teacher.cfg.source_format, "upgrade_kappa": kappa,
                  "upgrade_tau_k": tau, "upgrade_jump": jump, "upgrade_offset": beta},
        rational_type=tuple(gate_fit.type), k=teacher.cfg.k if per_token else None,
    )
    rsae = RationalSAE(cfg, gate_backend=gate_backend)
    g = rsae.gate
    g.a.copy_(torch.tensor(cal.a, dtype=torch.float64).to(g.a.dtype))
    g.b.copy_(torch.tensor(cal.b, dtype=torch.float64).to(g.b.dtype))
    g.c_in.fill_(cal.c_in)
    g.c_out.fill_(cal.c_out)
    if refit_decoder:
        # codes of the RSAE as built (float64 arithmetic, the gate's own coefficients)
        z = rsae.activation((x_n - b_dec) @ W_enc + b_enc if teacher.cfg.apply_b_dec_to_input
                            else x_n @ W_enc + b_enc)
        before = float(((z @ W_dec + b_dec - x_n) ** 2).sum(-1).mean())
        W_dec = refit_decoder_ridge(z, x_n, W_dec, b_dec, refit_ridge)
        after = float(((z @ W_dec + b_dec - x_n) ** 2).sum(-1).mean())
        extra["refit_decoder_stats"] = {"ridge": float(refit_ridge), "mse_calibration_before": before,
                                  "mse_calibration_after": after}
    lap("refit")
    dt = rsae.dtype
    rsae.W_enc.copy_(W_enc.to(dt))
    rsae.b_enc.copy_(b_enc.to(dt))
    rsae.W_dec.copy_(W_dec.to(dt))
    rsae.b_dec.copy_(teacher.b_dec.detach().to(dt))
    lap("build")
    report = UpgradeReport(
        family=family, gate_fit=gate_fit, calibration=cal, tau_k=tau, counts=counts,
        frac_t_below=float((t < -1).double().mean()), frac_t_above=float((t > 1).double().mean()),
        n_calibration_tokens=int(x.shape[0]), seconds=time.perf_counter() - t_start, jump=jump,
        topk_thresholds=topk_thresholds if family == "topk" else None, refit_decoder=bool(refit_decoder),
        timings=timings, extra=extra,
    )
    return rsae, report
