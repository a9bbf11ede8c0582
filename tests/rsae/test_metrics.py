"""Metrics against hand computations, streaming invariance, and the CE splice on the real host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rsae.activations import ActivationError, HostActivations, load_host
from rsae.metrics import EVAL_KEYS, HOST_KEYS, evaluate, evaluate_host
from rsae.sae import ReLUSAE, SAEConfig

HF_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "stories260k-hf"
needs_hf = pytest.mark.skipif(not (HF_DIR / "config.json").is_file(), reason="stories260k-hf not present")


def _tiny_sae() -> ReLUSAE:
    """d_in = 2, d_sae = 3, b_dec = 0: z = relu(x W_enc + b_enc), x_hat = z W_dec."""
    sae = ReLUSAE(SAEConfig(d_in=2, d_sae=3, architecture="relu"))
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
        sae.b_enc.copy_(torch.tensor([0.0, 0.0, -10.0]))  # latent 2 never fires on these inputs
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.5], [1.0, 1.0]]))
    return sae


def test_metrics_match_hand_computation():
    sae = _tiny_sae()
    x = torch.tensor([[1.0, 2.0], [-1.0, 4.0], [3.0, -2.0]])
    # z = [[1,2,0],[0,4,0],[3,0,0]]; x_hat = [[1,1],[0,2],[3,0]]
    # errors^2 summed over dims: (0+1), (1+4), (0+4) -> MSE = 10/3
    # L0 = (2 + 1 + 1)/3; alive = 2/3 (latent 2 dead)
    # E||x||^2 = (5 + 17 + 13)/3 = 35/3; E x = (1, 4/3); ||E x||^2 = 1 + 16/9 = 25/9
    # EV = 1 - (10/3) / (35/3 - 25/9) = 1 - 30/80 = 0.625
    want = {"mse": 10 / 3, "l0": 4 / 3, "alive": 2 / 3, "explained_variance": 0.625, "n_tokens": 3}
    for batches in ([x], [x[:1], x[1:]], [x[i : i + 1] for i in range(3)]):
        got = evaluate(sae, batches)
        assert set(got) == set(EVAL_KEYS)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-12), k


def test_max_tokens_and_errors():
    sae = _tiny_sae()
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(7))
    assert evaluate(sae, [x[:4], x[4:]], max_tokens=5)["n_tokens"] == 5
    with pytest.raises(ActivationError, match="d_in mismatch"):
        evaluate(sae, [torch.zeros(3, 5)])
    bad = x.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ActivationError, match="NaN"):
        evaluate(sae, [bad])
    with pytest.raises(ActivationError, match="no tokens"):
        evaluate(sae, [])


def _identity_sae(d: int) -> ReLUSAE:
    """x = relu(x) - relu(-x): a perfect-reconstruction ReLU SAE with d_sae = 2 d."""
    sae = ReLUSAE(SAEConfig(d_in=d, d_sae=2 * d, architecture="relu"))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
    return sae


@needs_hf
@pytest.mark.parametrize("keep_bos", [False, True])
def test_host_ce_with_perfect_and_zero_sae(keep_bos):
    model = load_host(HF_DIR)
    toks = np.asarray(np.load(HF_DIR / "sampled_tokens.npy", mmap_mode="r")[:4, :32])
    host = HostActivations(model, 3, toks, keep_bos=keep_bos, seq_batch=3)
    res = evaluate_host(_identity_sae(64), host)
    assert set(res) == set(EVAL_KEYS) | set(HOST_KEYS)
    # clean CE equals transformers' own loss (mean next-token CE over all predicted positions)
    with torch.no_grad():
        ids = torch.from_numpy(toks.astype(np.int64))
        ref = model(input_ids=ids, labels=ids)
    assert res["ce_clean"] == pytest.approx(float(ref.loss), rel=1e-5)
    assert res["mse"] < 1e-8 and res["explained_variance"] > 1 - 1e-8
    assert res["ce_sae"] == pytest.approx(res["ce_clean"], abs=1e-4)
    assert res["ce_zero"] > res["ce_clean"] + 0.1
    assert res["loss_recovered"] == pytest.approx(1.0, abs=1e-3)
    assert res["n_tokens"] == 4 * (32 if keep_bos else 31)
    # an SAE that outputs b_dec = 0 everywhere is zero ablation
    dead = ReLUSAE(SAEConfig(d_in=64, d_sae=8, architecture="relu"))
    with torch.no_grad():
        dead.b_enc.fill_(-1.0)
    res0 = evaluate_host(dead, host)
    assert res0["ce_sae"] == pytest.approx(res["ce_zero"], rel=1e-6)
    assert res0["loss_recovered"] == pytest.approx(0.0, abs=1e-6)
    assert res0["l0"] == 0 and res0["alive"] == 0


@needs_hf
def test_host_d_in_mismatch():
    host = HostActivations(HF_DIR, 2, np.ones((1, 4), dtype=np.int64))
    with pytest.raises(ActivationError, match="d_in mismatch"):
        evaluate_host(_tiny_sae(), host)


@pytest.mark.parametrize("mode", ["layer_norm", "constant_norm_rescale"])
def test_runtime_normalisation_is_undone_for_the_error(mode):
    """SAELens compares x with the de-normalised output: a perfect SAE has MSE ~ 0 in every mode."""
    sae = ReLUSAE(SAEConfig(d_in=4, d_sae=8, architecture="relu", normalize_activations=mode))
    eye = torch.eye(4)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(3)) * 3 + 1
    assert evaluate(sae, [x])["mse"] < 1e-8
