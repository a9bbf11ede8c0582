"""SAEConfig and the SAE modules: shapes, dtypes, formulas, validation."""

from __future__ import annotations

import pytest
import torch

from rsae import JumpReLUSAE, RationalGate, RationalSAE, ReLUSAE, SAEConfig, TopKSAE, registry
from rsae.kernels.rational_gate import naive_rational_gate_fwd

D_IN, D_SAE = 10, 30


def _fill(sae, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * 0.5)
    return sae


def _x(n=7, seed=1, dtype=torch.float32):
    return torch.randn(n, D_IN, generator=torch.Generator().manual_seed(seed)).to(dtype)


def test_config_validation():
    with pytest.raises(ValueError, match="`architecture`"):
        SAEConfig(d_in=4, d_sae=8, architecture="gated")
    with pytest.raises(ValueError, match="`k` is required"):
        SAEConfig(d_in=4, d_sae=8, architecture="topk")
    with pytest.raises(ValueError, match=r"`k` must be in \[1, d_sae=8\]"):
        SAEConfig(d_in=4, d_sae=8, architecture="topk", k=9)
    with pytest.raises(ValueError, match="rational_type"):
        SAEConfig(d_in=4, d_sae=8, architecture="rational")
    with pytest.raises(ValueError, match="`d_in` must be >= 1"):
        SAEConfig(d_in=0, d_sae=8)
    with pytest.raises(ValueError, match="`normalize_activations`"):
        SAEConfig(d_in=4, d_sae=8, normalize_activations="whiten")
    with pytest.raises(ValueError, match="`dtype`"):
        SAEConfig(d_in=4, d_sae=8, dtype="int8")
    with pytest.raises(ValueError, match="TopK option"):
        SAEConfig(d_in=4, d_sae=8, rescale_acts_by_decoder_norm=True)
    # `k`: required for topk, optional for rational (the TopK RSAE), refused where meaningless
    for arch in ("relu", "jumprelu"):
        with pytest.raises(ValueError, match=f"`k` is a TopK option.*{arch!r}"):
            SAEConfig(d_in=4, d_sae=8, architecture=arch, k=2)
    with pytest.raises(ValueError, match=r"`k` must be in \[1, d_sae=8\]"):
        SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=(3, 2), k=0)
    with pytest.raises(TypeError):
        SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=(3, 2), k=2.5)
    with pytest.raises(ValueError, match="TopK option"):
        SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=(3, 2), k=2,
                  rescale_acts_by_decoder_norm=True)
    tk = SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=(3, 2), k=3)
    assert tk.k == 3 and SAEConfig.from_dict(tk.to_dict()) == tk
    cfg = SAEConfig(d_in=4, d_sae=8, architecture="rational", rational_type=[5, 4], dtype="torch.bfloat16")
    assert cfg.rational_type == (5, 4) and cfg.dtype == "bfloat16"
    assert SAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown SAEConfig keys"):
        SAEConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="needs architecture 'relu'"):
        ReLUSAE(cfg)


def test_registry_contents_and_duplicates():
    assert registry.get_sae_class("rational") is RationalSAE
    assert registry.get_gate_class("rational") is RationalGate
    assert list(registry.LOADERS) == ["native", "saelens", "sparsify", "gemma_scope", "dictionary_learning"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register_sae_class("relu", ReLUSAE)
    with pytest.raises(ValueError, match="unknown SAE architecture 'gated'"):
        registry.get_sae_class("gated")


@pytest.mark.parametrize("apply_b_dec", [True, False])
def test_relu_sae_formula_and_shapes(apply_b_dec):
    sae = _fill(ReLUSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, apply_b_dec_to_input=apply_b_dec)))
    x = torch.randn(2, 3, D_IN, generator=torch.Generator().manual_seed(5))
    h = sae.pre_acts(x)
    assert h.shape == (2, 3, D_SAE)
    xd = x.double()
    ref_h = ((xd - sae.b_dec.double()) if apply_b_dec else xd) @ sae.W_enc.double() + sae.b_enc.double()
    torch.testing.assert_close(h.double(), ref_h, rtol=1e-5, atol=1e-5)
    z = sae.encode(x)
    assert torch.equal(z, torch.relu(h))
    x_hat = sae(x)
    assert x_hat.shape == x.shape
    assert torch.equal(x_hat, sae.decode(z))
    torch.testing.assert_close(x_hat, z @ sae.W_dec + sae.b_dec)


def test_jumprelu_and_topk_saes():
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="jumprelu")
    sae = _fill(JumpReLUSAE(cfg))
    with torch.no_grad():
        sae.threshold.fill_(0.3)
    h = sae.pre_acts(_x())
    assert torch.equal(sae.encode(_x()), torch.relu(h) * (h > 0.3))
    tk = _fill(TopKSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="topk", k=4)))
    z = tk.encode(_x())
    assert ((z != 0).sum(-1) <= 4).all() and ((z != 0).sum(-1) == 4).any()
    h = tk.pre_acts(_x())
    # every kept value is >= every dropped positive value in its row
    kept_min = torch.where(z > 0, h, torch.full_like(h, float("inf"))).min(-1).values
    dropped_max = torch.where(z == 0, h, torch.full_like(h, -float("inf"))).max(-1).values
    assert (kept_min[(z > 0).any(-1)] >= dropped_max[(z > 0).any(-1)]).all()


def test_rational_sae_gate_exact_zeros_and_gradients():
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2))
    sae = _fill(RationalSAE(cfg, gate_backend="torch"))
    with torch.no_grad():
        sae.gate.a.copy_(torch.tensor([-0.05, 0.9, 0.4, -0.2]))
        sae.gate.b.copy_(torch.tensor([0.6, 1.5]))
        sae.gate.c_in.fill_(2.0)
    x = _x(64)
    h = sae.pre_acts(x)
    z = sae.encode(x)
    g = sae.gate
    assert torch.equal(z, naive_rational_gate_fwd(h, g.a, g.b, g.c_in, g.c_out))
    l0 = (z != 0).float().sum(-1).mean().item()
    assert 0 < l0 < D_SAE  # exact zeros: L0 is meaningful
    loss = (sae(x) - x).pow(2).sum()
    loss.backward()
    for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, g.a, g.b, g.c_in, g.c_out):
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert g.a.grad.abs().sum() > 0 and g.c_in.grad.abs() > 0


def _topk_rsae(k=4, dtype=torch.float32, seed=0):
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2), k=k, dtype=dtype)
    sae = _fill(RationalSAE(cfg, gate_backend="torch"), seed=seed)
    with torch.no_grad():  # a gate with an interior zero crossing and curvature
        sae.gate.a.copy_(torch.tensor([-0.05, 0.9, 0.4, -0.2]))
        sae.gate.b.copy_(torch.tensor([0.6, 1.5]))
        sae.gate.c_in.fill_(2.0)
    return sae


def test_topk_rational_sae_keeps_the_k_largest_gate_outputs():
    """z = TopK_k(phi(h)): at most k non-zeros per token, each kept value >= every dropped one."""
    k = 14  # rows with 10..19 positive gate outputs here: both k kept and fewer than k occur
    sae = _topk_rsae(k=k)
    x = _x(200)
    with torch.no_grad():
        h, z = sae.pre_acts(x), sae.encode(x)
        phi = sae.gate(h)
    nnz = (z != 0).sum(-1)
    assert (nnz <= k).all() and (nnz == k).any() and (nnz < k).any()
    assert torch.equal(z[z != 0], phi[z != 0])  # kept entries are the gate's values, untouched
    kept_min = torch.where(z != 0, phi, torch.full_like(phi, float("inf"))).min(-1).values
    dropped_max = torch.where(z == 0, phi, torch.full_like(phi, -float("inf"))).max(-1).values
    rows = nnz > 0
    assert (kept_min[rows] >= dropped_max[rows]).all()
    assert ((phi > 0).sum(-1)[nnz < k] == nnz[nnz < k]).all()  # zeros stay zeros, none added
    # without k the same weights give the element-wise gate
    plain = RationalSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2)))
    plain.load_state_dict(sae.state_dict())
    assert sae.state_dict().keys() == plain.state_dict().keys()  # the selection has no parameters
    with torch.no_grad():
        assert torch.equal(plain.encode(x), phi)


def test_topk_rational_sae_gradients_only_through_kept_entries():
    sae = _topk_rsae(k=3, dtype=torch.float64)
    x = _x(16, seed=5, dtype=torch.float64)
    h = sae.pre_acts(x).detach().requires_grad_(True)
    z = sae.activation(h)
    w = torch.randn(z.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (gh,) = torch.autograd.grad((z * w).sum(), h)
    assert torch.equal(gh[z == 0], torch.zeros_like(gh[z == 0]))  # dropped (and zero) entries: no gradient
    assert (gh[z != 0] != 0).all()
    # the shared gate coefficients get the gradient of the gate's outputs on the kept entries only
    g = sae.gate
    params = (g.a, g.b, g.c_in, g.c_out)
    got = torch.autograd.grad((sae.activation(h) * w).sum(), params)
    mask = (z != 0).detach()
    want = torch.autograd.grad((g(h) * mask * w).sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        assert a.abs().sum() > 0
    # finite differences through the selection (no near-ties in this draw, so the selection is
    # locally constant, as gradcheck needs)
    assert torch.autograd.gradcheck(sae.activation, (h.detach().clone().requires_grad_(True),), eps=1e-6)


def test_rational_sae_d_in_mismatch_is_clear():
    sae = RationalSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2)))
    with pytest.raises(ValueError, match=r"d_in mismatch: activations have shape \(4, 11\).*d_in=10"):
        sae(torch.zeros(4, D_IN + 1))
    with pytest.raises(ValueError, match="d_in mismatch"):
        sae.encode(torch.tensor(1.0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_dtype_from_config(dtype):
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="rational", rational_type=(3, 2), dtype=dtype)
    sae = _fill(RationalSAE(cfg))
    assert sae.W_enc.dtype == dtype
    # the gate scalars stay float32 for bf16 (float32 arithmetic inside anyway), float64 for float64
    assert sae.gate.a.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    x = _x()  # float32 input is cast to the SAE dtype, as SAELens' process_sae_in does
    assert sae.encode(x).dtype == dtype and sae(x).dtype == dtype


def test_topk_rescale_acts_by_decoder_norm_matches_folded_weights():
    """SAELens fold_W_dec_norm identity: rescaled TopK == plain TopK on W_enc*n, b_enc*n, W_dec/n."""
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="topk", k=5, rescale_acts_by_decoder_norm=True)
    sae = _fill(TopKSAE(cfg), seed=3)
    n = sae.W_dec.detach().norm(dim=-1)
    plain = TopKSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE, architecture="topk", k=5))
    with torch.no_grad():
        plain.W_enc.copy_(sae.W_enc * n)
        plain.b_enc.copy_(sae.b_enc * n)
        plain.W_dec.copy_(sae.W_dec / n[:, None])
        plain.b_dec.copy_(sae.b_dec)
    x = _x(50)
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(x), plain.encode(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(sae(x), plain(x), rtol=1e-5, atol=1e-5)


def test_layer_norm_forward_undoes_normalisation():
    cfg = SAEConfig(d_in=D_IN, d_sae=D_SAE, normalize_activations="layer_norm")
    sae = _fill(ReLUSAE(cfg))
    x = _x(20) * 7 + 3
    mu = x.mean(-1, keepdim=True)
    std = (x - mu).std(-1, keepdim=True)
    xn = (x - mu) / (std + 1e-5)
    plain = ReLUSAE(SAEConfig(d_in=D_IN, d_sae=D_SAE))
    plain.load_state_dict(sae.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sae(x), plain(xn) * std + mu)
        torch.testing.assert_close(sae.encode(x), plain.encode(xn))


def test_extra_repr_mentions_shapes():
    text = repr(ReLUSAE(SAEConfig(d_in=3, d_sae=5, source_format="saelens")))
    assert "d_in=3" in text and "d_sae=5" in text and "saelens" in text
