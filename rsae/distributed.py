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

The objective, schedule and controller are the pipeline's (:mod:`rsae.finetune`), reused piece by
piece: :func:`~rsae.finetune.compute_loss` (``E||x - x_hat||^2 + lambda E sum_j |z_j|
||W_dec,j||``, a mean over tokens), :func:`~rsae.finetune.make_optimizer` (Adam, separate rate for
the gate scalars), :func:`~rsae.finetune.lr_at` (warm-up + cosine), gradient clipping and the
:class:`~rsae.finetune.L0Controller`.  Because the loss is a mean over tokens, DDP's gradient
*average* over ``W`` equal local batches is exactly the gradient of the global mean; DDP
broadcasts rank 0's parameters at construction, so every replica applies the same Adam update
(Kingma & Ba 2015) to the same averaged gradient.  The controller must see the *global* L0, so
each step all-reduces the four batch statistics (loss, mse, l1, l0: one 32-byte all-reduce); every
rank then updates an identical controller.

What is left out compared with :func:`rsae.finetune.finetune`: checkpoints/resume and divergence
*recovery* (here a non-finite loss or gradient norm, detected identically on every rank, raises
:class:`~rsae.finetune.DivergenceError`).  The per-step statistics are host floats (as in the
pipeline's ``compute_loss``), i.e. one host synchronisation per step; the sync-free GPU loop is
``benchmarks/upgrade_speed.py``.  Backend: ``nccl`` with CUDA, ``gloo`` on CPU.

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
from rsae.finetune import DivergenceError, FinetuneConfig, L0Controller, compute_loss, lr_at, make_optimizer

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

    ``history`` holds one record every ``log_every`` steps (the step's global statistics, lambda
    and the learning-rate multiplier); ``last`` the final step's.
    """

    steps: int
    world_size: int
    last: dict[str, float]
    final_lambda: float
    target_l0: float
    seconds: float
    history: list[dict[str, float]]


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


# ------------------------------------------------------------------------------------------------
# The loop (shared by the DDP and the single-process entry points)
# ------------------------------------------------------------------------------------------------


def _global_stats(stats: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """Mean over ranks of the per-rank batch statistics (equal local batches: the global mean)."""
    if world == 1:
        return {k: float(stats[k]) for k in _STATS}
    t = torch.tensor([stats[k] for k in _STATS], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(_STATS, (t / world).tolist()))


def _initial_controller(
    module: nn.Module, batch0: Tensor, cfg: FinetuneConfig, world: int, device: torch.device
) -> L0Controller:
    """As the pipeline's: target = ``cfg.target_l0`` or the global L0 at step 0; lambda0 =
    ``cfg.l1_init`` or ``0.1 mse / l1`` -- from global statistics, so every rank agrees."""
    with torch.no_grad():
        _, s = module(batch0, 0.0)
    s = _global_stats(s, world, device)
    target = cfg.target_l0 if cfg.target_l0 is not None else s["l0"]
    if not target > 0:
        raise ValueError("the model has L0 = 0 at the start: give a positive `target_l0`")
    lam0 = cfg.l1_init if cfg.l1_init is not None else 0.1 * s["mse"] / max(s["l1"], 1e-12)
    return L0Controller(
        target=float(target),
        log_lam=math.log(max(lam0, 1e-12)),
        ki=cfg.controller_ki,
        kp=cfg.controller_kp,
        ema=cfg.controller_ema,
    )


def _run(
    module: nn.Module,
    sae: nn.Module,
    batches: Callable[[int], Tensor],
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
    controller = _initial_controller(module, x0.to(device), cfg, world, comm_device)
    history: list[dict[str, float]] = []
    last: dict[str, float] = {}
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
        last = {"step": step + 1, **g_stats, "lam": lam, "lr_mult": mult, "grad_norm": gnorm}
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            history.append(last)
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
    index = global_batch_indices(_n_rows(source), cfg.batch_size, cfg.seed, world_size_equivalent)
    return _run(SAELoss(sae), sae, lambda s: _take(source, index(s)), cfg, device, device, 1, log_every)


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
        Global statistics, identical on every rank.

    Raises
    ------
    DivergenceError
        A non-finite global loss or gradient norm (raised on every rank at the same step).
    """
    if not dist.is_initialized():
        raise RuntimeError("train_data_parallel needs an initialised process group (launch with torchrun)")
    world, rank = dist.get_world_size(), dist.get_rank()
    device = next(sae.parameters()).device
    index = local_batch_indices(_n_rows(source), cfg.batch_size, cfg.seed, world, rank)
    module = nn.parallel.DistributedDataParallel(
        SAELoss(sae), device_ids=[device.index] if device.type == "cuda" else None
    )
    comm = device if dist.get_backend() == "nccl" else torch.device("cpu")
    return _run(module, sae, lambda s: _take(source, index(s)), cfg, device, comm, world, log_every)


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
