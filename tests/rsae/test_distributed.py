"""DDP fine-tuning on gloo with 2 CPU processes equals the single-process run on the same global batches.

The comparison is in float64 so that the only difference -- the order in which the two ranks'
gradients are summed -- stays at round-off level (``rtol = 1e-9`` after 6 Adam steps).  Rank 1
starts from *different* weights on purpose: DDP must broadcast rank 0's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rsae.distributed import (
    global_batch_indices,
    local_batch_indices,
    shard_bounds,
    train_data_parallel,
    train_single_process,
)
from rsae.finetune import FinetuneConfig
from rsae.sae import RationalSAE, SAEConfig

WORLD = 2
# lr schedule (warm-up 2), gradient clipping and the L0 controller (target = L0 at step 0) all active
CFG = FinetuneConfig(steps=6, batch_size=24, lr=1e-2, warmup=2, grad_clip=1.0, seed=3)
N_ROWS, D_IN, D_SAE = 203, 8, 16  # odd row count: unequal shards (101 / 102)


def _make_sae(seed: int) -> RationalSAE:
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2), dtype="float64")
    sae = RationalSAE(cfg, gate_backend="torch")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (sae.W_enc, sae.W_dec):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / D_IN**0.5)
        sae.b_enc.copy_(torch.randn(D_SAE, generator=g, dtype=torch.float64) * 0.1)
        sae.gate.a.copy_(torch.tensor([-0.02, 0.9, 0.3, -0.1], dtype=torch.float64))
        sae.gate.b.copy_(torch.tensor([0.1, 0.2], dtype=torch.float64))
    return sae


def _activations() -> torch.Tensor:
    return torch.randn(N_ROWS, D_IN, generator=torch.Generator().manual_seed(11), dtype=torch.float64)


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        sae = _make_sae(seed=100 + rank)  # different on each rank: DDP broadcasts rank 0's
        result = train_data_parallel(sae, _activations(), CFG, log_every=4)
        torch.save(sae.state_dict(), Path(out_dir) / f"rank{rank}.pt")
        doc = {"last": result.last, "lam": result.final_lambda, "history": result.history}
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(doc))
    finally:
        dist.destroy_process_group()


def test_shards_are_disjoint_and_cover_the_rows() -> None:
    bounds = [shard_bounds(N_ROWS, WORLD, r) for r in range(WORLD)]
    assert bounds == [(0, 101), (101, 203)]
    for r, (lo, hi) in enumerate(bounds):
        idx = np.concatenate([local_batch_indices(N_ROWS, 24, 3, WORLD, r)(s) for s in range(20)])
        assert idx.min() >= lo and idx.max() < hi  # each rank reads only its own shard
    g = global_batch_indices(N_ROWS, 24, 3, WORLD)(5)
    assert g.shape == (24,)
    assert np.array_equal(g[:12], local_batch_indices(N_ROWS, 24, 3, WORLD, 0)(5))
    with pytest.raises(ValueError, match="divisible"):
        local_batch_indices(N_ROWS, 25, 3, WORLD, 0)


def test_ddp_two_gloo_processes_equal_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "pg_init"), str(tmp_path)), nprocs=WORLD, join=True)

    reference = _make_sae(seed=100)
    ref_result = train_single_process(
        reference, _activations(), CFG, world_size_equivalent=WORLD, log_every=4
    )
    start = _make_sae(seed=100).state_dict()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    moved = 0
    for name, ref in reference.state_dict().items():
        for r in range(WORLD):
            torch.testing.assert_close(ranks[r][name], ref, rtol=1e-9, atol=1e-12, msg=f"rank {r} {name}")
        moved += int(not torch.equal(ref, start[name]))
    assert moved >= 5, "training must have changed the parameters for the comparison to mean anything"
    metrics = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    assert metrics[0] == metrics[1]  # all-reduced statistics and controller: identical on every rank
    assert [h["step"] for h in metrics[0]["history"]] == [4, 6]
    for key in ("loss", "mse", "l1", "l0", "lam", "grad_norm"):
        assert metrics[0]["last"][key] == pytest.approx(ref_result.last[key], rel=1e-9), key
    assert metrics[0]["lam"] == pytest.approx(ref_result.final_lambda, rel=1e-9)


def test_torchrun_entry_point_parses() -> None:
    from rsae.distributed import _parse

    ns = _parse(["--checkpoint", "c", "--activations", "a.npy", "--steps", "3"])
    assert ns.steps == 3 and ns.batch_size == 4096 and os.fspath(ns.checkpoint) == "c"


def test_upgrade_speed_benchmark_quick_smoke_run(tmp_path: Path) -> None:
    """``benchmarks/upgrade_speed.py --quick`` runs end to end on the CPU and writes its JSON."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "upgrade_speed.py"
    spec = importlib.util.spec_from_file_location("_bench_upgrade_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "us.json"
    args = [
        "--quick",
        "--steps",
        "5",
        "--calibration-steps",
        "2",
        "--n-calibration",
        "256",
        "--out",
        str(out),
    ]
    assert bench.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["steps"] == 5 and doc["seconds_upgrade"] > 0 and doc["init_calibration_steps"] == 2
    assert np.isfinite(doc["final_means"]["loss"]) and doc["final_means"]["l0"] >= 0


@pytest.mark.slow
def test_torchrun_cli_end_to_end(tmp_path: Path) -> None:
    """``torchrun --nproc_per_node=2 -m rsae.distributed`` on gloo: load, fine-tune, save, metrics."""
    import subprocess
    import sys

    from rsae.loading import load_sae
    from rsae.saving import save_rsae

    sae = _make_sae(seed=5).float()
    sae.cfg.dtype = "float32"
    save_rsae(sae, tmp_path / "ckpt")
    np.save(tmp_path / "acts.npy", _activations().float().numpy())
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "rsae.distributed",
        "--checkpoint",
        str(tmp_path / "ckpt"),
        "--activations",
        str(tmp_path / "acts.npy"),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--backend",
        "gloo",
        "--out",
        str(tmp_path / "out"),
        "--metrics",
        str(tmp_path / "m.json"),
        "--log-every",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["world_size"] == 2 and doc["steps"] == 3 and len(doc["history"]) == 3
    assert np.isfinite(doc["last"]["loss"])
    tuned = load_sae(tmp_path / "out")
    assert not torch.equal(tuned.W_enc, sae.W_enc)  # the saved model is the fine-tuned one
