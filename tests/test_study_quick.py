"""Smoke tests of the study helpers in ``benchmarks/study`` (not the study itself: that is
``python benchmarks/reproduce_paper.py --quick``, which the test suite does not run)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from study import controls, data, preservation, probing

from rsae.sae import JumpReLUSAE, ReLUSAE, SAEConfig, TopKSAE


def _sae(cls, arch: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    m = cls(SAEConfig(d_in=8, d_sae=16, architecture=arch, **kw))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return m


def test_splits_are_disjoint_and_cover_the_corpus():
    ranges = sorted(data.SPLITS.values())
    assert ranges[0][0] == 0 and ranges[-1][1] == 4096
    for (a0, a1), (b0, _) in itertools.pairwise(ranges):
        assert a1 == b0 and a0 < a1
    with pytest.raises(ValueError, match="split"):
        data.split_tokens("nope")
    with pytest.raises(ValueError, match="leaves split"):
        data.split_tokens("eval", n_seq=10, offset=1020)


def test_tasks_from_a_hand_made_sequence():
    # BOS, then ids 5 7 5 9 1 2 ; positions 1..6
    toks = np.array([[1, 5, 7, 5, 9, 1, 2]])
    lab = probing.make_tasks(toks, frequent_ids=np.array([5]))
    assert lab["frequent_token"].tolist() == [1, 0, 1, 0, 0, 0]
    assert lab["seen_before"].tolist() == [0, 0, 1, 0, 0, 0]
    # next token (of positions 1..5) is 7 5 9 1 2 -> boundary at 4, 5; last position undefined
    assert lab["next_is_boundary"].tolist() == [0, 0, 0, 1, 1, -1]
    assert lab["early_position"].tolist() == [1] * 6
    assert lab["late_position"].tolist() == [0] * 6


def test_k_sparse_probe_finds_a_planted_latent_and_chance_without_one():
    rng = np.random.default_rng(20261123)
    n = 800
    y = torch.from_numpy(rng.integers(0, 2, n).astype(np.float64))
    z = torch.from_numpy(rng.exponential(size=(n, 30)))
    z_planted = z.clone()
    z_planted[:, 17] += 3.0 * y
    acc = probing.k_sparse_probe(z_planted[:400], y[:400], z_planted[400:], y[400:], k=1)
    assert acc > 0.9
    chance = probing.k_sparse_probe(z[:400], y[:400], z[400:], y[400:], k=1)
    assert 0.35 < chance < 0.65


def test_preservation_identity_and_permutation():
    t = _sae(ReLUSAE, "relu")
    x = torch.randn(2000, 8, generator=torch.Generator().manual_seed(1))
    same = preservation.preservation(t, t, x)
    alive = (t.encode(x) != 0).any(0).float().mean().item()
    assert same["frac_same"] == pytest.approx(alive)
    other = _sae(ReLUSAE, "relu", seed=1)
    diff = preservation.preservation(t, other, x)
    assert diff["frac_same"] < 0.3


def test_ste_jumprelu_gate_values_and_threshold_gradient():
    t = _sae(JumpReLUSAE, "jumprelu")
    with torch.no_grad():
        t.gate.threshold.fill_(0.3)
    ctrl, aux, over = controls.make_control(t, fold=False)  # unfolded: bitwise the teacher's codes
    x = torch.randn(512, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ctrl.encode(x), t.encode(x), rtol=0, atol=0)
    ctrl.encode(x).sum().backward()
    g = ctrl.gate.threshold.grad
    assert g is not None and torch.isfinite(g).all() and (g < 0).any()  # raising theta removes output
    assert aux is None and over == {}


def test_auxk_loss_only_after_latents_die():
    t = _sae(TopKSAE, "topk", k=2)
    ctrl, aux, over = controls.make_control(t, k=3)
    assert ctrl.gate.k == 3 and over["l1_init"] < 1e-9
    aux.dead_tokens = 100
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))  # 4 tokens x k=3: <= 12 of 16 fire
    h = ctrl.pre_acts(x)
    z = ctrl.activation(h)
    losses = [aux(model=ctrl, x=x, h=h, z=z, x_hat=ctrl.decode(z)) for _ in range(30)]
    assert float(losses[0].detach()) == 0.0  # nothing has been dead for 100 tokens yet
    assert float(losses[-1].detach()) > 0 and losses[-1].requires_grad


def test_folded_jumprelu_control_is_the_same_function_with_a_scaled_bandwidth():
    t = _sae(JumpReLUSAE, "jumprelu")
    with torch.no_grad():
        t.gate.threshold.copy_(torch.linspace(0.1, 2.0, 16))
    ctrl, _, _ = controls.make_control(t)  # folded by default
    x = torch.randn(512, 8, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ctrl(x), t(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ctrl.gate.threshold.detach(), torch.full((16,), 0.5))
    c = torch.linspace(0.1, 2.0, 16) / 0.5
    torch.testing.assert_close(ctrl.gate.eps, 0.05 / c)
    raw, _, _ = controls.make_control(t, fold=False)
    torch.testing.assert_close(raw.gate.eps, torch.full((16,), 0.05))


def test_refit_control_decoder_keeps_the_codes_and_lowers_the_error():
    t = _sae(TopKSAE, "topk", k=3, rescale_acts_by_decoder_norm=True)
    ctrl, _, _ = controls.make_control(t)
    x = torch.randn(3000, 8, generator=torch.Generator().manual_seed(5))
    z0 = t.encode(x)
    res = controls.refit_control_decoder(ctrl, x, ridge=1e-3)
    assert not ctrl.cfg.rescale_acts_by_decoder_norm
    assert (ctrl.encode(x) != 0).eq(z0 != 0).all()  # same support: the rescaling was folded exactly
    assert res["mse_calibration_after"] < res["mse_calibration_before"]


def test_frontier_verdict_interpolates_and_never_extrapolates():
    from study.report import frontier_verdict

    ctrl = [{"l0": 10.0, "mse": 10.0}, {"l0": 40.0, "mse": 2.5}]  # mse = 100 / L0 between the points
    fr = {
        "control": ctrl,
        "rsae": [
            {"l0": 20.0, "mse": 4.9},  # control at 20: 5.0 -> below
            {"l0": 20.0, "mse": 5.1},  # above
            {"l0": 80.0, "mse": 0.1},  # outside the control's range: not compared
        ],
    }
    v = frontier_verdict(fr, "mse")
    assert v["compared"] == 2 and v["below"] == 1
    assert v["points"][0][2] == pytest.approx(5.0)


def test_remedies_cover_gate_lr_type_and_calibration():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import reproduce_paper as rp

    for fam in ("relu", "jumprelu", "topk"):
        specs = rp.remedy_specs(fam)
        names = [s["name"] for s in specs]
        assert len(set(names)) == len(names)
        assert {"gate_lr_x10", "gate_lr_x0.1", "recon_calibration", "refit_decoder"} <= set(names)
        assert any(s.get("init", {}).get("rational_type") for s in specs)  # another gate type
        assert any(s.get("init", {}).get("calibration_steps") == 0 for s in specs)
    rec = {"rsae": {"mse": 1.0, "delta_ce": 0.1}, "control": {"mse": 1.1, "delta_ce": 0.1}}
    assert rp.loses_to_control(rec)  # a tie in delta-CE is not a win
    rec["rsae"]["delta_ce"] = 0.09
    assert not rp.loses_to_control(rec)
