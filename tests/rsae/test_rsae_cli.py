"""The `rsae` CLI contract: eval / upgrade / demo keys, and every bad input -> one line, exit 2."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rsae.activations import SyntheticFeatures
from rsae.cli import main
from rsae.demo import train_relu_teacher
from rsae.loading import load_sae
from rsae.metrics import EVAL_KEYS, HOST_KEYS
from rsae.saving import save_saelens

HF_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "stories260k-hf"
needs_hf = pytest.mark.skipif(not (HF_DIR / "config.json").is_file(), reason="stories260k-hf not present")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("cli")
    gen = SyntheticFeatures(d_in=12, n_features=32, mean_active=3.0, seed=8)
    x = gen.sample(5000)[0]
    np.save(d / "train.npy", x[:4000])
    np.save(d / "eval.npy", x[4000:])
    teacher = train_relu_teacher(torch.from_numpy(x[:4000]), 32, target_l0=4.0, steps=120, seed=1)
    save_saelens(teacher, d / "teacher")
    bad = x[:100].copy()
    bad[17, 3] = np.nan
    np.save(d / "nan.npy", bad)
    inf = x[:100].copy()
    inf[5, 0] = np.inf
    np.save(d / "inf.npy", inf)
    np.save(d / "wide.npy", np.ones((50, 13), dtype=np.float32))
    return d


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _bad(argv, capsys, match):
    code, _, err = _run(argv, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    return lines[0]


def test_eval_json_keys(files, capsys):
    code, out, _ = _run(["eval", "--sae", str(files / "teacher"), "--activations", str(files / "eval.npy"),
                         "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert set(EVAL_KEYS) <= set(res) and res["n_tokens"] == 1000


def test_upgrade_end_to_end_and_resume(files, tmp_path, capsys):
    out_dir = tmp_path / "up"
    argv = ["upgrade", "--teacher", str(files / "teacher"), "--activations", str(files / "train.npy"),
            "--eval-activations", str(files / "eval.npy"), "--steps", "40", "--batch-size", "256",
            "--checkpoint-every", "10", "--out", str(out_dir), "--json"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    res = json.loads(out)
    assert set(res) >= {"teacher", "init", "rsae", "seconds"}
    for k in ("teacher", "init", "rsae"):
        assert set(EVAL_KEYS) <= set(res[k])
    assert abs(res["init"]["l0"] / res["teacher"]["l0"] - 1) <= 0.01
    native, saelens = load_sae(out_dir / "rsae"), load_sae(out_dir / "saelens")
    assert native.cfg.architecture == "rational" and saelens.cfg.architecture == "rational"
    x = torch.from_numpy(np.load(files / "eval.npy")[:64])
    torch.testing.assert_close(native(x), saelens(x))
    # rsae eval on the saved RSAE gives the reported numbers
    code, out2, _ = _run(["eval", "--sae", str(out_dir / "rsae"), "--activations", str(files / "eval.npy"),
                          "--json"], capsys)
    assert code == 0 and json.loads(out2)["mse"] == pytest.approx(res["rsae"]["mse"], rel=1e-6)
    # existing --out without --resume/--force: exit 2, nothing touched
    before = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*")}
    _bad(argv, capsys, "already exists")
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*")} == before
    # --resume of the finished run: same result
    code, out3, err = _run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert json.loads(out3)["rsae"]["mse"] == pytest.approx(res["rsae"]["mse"], rel=1e-9)


def test_upgrade_topk_teacher_per_token_and_element_wise(files, tmp_path, capsys):
    """TopK teacher: the default init keeps the selection (exact, saved with k); --topk-thresholds
    per_latent gives the element-wise RSAE (no k)."""
    from rsae.sae import SAEConfig, TopKSAE

    relu = load_sae(files / "teacher")
    teacher = TopKSAE(SAEConfig(d_in=12, d_sae=32, architecture="topk", k=3))
    teacher.load_state_dict(relu.state_dict())
    save_saelens(teacher, tmp_path / "topk")
    base = ["upgrade", "--teacher", str(tmp_path / "topk"), "--activations", str(files / "train.npy"),
            "--eval-activations", str(files / "eval.npy"), "--steps", "0", "--json"]
    code, out, err = _run([*base, "--out", str(tmp_path / "pt")], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["init"]["mse"] == pytest.approx(res["teacher"]["mse"], rel=1e-5)
    assert res["init"]["l0"] == res["teacher"]["l0"]
    saved = load_sae(tmp_path / "pt" / "rsae")
    assert saved.cfg.architecture == "rational" and saved.cfg.k == 3
    code, out, err = _run([*base, "--out", str(tmp_path / "pl"), "--topk-thresholds", "per_latent"], capsys)
    assert code == 0, err
    assert load_sae(tmp_path / "pl" / "rsae").cfg.k is None
    assert abs(json.loads(out)["init"]["l0"] / res["teacher"]["l0"] - 1) <= 0.05
    # a target L0 for the TopK RSAE is its new k (a whole number); the init stays the teacher's
    code, out, err = _run([*base, "--out", str(tmp_path / "k5"), "--target-l0", "5"], capsys)
    assert code == 0, err
    assert load_sae(tmp_path / "k5" / "rsae").cfg.k == 5
    assert json.loads(out)["init"]["l0"] == res["teacher"]["l0"]
    _bad([*base, "--out", str(tmp_path / "k55"), "--target-l0", "5.5"], capsys, "whole number")
    assert not (tmp_path / "k55" / "rsae").exists()


def test_bad_inputs(files, tmp_path, capsys):
    t, tr = str(files / "teacher"), str(files / "train.npy")
    out = str(tmp_path / "o")
    _bad(["eval", "--sae", t, "--activations", str(files / "nan.npy")], capsys, "NaN")
    _bad(["eval", "--sae", t, "--activations", str(files / "inf.npy")], capsys, "Inf")
    _bad(["upgrade", "--teacher", t, "--activations", str(files / "nan.npy"), "--out", out], capsys, "NaN")
    assert not Path(out).exists() or not any(Path(out).iterdir())
    _bad(["eval", "--sae", t, "--activations", str(files / "wide.npy")], capsys, "d_in mismatch")
    _bad(["upgrade", "--teacher", t, "--activations", str(files / "wide.npy"), "--out", out], capsys,
         "d_in mismatch")
    _bad(["eval", "--sae", "/nonexistent/sae", "--activations", "/nonexistent/x.npy"], capsys, "not found")
    _bad(["eval", "--sae", "/nonexistent/sae", "--activations", tr], capsys, "no such file")
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "weights.bin").write_bytes(b"\x00" * 64)
    _bad(["eval", "--sae", str(unknown), "--activations", tr], capsys, "unknown checkpoint format")
    trunc = tmp_path / "half"
    trunc.mkdir()
    for f in (files / "teacher").iterdir():
        data = f.read_bytes()
        (trunc / f.name).write_bytes(data[: len(data) // 2] if f.suffix == ".safetensors" else data)
    _bad(["eval", "--sae", str(trunc), "--activations", tr], capsys, "truncated")
    pick = tmp_path / "ae.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2), "cfg": argparse.Namespace(a=1)}, pick)
    _bad(["eval", "--sae", str(pick), "--activations", tr], capsys, "not a plain")
    for bad_l0 in ("0", "-2", "33"):
        _bad(["upgrade", "--teacher", t, "--activations", tr, "--target-l0", bad_l0, "--out", out], capsys,
             "impossible --target-l0")
    _bad(["upgrade", "--teacher", t, "--out", out], capsys, "--activations")
    _bad(["upgrade", "--teacher", t, "--activations", tr, "--host", "x", "--out", out], capsys, "not both")


@needs_hf
def test_host_eval_and_layer_out_of_range(files, tmp_path, capsys):
    toks = np.asarray(np.load(HF_DIR / "sampled_tokens.npy", mmap_mode="r")[:3, :24])
    np.save(tmp_path / "toks.npy", toks)
    # a 64-wide SAE for the host's residual stream
    from rsae.sae import ReLUSAE, SAEConfig

    sae = ReLUSAE(SAEConfig(d_in=64, d_sae=16, architecture="relu"))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(64, 16, generator=torch.Generator().manual_seed(0)) * 0.1)
        sae.W_dec.copy_(sae.W_enc.T)
    save_saelens(sae, tmp_path / "sae64")
    tok = str(tmp_path / "toks.npy")
    base = ["eval", "--sae", str(tmp_path / "sae64"), "--host", str(HF_DIR), "--tokens", tok]
    code, out, err = _run([*base, "--layer", "3", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert set(EVAL_KEYS) | set(HOST_KEYS) <= set(res) and res["n_tokens"] == 3 * 23
    _bad([*base, "--layer", "9"], capsys, "out of range")
    _bad(["eval", "--sae", str(files / "teacher"), "--host", str(HF_DIR), "--tokens", tok, "--layer", "3"],
         capsys, "d_in mismatch")


def test_console_entry_points():
    for cmd in (["-m", "rsae", "demo", "--help"], ["-m", "rsae", "upgrade", "--help"],
                ["-m", "rsae", "eval", "--help"]):
        p = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr


@needs_hf
def test_upgrade_with_host(tmp_path, capsys):
    from rsae.sae import ReLUSAE, SAEConfig

    toks = np.asarray(np.load(HF_DIR / "sampled_tokens.npy", mmap_mode="r")[:10, :20])
    np.save(tmp_path / "toks.npy", toks)
    sae = ReLUSAE(SAEConfig(d_in=64, d_sae=32, architecture="relu"))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        W = torch.randn(32, 64, generator=g)
        W /= W.norm(dim=1, keepdim=True)
        sae.W_dec.copy_(W)
        sae.W_enc.copy_(W.T)
        sae.b_enc.fill_(-0.5)
    save_saelens(sae, tmp_path / "t64")
    out = tmp_path / "up"
    argv = ["upgrade", "--teacher", str(tmp_path / "t64"), "--host", str(HF_DIR), "--layer", "3",
            "--tokens", str(tmp_path / "toks.npy"), "--steps", "5", "--batch-size", "32",
            "--out", str(out), "--json"]
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    res = json.loads(stdout)
    for k in ("teacher", "init", "rsae"):
        assert set(EVAL_KEYS) | set(HOST_KEYS) <= set(res[k])
    assert res["teacher"]["n_tokens"] == 1 * 19  # last 10% of 10 sequences held out, BOS excluded
    assert np.load(out / "checkpoint" / "train_activations.npy").shape == (9 * 19, 64)


def test_demo_small(tmp_path, capsys):
    code, out, err = _run(["demo", "--out", str(tmp_path / "demo"), "--steps", "60", "--teacher-steps", "60",
                           "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    for k in ("teacher", "init", "rsae"):
        assert set(EVAL_KEYS) | {"feature_recovery"} <= set(res[k])
    assert abs(res["init"]["mse"] / res["teacher"]["mse"] - 1) <= 0.01
    for f in ("gates.png", "mse_vs_l0.png", "results.json"):
        assert (tmp_path / "demo" / f).stat().st_size > 0
