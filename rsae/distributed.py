"""Data-parallel fine-tuning of an SAE with ``torch.distributed`` (DDP), launched by ``torchrun``.

Every rank holds a full replica of the SAE (a 768 x 24576 SAE is 150 MB in float32, so pure data
parallelism is the right split) and reads **its own shard** of the activation stream:

* the rows ``[0, n)`` of the activation array are cut into ``world_size`` contiguous shards, rank
  ``r`` owning rows ``[r n / W, (r + 1) n / W)`` -- it never touches another rank's rows;
* at step ``s`` rank ``r`` takes ``B / W`` rows of its shard, in the order of a
  :class:`rsae.activations.BatchSampler` seeded with ``(seed, r)`` (a pure function of the step);
* the *global* batch of step ``s`` is the concatenation over ranks of those local batches;
  :func:`global_batch_indices` builds it, and a single process trained on it
  (:func:`train_single_process`) follows the same trajectory up to floating-point reduction order
  (the test checks this with two gloo processes).

The objective, schedule and L0 control are the pipeline's (:mod:`rsae.finetune`), reused piece by
piece: :func:`~rsae.finetune.compute_loss` (``E||x - x_hat||^2 + lambda E sum_j |z_j|
||W_dec,j||``, a mean over tokens), :func:`~rsae.finetune.make_optimizer` (Adam, separate rate for
the gate scalars), :func:`~rsae.finetune.lr_at` (warm-up + cosine), gradient clipping, the
:class:`~rsae.finetune.L0Controller` with both its actuators, the per-latent revival of dead
latents (:class:`~rsae.dead_latents.LatentReviver`, ``cfg.revive_after``) and the final
:func:`~rsae.finetune.trim_l0`.  Because the loss is a mean over tokens, DDP's gradient *average*
over ``W`` equal local batches is exactly the gradient of the global mean; DDP broadcasts rank 0's
parameters at construction, so every replica applies the same Adam update (Kingma & Ba 2015) to
the same averaged gradient.  Everything else that reads data is reduced over ranks too, so every
rank computes the same numbers and the replicas stay equal:

* each step all-reduces the four batch statistics (loss, mse, l1, l0: one 32-byte all-reduce);
  every rank then updates an identical controller -- the PI control of ``log lambda`` and the
  one-sided ``b_enc`` shift ``ds = gamma log(L0 / target) / S`` (``gamma = shift_gain``);
* the shift sensitivity ``S = -d log L0 / d s`` is a central difference on the *global* step-0
  batch, with the pre-activation spread (summed moments) and both L0 values all-reduced;
* the final trim measures L0 on the pipeline's trim sample (``trim_tokens`` rows drawn with
  ``cfg.seed`` from all rows), each rank on the part inside its shard; every L0 of its bracketing
  and regula falsi is an all-reduced count (``trim_l0(..., l0_fn=)``), so all ranks walk the same
  shifts and apply the same one.  Its fallback first step (no sensitivity known) is 5% of the
  *global* pre-activation spread;
* the revival (after each step's shift, as in :func:`rsae.finetune.train_step`) runs with a
  reduction over the ranks (``reduce=`` of :meth:`LatentReviver.step
  <rsae.dead_latents.LatentReviver.step>`): a latent counts as fired if it fired on any rank's
  rows (all-reduce MAX of the mask), the token counters advance by the global batch, and the raise
  of each dead latent is computed from the global batch -- the largest ``|h|`` (MAX; it brackets
  the gate's edge), the spread (summed moments) and the ``m``-th smallest gap to firing over all
  ranks' rows (each rank's ``m`` smallest, all-gathered; ``m = revive_tokens``).  The
  alive-at-start set is the pipeline's (``rsae.finetune.ALIVE_TOKENS`` rows drawn with
  ``cfg.seed`` from all rows), each rank marking the part inside its shard, OR-reduced.  A
  rank-local count would differ: in the test's runs the two halves of a 24-token batch had up to
  6 silent latents where the whole batch had 0.

Fixed-sparsity models (``rsae.finetune._fixed_sparsity``: a TopK SAE) get neither shift nor trim;
they do get the revival (for a per-token TopK the raise lifts the latent into its best token's
top ``k``), as in the pipeline.

What is left out compared with :func:`rsae.finetune.finetune`: checkpoints/resume and divergence
*recovery* (here a non-finite loss or gradient norm, detected identically on every rank, raises
:class:`~rsae.finetune.DivergenceError`), the ``aux_loss`` hook (so no AuxK), and the
stationary-lambda start (lambda0 is ``l1_init`` or the pipeline's fallback ``0.1 mse / l1``, from
global statistics).  The batches are the ranks' shard samplers', not the pipeline's
:class:`~rsae.activations.BatchSampler` over all rows, so a DDP run equals
:func:`train_single_process`, not :func:`rsae.finetune.finetune` with the same seed.  The
per-step statistics are host floats (as in the pipeline's ``compute_loss``), i.e. one host
synchronisation per step; the sync-free GPU loop is ``benchmarks/upgrade_speed.py``.  Backend:
``nccl`` with CUDA, ``gloo`` on CPU.

Usage::

    torchrun --nproc_per_node=8 -m rsae.distributed --checkpoint rsae_init/ \\
        --activations acts.npy --steps 22000 --batch-size 4096 --out rsae_ft/

References
----------
.. [1] S. Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
   VLDB 2020 (DDP).
.. [2] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from rsae.activations import BatchSampler
from rsae.dead_latents import LatentReviver, Reduce
from rsae.finetune import (
    ALIVE_TOKENS,
    DivergenceError,
    FinetuneConfig,
    L0Controller,
    _active_count_at_shift,
    _fixed_sparsity,
    _shift_b_enc,
    _trim_batches,
    compute_loss,
    lr_at,
    make_optimizer,
    shift_sensitivity,
    trim_l0,
)

from ._io import write_json_atomic

__all__ = [
    "DDPResult",
    "SAELoss",
    "global_batch_indices",
    "local_batch_indices",
    "main",
    "shard_bounds",
    "train_data_parallel",
    "train_single_process",
]

_SHARD_SEED_STRIDE = 1_000_003  # keeps the ranks' sampler seeds apart (a prime, no meaning beyond that)
_STATS = ("loss", "mse", "l1", "l0")


@dataclass(frozen=True)
class DDPResult:
    """Outcome of a run; statistics are global (all-reduced), identical on every rank.

    ``history`` holds one record every ``log_every`` steps (the step's global statistics, lambda,
    the learning-rate multiplier and ``shift``, the total ``b_enc`` shift of the controller so
    far); ``last`` the final step's.  ``trim`` is the record of the final L0 trim
    (:func:`rsae.finetune.trim_l0`; ``l0`` = the trimmed L0 on all ranks' trim tokens,
    ``trim_tokens`` their global count), ``None`` when it did not run (``final_trim`` off, no
    steps, or a fixed-sparsity model).  ``revived`` counts the revivals of dead latents over the
    run (:class:`rsae.dead_latents.LatentReviver`; a record's ``revived`` is its step's count).
    """

    steps: int
    world_size: int
    last: dict[str, float]
    final_lambda: float
    target_l0: float
    seconds: float
    history: list[dict[str, float]]
    trim: dict[str, float] | None = None
    revived: int = 0


class SAELoss(nn.Module):
    """The module DDP wraps: ``forward(x, lam) -> (loss, stats)`` with the pipeline's loss.

    Going through ``DDP.forward`` is what arms DDP's gradient all-reduce, so the loss must be
    computed inside a module that DDP owns.
    """

    def __init__(self, sae: nn.Module) -> None:
        super().__init__()
        self.sae = sae

    def forward(self, x: Tensor, lam: float) -> tuple[Tensor, dict[str, float]]:  # x: [B_local, d_in]
        return compute_loss(self.sae, x, lam)


# ------------------------------------------------------------------------------------------------
# Sharding: which rows each rank reads
# ------------------------------------------------------------------------------------------------


def shard_bounds(n_rows: int, world_size: int, rank: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` owned by ``rank``: contiguous shards whose sizes differ by at most 1."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"`rank` must be in [0, world_size={world_size}), got {rank}")
    if n_rows < world_size:
        raise ValueError(f"{n_rows} activation rows cannot be sharded over {world_size} ranks")
    return rank * n_rows // world_size, (rank + 1) * n_rows // world_size


def local_batch_indices(
    n_rows: int, global_batch: int, seed: int, world_size: int, rank: int
) -> Callable[[int], np.ndarray]:
    """``step -> row indices`` read by ``rank`` (global row numbers, all inside its shard)."""
    if global_batch % world_size:
        raise ValueError(f"the global batch {global_batch} is not divisible by world_size = {world_size}")
    lo, hi = shard_bounds(n_rows, world_size, rank)
    sampler = BatchSampler(hi - lo, global_batch // world_size, seed=seed + _SHARD_SEED_STRIDE * rank)
    return lambda step: sampler.indices(step) + lo


def global_batch_indices(
    n_rows: int, global_batch: int, seed: int, world_size: int
) -> Callable[[int], np.ndarray]:
    """``step -> indices`` of the global batch: the ranks' local batches concatenated in rank order."""
    per_rank = [local_batch_indices(n_rows, global_batch, seed, world_size, r) for r in range(world_size)]
    return lambda step: np.concatenate([f(step) for f in per_rank])


def _take(source: Any, index: np.ndarray) -> Tensor:
    """Rows of a Tensor / ndarray / source with ``take`` (ArrayActivations, TensorActivations)."""
    if isinstance(source, Tensor):
        return source[torch.from_numpy(index).to(source.device)]
    if isinstance(source, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(source[index], dtype=np.float32))
    return source.take(index)


def _n_rows(source: Any) -> int:
    if isinstance(source, (Tensor, np.ndarray)):
        return int(source.shape[0])
    return int(getattr(source, "n_tokens", None) or len(source))


class _ShardRows:
    """``source`` seen from one rank: ``n_tokens`` of all rows, ``take`` keeps only those in ``[lo, hi)``.

    Passing it to :func:`rsae.finetune._trim_batches` (which draws ``trim_tokens``, or
    ``ALIVE_TOKENS`` for the alive-at-start set, of all rows with ``cfg.seed``) gives this rank its
    part of the pipeline's sample: the ranks' parts are disjoint and together are exactly the
    single-process sample.
    """

    def __init__(self, source: Any, lo: int, hi: int) -> None:
        self.source, self.lo, self.hi = source, lo, hi
        self.n_tokens = _n_rows(source)

    def take(self, index: np.ndarray) -> Tensor:
        return _take(self.source, index[(index >= self.lo) & (index < self.hi)])


# ------------------------------------------------------------------------------------------------
# The loop (shared by the DDP and the single-process entry points)
# ------------------------------------------------------------------------------------------------


def _reducer(world: int, device: torch.device) -> Reduce | None:
    """The :data:`rsae.dead_latents.Reduce` over the ranks (tensors travel through ``device``, the
    backend's); ``None`` on one process, where the reviver's own batch-wide quantities are global."""
    if world == 1:
        return None

    def reduce(t: Tensor, op: str) -> Tensor:
        buf = t.detach().to(device, copy=True).contiguous()  # the collectives work in place
        if op == "cat":
            parts = [torch.empty_like(buf) for _ in range(world)]
            dist.all_gather(parts, buf)
            return torch.cat(parts).to(t.device)
        if op not in ("sum", "max"):
            raise ValueError(f"unknown reduction {op!r}: expected 'sum', 'max' or 'cat'")
        dist.all_reduce(buf, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return buf.to(t.device)

    return reduce


def _all_sum(values: Sequence[float], world: int, device: torch.device) -> list[float]:
    """Sum over ranks of a few numbers (one float64 all-reduce; the identity on one process)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def _global_stats(stats: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """Mean over ranks of the per-rank batch statistics (equal local batches: the global mean)."""
    return {k: v / world for k, v in zip(_STATS, _all_sum([stats[k] for k in _STATS], world, device))}


def _global_l0(sae: nn.Module, xs: list[Tensor], shift: float, world: int, device: torch.device) -> float:
    """Mean L0 over all ranks' tokens with ``b_enc`` shifted by ``-shift``: counts and token numbers
    are summed (exact integers in float64), so every rank gets the same number."""
    total, n_all = _all_sum(list(_active_count_at_shift(sae, xs, shift)), world, device)
    return total / max(n_all, 1.0)


def _global_preact_std(sae: nn.Module, xs: list[Tensor], world: int, device: torch.device) -> float:
    """Standard deviation of the pre-activations over all ranks' tokens (from summed moments)."""
    s1 = s2 = n = 0.0
    with torch.no_grad():
        for x in xs:
            h = sae.pre_acts(x.to(device=sae.W_enc.device, dtype=sae.dtype)).double()
            s1, s2, n = s1 + float(h.sum()), s2 + float((h * h).sum()), n + h.numel()
    s1, s2, n = _all_sum([s1, s2, n], world, device)
    return math.sqrt(max(s2 - s1 * s1 / n, 0.0) / max(n - 1.0, 1.0)) if n > 0 else 0.0


def _global_shift_sensitivity(sae: nn.Module, x: Tensor, world: int, device: torch.device) -> float:
    """:func:`rsae.finetune.shift_sensitivity` of the *global* batch (``x`` is this rank's part):
    the spread and both L0 values are all-reduced, so every rank gets the same ``S`` and its
    replica takes the same shifts."""
    return shift_sensitivity(
        sae, x, preact_std=lambda: _global_preact_std(sae, [x], world, device),
        l0_fn=lambda s: _global_l0(sae, [x], s, world, device),
    )


def _initial_controller(
    module: nn.Module, sae: nn.Module, batch0: Tensor, cfg: FinetuneConfig, world: int, device: torch.device
) -> L0Controller:
    """As the pipeline's: target = ``cfg.target_l0`` or the global L0 at step 0; lambda0 =
    ``cfg.l1_init`` or ``0.1 mse / l1`` (the pipeline's fallback: its stationary lambda is not
    reduced over ranks here; 0 for a fixed-sparsity model, as in the pipeline); the shift
    sensitivity of the global step-0 batch when ``shift_gain > 0`` and the sparsity is not fixed
    -- all from global statistics, so every rank agrees."""
    with torch.no_grad():
        _, s = module(batch0, 0.0)
    s = _global_stats(s, world, device)
    target = cfg.target_l0 if cfg.target_l0 is not None else s["l0"]
    if not target > 0:
        raise ValueError("the model has L0 = 0 at the start: give a positive `target_l0`")
    lam0 = cfg.l1_init
    if lam0 is None:  # a fixed-sparsity model's L0 is its k: no l1 weight (as in the pipeline)
        lam0 = 0.0 if _fixed_sparsity(sae) else 0.1 * s["mse"] / max(s["l1"], 1e-12)
    shift = cfg.shift_gain > 0 and not _fixed_sparsity(sae)
    return L0Controller(
        target=float(target),
        log_lam=math.log(max(lam0, 1e-12)),
        ki=cfg.controller_ki,
        kp=cfg.controller_kp,
        ema=cfg.controller_ema,
        shift_gain=cfg.shift_gain,
        shift_sensitivity=_global_shift_sensitivity(sae, batch0, world, device) if shift else 0.0,
    )


def _global_trim(
    sae: nn.Module,
    xs: list[Tensor],
    controller: L0Controller,
    cfg: FinetuneConfig,
    world: int,
    device: torch.device,
) -> dict[str, float]:
    """:func:`rsae.finetune.trim_l0` on all ranks' trim tokens (``xs``: this rank's part).

    Every L0 the bracketing and regula falsi measure is all-reduced (``l0_fn``), and so is the
    pre-activation spread that sizes the first step when no sensitivity is known (``preact_std``),
    so every rank walks the same sequence of shifts and applies the same final one.
    """
    rec = trim_l0(
        sae, xs, controller.target, rtol=cfg.trim_rtol, sensitivity=controller.shift_sensitivity,
        l0_fn=lambda s: _global_l0(sae, xs, s, world, device),
        preact_std=lambda: _global_preact_std(sae, xs, world, device),
    )
    rec["trim_tokens"] = _all_sum([sum(int(x.shape[0]) for x in xs)], world, device)[0]
    return rec


def _run(
    module: nn.Module,
    sae: nn.Module,
    batches: Callable[[int], Tensor],
    rows: _ShardRows,
    cfg: FinetuneConfig,
    device: torch.device,
    comm_device: torch.device,
    world: int,
    log_every: int,
) -> DDPResult:
    if log_every < 1:
        raise ValueError(f"`log_every` must be >= 1, got {log_every}")
    x0 = batches(0)
    if x0.shape[-1] != sae.cfg.d_in:
        raise ValueError(
            f"d_in mismatch: the SAE expects d_in = {sae.cfg.d_in}, activations have {x0.shape[-1]}"
        )
    d_sae = sae.cfg.d_sae
    if cfg.target_l0 is not None and not 0 < cfg.target_l0 <= d_sae:
        raise ValueError(f"impossible target L0 {cfg.target_l0}: it must be in (0, d_sae = {d_sae}]")
    t0 = time.perf_counter()
    opt = make_optimizer(sae, cfg)
    controller = _initial_controller(module, sae, x0.to(device), cfg, world, comm_device)
    reduce = _reducer(world, comm_device)
    reviver = LatentReviver(cfg.revive_after, cfg.revive_tokens) if cfg.revive_after > 0 else None
    if reviver is not None:  # the pipeline's alive-at-start sample, each rank its part, OR-reduced
        reviver.mark_alive(sae, [x for x in _trim_batches(rows, cfg, ALIVE_TOKENS) if x.shape[0]], reduce)
    history: list[dict[str, float]] = []
    last: dict[str, float] = {}
    n_revived = 0
    for step in range(cfg.steps):
        x = batches(step).to(device, non_blocking=True)
        mult = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * mult
        lam = controller.lam
        opt.zero_grad(set_to_none=True)
        loss, stats = module(x, lam)
        loss.backward()  # DDP: gradients all-reduced (averaged) here
        gnorm = float(torch.nn.utils.clip_grad_norm_(sae.parameters(), cfg.grad_clip))  # same on all ranks
        g_stats = _global_stats(stats, world, comm_device)
        if not (math.isfinite(g_stats["loss"]) and math.isfinite(gnorm)):
            raise DivergenceError(f"non-finite loss or gradient at step {step}; lower the learning rate")
        opt.step()
        controller.update(g_stats["l0"])
        ds = controller.shift_step(g_stats["l0"])  # the same global L0 on every rank: the same shift
        if ds:
            _shift_b_enc(sae, ds)
        # after the shift, as in rsae.finetune.train_step; all ranks apply the same raises
        revived = reviver.step(sae, x, reduce) if reviver is not None else 0
        n_revived += revived
        last = {
            "step": step + 1,
            **g_stats,
            "lam": lam,
            "lr_mult": mult,
            "grad_norm": gnorm,
            "shift": controller.shift,
            "revived": float(revived),
        }
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            history.append(last)
    trim = None
    if cfg.final_trim and cfg.steps > 0 and not _fixed_sparsity(sae):
        xs = [x for x in _trim_batches(rows, cfg) if x.shape[0]]
        trim = _global_trim(sae, xs, controller, cfg, world, comm_device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return DDPResult(
        steps=cfg.steps,
        world_size=world,
        last=last,
        final_lambda=controller.lam,
        target_l0=controller.target,
        seconds=time.perf_counter() - t0,
        history=history,
        trim=trim,
        revived=n_revived,
    )


def train_single_process(
    sae: nn.Module, source: Any, cfg: FinetuneConfig, *, world_size_equivalent: int = 1, log_every: int = 100
) -> DDPResult:
    """Fine-tune ``sae`` in this process on the global batches of a ``world_size_equivalent`` run.

    With ``world_size_equivalent = W`` the batches are exactly the concatenation of what ``W``
    data-parallel ranks would read (``cfg.batch_size`` is the global batch), so the result is the
    single-process reference of that run.
    """
    device = next(sae.parameters()).device
    n = _n_rows(source)
    index = global_batch_indices(n, cfg.batch_size, cfg.seed, world_size_equivalent)
    batches = lambda s: _take(source, index(s))
    return _run(SAELoss(sae), sae, batches, _ShardRows(source, 0, n), cfg, device, device, 1, log_every)


def train_data_parallel(
    sae: nn.Module, source: Any, cfg: FinetuneConfig, *, log_every: int = 100
) -> DDPResult:
    """Fine-tune ``sae`` with DDP in an initialised process group; each rank reads its own shard.

    Parameters
    ----------
    sae : rsae.sae.SAE
        The model on this rank's device (e.g. a :class:`rsae.sae.RationalSAE`).  DDP broadcasts
        rank 0's parameters, so all replicas start equal.
    source : Tensor, ndarray, ArrayActivations or TensorActivations
        The activation array ``[n_rows, d_in]`` (a memory map is fine: only this rank's rows are
        read).
    cfg : rsae.finetune.FinetuneConfig
        ``cfg.batch_size`` is the *global* batch, split evenly over the ranks; the other fields
        mean what they mean for :func:`rsae.finetune.finetune` (checkpointing fields are unused).
    log_every : int
        Steps between records in ``history``.

    Returns
    -------
    DDPResult
        Global statistics, the total ``b_enc`` shift, the count of revived latents and the final
        trim's record, identical on every rank.

    Raises
    ------
    DivergenceError
        A non-finite global loss or gradient norm (raised on every rank at the same step).
    """
    if not dist.is_initialized():
        raise RuntimeError("train_data_parallel needs an initialised process group (launch with torchrun)")
    world, rank = dist.get_world_size(), dist.get_rank()
    device = next(sae.parameters()).device
    n = _n_rows(source)
    index = local_batch_indices(n, cfg.batch_size, cfg.seed, world, rank)
    module = nn.parallel.DistributedDataParallel(
        SAELoss(sae), device_ids=[device.index] if device.type == "cuda" else None
    )
    comm = device if dist.get_backend() == "nccl" else torch.device("cpu")
    batches = lambda s: _take(source, index(s))
    rows = _ShardRows(source, *shard_bounds(n, world, rank))
    try:
        return _run(module, sae, batches, rows, cfg, device, comm, world, log_every)
    finally:
        # DDP sits in reference cycles, so its reducer (holding the process group) would otherwise
        # be freed by a later collection, possibly after destroy_process_group or at exit, where
        # gloo aborted the process (SIGABRT in 4 of 30 two-rank runs of a 3-step DDP; 0 of 30
        # with this collection)
        del module
        gc.collect()


# ------------------------------------------------------------------------------------------------
# torchrun entry point
# ------------------------------------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m rsae.distributed", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="SAE checkpoint (any format rsae.loading reads)")
    ap.add_argument("--activations", required=True, help=".npy or .safetensors activation array [n, d_in]")
    ap.add_argument("--out", help="directory for the fine-tuned SAE (native format, written by rank 0)")
    ap.add_argument("--steps", type=int, default=22_000)
    ap.add_argument("--batch-size", type=int, default=4096, help="global batch (all ranks together)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--gate-lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--target-l0", type=float, default=None, help="default: the L0 at step 0")
    ap.add_argument("--l1-init", type=float, default=None)
    ap.add_argument("--shift-gain", type=float, default=FinetuneConfig.shift_gain, help="0: no b_enc shift")
    ap.add_argument("--no-final-trim", action="store_true", help="skip the final exact L0 trim")
    ap.add_argument(
        "--revive-after",
        type=int,
        default=FinetuneConfig.revive_after,
        help="tokens a latent may stay silent before its b_enc is raised (0: no revival)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--backend", choices=["auto", "nccl", "gloo"], default="auto")
    ap.add_argument("--metrics", help="JSON file for the result (rank 0)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``torchrun --nproc_per_node=N -m rsae.distributed ...``: load, fine-tune, save on rank 0."""
    from rsae.activations import open_activations
    from rsae.loading import load_sae

    args = _parse(argv)
    use_cuda = torch.cuda.is_available() and args.backend != "gloo"
    backend = args.backend if args.backend != "auto" else ("nccl" if use_cuda else "gloo")
    dist.init_process_group(backend=backend)
    try:
        rank = dist.get_rank()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        sae = load_sae(args.checkpoint, device=device)
        source = open_activations(args.activations, d_in=sae.cfg.d_in)
        cfg = FinetuneConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            gate_lr=args.gate_lr,
            warmup=args.warmup,
            target_l0=args.target_l0,
            l1_init=args.l1_init,
            shift_gain=args.shift_gain,
            final_trim=not args.no_final_trim,
            revive_after=args.revive_after,
            seed=args.seed,
        )
        result = train_data_parallel(sae, source, cfg, log_every=args.log_every)
        if rank == 0:
            summary = {"config": asdict(cfg), "backend": backend, **asdict(result)}
            print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
            if args.metrics:
                write_json_atomic(Path(args.metrics), summary)
            if args.out:
                from rsae.saving import save_rsae

                save_rsae(sae, args.out, force=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through torchrun
    raise SystemExit(main())
