"""RSAE-init: threshold estimator, exact-zero shift, scale folding, Remez fit, teacher reproduction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rsae.activations import SyntheticFeatures
from rsae.demo import derive_jumprelu_teacher, train_relu_teacher
from rsae.finetune import FinetuneConfig, finetune
from rsae.gates import RationalGate
from rsae.metrics import evaluate
from rsae.sae import JumpReLUSAE, RationalSAE, SAEConfig, TopKSAE
from rsae.upgrade import (
    _r_np,
    edge_gate,
    effective_weights,
    enforce_zero_region,
    estimate_topk_threshold,
    fit_normalised_gate,
    fold_scales,
    latent_scales,
    line_gate,
    normalised_teacher_gate,
    refit_decoder_ridge,
    topk_latent_thresholds,
    upgrade_init,
)

#: The obligation: RSAE-init reproduces the teacher's MSE and L0 within 1%.
REPRO_TOL = 0.01
#: Small fits for speed in the JumpReLU/TopK tests; the paper's (9, 8) on 4001 points is @slow.
FAST_JUMP = {"rational_type": (4, 3), "grid_n": 1001}


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(0)
    gen = SyntheticFeatures(d_in=16, n_features=48, mean_active=4.0, noise=0.05, seed=11)
    x = torch.from_numpy(gen.sample(12288)[0])
    return x[:8192], x[8192:]


@pytest.fixture(scope="module")
def relu_teacher(data):
    torch.set_num_threads(1)
    return train_relu_teacher(data[0], 64, target_l0=6.0, steps=250, seed=3)


def _rel(a: float, b: float) -> float:
    return abs(a / b - 1.0)


def test_topk_threshold_estimator_matches_mean_count():
    g = torch.Generator().manual_seed(5)
    h = torch.randn(300, 40, generator=g, dtype=torch.float64)
    for k in (1, 5, 2.5):
        tau, n = estimate_topk_threshold([h[:100], h[100:]], k)
        assert n == 300
        assert float((h > tau).sum(-1).double().mean()) == pytest.approx(k, abs=1 / 600)
    with pytest.raises(ValueError, match="`k`"):
        estimate_topk_threshold([h], 40)
    with pytest.raises(ValueError, match=r"\[B, d_sae\]"):
        estimate_topk_threshold([h[0]], 2)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_enforce_zero_region(as_tensor):
    a = np.array([0.3, 1.0, -2.0, 0.5])
    t = np.linspace(-1, 0.5, 4001)
    before = np.polynomial.polynomial.polyval(t, a).max()
    a_in = torch.tensor(a) if as_tensor else a.copy()
    shift = enforce_zero_region(a_in, -1.0, 0.5)
    a_out = a_in.numpy() if as_tensor else a_in
    assert shift == pytest.approx(before)
    assert np.polynomial.polynomial.polyval(t, a_out).max() <= 1e-15
    np.testing.assert_array_equal(a_out[1:], a[1:])  # only a_0 moves


def test_jumprelu_scale_folding_is_exact_homogeneity():
    """h H(h - theta) = c (h/c) H(h/c - theta/c) with c = theta / kappa, folded into the weights."""
    g = torch.Generator().manual_seed(9)
    t = JumpReLUSAE(SAEConfig(d_in=6, d_sae=10, architecture="jumprelu", dtype="float64"))
    with torch.no_grad():
        for p in (t.W_enc, t.b_enc, t.W_dec, t.b_dec):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        t.gate.threshold.copy_(torch.rand(10, generator=g, dtype=torch.float64) + 0.1)
    x = torch.randn(50, 6, generator=g, dtype=torch.float64)
    kappa = 0.5
    c, counts = latent_scales("jumprelu", t.pre_acts(x), kappa=kappa, threshold=t.threshold)
    W_enc, b_enc, W_dec = fold_scales(*effective_weights(t), c)
    u = (x - t.b_dec) @ W_enc + b_enc
    x_hat = normalised_teacher_gate(u, kappa) @ W_dec + t.b_dec
    torch.testing.assert_close(x_hat, t(x), rtol=1e-12, atol=1e-12)
    assert counts["theta_nonpositive"] == 0


def test_topk_decoder_norm_rescaling_is_folded():
    g = torch.Generator().manual_seed(4)
    t = TopKSAE(SAEConfig(d_in=5, d_sae=12, architecture="topk", k=3, rescale_acts_by_decoder_norm=True,
                          dtype="float64"))
    with torch.no_grad():
        for p in (t.W_enc, t.b_enc, t.W_dec, t.b_dec):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(20, 5, generator=g, dtype=torch.float64)
    W_enc, b_enc, W_dec = effective_weights(t)
    h = (x - t.b_dec) @ W_enc + b_enc
    torch.testing.assert_close(h, t.pre_acts(x))
    torch.testing.assert_close(t.activation(h) @ W_dec + t.b_dec, t(x))


def test_special_latents_have_defined_scales():
    h = torch.tensor([[1.0, -1.0, 2.0], [3.0, -2.0, 4.0]], dtype=torch.float64)
    c, counts = latent_scales("relu", h, kappa=0.0, relu_quantile=0.5)
    assert counts["dead_scale_from_median"] == 1  # latent 1 never positive
    assert c[1] == pytest.approx(float(torch.tensor([2.0, 3.0]).median()))
    theta = torch.tensor([0.2, -0.1, 0.0, 0.4])
    c, counts = latent_scales("jumprelu", torch.zeros(2, 4), kappa=0.5, threshold=theta)
    assert counts["theta_nonpositive"] == 2
    assert bool((c > 0).all())
    with pytest.raises(ValueError, match="tau_k"):
        latent_scales("topk", h, kappa=0.5, tau=-1.0)


def test_relu_remez_fit_matches_known_error_and_is_exact_zero():
    """Best (3,2) to ReLU on [-1,1]: error ~ 2.2e-2 (Boullé, Nakatsukasa & Townsend 2020)."""
    fit = fit_normalised_gate("relu")
    assert fit.type == (3, 2) and fit.grid_n == 4001
    assert fit.remez_error == pytest.approx(0.0218, rel=0.02)
    t = np.linspace(-1, 0, 2001)
    assert _r_np(np.array(fit.a), np.array(fit.b), t).max() <= 0.0  # r <= 0 where ReLU is 0
    # the rectified gate max(r, 0) is allowed to be *better* than the minimax r: record, not hide
    assert fit.error_after_shift <= fit.error_safe_pade + fit.shift + 1e-12


def test_jumprelu_fit_keeps_zero_region():
    fit = fit_normalised_gate("jumprelu", type=FAST_JUMP["rational_type"], grid_n=FAST_JUMP["grid_n"])
    t = np.linspace(-1, fit.kappa, 3001)
    assert np.polynomial.polynomial.polyval(t, np.array(fit.a)).max() <= 0.0
    # uniform error of max(r, 0) away from the jump: measured 0.31 for this small (4, 3) test type
    # (4.6e-4 for the paper's (9, 8), see test_paper_type_fit); calibration on data does the rest
    assert fit.error_after_shift < 0.5
    assert fit.error_after_shift <= fit.error_before_shift + fit.shift + 1e-9
    with pytest.raises(ValueError, match="kappa"):
        fit_normalised_gate("jumprelu", kappa=1.5)
    with pytest.raises(ValueError, match="family"):
        fit_normalised_gate("gelu")


def _check_repro(teacher, rsae, x_eval, mse_tol=REPRO_TOL, alive_equal=True):
    """L0 within 1%, MSE within ``mse_tol`` above the teacher's; alive equal (``alive_equal``)."""
    te, ri = evaluate(teacher, [x_eval]), evaluate(rsae, [x_eval])
    assert _rel(ri["l0"], te["l0"]) <= REPRO_TOL, (te, ri)
    assert ri["mse"] <= te["mse"] * (1 + mse_tol), (te, ri)
    if alive_equal:
        assert ri["alive"] == te["alive"], (te, ri)
    return te, ri


def test_init_reproduces_relu_teacher(data, relu_teacher):
    x_tr, x_ev = data
    rsae, rep = upgrade_init(relu_teacher, [x_tr])
    assert isinstance(rsae, RationalSAE) and rsae.cfg.rational_type == (3, 2)
    te, ri = _check_repro(relu_teacher, rsae, x_ev)
    assert _rel(ri["mse"], te["mse"]) <= REPRO_TOL
    assert 0.0 <= rep.frac_t_below <= 1.0 and 0.0 <= rep.frac_t_above <= 1.0


def test_init_interior_jump_approximates_jumprelu_teacher(data, relu_teacher):
    """The paper's interior placement (Remez fit + calibration): close, but not within 1% in MSE.

    Measured here +2.9% MSE with the fast (4, 3) type (and +1.5% to +3.3% with (9, 8) on the
    study's SAELens teachers, docs/rsae.md): the fit cannot follow the jump inside its excluded
    band.  L0 and exact sparsity are kept.  The default edge placement is exact (test below).
    """
    x_tr, x_ev = data
    teacher = derive_jumprelu_teacher(relu_teacher, x_tr[:4096])
    rsae, rep = upgrade_init(teacher, [x_tr], jump="interior", **FAST_JUMP)
    assert rep.jump == "interior" and rep.gate_fit.offset == 0.0
    _check_repro(teacher, rsae, x_ev, mse_tol=0.05)
    # exact sparsity: the RSAE fires only where the teacher does (up to float32 rounding at 0)
    with torch.no_grad():
        extra = ((rsae.encode(x_ev) != 0) & (teacher.encode(x_ev) == 0)).double().mean()
    assert float(extra) <= 1e-4


@pytest.fixture(scope="module")
def topk_teacher(data, relu_teacher):
    teacher = TopKSAE(SAEConfig(d_in=16, d_sae=64, architecture="topk", k=6))
    with torch.no_grad():
        for n in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(teacher, n).copy_(getattr(relu_teacher, n))
    finetune(teacher, data[0], FinetuneConfig(steps=100, batch_size=512, lr=3e-3, l1_init=1e-12,
                                              controller_ki=0.0, controller_kp=0.0))
    return teacher.eval()


@pytest.fixture(scope="module")
def topk_inits(data, topk_teacher):
    """RSAE-inits of the TopK teacher with each threshold rule (edge gate: the gate itself is exact)."""
    return {rule: upgrade_init(topk_teacher, [data[0]], topk_thresholds=rule)
            for rule in ("global", "per_latent")}


@pytest.mark.parametrize("rule", ["global", "per_latent"])
def test_init_topk_teacher_matches_l0(data, topk_teacher, topk_inits, rule):
    """TopK via thresholds: L0 within 1%; the MSE is *not* reproduced by any threshold gate.

    A per-token TopK and a fixed threshold choose different latents.  Measured on this problem
    (held-out, with the fine-tune of 2026-11-23 that trains the teacher): MSE +13.2% over the TopK
    teacher with one global threshold, +12.1% with the per-latent thresholds of
    :func:`topk_latent_thresholds`; on the study's SAELens teachers see docs/rsae.md.
    We bound it loosely here (< +50%) and test the improvement separately.  The alive fraction is
    not held either way: a threshold gate may fire a latent that a per-token TopK never selects,
    and the per-latent search may switch a latent off (a threshold above all its values is one of
    its candidates; measured here 0.984 against the teacher's 1.0).  The default per-token mode
    keeps it (test_init_topk_per_token_reproduces_teacher).
    """
    x_ev = data[1]
    rsae, rep = topk_inits[rule]
    assert rep.tau_k is not None and rep.tau_k > 0 and rep.topk_thresholds == rule
    _check_repro(topk_teacher, rsae, x_ev, mse_tol=0.5, alive_equal=False)


def test_per_latent_topk_thresholds_beat_global_at_same_l0(data, topk_teacher, topk_inits):
    x_ev = data[1]
    res = {rule: evaluate(m, [x_ev]) for rule, (m, _) in topk_inits.items()}
    assert res["per_latent"]["mse"] < res["global"]["mse"], res
    info = topk_inits["per_latent"][1].extra["topk_threshold_search"]
    assert info["l0_rel_dev"] <= 2e-3  # the lambda search reached the teacher's L0 on calibration


def _random_topk_teacher(rescale: bool, seed: int = 0) -> TopKSAE:
    g = torch.Generator().manual_seed(seed)
    t = TopKSAE(SAEConfig(d_in=16, d_sae=64, architecture="topk", k=6, rescale_acts_by_decoder_norm=rescale))
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        t.W_dec.mul_(torch.rand(64, 1, generator=g) + 0.2)  # unequal decoder norms: rescaling matters
    return t.eval()


@pytest.mark.parametrize("which", ["trained", "rescale_acts_by_decoder_norm"])
def test_init_topk_per_token_reproduces_teacher(data, topk_teacher, which):
    """Default TopK init: a TopK RSAE (z = TopK_k(phi(h))) that *is* the teacher up to float rounding.

    Same support on every held-out token, reconstructions equal to float32 rounding, L0 <= k,
    MSE and L0 ratios 1 (the obligation is 1%); with ``rescale_acts_by_decoder_norm`` the decoder
    norms are folded into the weights and the per-token ranking is unchanged.
    """
    x_tr, x_ev = data
    teacher = topk_teacher if which == "trained" else _random_topk_teacher(rescale=True)
    rsae, rep = upgrade_init(teacher, [x_tr])
    assert rep.topk_thresholds == "per_token" and rep.jump == "none" and rep.tau_k is None
    assert rep.gate_fit.method == "line-exact" and rsae.cfg.rational_type == (3, 2)
    assert rsae.cfg.k == teacher.cfg.k and not rsae.cfg.rescale_acts_by_decoder_norm
    assert rep.calibration.loss_end <= 1e-20 * rep.extra["topk_per_token"]["scale"] ** 2
    with torch.no_grad():
        zt, zr = teacher.encode(x_ev), rsae.encode(x_ev)
        assert torch.equal(zt != 0, zr != 0)
        assert int((zr != 0).sum(-1).max()) <= teacher.cfg.k
        scale = rep.extra["topk_per_token"]["scale"]
        # the shared scale is carried by the gate (C_in = C_out), not folded into the weights: the
        # codes are the teacher's (with rescaling: the teacher's code is h * ||W_dec[j]||, which the
        # fold of the decoder norms puts into the RSAE's pre-activation)
        assert float(rsae.gate.c_in) == pytest.approx(scale) == float(rsae.gate.c_out)
        torch.testing.assert_close(zr, zt, rtol=1e-5, atol=1e-5 * float(zt.abs().max()))
        torch.testing.assert_close(rsae(x_ev), teacher(x_ev), rtol=1e-5, atol=1e-5 * float(x_ev.abs().max()))
    te, ri = evaluate(teacher, [x_ev]), evaluate(rsae, [x_ev])
    assert _rel(ri["mse"], te["mse"]) <= 1e-5, (te, ri)
    assert ri["l0"] == te["l0"] and ri["alive"] == te["alive"], (te, ri)


def test_per_token_options_are_checked(data, topk_teacher):
    with pytest.raises(ValueError, match="not to 'per_token'"):
        upgrade_init(topk_teacher, [data[0]], jump="edge")
    with pytest.raises(ValueError, match="not to 'per_token'"):
        upgrade_init(topk_teacher, [data[0]], gate_fit=edge_gate("topk"))
    # a larger rational type is accepted: the same line, higher coefficients 0
    rsae, rep = upgrade_init(topk_teacher, [data[0][:2048]], rational_type=(5, 4))
    assert rsae.cfg.rational_type == (5, 4) and rep.calibration.loss_end <= 1e-20


def test_line_gate_is_relu():
    fit = line_gate()
    assert fit.type == (3, 2) and fit.offset == 0.0 and fit.kappa == 0.0 and any(v != 0 for v in fit.b)
    gate = RationalGate.from_coefficients(fit.a, fit.b, dtype=torch.float64)
    t = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    torch.testing.assert_close(gate(t.reshape(-1, 1)).reshape(-1), torch.relu(t), rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(fit.teacher_gate(np.array([-0.5, 0.0, 0.25])), [0.0, 0.0, 0.25])
    assert line_gate((1, 0)).a == [0.0, 1.0]
    with pytest.raises(ValueError, match="degree >= 1"):
        line_gate((0, 2))


def _jump_objective(h, x, W_dec, b_dec, thr, lam):
    z = torch.where(h > thr, h, torch.zeros_like(h))
    return float(((x - z @ W_dec - b_dec) ** 2).sum()) + lam * float((z != 0).sum())


def test_topk_latent_thresholds_is_a_coordinatewise_optimum():
    """block=1: every threshold is optimal given the others (checked against all candidate cuts)."""
    g = torch.Generator().manual_seed(2)
    N, d, d_in = 60, 5, 4
    h = torch.randn(N, d, generator=g, dtype=torch.float64) + 0.3
    W_dec = torch.randn(d, d_in, generator=g, dtype=torch.float64)
    b_dec = torch.zeros(d_in, dtype=torch.float64)
    x = torch.relu(h) @ W_dec + 0.1 * torch.randn(N, d_in, generator=g, dtype=torch.float64)
    thr, info = topk_latent_thresholds(h, x, W_dec, b_dec, 2.0, tau=0.5, passes=30, block=1, max_iter=1)
    lam = info["lambda"]
    best = _jump_objective(h, x, W_dec, b_dec, thr, lam)
    for j in range(d):
        vals = torch.sort(h[:, j]).values
        cands = torch.cat([0.5 * (vals[1:] + vals[:-1]), vals[-1:] + 1.0])
        for c in cands[cands > 0]:
            alt = thr.clone()
            alt[j] = c
            assert _jump_objective(h, x, W_dec, b_dec, alt, lam) >= best - 1e-9
    assert bool((thr > 0).all())
    with pytest.raises(ValueError, match="tau"):
        topk_latent_thresholds(h, x, W_dec, b_dec, 2.0, tau=0.0)


def test_refit_decoder_ridge_limits():
    g = torch.Generator().manual_seed(3)
    z = torch.relu(torch.randn(200, 6, generator=g, dtype=torch.float64))
    W0 = torch.randn(6, 4, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    x = z @ (W0 + 0.3) + b + 0.01 * torch.randn(200, 4, generator=g, dtype=torch.float64)
    ls = torch.linalg.lstsq(z, x - b).solution
    torch.testing.assert_close(refit_decoder_ridge(z, x, W0, b, ridge=0.0), ls)
    torch.testing.assert_close(refit_decoder_ridge(z, x, W0, b, ridge=1e9), W0, rtol=0, atol=1e-6)


def test_refit_decoder_option_lowers_calibration_error(data, topk_teacher):
    _, rep = upgrade_init(topk_teacher, [data[0]], refit_decoder=True)
    r = rep.extra["refit_decoder_stats"]
    assert rep.refit_decoder and r["mse_calibration_after"] < r["mse_calibration_before"]
    summary = rep.summary()
    assert summary["refit_decoder"] is True and summary["topk_thresholds"] == "per_token"
    json.dumps(summary)  # goes into results.json as is


def test_edge_gate_is_the_exact_line():
    fit = edge_gate("jumprelu", kappa=0.5)
    assert fit.offset == -1.5 and fit.method == "edge-exact"
    gate = RationalGate.from_coefficients(fit.a, fit.b)
    t = torch.linspace(-3, 3, 6001)
    want = torch.where(t >= -1, t + 1.5, torch.zeros_like(t))
    torch.testing.assert_close(gate(t.reshape(-1, 1)).reshape(-1), want, rtol=1e-6, atol=1e-6)
    # the teacher's gate in the same units, and the denominator is not frozen at B = 0
    np.testing.assert_array_equal(fit.teacher_gate(np.array([-1.2, -0.9, 0.5])), [0.0, 0.6, 2.0])
    torch.testing.assert_close(fit.teacher_gate(torch.tensor([-1.2, -0.9])), torch.tensor([0.0, 0.6]))
    assert any(v != 0 for v in fit.b)
    small = edge_gate("topk", kappa=0.3, type=(1, 0))
    assert small.a == [1.3, 1.0] and small.b == []
    with pytest.raises(ValueError, match="jump gates"):
        edge_gate("relu")


def test_init_jumprelu_edge_reproduces_teacher_exactly(data, relu_teacher):
    x_tr, x_ev = data
    teacher = derive_jumprelu_teacher(relu_teacher, x_tr[:4096])
    rsae, rep = upgrade_init(teacher, [x_tr])  # default: the edge placement
    assert rep.jump == "edge" and rep.calibration.loss_end < 1e-20
    assert set(rep.timings) >= {"gate_fit", "thresholds", "calibration"}
    te, ri = evaluate(teacher, [x_ev]), evaluate(rsae, [x_ev])
    assert _rel(ri["mse"], te["mse"]) <= 1e-5 and _rel(ri["l0"], te["l0"]) <= 1e-4, (te, ri)
    with torch.no_grad():
        same = ((rsae.encode(x_ev) != 0) == (teacher.encode(x_ev) != 0)).double().mean()
        torch.testing.assert_close(rsae(x_ev), teacher(x_ev), rtol=1e-4, atol=1e-4)
    assert float(same) >= 1 - 1e-4


def test_bad_upgrade_options(data, relu_teacher):
    teacher = derive_jumprelu_teacher(relu_teacher, data[0][:2048])
    with pytest.raises(ValueError, match="jump"):
        upgrade_init(teacher, [data[0]], jump="middle")
    with pytest.raises(ValueError, match="topk_thresholds"):
        upgrade_init(teacher, [data[0]], topk_thresholds="median")
    with pytest.raises(ValueError, match="refit_ridge"):
        upgrade_init(teacher, [data[0]], refit_ridge=-1.0)
    fit = fit_normalised_gate("jumprelu", type=FAST_JUMP["rational_type"], grid_n=FAST_JUMP["grid_n"])
    with pytest.raises(ValueError, match="contradicts"):
        upgrade_init(teacher, [data[0]], gate_fit=fit, jump="edge")


def test_rational_teacher_is_rejected(data):
    r = RationalSAE(SAEConfig(d_in=16, d_sae=8, architecture="rational", rational_type=(3, 2)))
    with pytest.raises(ValueError, match="teacher"):
        upgrade_init(r, [data[0]])


@pytest.mark.slow
def test_paper_type_fit(tmp_path):
    fit = fit_normalised_gate("jumprelu", cache_dir=tmp_path)
    assert fit.type == (9, 8) and fit.grid_n == 4001
    assert fit.error_after_shift < 5e-3
    t = np.linspace(-1, fit.kappa, 30001)
    assert np.polynomial.polynomial.polyval(t, np.array(fit.a)).max() <= 0.0


@pytest.mark.slow
def test_init_reproduces_jumprelu_teacher_paper_type(data, relu_teacher, tmp_path):
    """The paper's recipe: type (9, 8) on the 4001-point grid (the Remez takes about a minute)."""
    x_tr, x_ev = data
    teacher = derive_jumprelu_teacher(relu_teacher, x_tr[:4096])
    rsae, rep = upgrade_init(teacher, [x_tr], cache_dir=tmp_path, jump="interior")
    assert rep.gate_fit.type == (9, 8)
    te, ri = _check_repro(teacher, rsae, x_ev)
    assert _rel(ri["mse"], te["mse"]) <= REPRO_TOL
    with torch.no_grad():
        extra = ((rsae.encode(x_ev) != 0) & (teacher.encode(x_ev) == 0)).double().mean()
    assert float(extra) <= 1e-3  # float32 evaluation of the (9, 8) coefficients: see docs/rsae.md
