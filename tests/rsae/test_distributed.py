"""DDP fine-tuning on gloo with 2 CPU processes equals the single-process run on the same global batches.

The comparison is in float64 so that the only difference -- the order in which the two ranks'
gradients and L0 statistics are summed -- stays at round-off level (``rtol = 1e-9`` after 6 Adam
steps, the ``b_enc`` shifts of the L0 controller, the per-latent revival of dead latents and the
final L0 trim).  Rank 1 starts from *different* weights on purpose: DDP must broadcast rank 0's.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rsae.dead_latents import revival_shift
from rsae.distributed import (
    global_batch_indices,
    local_batch_indices,
    shard_bounds,
    train_data_parallel,
    train_single_process,
)
from rsae.finetune import FinetuneConfig
from rsae.sae import RationalSAE, SAEConfig, TopKSAE

WORLD = 2
# lr schedule (warm-up 2), gradient clipping and the L0 controller all active
CFG = FinetuneConfig(steps=6, batch_size=24, lr=1e-2, warmup=2, grad_clip=1.0, seed=3)
N_ROWS, D_IN, D_SAE = 203, 8, 16  # odd row count: unequal shards (101 / 102)


def _make_sae(seed: int, k: int | None = None) -> RationalSAE:
    cfg = SAEConfig(
        d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2), dtype="float64", k=k
    )
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


def _l0(sae: torch.nn.Module) -> float:
    """Mean L0 of ``sae`` on all activation rows (exact count of non-zeros)."""
    with torch.no_grad():
        return float((sae.encode(_activations()) != 0).sum(-1).double().mean())


def _configs() -> dict[str, tuple[FinetuneConfig, int | None]]:
    """Runs (config, TopK ``k`` of the RSAE or ``None``) in which the actuators beyond lambda act.

    The target is half the starting L0, so every step's L0 is above it: the shift is positive
    from the first step.  With ``shift_gain = 0.1`` each step closes at most ~10% of the
    remaining log gap, i.e. at most ``1 - 0.9^6 = 47%`` in 6 steps, so the final trim is left the
    rest; with ``shift_gain = 0`` the trim does all of it, starting from its fallback step (which
    DDP computes from the global pre-activation spread).  ``trim_tokens`` (16384) exceeds the 203
    rows: the trim measures on all of them, split over the two ranks' shards.

    The revival (default ``revive_after`` 16384 tokens: idle in the first two) acts in the other
    two: ``revive_after`` = one global batch, so a latent silent on all 24 tokens of a step
    (12 per rank: a rank-local count would see more of them) is raised at once.  "revive" drives
    the L0 to a quarter of the start (latents go silent under the shift) and raises each to fire
    on its 3rd-best token (the ranks' 3 best gaps all-gathered); "revive_topk" is the TopK RSAE
    (``k = 3``, no shift or trim), whose raise must enter a token's top 3.
    """
    l0 = _l0(_make_sae(seed=100))
    return {
        "shift": (replace(CFG, target_l0=0.5 * l0, shift_gain=0.1), None),
        "trim_only": (replace(CFG, target_l0=0.5 * l0, shift_gain=0.0), None),
        "revive": (replace(CFG, target_l0=0.25 * l0, shift_gain=0.3, revive_after=24, revive_tokens=3), None),
        "revive_topk": (replace(CFG, revive_after=24, revive_tokens=2), 3),
    }


def _worker(
    rank: int, init_file: str, out_dir: str, configs: dict[str, tuple[FinetuneConfig, int | None]]
) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        for name, (cfg, k) in configs.items():
            sae = _make_sae(seed=100 + rank, k=k)  # different on each rank: DDP broadcasts rank 0's
            result = train_data_parallel(sae, _activations(), cfg, log_every=4)
            torch.save(sae.state_dict(), Path(out_dir) / f"{name}_rank{rank}.pt")
            doc = {
                "last": result.last,
                "lam": result.final_lambda,
                "history": result.history,
                "trim": result.trim,
                "revived": result.revived,
            }
            (Path(out_dir) / f"{name}_rank{rank}.json").write_text(json.dumps(doc))
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
    configs = _configs()
    mp.spawn(_worker, args=(str(tmp_path / "pg_init"), str(tmp_path), configs), nprocs=WORLD, join=True)

    before_trim = {}
    for name, (cfg, k) in configs.items():
        start = _make_sae(seed=100, k=k).state_dict()
        reference = _make_sae(seed=100, k=k)
        ref = train_single_process(reference, _activations(), cfg, world_size_equivalent=WORLD, log_every=4)
        ranks = [torch.load(tmp_path / f"{name}_rank{r}.pt", weights_only=True) for r in range(WORLD)]
        moved = 0
        for key, value in reference.state_dict().items():
            # the replicas: bit-identical (same all-reduced numbers, same shifts and raises on every rank)
            assert torch.equal(ranks[0][key], ranks[1][key]), (name, key)
            for r in range(WORLD):
                torch.testing.assert_close(
                    ranks[r][key], value, rtol=1e-9, atol=1e-12, msg=f"{name} rank {r} {key}"
                )
            moved += int(not torch.equal(value, start[key]))
        assert moved >= 5, "training must have changed the parameters for the comparison to mean anything"
        metrics = [json.loads((tmp_path / f"{name}_rank{r}.json").read_text()) for r in range(WORLD)]
        assert metrics[0] == metrics[1]  # all-reduced statistics, controller, shifts, trim: identical
        doc = metrics[0]
        assert [h["step"] for h in doc["history"]] == [4, 6]
        for key in ("loss", "mse", "l1", "l0", "lam", "grad_norm", "shift"):
            assert doc["last"][key] == pytest.approx(ref.last[key], rel=1e-9, abs=1e-12), (name, key)
        assert doc["lam"] == pytest.approx(ref.final_lambda, rel=1e-9)
        # the revival: the same latents raised at the same steps as on one process
        assert doc["revived"] == ref.revived and doc["last"]["revived"] == ref.last["revived"], name
        if name.startswith("revive"):
            assert ref.revived > 0, f"{name}: the revival must act for the comparison to cover it"
            unrevived = _make_sae(seed=100, k=k)
            train_single_process(
                unrevived, _activations(), replace(cfg, revive_after=0), world_size_equivalent=WORLD
            )
            assert not torch.equal(unrevived.b_enc, reference.b_enc)  # the raises changed the run
        else:
            assert ref.revived == 0  # 144 tokens < revive_after: it may not act
        if k is not None:  # fixed sparsity: no shift, no trim
            assert doc["trim"] is None and ref.trim is None and doc["last"]["shift"] == 0
            continue
        # the trim: the same L0 measurements (exact counts over all 203 rows, split over the shards)
        trim = doc["trim"]
        assert trim["trim_tokens"] == N_ROWS == ref.trim["trim_tokens"]
        for key in ("l0_before_trim", "l0", "trim_evals", "trim_converged"):
            assert trim[key] == ref.trim[key], (name, key)
        assert trim["trim_shift"] == pytest.approx(ref.trim["trim_shift"], rel=1e-9)
        # ... and it acted: b_enc moved by exactly the reported shift, L0 fell to the target
        assert trim["trim_shift"] > 0 and trim["l0"] < trim["l0_before_trim"]
        assert trim["l0"] <= cfg.target_l0 and trim["l0"] == _l0(reference)
        untrimmed = _make_sae(seed=100)
        train_single_process(
            untrimmed, _activations(), replace(cfg, final_trim=False), world_size_equivalent=WORLD
        )
        torch.testing.assert_close(
            reference.b_enc, untrimmed.b_enc - ref.trim["trim_shift"], rtol=0, atol=1e-12
        )
        torch.testing.assert_close(reference.W_enc, untrimmed.W_enc, rtol=0, atol=0)
        before_trim[name] = trim["l0_before_trim"]
    # the shift actuator acted in the run that has it, and pulled L0 towards the target
    assert json.loads((tmp_path / "shift_rank0.json").read_text())["last"]["shift"] > 0
    assert json.loads((tmp_path / "trim_only_rank0.json").read_text())["last"]["shift"] == 0
    assert before_trim["shift"] < before_trim["trim_only"]


@pytest.mark.parametrize(("k", "m"), [(None, 1), (None, 5), (3, 2)])
def test_revival_shift_with_a_reduce_is_that_of_the_whole_batch(k: int | None, m: int) -> None:
    """``revival_shift(..., reduce=)`` on one part of a batch split over processes gives the raise of
    the whole batch.  Two processes holding the same 12 rows are emulated (``sum`` doubles,
    ``max`` is the identity, ``cat`` stacks two copies): the whole batch is those rows twice.  With
    ``m = 5`` the 5th smallest gap of the 24 rows comes from the parts' 5 smallest, all-gathered
    (a min over the parts, right for ``m = 1``, would give the smallest)."""
    sae = _make_sae(seed=100, k=k)
    x = _activations()[:12]
    with torch.no_grad():
        h = sae.pre_acts(x)
    dead = torch.arange(D_SAE) % 3 == 0

    def twice(t: torch.Tensor, op: str) -> torch.Tensor:
        return {"sum": 2 * t, "max": t, "cat": torch.cat([t, t])}[op]

    whole = revival_shift(sae, torch.cat([h, h]), dead, m)
    split = revival_shift(sae, h, dead, m, reduce=twice)
    assert bool((whole[dead] > 0).all()) and bool((whole[~dead] == 0).all())
    torch.testing.assert_close(split, whole, rtol=1e-12, atol=1e-14)  # the spread's rounding only


@pytest.mark.parametrize("architecture", ["topk", "rational"])
def test_fixed_sparsity_gets_no_shift_and_no_trim(architecture: str) -> None:
    """A TopK SAE's or TopK Rational SAE's L0 is set by ``k``: neither the shift nor the trim may
    touch its ``b_enc`` (the target, 1, is below its L0, so both would act otherwise)."""
    if architecture == "topk":
        sae = TopKSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="topk", k=3, dtype="float64"))
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for p in (sae.W_enc, sae.W_dec):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / D_IN**0.5)
    else:
        sae = _make_sae(seed=7, k=3)
    assert _l0(sae) > 1.0
    result = train_single_process(sae, _activations(), replace(CFG, target_l0=1.0, shift_gain=0.3))
    assert result.trim is None
    assert all(h["shift"] == 0 for h in result.history) and result.last["shift"] == 0


def test_trim_without_pre_activation_spread_stops_unconverged() -> None:
    """All pre-activations equal (``W_enc = 0``): no spread sizes a first step, so the trim records
    an unconverged no-op instead of doubling a zero step forever."""
    from rsae.distributed import _global_trim
    from rsae.finetune import L0Controller

    sae = _make_sae(seed=100)
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.b_enc.fill_(1.0)
    xs = [_activations()]
    l0 = _l0(sae)
    assert l0 > 0  # every latent fires on every token at h = 1
    controller = L0Controller(target=0.5 * l0, log_lam=0.0)  # no sensitivity known
    b_enc = sae.b_enc.clone()
    rec = _global_trim(sae, xs, controller, CFG, 1, torch.device("cpu"))
    assert rec["trim_converged"] == 0 and rec["trim_shift"] == 0 and rec["l0"] == l0
    assert torch.equal(sae.b_enc, b_enc)


def test_torchrun_entry_point_parses() -> None:
    from rsae.distributed import _parse

    ns = _parse(["--checkpoint", "c", "--activations", "a.npy", "--steps", "3"])
    assert ns.steps == 3 and ns.batch_size == 4096 and os.fspath(ns.checkpoint) == "c"
    assert ns.shift_gain == FinetuneConfig().shift_gain and not ns.no_final_trim
    assert ns.revive_after == FinetuneConfig().revive_after
    argv = ["--checkpoint", "c", "--activations", "a", "--shift-gain", "0", "--no-final-trim"]
    ns = _parse([*argv, "--revive-after", "0"])
    assert ns.shift_gain == 0 and ns.no_final_trim and ns.revive_after == 0


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
    assert doc["trim"]["trim_tokens"] == N_ROWS  # the trim ran, on both ranks' shares of all rows
    tuned = load_sae(tmp_path / "out")
    assert not torch.equal(tuned.W_enc, sae.W_enc)  # the saved model is the fine-tuned one
