"""Fine-tuning: L0 controller, MSE at matched L0, divergence recovery, SIGKILL + resume."""

from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rsae.activations import SyntheticFeatures
from rsae.dead_latents import gate_edge, revival_shift
from rsae.demo import tied_relu_sae, train_relu_teacher
from rsae.finetune import (
    CHECKPOINT_NAME,
    DivergenceError,
    FinetuneConfig,
    L0Controller,
    _fixed_sparsity,
    finetune,
    lr_at,
    trim_l0,
)
from rsae.metrics import evaluate
from rsae.sae import RationalSAE, ReLUSAE, SAEConfig, TopKSAE
from rsae.upgrade import upgrade_init

L0_TOL = 0.05  # the controller holds L0 within 5% on these short runs


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    gen = SyntheticFeatures(d_in=16, n_features=48, mean_active=4.0, noise=0.05, seed=21)
    x = torch.from_numpy(gen.sample(12288)[0])
    return x[:8192], x[8192:]


def test_lr_schedule():
    cfg = FinetuneConfig(steps=100, warmup=10, final_lr_fraction=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(100, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def test_controller_holds_l0(data):
    x_tr, x_ev = data
    sae = tied_relu_sae(16, 64, x_tr.mean(0), seed=1)
    target = 5.0
    res = finetune(sae, x_tr, FinetuneConfig(steps=300, batch_size=512, lr=3e-3, target_l0=target))
    late = [h["l0"] for h in res.history[-60:]]
    assert abs(sum(late) / len(late) / target - 1) < L0_TOL
    assert abs(evaluate(sae, [x_ev])["l0"] / target - 1) < L0_TOL
    assert res.divergences == 0


def test_finetune_lowers_mse_at_matched_l0(data):
    x_tr, x_ev = data
    teacher = train_relu_teacher(x_tr, 64, target_l0=6.0, steps=150, seed=2)
    te = evaluate(teacher, [x_ev])
    rsae, _ = upgrade_init(teacher, [x_tr])
    ri = evaluate(rsae, [x_ev])
    finetune(rsae, x_tr, FinetuneConfig(steps=250, batch_size=512, target_l0=te["l0"]))
    rf = evaluate(rsae, [x_ev])
    assert rf["mse"] < min(te["mse"], ri["mse"])
    assert rf["l0"] <= te["l0"] * 1.02
    assert rf["alive"] >= te["alive"]


@pytest.fixture(scope="module")
def relu_teacher(data):
    return train_relu_teacher(data[0], 64, target_l0=6.0, steps=150, seed=2)


# With lambda pinned at ~0 (no l1 pull), the MSE gradient alone makes a trained SAE denser: the
# drift that the l1 controller answered too slowly on threshold-like RSAE gates in the study.
_DRIFT = dict(steps=150, batch_size=512, lr=3e-3, l1_init=1e-9, controller_ki=0.0, controller_kp=0.0)


def test_shift_actuator_holds_l0_against_drift(data, relu_teacher):
    x_tr, x_ev = data
    target = evaluate(relu_teacher, [x_tr])["l0"]
    late = {}
    for gain in (0.0, 0.3):
        sae = copy.deepcopy(relu_teacher)
        cfg = FinetuneConfig(target_l0=target, shift_gain=gain, final_trim=False, **_DRIFT)
        res = finetune(sae, x_tr, cfg)
        tail = [h["l0"] for h in res.history[-30:]]
        late[gain] = (sum(tail) / len(tail) / target, evaluate(sae, [x_ev])["l0"] / target)
        assert (res.history[-1]["shift"] > 0) == (gain > 0)
    assert late[0.0][0] > 1.3  # the drift is real without the shift ...
    assert abs(late[0.3][0] - 1) < L0_TOL and abs(late[0.3][1] - 1) < L0_TOL  # ... and held with it


def test_shift_is_one_sided_and_scaled_by_the_sensitivity():
    c = L0Controller(target=10.0, log_lam=0.0, shift_gain=0.5, shift_sensitivity=2.0)
    ds = c.shift_step(10.0 * math.e**0.4)  # 40% too many in log terms
    assert ds == pytest.approx(0.5 * 0.4 / 2.0) and c.shift == pytest.approx(ds)
    for _ in range(20):  # too few: the shift is released, but never below zero
        c.shift_step(5.0)
    assert c.shift == 0.0
    assert L0Controller(target=10.0, log_lam=0.0, shift_gain=0.5).shift_step(50.0) == 0.0  # S = 0: off


def test_final_trim_lands_in_the_window_on_training_tokens_only(data, relu_teacher):
    x_tr, x_ev = data
    target = evaluate(relu_teacher, [x_tr])["l0"]
    sae = copy.deepcopy(relu_teacher)
    cfg = FinetuneConfig(target_l0=target, shift_gain=0.0, **_DRIFT)  # drifts; the trim repairs it
    res = finetune(sae, x_tr, cfg)
    rec = res.trim
    assert rec is not None and rec["trim_converged"] == 1.0 and rec["l0_before_trim"] > 1.3 * target
    assert (1 - cfg.trim_rtol) * target <= rec["l0"] <= target
    assert res.history[-1]["trim_shift"] == rec["trim_shift"] > 0  # recorded in the history
    # trim_tokens (16384) > 8192 rows: the trim saw every training row, and nothing else
    assert evaluate(sae, [x_tr])["l0"] == pytest.approx(rec["l0"], rel=1e-12)
    assert abs(evaluate(sae, [x_ev])["l0"] / target - 1) < 0.03  # held out: close, never used


def test_trim_never_raises_l0(data):
    # One-sided: an L0 below the target (TopK never exceeds k = 4 < 5) is left alone, because
    # raising L0 by a global shift also moves every active code.
    sae = TopKSAE(SAEConfig(d_in=16, d_sae=64, architecture="topk", k=4))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(16, 64, generator=torch.Generator().manual_seed(3)))
        sae.W_dec.copy_(sae.W_enc.T)
    before = copy.deepcopy(sae.state_dict())
    rec = trim_l0(sae, [data[0][:512]], target=5.0, max_evals=12)
    assert rec["trim_shift"] == 0.0 and rec["l0"] == rec["l0_before_trim"] <= 4.0
    assert all(torch.equal(v, sae.state_dict()[k]) for k, v in before.items())


def test_trim_without_pre_activation_spread_stops(data):
    # W_enc = 0: every pre-activation equals b_enc, so no data-driven first step exists; the trim
    # must report "not converged" and leave the model alone (it used to double a zero step forever).
    sae = ReLUSAE(SAEConfig(d_in=16, d_sae=8))
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.b_enc.fill_(1.0)
    before = copy.deepcopy(sae.state_dict())
    rec = trim_l0(sae, [data[0][:64]], target=4.0, max_evals=12)
    assert rec["trim_converged"] == 0.0 and rec["l0"] == rec["l0_before_trim"] == 8.0
    assert all(torch.equal(v, sae.state_dict()[k]) for k, v in before.items())


def test_resuming_a_finished_run_does_not_trim_again(data, relu_teacher, tmp_path):
    x_tr, _ = data
    sae = copy.deepcopy(relu_teacher)
    cfg = FinetuneConfig(target_l0=6.0, checkpoint_every=20, **{**_DRIFT, "steps": 40})
    first = finetune(sae, x_tr, cfg, out=tmp_path)
    state = copy.deepcopy(sae.state_dict())
    again = finetune(sae, x_tr, cfg, out=tmp_path, resume=True)
    assert again.resumed_from == 40 and again.trim == first.trim and first.trim is not None
    assert all(torch.equal(v, sae.state_dict()[k]) for k, v in state.items())


# ---------------------------------------------------------------------------- dead latents
def _rare(teacher, x, n_latents: int = 32, n_tokens: int = 3):
    """A copy of ``teacher`` whose first latents fire on their ``n_tokens`` best rows of ``x`` only."""
    sae = copy.deepcopy(teacher)
    with torch.no_grad():
        h = sae.pre_acts(x)
        sae.b_enc[:n_latents] -= torch.topk(h[:, :n_latents], n_tokens + 1, dim=0).values[-1]
    return sae


def test_revival_keeps_rare_latents_alive(data, relu_teacher):
    # Rare latents (3 firing rows in 8192) drift below the ReLU's edge under Adam and, with a zero
    # gradient there, never come back: measured 5 of 64 dead after 200 steps without revival.
    x_tr, x_ev = data
    start = _rare(relu_teacher, x_tr)
    te = evaluate(start, [x_tr])
    assert te["alive"] == 1.0
    out = {}
    for revive_after in (0, 2048):
        sae = copy.deepcopy(start)
        cfg = FinetuneConfig(steps=200, batch_size=512, lr=3e-3, target_l0=te["l0"],
                             revive_after=revive_after)
        res = finetune(sae, x_tr, cfg)
        out[revive_after] = (evaluate(sae, [x_tr]), sum(h.get("revived", 0) for h in res.history))
    (off, n_off), (on, n_on) = out[0], out[2048]
    assert off["alive"] < 1.0 and n_off == 0  # latents die without the revival ...
    assert on["alive"] == 1.0 and n_on > 0  # ... and stay alive with it
    assert on["l0"] <= te["l0"] * 1.02 and on["mse"] < te["mse"]  # at matched L0, still a gain
    assert evaluate(sae, [x_ev])["mse"] < evaluate(start, [x_ev])["mse"]  # sae: the revived run


def test_revival_leaves_latents_dead_at_the_start_alone(data, relu_teacher):
    # Only what was alive keeps being revived: latents the start never used stay dead.
    x_tr, _ = data
    sae = copy.deepcopy(relu_teacher)
    with torch.no_grad():
        sae.b_enc[:4] -= 100.0
    res = finetune(sae, x_tr, FinetuneConfig(steps=60, batch_size=512, lr=3e-3, revive_after=512))
    with torch.no_grad():
        assert not bool((sae.encode(x_tr)[:, :4] != 0).any())
    assert res.divergences == 0


@pytest.mark.parametrize("m", [1, 3])
def test_revival_shift_is_the_least_that_fires_on_m_tokens(data, relu_teacher, m):
    x = data[0][:512]
    sae = copy.deepcopy(relu_teacher)
    with torch.no_grad():
        sae.b_enc[:8] -= 100.0  # dead on every token
        h = sae.pre_acts(x)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[:8] = True
    delta = revival_shift(sae, h, dead, m)
    assert torch.all(delta[8:] == 0) and torch.all(delta[:8] > 0)
    with torch.no_grad():
        sae.b_enc.add_(delta)
        fires = (sae.encode(x)[:, :8] != 0).sum(0)
    assert torch.all(fires >= m)  # fires on its m best rows ...
    assert torch.all(fires <= m + 1)  # ... and (ties and the 1e-3 margin aside) not on more


def test_revival_shift_enters_the_topk_selection(data):
    sae = TopKSAE(SAEConfig(d_in=16, d_sae=64, architecture="topk", k=4))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(16, 64, generator=torch.Generator().manual_seed(3)))
        sae.W_dec.copy_(sae.W_enc.T)
        sae.b_enc[:4] -= 50.0
    x = data[0][:256]
    dead = torch.zeros(64, dtype=torch.bool)
    dead[:4] = True
    with torch.no_grad():
        sae.b_enc.add_(revival_shift(sae, sae.pre_acts(x), dead))
        assert torch.all((sae.encode(x)[:, :4] != 0).any(0))


def test_gate_edge_is_where_the_gate_starts_firing():
    sae = RationalSAE(SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=(3, 2)))
    with torch.no_grad():
        sae.gate.c_in.fill_(2.0)  # r(t) = t: fires for h > 0 whatever C_in
    assert torch.allclose(gate_edge(sae, -5.0, 5.0), torch.zeros(8), atol=1e-8)
    with torch.no_grad():
        sae.gate.c_out.zero_()  # fires nowhere: no raise can revive a latent, none is attempted
    dead = torch.ones(8, dtype=torch.bool)
    assert torch.equal(revival_shift(sae, torch.randn(16, 8), dead), torch.zeros(8))


def test_fixed_sparsity_covers_the_topk_rational_sae():
    def model(arch, k):
        return SimpleNamespace(cfg=SimpleNamespace(architecture=arch, k=k))

    assert _fixed_sparsity(model("topk", 4)) and _fixed_sparsity(model("rational", 4))
    assert not _fixed_sparsity(model("rational", None)) and not _fixed_sparsity(model("relu", None))


@pytest.mark.parametrize("bad", [0.0, -3.0, 65.0])
def test_impossible_target_l0(data, bad):
    sae = tied_relu_sae(16, 64, data[0].mean(0), seed=1)
    with pytest.raises(ValueError, match="impossible target L0"):
        finetune(sae, data[0], FinetuneConfig(steps=5, target_l0=bad))


def test_divergence_is_restored_and_counted(data, tmp_path):
    x_tr, _ = data
    sae = tied_relu_sae(16, 64, x_tr.mean(0), seed=1)
    hit = []

    def inject(step, model):
        if step == 25 and not hit:  # once: corrupt a weight as a blown-up update would
            hit.append(step)
            with torch.no_grad():
                model.W_enc[0, 0] = float("nan")

    cfg = FinetuneConfig(steps=60, batch_size=256, target_l0=5.0, checkpoint_every=10)
    res = finetune(sae, x_tr, cfg, out=tmp_path, fault=inject)
    assert hit and res.divergences == 1 and res.lr_scale == 0.5 and res.steps == 60
    assert all(bool(torch.isfinite(p).all()) for p in sae.parameters())
    snap = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert all(bool(torch.isfinite(v).all()) for v in snap["model"].values())
    assert snap["divergences"] == 1


def test_repeated_divergence_raises_and_never_writes_nan(data, tmp_path):
    x_tr, _ = data
    sae = tied_relu_sae(16, 64, x_tr.mean(0), seed=1)

    def always(step, model):
        if step >= 12:
            with torch.no_grad():
                model.b_enc[3] = float("inf")

    cfg = FinetuneConfig(steps=40, batch_size=256, target_l0=5.0, checkpoint_every=10, max_divergences=3)
    with pytest.raises(DivergenceError, match="diverged"):
        finetune(sae, x_tr, cfg, out=tmp_path, fault=always)
    snap = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert snap["step"] == 10
    assert all(bool(torch.isfinite(v).all()) for v in snap["model"].values())


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from rsae.activations import SyntheticFeatures
    from rsae.finetune import FinetuneConfig, finetune
    from rsae.gates import RationalGate
    from rsae.sae import RationalSAE, SAEConfig

    out, mode, result = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    gen = SyntheticFeatures(d_in=8, n_features=24, mean_active=3.0, seed=5)
    x = torch.from_numpy(gen.sample(4096)[0])
    sae = RationalSAE(SAEConfig(d_in=8, d_sae=32, architecture="rational", rational_type=(3, 2)))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        W = torch.randn(32, 8, generator=g); W /= W.norm(dim=1, keepdim=True)
        sae.W_dec.copy_(W); sae.W_enc.copy_(W.T); sae.b_dec.copy_(x.mean(0))
        ref = RationalGate.from_coefficients([0.0, 0.6, 0.5, -0.1], [0.2, 0.3])
        for name in ("a", "b", "c_in", "c_out"):
            getattr(sae.gate, name).copy_(getattr(ref, name))

    def slow(step, model):
        (out / "progress").write_text(str(step))
        if mode == "slow":
            time.sleep(0.05)

    cfg = FinetuneConfig(steps=120, batch_size=128, target_l0=4.0, checkpoint_every=10, seed=3)
    res = finetune(sae, x, cfg, out=out, resume=(mode == "resume"), fault=slow)
    torch.save({"state": sae.state_dict(), "last": res.history[-1], "resumed_from": res.resumed_from},
               result)
    """
)


def _run_child(script: Path, out: Path, mode: str, result: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(script), str(out), mode, str(result)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    # 1. uninterrupted reference run
    ref_out, ref_res = tmp_path / "ref", tmp_path / "ref.pt"
    ref_out.mkdir()
    p = _run_child(script, ref_out, "fast", ref_res)
    assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    # 2. a slow run, SIGKILLed mid-way (after its 3rd checkpoint, well before the end)
    out = tmp_path / "killed"
    out.mkdir()
    p = _run_child(script, out, "slow", tmp_path / "never.pt")
    deadline = time.time() + 240
    while time.time() < deadline:
        prog = out / "progress"
        if prog.is_file() and prog.read_text().strip() and int(prog.read_text()) >= 45:
            break
        if p.poll() is not None:
            pytest.fail("child ended before it could be killed: " + p.stderr.read().decode()[-2000:])
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    killed_at = int((out / "progress").read_text())
    assert 45 <= killed_at < 120 and not (tmp_path / "never.pt").exists()
    assert (out / CHECKPOINT_NAME).is_file()
    # 3. resume to the end: same final weights and metrics as the uninterrupted run
    res_path = tmp_path / "resumed.pt"
    p = _run_child(script, out, "resume", res_path)
    assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    a, b = torch.load(ref_res, weights_only=True), torch.load(res_path, weights_only=True)
    assert b["resumed_from"] is not None and 40 <= b["resumed_from"] <= killed_at
    for k, v in a["state"].items():
        assert torch.equal(v, b["state"][k]), k
    assert a["last"] == b["last"]


def test_resume_without_checkpoint_starts_fresh(data, tmp_path):
    sae = RationalSAE(SAEConfig(d_in=16, d_sae=32, architecture="rational", rational_type=(3, 2)))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(16, 32, generator=torch.Generator().manual_seed(1)) * 0.3)
        sae.W_dec.copy_(sae.W_enc.T)
    res = finetune(sae, data[0], FinetuneConfig(steps=5, batch_size=64, target_l0=4.0), out=tmp_path,
                   resume=True)
    assert res.resumed_from is None and res.steps == 5
    assert (Path(tmp_path) / CHECKPOINT_NAME).is_file()
