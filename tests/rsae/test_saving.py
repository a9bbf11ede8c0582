"""Saving: native and SAELens round trips (bitwise), overwrite protection, atomicity, SAELens registration."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import rsae.saving as saving
from rsae import JumpReLUSAE, RationalSAE, ReLUSAE, SAEConfig, TopKSAE, load_sae, save_rsae, save_saelens

D_IN, D_SAE = 6, 20


def _model(arch: str, dtype=torch.float32):
    kw = {"k": 4} if arch == "topk" else {"rational_type": (5, 4)} if arch == "rational" else {}
    if arch == "topk_rescale":
        arch, kw = "topk", {"k": 4, "rescale_acts_by_decoder_norm": True}
    if arch == "rational_topk":
        arch, kw = "rational", {"rational_type": (5, 4), "k": 3}
    cfg = SAEConfig(
        d_in=D_IN,
        d_sae=D_SAE,
        architecture=arch,
        dtype=dtype,
        apply_b_dec_to_input=False,
        metadata={"note": "test", "original_cfg": {"x": 1}},
        **kw,
    )
    cls = {"relu": ReLUSAE, "jumprelu": JumpReLUSAE, "topk": TopKSAE, "rational": RationalSAE}[arch]
    sae = cls(cfg)
    g = torch.Generator().manual_seed(sum(map(ord, arch)))  # fixed per architecture
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=g).to(p.dtype))
        if arch == "rational":
            sae.gate.c_in.fill_(1.7)
        if sae.cfg.k is not None and arch == "rational":
            sae.gate.c_out.abs_()  # positive outputs, so the selection has something to choose from
    return sae


def _assert_same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k
    assert type(a) is type(b)
    for field in (
        "d_in",
        "d_sae",
        "architecture",
        "apply_b_dec_to_input",
        "k",
        "rescale_acts_by_decoder_norm",
        "normalize_activations",
        "rational_type",
    ):
        assert getattr(a.cfg, field) == getattr(b.cfg, field), field
    x = torch.randn(9, D_IN, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


ARCHS = ["relu", "jumprelu", "topk", "topk_rescale", "rational", "rational_topk"]


@pytest.mark.parametrize("arch", ARCHS)
def test_native_round_trip_bitwise(tmp_path, arch):
    sae = _model(arch)
    out = save_rsae(sae, tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["rsae.safetensors", "rsae_config.json"]
    loaded = load_sae(out)
    _assert_same(sae, loaded)
    assert loaded.cfg.metadata["note"] == "test"


def test_native_round_trip_bfloat16_keeps_float32_gate(tmp_path):
    sae = _model("rational", dtype=torch.bfloat16)
    assert sae.W_enc.dtype == torch.bfloat16 and sae.gate.a.dtype == torch.float32
    _assert_same(sae, load_sae(save_rsae(sae, tmp_path / "b")))


@pytest.mark.parametrize("arch", ARCHS)
def test_saelens_round_trip_bitwise(tmp_path, arch):
    sae = _model(arch)
    out = save_saelens(sae, tmp_path / "s")
    cfg = json.loads((out / "cfg.json").read_text())
    expected = {"relu": "standard", "topk_rescale": "topk", "rational_topk": "rational"}.get(arch, arch)
    assert cfg["architecture"] == expected and cfg["apply_b_dec_to_input"] is False
    if expected == "rational":
        assert cfg["rational_type"] == [5, 4] and cfg.get("k") == (3 if arch == "rational_topk" else None)
    loaded = load_sae(out)
    assert loaded.cfg.source_format == "saelens"
    _assert_same(sae, loaded)


def test_refuses_existing_directory_and_force_replaces(tmp_path):
    sae = _model("relu")
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        save_rsae(sae, out)
    with pytest.raises(FileExistsError):
        save_saelens(sae, out)
    assert (out / "keep.txt").read_text() == "precious"  # nothing overwritten
    save_rsae(sae, out, force=True)
    assert not (out / "keep.txt").exists()
    _assert_same(sae, load_sae(out))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary directories left


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(path, tensors, metadata):
        (path.parent / "partial").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(saving, "_write_safetensors", boom)
    with pytest.raises(OSError, match="disk full"):
        save_rsae(_model("relu"), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
    # with force over an existing checkpoint: the old one survives intact
    monkeypatch.undo()
    good = _model("jumprelu")
    save_rsae(good, tmp_path / "m")
    monkeypatch.setattr(saving, "_write_safetensors", boom)
    with pytest.raises(OSError):
        save_rsae(_model("relu"), tmp_path / "m", force=True)
    _assert_same(good, load_sae(tmp_path / "m"))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_rejects_non_sae():
    with pytest.raises(TypeError, match=r"rsae\.sae\.SAE"):
        save_rsae(torch.nn.Linear(2, 2), "/nonexistent/x")


def test_register_with_saelens_without_sae_lens(monkeypatch):
    monkeypatch.setitem(sys.modules, "sae_lens", None)  # import sae_lens -> ImportError
    assert saving.register_with_saelens() is False


@pytest.mark.saelens
@pytest.mark.parametrize("arch", ["rational", "rational_topk"])
def test_saelens_loads_saved_rsae(tmp_path, arch):
    sae_lens = pytest.importorskip("sae_lens")
    assert saving.register_with_saelens() is True
    assert saving.register_with_saelens() is True  # idempotent
    ours = _model(arch)
    out = save_saelens(ours, tmp_path / "r")
    theirs = sae_lens.SAE.load_from_disk(str(out))
    assert theirs.cfg.architecture() == "rational" and theirs.cfg.k == ours.cfg.k
    x = torch.randn(11, D_IN, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        z = ours.encode(x)
        assert torch.equal(theirs.encode(x), z)
        assert torch.equal(theirs.decode(z), ours.decode(z))
        assert (z == 0).any()
        if ours.cfg.k is not None:  # the selection is applied on the SAELens side too
            assert int((z != 0).sum(-1).max()) == ours.cfg.k
            assert bool(((ours.gate(ours.pre_acts(x)) != 0).sum(-1) > ours.cfg.k).any())
    # the training class is registered too and builds
    from sae_lens.registry import get_sae_training_class

    cls, cfg_cls = get_sae_training_class("rational")
    train = cls(cfg_cls(d_in=D_IN, d_sae=D_SAE, rational_type=[3, 2], k=ours.cfg.k))
    feats, hidden = train.encode_with_hidden_pre(x)
    assert feats.shape == (11, D_SAE) and hidden.shape == (11, D_SAE)
    if ours.cfg.k is not None:
        assert int((feats != 0).sum(-1).max()) <= ours.cfg.k
