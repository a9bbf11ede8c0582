"""Data-parallel fine-tuning of an SAE with ``torch.distributed`` (DDP), launched by ``torchrun``.

Every rank holds a full replica of the SAE (a 768 x 24576 SAE is 150 MB in float32, so pure data
parallelism is the right split) and reads **its own shard** of the activation stream:

* the rows ``[0, n)`` of the activation array are cut into ``world_size`` contiguous shards, rank
  ``r`` owning rows ``[r n / W, (r + 1) n / W)`` -- it never touches another rank's rows;
* at step ``s`` rank ``r`` takes ``B / W`` rows of its shard, in the order of a
  :class:`rsae.activations.BatchSampler` seeded with ``(seed, r)`` (a pure function of the step,
  so a resumed run sees the same batches);
* the *global* batch of step ``s`` is the concatenation over ranks of those local batches;
  :func:`global_batch_indices` builds it, and a single process trained on it follows the same
  trajectory up to floating-point reduction order (the test checks this on gloo).

The objective is the fine-tuning loss of the upgrade pipeline (DESIGN.md), a mean over tokens:

.. math::

    L = \\frac{1}{B} \\sum_{m=1}^{B} \\Big( \\lVert x_m - \\hat x_m \\rVert_2^2
        + \\lambda \\lVert z_m \\rVert_1 \\Big),

so DDP's gradient *average* over ``W`` equal local batches is exactly the gradient of the global
mean.  DDP broadcasts rank 0's parameters at construction, every rank then applies the same Adam
update (Kingma & Ba 2015) to the same averaged gradient.

Metrics (loss, MSE, L0) are accumulated in device tensors and all-reduced once per ``log_every``
steps: no host synchronisation inside the step.  Backend: ``nccl`` with CUDA, ``gloo`` on CPU.

Usage::

    torchrun --nproc_per_node=8 -m rsae.distributed --checkpoint rsae_init/ \\
        --activations acts.npy --steps 22000 --batch-size 4096 --l1 5.0 --out rsae_ft/

This module is deliberately thin: the single-process fine-tune (``rsae.finetune``: L0
controller, checkpoints, divergence handling) belongs to the pipeline; here a fixed ``lambda`` is
used.

References
----------
.. [1] S. Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
   VLDB 2020 (DDP).
.. [2] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
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

__all__ = [
    "DDPConfig",
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


@dataclass(frozen=True)
class DDPConfig:
    """Hyper-parameters of a data-parallel fine-tune.

    Attributes
    ----------
    steps : int
        Adam steps.
    global_batch : int
        Tokens per step summed over all ranks; must be divisible by the world size.
    lr : float
        Adam learning rate.
    l1_coeff : float
        ``lambda`` of the sparsity penalty ``lambda E ||z||_1``.
    seed : int
        Seed of the per-shard batch samplers.
    log_every : int
        Steps between metric all-reduces (the only host syncs of the loop).
    betas : (float, float)
        Adam betas.
    """

    steps: int
    global_batch: int
    lr: float = 1e-4
    l1_coeff: float = 0.0
    seed: int = 0
    log_every: int = 100
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"`steps` must be >= 0, got {self.steps}")
        if self.global_batch < 1:
            raise ValueError(f"`global_batch` must be >= 1, got {self.global_batch}")
        if self.log_every < 1:
            raise ValueError(f"`log_every` must be >= 1, got {self.log_every}")
        if self.lr <= 0 or self.l1_coeff < 0:
            raise ValueError(f"`lr` must be > 0 and `l1_coeff` >= 0, got {self.lr}, {self.l1_coeff}")


@dataclass(frozen=True)
class DDPResult:
    """Outcome of a run: final metrics (means over the last logging window) and timing."""

    steps: int
    world_size: int
    loss: float
    mse: float
    l0: float
    seconds: float
    history: list[dict[str, float]]


class SAELoss(nn.Module):
    """``(loss, mse, l0)`` of an SAE on a batch; the module DDP wraps (so hooks see the SAE).

    ``loss = mean_m ||x_m - x_hat_m||^2 + lambda mean_m ||z_m||_1``, ``mse`` the first term and
    ``l0`` the mean count of exact non-zeros of ``z`` (SAELens definitions, DESIGN.md).
    """

    def __init__(self, sae: nn.Module, l1_coeff: float) -> None:
        super().__init__()
        self.sae = sae
        self.l1_coeff = float(l1_coeff)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # x: [B, d_in]
        z = self.sae.encode(x)  # [B, d_sae]
        x_hat = self.sae.decode(z)  # [B, d_in]
        acc = torch.float64 if x_hat.dtype == torch.float64 else torch.float32  # bf16 models: fp32 loss
        mse = (x_hat.to(acc) - x.to(acc)).square().sum(-1).mean()
        l1 = z.to(acc).abs().sum(-1).mean()
        l0 = (z != 0).sum(-1, dtype=torch.float64).mean()  # counts: exact in float64
        return mse + self.l1_coeff * l1, mse.detach(), l0.detach()


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
    n_rows: int, cfg: DDPConfig, world_size: int, rank: int
) -> Callable[[int], np.ndarray]:
    """``step -> row indices`` read by ``rank`` (global row numbers, all inside its shard)."""
    if cfg.global_batch % world_size:
        raise ValueError(f"`global_batch` = {cfg.global_batch} is not divisible by world_size = {world_size}")
    lo, hi = shard_bounds(n_rows, world_size, rank)
    sampler = BatchSampler(hi - lo, cfg.global_batch // world_size, seed=cfg.seed + _SHARD_SEED_STRIDE * rank)
    return lambda step: sampler.indices(step) + lo


def global_batch_indices(n_rows: int, cfg: DDPConfig, world_size: int) -> Callable[[int], np.ndarray]:
    """``step -> indices`` of the global batch: the ranks' local batches concatenated in rank order."""
    per_rank = [local_batch_indices(n_rows, cfg, world_size, r) for r in range(world_size)]
    return lambda step: np.concatenate([f(step) for f in per_rank])


def _take(source: Any, index: np.ndarray) -> Tensor:
    """Rows of a Tensor / ndarray / :class:`rsae.activations.ArrayActivations` at ``index``."""
    if isinstance(source, Tensor):
        return source[torch.from_numpy(index).to(source.device)]
    if isinstance(source, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(source[index], dtype=np.float32))
    return source.take(index)


def _n_rows(source: Any) -> int:
    return int(source.shape[0]) if isinstance(source, (Tensor, np.ndarray)) else len(source)


# ------------------------------------------------------------------------------------------------
# Training loops
# ------------------------------------------------------------------------------------------------


def _run(
    module: nn.Module,
    params: Sequence[nn.Parameter],
    batches: Callable[[int], Tensor],
    cfg: DDPConfig,
    device: torch.device,
    world_size: int,
) -> DDPResult:
    """The loop shared by both entry points: Adam, device-side metric sums, periodic all-reduce."""
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, mse, l0 of the window
    history: list[dict[str, float]] = []
    last = {"loss": float("nan"), "mse": float("nan"), "l0": float("nan")}
    window = 0
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        x = batches(step).to(device, non_blocking=True)
        loss, mse, l0 = module(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += torch.stack([loss.detach(), mse, l0]).to(torch.float64)
        window += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            if world_size > 1:
                dist.all_reduce(sums)  # sums over ranks; divided by world_size below
            loss_m, mse_m, l0_m = (sums / (window * world_size)).tolist()  # the one host sync
            last = {"step": step + 1, "loss": loss_m, "mse": mse_m, "l0": l0_m}
            history.append(last)
            sums.zero_()
            window = 0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return DDPResult(
        steps=cfg.steps,
        world_size=world_size,
        loss=last["loss"],
        mse=last["mse"],
        l0=last["l0"],
        seconds=time.perf_counter() - t0,
        history=history,
    )


def train_single_process(
    sae: nn.Module, source: Any, cfg: DDPConfig, *, world_size_equivalent: int = 1
) -> DDPResult:
    """Fine-tune ``sae`` in this process on the global batches of a ``world_size_equivalent`` run.

    With ``world_size_equivalent = W`` the batches are exactly the concatenation of what ``W``
    data-parallel ranks would read, so the result is the single-process reference of that run.
    """
    device = next(sae.parameters()).device
    index = global_batch_indices(_n_rows(source), cfg, world_size_equivalent)
    module = SAELoss(sae, cfg.l1_coeff)
    return _run(module, list(sae.parameters()), lambda s: _take(source, index(s)), cfg, device, 1)


def train_data_parallel(sae: nn.Module, source: Any, cfg: DDPConfig) -> DDPResult:
    """Fine-tune ``sae`` with DDP in an initialised process group; each rank reads its own shard.

    Parameters
    ----------
    sae : nn.Module
        An SAE with ``encode``/``decode`` (e.g. :class:`rsae.sae.RationalSAE`) on this rank's
        device.  DDP broadcasts rank 0's parameters, so all replicas start equal.
    source : Tensor, ndarray or ArrayActivations
        The activation array ``[n_rows, d_in]`` (a memory map is fine: only this rank's rows are
        read).
    cfg : DDPConfig
        ``cfg.global_batch`` is split evenly over the ranks.

    Returns
    -------
    DDPResult
        Metrics averaged over ranks (identical on every rank).
    """
    if not dist.is_initialized():
        raise RuntimeError("train_data_parallel needs an initialised process group (launch with torchrun)")
    world, rank = dist.get_world_size(), dist.get_rank()
    device = next(sae.parameters()).device
    index = local_batch_indices(_n_rows(source), cfg, world, rank)
    module = SAELoss(sae, cfg.l1_coeff)
    ddp = nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None
    )
    return _run(ddp, list(sae.parameters()), lambda s: _take(source, index(s)), cfg, device, world)


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
    ap.add_argument("--l1", type=float, default=0.0, help="lambda of the L1 penalty")
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
        cfg = DDPConfig(
            steps=args.steps,
            global_batch=args.batch_size,
            lr=args.lr,
            l1_coeff=args.l1,
            seed=args.seed,
            log_every=args.log_every,
        )
        result = train_data_parallel(sae, source, cfg)
        if rank == 0:
            summary = {"config": asdict(cfg), "backend": backend, **asdict(result)}
            print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
            if args.metrics:
                _write_json_atomic(Path(args.metrics), summary)
            if args.out:
                from rsae.saving import save_rsae

                save_rsae(sae, args.out, force=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def _write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":  # pragma: no cover - exercised through torchrun
    raise SystemExit(main())
