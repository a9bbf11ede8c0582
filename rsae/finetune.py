"""Fine-tune an SAE (the paper's step 2): Adam on all parameters with an L0 controller.

Objective, per batch of ``B`` tokens:

.. math::

    \\mathcal L = \\frac1B \\sum_n \\lVert x_n - \\hat x_n \\rVert_2^2
                + \\lambda \\frac1B \\sum_n \\sum_j |z_{nj}|\\, \\lVert W_{\\mathrm{dec},j} \\rVert_2
                \\; (+\\ \\text{the gate's auxiliary loss, if it defines one}).

The l1 term is weighted by decoder-row norms (Conerly et al. 2024, Anthropic's "April update"):
it is then invariant to the per-latent rescaling ``z_j -> z_j / c_j``, ``W_dec,j -> c_j W_dec,j``
that the init uses (:mod:`rsae.upgrade`), so folding scales does not change the problem.

``lambda`` is set by an :class:`L0Controller` so that the L0 (count of exact non-zeros) stays at a
target (the teacher's, or the user's): improvements are then measured at matched sparsity.  The
controller has a second, direct actuator (a global shift of ``b_enc`` that only ever removes
excess actives), and the run ends with an exact trim (:func:`trim_l0`): one global ``b_enc``
shift, found by bracketing + regula falsi on training tokens, that puts the L0 in
``[(1 - trim_rtol) target, target]``.  TopK SAEs (L0 fixed by ``k``) get neither.

Dead latents (:mod:`rsae.dead_latents`, on by default): a latent pushed below the edge of its
gate's zero set gets no gradient from any term and never comes back, and Adam's sign-like steps
on the rare gradients of rare latents push them there (measured: the study's JumpReLU L0~64 RSAE
lost 0.883 -> 0.49 alive in 300 steps with the l1 weight at ~0 and no shift or trim).  After
each step, a latent that has not fired for ``revive_after`` training tokens gets its own
``b_enc[j]`` raised by the least amount that makes it fire on its ``revive_tokens`` best tokens of
the batch (:class:`~rsae.dead_latents.LatentReviver`; a per-latent, upward counterpart of the
global shift; the resampling idea of Bricken et al. 2023 restricted to the bias), if it was alive
at the start (fired on ``ALIVE_TOKENS`` training rows) or has fired since.  The L0 controller
takes back the few actives this adds.  It applies to every model ``finetune`` trains,
the study's same-budget controls included.

Pieces, kept separate so that a distributed trainer can reuse them:

* :func:`compute_loss` -- the pure loss ``(model, x, lam) -> (loss, stats)``;
* :class:`L0Controller` -- integral control of ``log lambda`` on the measured L0;
* :class:`~rsae.activations.BatchSampler` -- data order as a function of ``(seed, step)``;
* :func:`train_step` -- one optimiser step with clipping and divergence detection (then the
  controller's shift and, with ``revive_after > 0``, :meth:`LatentReviver.step
  <rsae.dead_latents.LatentReviver.step>`);
* :func:`finetune` -- the loop: warm-up + cosine decay, atomic checkpoints, resume, divergence
  recovery (restore the last good state, halve the rate, count it; never write NaN), final trim.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._io import write_atomic
from .activations import ArrayActivations, BatchSampler
from .dead_latents import LatentReviver

__all__ = [
    "DivergenceError",
    "FinetuneConfig",
    "FinetuneResult",
    "L0Controller",
    "TensorActivations",
    "TrainState",
    "compute_loss",
    "finetune",
    "lr_at",
    "shift_sensitivity",
    "train_step",
    "trim_l0",
]

CHECKPOINT_NAME = "finetune_state.pt"
# training rows on which the latents alive at the start are found (the revival keeps those); the
# study counts "alive" on 32640 held-out rows, so a latent alive there is found here too
ALIVE_TOKENS = 65536


class DivergenceError(RuntimeError):
    """Training diverged more often than ``FinetuneConfig.max_divergences`` allows."""


@dataclass
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune` (defaults sized for small SAEs on CPU).

    ``revive_after`` (tokens, 0 = off) and ``revive_tokens``: the per-latent revival of
    :class:`~rsae.dead_latents.LatentReviver`, ``b_enc[j] += Delta_j`` with ``Delta_j`` the least
    raise that makes a latent silent for ``revive_after`` tokens fire on its ``revive_tokens``
    best tokens of the batch (see :mod:`rsae.dead_latents` for the formula); only latents alive at
    the start (on ``ALIVE_TOKENS`` training rows) or since are revived.  The default 16384
    (16 batches of 1024) is half the 32640 held-out tokens the study counts "alive" on.
    """

    steps: int = 1000
    batch_size: int = 1024
    lr: float = 1e-3  # Adam rate for the weights
    gate_lr: float | None = None  # rate for the gate's shared scalars (default: lr)
    warmup: int = 50  # linear warm-up steps
    final_lr_fraction: float = 0.1  # cosine decay to this fraction of the rate
    grad_clip: float = 1.0  # max global gradient norm
    target_l0: float | None = None  # None: hold the L0 measured at step 0
    l1_init: float | None = None  # None: the stationary lambda of the starting weights (0 for TopK)
    controller_ki: float = 0.02  # integral gain: d log(lambda) per step per unit log(L0 / target)
    controller_kp: float = 0.5  # proportional gain on log(L0 / target)
    controller_ema: float = 0.7  # smoothing of the measured L0
    # second actuator: fraction of the estimated one-step L0 correction applied to b_enc per step
    # (0 disables it); see L0Controller
    shift_gain: float = 0.3
    final_trim: bool = True  # end with an exact L0 trim (a global b_enc shift) on training tokens
    trim_tokens: int = 16384  # training tokens the trim measures L0 on
    trim_rtol: float = 0.002  # the trim stops once L0 is in [target (1 - trim_rtol), target]
    # per-latent revival (rsae.dead_latents.LatentReviver): a latent silent for this many training
    # tokens gets its b_enc raised to fire on its `revive_tokens` best tokens of the batch (0: off)
    revive_after: int = 16384
    revive_tokens: int = 1
    checkpoint_every: int = 100
    seed: int = 0
    max_divergences: int = 5

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError("`steps` must be >= 0 and `batch_size` >= 1")
        if self.lr <= 0 or (self.gate_lr is not None and self.gate_lr <= 0):
            raise ValueError("`lr` and `gate_lr` must be positive")
        if self.shift_gain < 0:
            raise ValueError(f"`shift_gain` must be >= 0, got {self.shift_gain}")
        if self.trim_tokens < 1 or not 0 < self.trim_rtol < 1:
            raise ValueError("`trim_tokens` must be >= 1 and `trim_rtol` in (0, 1)")
        if self.revive_after < 0 or self.revive_tokens < 1:
            raise ValueError("`revive_after` must be >= 0 (0: off) and `revive_tokens` >= 1")


class TensorActivations:
    """An in-memory ``[N, d_in]`` tensor with the ``take``/``n_tokens`` interface of a file source."""

    def __init__(self, x: Tensor) -> None:
        if x.dim() != 2:
            raise ValueError(f"activations must be [N, d_in], got {tuple(x.shape)}")
        self.x = x.float()
        self.n_tokens, self.d_in = x.shape

    def take(self, index: np.ndarray) -> Tensor:
        return self.x[torch.from_numpy(np.asarray(index, dtype=np.int64))]


# --------------------------------------------------------------------------- loss + controller
def _decoder_norms(model: torch.nn.Module) -> Tensor:
    return model.W_dec.norm(dim=-1)


def compute_loss(
    model: torch.nn.Module,
    x: Tensor,
    lam: float,
    aux_loss: Callable[..., Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """``mse + lam * l1 (+ aux)`` on ``x [B, d_in]``; stats are floats (mse, l1, l0, loss).

    ``aux_loss(model=, x=, h=, z=, x_hat=)`` may add a term (e.g. the AuxK loss of a TopK control,
    Gao et al. 2024); a gate may define ``aux_loss`` itself with the same keywords.
    """
    x = x.to(device=model.W_enc.device, dtype=model.dtype)
    h = model.pre_acts(x)
    z = model.activation(h)
    if model.cfg.normalize_activations in ("none", "expected_average_only_in"):
        x_hat = model.decode(z)
    else:
        x_hat = model(x)
    mse = ((x - x_hat) ** 2).sum(-1).mean()
    l1 = (z.abs() * _decoder_norms(model)).sum(-1).mean()
    loss = mse + lam * l1
    for fn in (aux_loss, getattr(model.gate, "aux_loss", None)):
        if fn is not None:
            loss = loss + fn(model=model, x=x, h=h, z=z, x_hat=x_hat)
    l0 = float((z != 0).sum(-1).double().mean())
    stats = {"loss": float(loss.detach()), "mse": float(mse.detach()), "l1": float(l1.detach()), "l0": l0}
    return loss, stats


@dataclass
class L0Controller:
    """Two actuators that hold the L0 at ``target``: PI control of ``log lambda``, and a global shift.

    **lambda.** With ``e = log(L0_ema / target)`` (clipped to ``[-1, 1]``), the integral part
    accumulates ``I += ki * e`` and ``log lambda = I + kp * e``.  Working in log space makes updates
    multiplicative (lambda stays positive, steps are relative); the proportional term damps the
    oscillation that pure integral control shows (L0 reacts to lambda with the lag of the
    optimiser); the EMA of the measured L0 filters batch noise.  More actives than the target raise
    lambda, fewer lower it.

    **Shift.** lambda acts only through the optimiser, slowly: on threshold-like gates (JumpReLU-
    and TopK-derived RSAEs) the MSE gradient lowered the effective thresholds faster than the
    l1 term could answer, and L0 drifted up to 26% above the target within 100 steps (the
    figures are in docs/rsae.md, "Fine-tune and the L0 controller").  The second
    actuator moves every pre-activation directly: after each step ``b_enc -= ds`` with

    .. math::

        ds = \\gamma \\, \\frac{\\log(L0_\\mathrm{batch} / \\mathrm{target})}{S}, \\qquad
        S = -\\frac{d \\log L0}{d s} \\ (> 0),

    i.e. a fraction ``gamma = shift_gain`` of the Newton step that would put the batch L0 on the
    target (the sensitivity ``S`` is measured once, by central differences on the first batch).
    ``shift`` accumulates the total moved.  ``S = 0`` (an L0 that does not react, e.g. a TopK SAE
    with its fixed ``k``) or ``shift_gain = 0`` leaves the shift off.
    """

    target: float
    log_lam: float  # the integral part I
    ki: float = 0.02
    kp: float = 0.5
    ema: float = 0.7
    l0_ema: float | None = None
    err: float = 0.0
    shift_gain: float = 0.0
    shift_sensitivity: float = 0.0  # S = -d log L0 / d shift, per unit of b_enc
    shift: float = 0.0  # total subtracted from b_enc so far

    @property
    def lam(self) -> float:
        return math.exp(self.log_lam + self.kp * self.err)

    def update(self, l0: float) -> float:
        self.l0_ema = l0 if self.l0_ema is None else self.ema * self.l0_ema + (1 - self.ema) * l0
        self.err = max(-1.0, min(1.0, math.log(max(self.l0_ema, 1e-3) / self.target)))
        self.log_lam += self.ki * self.err
        return self.lam

    def shift_step(self, l0: float) -> float:
        """The shift ``ds`` to subtract from ``b_enc`` after a step whose batch L0 was ``l0``."""
        if self.shift_gain <= 0 or not self.shift_sensitivity > 0:
            return 0.0
        e = max(-1.0, min(1.0, math.log(max(l0, 1e-3) / self.target)))
        total = max(0.0, self.shift + self.shift_gain * e / self.shift_sensitivity)
        ds, self.shift = total - self.shift, total
        return ds

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, d: dict[str, Any]) -> None:
        for k, v in d.items():
            setattr(self, k, v)


def _fixed_sparsity(model: torch.nn.Module) -> bool:
    """A TopK SAE or TopK Rational SAE (``cfg.k`` set) fixes its L0 (at most ``k``) by
    construction: no shift, no trim."""
    cfg = getattr(model, "cfg", None)
    arch = getattr(cfg, "architecture", None)
    return arch == "topk" or (arch == "rational" and getattr(cfg, "k", None) is not None)


@torch.no_grad()
def _shift_b_enc(model: torch.nn.Module, ds: float) -> None:
    """``b_enc -= ds``: every pre-activation moves by ``-ds`` (times ``||W_dec[j]||`` for TopK
    with ``rescale_acts_by_decoder_norm``), so the count of active latents moves monotonically."""
    model.b_enc.sub_(ds)


def _l0_at_shift(model: torch.nn.Module, xs: list[Tensor], ds: float) -> float:
    """Mean L0 over the batches ``xs`` with ``b_enc`` shifted by ``-ds`` (restored bit for bit)."""
    count, n = _active_count_at_shift(model, xs, ds)
    return count / max(n, 1)


@torch.no_grad()
def _active_count_at_shift(model: torch.nn.Module, xs: list[Tensor], ds: float) -> tuple[int, int]:
    """``(non-zero codes, rows)`` over the batches ``xs`` with ``b_enc`` shifted by ``-ds``."""
    b0 = model.b_enc.detach().clone()
    try:
        _shift_b_enc(model, ds)
        count, n = 0, 0
        for x in xs:
            z = model.encode(x.to(device=model.W_enc.device, dtype=model.dtype))
            count += int((z != 0).sum())
            n += z.shape[0]
    finally:
        model.b_enc.copy_(b0)
    return count, n


@torch.no_grad()
def _preact_std(model: torch.nn.Module, x: Tensor) -> float:
    """Standard deviation of the pre-activations of batch ``x`` (float32)."""
    return float(model.pre_acts(x.to(device=model.W_enc.device, dtype=model.dtype)).float().std())


def shift_sensitivity(
    model: torch.nn.Module, x: Tensor, rel_step: float = 0.05, *,
    preact_std: Callable[[], float] | None = None, l0_fn: Callable[[float], float] | None = None,
) -> float:
    """``S = -d log L0 / d shift`` of a ``b_enc`` shift, by a central difference on batch ``x``.

    The step is ``rel_step`` times the standard deviation of the pre-activations.  Returns 0
    when the L0 does not react (or vanishes) within the step.  ``preact_std()`` and ``l0_fn(s)``,
    if given, replace that standard deviation and the measurement ``_l0_at_shift(model, [x], s)``
    (a data-parallel caller passes global ones, :mod:`rsae.distributed`).
    """
    step = rel_step * (preact_std() if preact_std is not None else _preact_std(model, x))
    if not step > 0 or not math.isfinite(step):
        return 0.0
    if l0_fn is None:
        l0_fn = lambda s: _l0_at_shift(model, [x], s)
    lo, hi = l0_fn(step), l0_fn(-step)
    if not (lo > 0 and hi > lo):
        return 0.0
    return (math.log(hi) - math.log(lo)) / (2 * step)


def lr_at(step: int, cfg: FinetuneConfig) -> float:
    """Multiplier of the base rate: linear warm-up, then cosine decay to ``final_lr_fraction``."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return (step + 1) / cfg.warmup
    span = max(cfg.steps - cfg.warmup, 1)
    prog = min(max(step - cfg.warmup, 0) / span, 1.0)
    f = cfg.final_lr_fraction
    return f + (1 - f) * 0.5 * (1 + math.cos(math.pi * prog))


# --------------------------------------------------------------------------- state + step
@dataclass
class TrainState:
    """Everything a step needs and a checkpoint holds."""

    cfg: FinetuneConfig
    optimizer: torch.optim.Optimizer
    controller: L0Controller
    step: int = 0
    lr_scale: float = 1.0  # halved at each divergence
    divergences: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    aux_loss: Callable[..., Tensor] | None = None
    trim: dict[str, float] | None = None  # the final L0 trim's record, once done
    reviver: LatentReviver | None = None  # per-latent revival of dead latents (cfg.revive_after > 0)


def _finite_params(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train_step(model: torch.nn.Module, x: Tensor, state: TrainState) -> dict[str, float] | None:
    """One Adam step on batch ``x``; returns stats, or ``None`` if the step diverged.

    Divergence = non-finite loss, gradient or (after the step) parameters.  On ``None`` the
    caller must restore a good state: the parameters may already be corrupted.
    """
    cfg = state.cfg
    mult = lr_at(state.step, cfg) * state.lr_scale
    for g in state.optimizer.param_groups:
        g["lr"] = g["base_lr"] * mult
    state.optimizer.zero_grad(set_to_none=True)
    loss, stats = compute_loss(model, x, state.controller.lam, state.aux_loss)
    if not math.isfinite(stats["loss"]):
        return None
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    if not bool(torch.isfinite(gnorm)):
        return None
    state.optimizer.step()
    if not _finite_params(model):
        return None
    stats.update(lam=state.controller.lam, lr=mult * cfg.lr, grad_norm=float(gnorm))
    state.controller.update(stats["l0"])
    ds = state.controller.shift_step(stats["l0"])
    if ds:
        _shift_b_enc(model, ds)
    stats["shift"] = state.controller.shift
    if state.reviver is not None:
        stats["revived"] = float(state.reviver.step(model, x))
    state.step += 1
    return stats


def make_optimizer(model: torch.nn.Module, cfg: FinetuneConfig) -> torch.optim.Optimizer:
    """Adam with two groups: the SAE weights (``lr``) and the gate's parameters (``gate_lr``)."""
    gate_ids = {id(p) for p in model.gate.parameters()}
    weights = [p for p in model.parameters() if id(p) not in gate_ids and p.requires_grad]
    gate = [p for p in model.gate.parameters() if p.requires_grad]
    groups = [{"params": weights, "base_lr": cfg.lr, "lr": cfg.lr}]
    if gate:
        glr = cfg.gate_lr or cfg.lr
        groups.append({"params": gate, "base_lr": glr, "lr": glr})
    return torch.optim.Adam(groups, betas=(0.9, 0.999))


# --------------------------------------------------------------------------- checkpoints
def _atomic_torch_save(obj: Any, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _snapshot(model: torch.nn.Module, state: TrainState) -> dict[str, Any]:
    return {
        "format": "rsae.finetune/1",
        "model": copy.deepcopy(model.state_dict()),
        "optimizer": copy.deepcopy(state.optimizer.state_dict()),
        "controller": state.controller.state_dict(),
        "step": state.step,
        "lr_scale": state.lr_scale,
        "divergences": state.divergences,
        "history": list(state.history),
        "trim": state.trim,
        "reviver": None if state.reviver is None else copy.deepcopy(state.reviver.state_dict()),
        "config": asdict(state.cfg),
        "torch_rng": torch.get_rng_state(),
    }


def _restore(model: torch.nn.Module, state: TrainState, snap: dict[str, Any], *, keep_counters: bool) -> None:
    model.load_state_dict(snap["model"])
    state.optimizer.load_state_dict(snap["optimizer"])
    state.controller.load_state_dict(snap["controller"])
    state.step = snap["step"]
    state.history = list(snap["history"])
    state.trim = snap.get("trim")
    if state.reviver is not None and snap.get("reviver") is not None:
        state.reviver.load_state_dict(copy.deepcopy(snap["reviver"]))
    torch.set_rng_state(snap["torch_rng"])
    if not keep_counters:
        state.lr_scale = snap["lr_scale"]
        state.divergences = snap["divergences"]


def _trim_batches(data: Any, cfg: FinetuneConfig, n: int | None = None) -> list[Tensor]:
    """A fixed sample of ``n`` (default ``trim_tokens``) training rows (seed ``cfg.seed``), in batches."""
    n = min(cfg.trim_tokens if n is None else n, data.n_tokens)
    idx = np.sort(np.random.default_rng([cfg.seed, 0x7472696D]).choice(data.n_tokens, size=n, replace=False))
    return [data.take(idx[i : i + cfg.batch_size]) for i in range(0, n, cfg.batch_size)]


def trim_l0(
    model: torch.nn.Module, xs: list[Tensor], target: float, *, rtol: float = 0.002,
    sensitivity: float = 0.0, max_evals: int = 40, l0_fn: Callable[[float], float] | None = None,
    preact_std: Callable[[], float] | None = None,
) -> dict[str, float]:
    """Shift ``b_enc`` by one global ``-s`` so the mean L0 on ``xs`` is in ``[(1 - rtol) target, target]``.

    One-sided: an L0 already at or below the target is left alone.  Raising L0 by a global shift
    also adds the shift to every active code, which can cost far more reconstruction than the
    sparsity is worth (the synthetic JumpReLU demo ended 400 steps at L0 4.2 against a target of
    6.4; trimming up to 6.4 took the held-out MSE from ~4.5 to 12.4).  Matched sparsity only needs
    "not above the target".

    ``L0(s)`` is non-increasing in ``s`` for gates that are non-decreasing in the pre-activation
    near their zero set (every teacher gate and the fitted rational gates), and a step function
    on a finite sample.  The root of ``log L0(s) - log target`` is bracketed from a first guess
    ``s_1 = log(L0(0) / target) / S`` (``S`` = :func:`shift_sensitivity`, or a step of 5% of the
    pre-activations' spread), doubling until the sign changes, and then found by regula falsi with
    the Illinois modification (Dowell & Jarratt 1971), which keeps the bracket and converges
    superlinearly on smooth functions.  When the step function has no value in the window (a
    plateau straddles it), the shift with L0 just at or below the target is taken and
    ``converged`` is 0.

    ``l0_fn(s)``, if given, replaces the measurement ``_l0_at_shift(model, xs, s)`` of the mean L0
    at shift ``s``: a data-parallel caller (:mod:`rsae.distributed`) passes one that sums the counts
    over all ranks' tokens, so that every rank takes the same steps and applies the same shift;
    ``preact_std()``, likewise, the standard deviation of ``xs[0]``'s pre-activations that sizes
    the fallback first step.

    Returns a record: ``trim_shift`` (the ``s`` applied), ``l0_before_trim``, ``l0`` (after),
    ``trim_tokens``, ``trim_evals``, ``trim_converged`` (1.0 / 0.0).
    """
    n_tok = sum(int(x.shape[0]) for x in xs)
    l0_at: dict[float, float] = {}

    def g(s: float) -> float:  # log(L0(s) / target); -inf when nothing fires
        l0_at[s] = l0_fn(s) if l0_fn is not None else _l0_at_shift(model, xs, s)
        return math.log(l0_at[s] / target) if l0_at[s] > 0 else -math.inf

    lo_bound = math.log1p(-rtol)
    g0 = g(0.0)
    rec = {"trim_shift": 0.0, "l0_before_trim": l0_at[0.0], "l0": l0_at[0.0], "trim_tokens": float(n_tok),
           "trim_evals": 1.0, "trim_converged": 1.0}
    if g0 <= 0.0:  # at or below the target: never trim upwards (see above)
        return rec
    if sensitivity > 0 and math.isfinite(g0):
        step = abs(g0) / sensitivity
    else:
        step = 0.05 * (preact_std() if preact_std is not None else _preact_std(model, xs[0]))
    if not step > 0:  # no pre-activation spread: no shift can move L0 (doubling 0 would never end)
        rec.update(trim_converged=0.0)
        return rec
    # 1. Bracket [a, b] with g(a) > 0 >= g(b) (L0 falls as s grows), doubling the first guess.
    a, ga, b = 0.0, g0, step
    gb = g(b)
    while gb > 0 and len(l0_at) < max_evals:
        a, ga, b = b, gb, 2 * b
        gb = g(b)
    if not ga > 0 >= gb:  # L0 does not reach the target within the search: leave the model alone
        rec.update(trim_evals=float(len(l0_at)), trim_converged=0.0)
        return rec
    # 2. Regula falsi, Illinois variant: wa, wb are the values used for interpolation (the end
    #    that stays put twice in a row has its value halved); ga, gb stay the measured ones.
    wa, wb, side = ga, gb, 0
    while not lo_bound <= gb <= 0.0 and len(l0_at) < max_evals:
        c = 0.5 * (a + b)
        if math.isfinite(wa) and math.isfinite(wb) and wa != wb:
            c_sec = b - wb * (b - a) / (wb - wa)
            if min(a, b) < c_sec < max(a, b):
                c = c_sec
        if c in l0_at or c == a or c == b:  # no representable progress left
            break
        gc = g(c)
        if gc > 0:
            a, ga, wa = c, gc, gc
            if side == -1:
                wb *= 0.5
            side = -1
        else:
            b, gb, wb = c, gc, gc
            if side == 1:
                wa *= 0.5
            side = 1
    _shift_b_enc(model, b)  # L0 at b (<= target) was measured with exactly this arithmetic
    rec.update(trim_shift=b, l0=l0_at[b], trim_evals=float(len(l0_at)),
               trim_converged=float(lo_bound <= gb <= 0.0))
    return rec


# --------------------------------------------------------------------------- the loop
@dataclass
class FinetuneResult:
    steps: int
    divergences: int
    lr_scale: float
    final_lambda: float
    target_l0: float
    history: list[dict[str, float]]
    seconds: float
    resumed_from: int | None = None
    trim: dict[str, float] | None = None  # record of the final L0 trim (:func:`trim_l0`), if run

    def summary(self) -> dict[str, Any]:
        steps = [h for h in self.history if "loss" in h]  # the trim's record has no loss
        return {"steps": self.steps, "divergences": self.divergences, "lr_scale": self.lr_scale,
                "final_lambda": self.final_lambda, "target_l0": self.target_l0,
                "last": steps[-1] if steps else {}, "trim": self.trim, "seconds": self.seconds,
                "resumed_from": self.resumed_from}


def finetune(
    model: torch.nn.Module,
    data: ArrayActivations | TensorActivations | Tensor,
    cfg: FinetuneConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = False,
    aux_loss: Callable[..., Tensor] | None = None,
    fault: Callable[[int, torch.nn.Module], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` in place on ``data`` with the L0 controller.

    Parameters
    ----------
    model : rsae.sae.SAE
        Any SAE (RationalSAE, or a teacher fine-tuned with its own gate as a control).
    data : ArrayActivations, TensorActivations or Tensor
        Row-addressable activations (``take(index)``, ``n_tokens``); the order of batches is
        :class:`BatchSampler` ``(seed, step)``.
    cfg : FinetuneConfig
    out : path, optional
        Directory for ``finetune_state.pt``, written atomically every ``checkpoint_every`` steps
        and at the end (weights, optimiser, controller, RNG, step = data position).
    resume : bool
        Continue from ``out/finetune_state.pt`` if it exists.
    fault : callable, optional
        Test hook called as ``fault(step, model)`` before each step (e.g. to inject a NaN).

    Returns
    -------
    FinetuneResult
        ``history`` has one record per step (loss, mse, l1, l0 of the batch, lam, lr, grad_norm,
        shift = total ``b_enc`` shift of the controller, revived = latents revived after the
        step); when ``cfg.final_trim`` ran, a last record with the :func:`trim_l0` fields
        (``l0`` = trimmed L0 on the trim tokens), also in ``FinetuneResult.trim``.  The checkpoint
        holds the controller (shift included), the reviver's tokens-since-firing counters and the
        trim record, so a resumed run reproduces an uninterrupted one and is not trimmed twice.

    Raises
    ------
    ValueError
        Target L0 not in ``(0, d_sae]``.
    DivergenceError
        More than ``max_divergences`` divergences.
    """
    cfg = cfg or FinetuneConfig()
    t0 = time.perf_counter()
    if isinstance(data, Tensor):
        data = TensorActivations(data)
    if data.d_in != model.cfg.d_in:
        raise ValueError(
            f"d_in mismatch: the SAE expects d_in = {model.cfg.d_in}, activations have {data.d_in}"
        )
    d_sae = model.cfg.d_sae
    if cfg.target_l0 is not None and not 0 < cfg.target_l0 <= d_sae:
        raise ValueError(f"impossible target L0 {cfg.target_l0}: it must be in (0, d_sae = {d_sae}]")
    sampler = BatchSampler(data.n_tokens, cfg.batch_size, cfg.seed)
    ckpt = Path(out) / CHECKPOINT_NAME if out is not None else None
    optimizer = make_optimizer(model, cfg)
    reviver = LatentReviver(cfg.revive_after, cfg.revive_tokens) if cfg.revive_after > 0 else None
    resumed_from = None
    if resume and ckpt is not None and ckpt.is_file():
        snap = torch.load(ckpt, map_location="cpu", weights_only=True)  # tensors, dicts, numbers: no code
        controller = L0Controller(**snap["controller"])
        state = TrainState(cfg, optimizer, controller, aux_loss=aux_loss, reviver=reviver)
        _restore(model, state, snap, keep_counters=False)
        resumed_from = state.step
    else:
        controller = _initial_controller(model, data, sampler, cfg)
        state = TrainState(cfg, optimizer, controller, aux_loss=aux_loss, reviver=reviver)
        if reviver is not None:  # what is alive at the start is kept alive (LatentReviver)
            reviver.mark_alive(model, _trim_batches(data, cfg, ALIVE_TOKENS))
        torch.manual_seed(cfg.seed)
    good = _snapshot(model, state)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=state.step, desc="fine-tune", dynamic_ncols=True)
    while state.step < cfg.steps:
        if fault is not None:
            fault(state.step, model)
        x = data.take(sampler.indices(state.step))
        stats = train_step(model, x, state)
        if stats is None:
            state.divergences += 1
            if state.divergences > cfg.max_divergences:
                if bar is not None:
                    bar.close()
                raise DivergenceError(
                    f"fine-tuning diverged {state.divergences} times (last at step {state.step}); "
                    "lower --lr"
                )
            lr_scale, divs = state.lr_scale * 0.5, state.divergences
            _restore(model, state, good, keep_counters=True)
            state.lr_scale, state.divergences = lr_scale, divs
            if bar is not None:
                bar.n = state.step
                bar.set_postfix_str(f"diverged: restored step {state.step}, lr x{state.lr_scale:g}")
            continue
        stats["step"] = state.step
        state.history.append(stats)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(mse=f"{stats['mse']:.4g}", l0=f"{stats['l0']:.1f}", lam=f"{stats['lam']:.3g}")
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            good = _snapshot(model, state)
            if ckpt is not None:
                _atomic_torch_save(good, ckpt)
    if bar is not None:
        bar.close()
    if cfg.final_trim and cfg.steps > 0 and state.trim is None and not _fixed_sparsity(model):
        state.trim = trim_l0(
            model, _trim_batches(data, cfg), state.controller.target, rtol=cfg.trim_rtol,
            sensitivity=state.controller.shift_sensitivity,
        )
        state.history.append({"step": float(state.step), **state.trim})
        if ckpt is not None:
            _atomic_torch_save(_snapshot(model, state), ckpt)
    return FinetuneResult(
        steps=state.step, divergences=state.divergences, lr_scale=state.lr_scale,
        final_lambda=state.controller.lam, target_l0=state.controller.target, history=state.history,
        seconds=time.perf_counter() - t0, resumed_from=resumed_from, trim=state.trim,
    )


def stationary_lambda(model: torch.nn.Module, x: Tensor) -> float:
    """``argmin_lambda || grad MSE + lambda grad L1 ||^2 = -<g_mse, g_l1> / ||g_l1||^2``.

    The l1 coefficient for which the current weights are closest to a stationary point of the
    objective: for a teacher trained with an l1 penalty it recovers that penalty's scale, and for
    any other start it is the rate at which sparsity and reconstruction pull against each other.
    Returns NaN when it is not positive (the two gradients do not oppose each other).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    x = x.to(device=model.W_enc.device, dtype=model.dtype)
    z = model.activation(model.pre_acts(x))
    mse = ((x - model.decode(z)) ** 2).sum(-1).mean()
    l1 = (z.abs() * _decoder_norms(model)).sum(-1).mean()
    g_mse = torch.autograd.grad(mse, params, retain_graph=True, allow_unused=True)
    g_l1 = torch.autograd.grad(l1, params, allow_unused=True)
    dot = sum(float((a * b).sum()) for a, b in zip(g_mse, g_l1) if a is not None and b is not None)
    nrm = sum(float((b * b).sum()) for b in g_l1 if b is not None)
    lam = -dot / nrm if nrm > 0 else float("nan")
    return lam if lam > 0 else float("nan")


def _initial_controller(
    model: torch.nn.Module, data: Any, sampler: BatchSampler, cfg: FinetuneConfig
) -> L0Controller:
    """Target = ``cfg.target_l0`` or the L0 at step 0; lambda0 = ``l1_init`` or :func:`stationary_lambda`
    (~0 for a fixed-sparsity model, whose L0 is its k).

    If the stationary lambda is not defined (not positive), lambda0 = 0.1 * MSE / l1.
    """
    x = data.take(sampler.indices(0))
    with torch.no_grad():
        _, s = compute_loss(model, x, 0.0)
    target = cfg.target_l0 if cfg.target_l0 is not None else s["l0"]
    if not target > 0:
        raise ValueError("the model has L0 = 0 at the start: give a positive `target_l0`")
    lam0 = cfg.l1_init
    if lam0 is None and _fixed_sparsity(model):
        # L0 is set by k, not by the l1 term: an l1 weight would only shrink the active codes
        # (measured, TopK RSAE from the layer-3 L0~24 teacher at k = 8, 300 steps: held-out MSE
        # 13.81 with lambda ~ 0 against 16.26 with the stationary lambda; TopK control 14.05)
        lam0 = 0.0
    if lam0 is None:
        lam0 = stationary_lambda(model, x)
        if not math.isfinite(lam0):
            lam0 = 0.1 * s["mse"] / max(s["l1"], 1e-12)
    sens = shift_sensitivity(model, x) if cfg.shift_gain > 0 and not _fixed_sparsity(model) else 0.0
    return L0Controller(
        target=float(target), log_lam=math.log(max(lam0, 1e-12)), ki=cfg.controller_ki, kp=cfg.controller_kp,
        ema=cfg.controller_ema, shift_gain=cfg.shift_gain, shift_sensitivity=sens,
    )
