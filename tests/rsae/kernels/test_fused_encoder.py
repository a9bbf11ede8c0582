"""Fused encoder (matmul + b_enc + gate epilogue) against float64 torch, under Triton's interpreter.

See ``test_rational_gate_triton.py`` for why ``TRITON_INTERPRET=1`` is set before triton is
imported (only when no CUDA device exists) and for the subprocess fallback.

Tolerances: float32 products are exact IEEE here (``allow_tf32=False``; the interpreter is IEEE
anyway), so ``h`` and ``z`` agree with the
float64 result to ``1e-5`` (sums of 24-70 products of O(1) numbers); bfloat16 storage of ``h``/``z``
rounds once, relative ``2^-8``, checked at ``2^-7`` relative plus ``2^-7`` absolute for the
cancellation in ``x W``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available() and "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported

triton = pytest.importorskip("triton")

from rsae.kernels.fused_encoder import fused_encoder, fused_encoder_fwd  # noqa: E402
from rsae.kernels.rational_gate import triton as K  # noqa: E402
from rsae.kernels.rational_gate.naive import naive_rational_gate  # noqa: E402

INTERPRET = K.interpreter_active()
DEVICE = "cpu" if INTERPRET else "cuda"
RUNNABLE = INTERPRET or torch.cuda.is_available()
kernels = pytest.mark.skipif(
    not RUNNABLE, reason="triton imported in compiled mode without CUDA: see the rerun test"
)
TOL = 1e-5


def unrectified_gate64(h: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c_in: torch.Tensor) -> torch.Tensor:
    """``g(h / C_in)`` before rectification, float64, written independently of ``naive.py``."""
    t = h / c_in
    u = t.clamp(-1.0, 1.0)
    P = sum(a[k] * u**k for k in range(a.numel()))
    B = sum(b[k - 1] * u**k for k in range(1, b.numel() + 1)) if b.numel() else torch.zeros_like(u)
    r = P / (1.0 + B.abs())
    return torch.where(t < -1, torch.zeros_like(r), torch.where(t > 1, r + t - 1, r))


def _problem(M: int, d_in: int, d_sae: int, p: int, q: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(p + 1, generator=g, dtype=torch.float64) * 0.6
    a[0] = -0.05  # exact zeros near h = 0
    return {
        "x": torch.randn(M, d_in, generator=g, dtype=torch.float64),
        "W_enc": torch.randn(d_in, d_sae, generator=g, dtype=torch.float64) / d_in**0.5,
        "b_enc": torch.randn(d_sae, generator=g, dtype=torch.float64) * 0.1,
        "a": a,
        "b": torch.randn(q, generator=g, dtype=torch.float64) * 0.6,
        "c_in": torch.tensor(0.8, dtype=torch.float64),
        "c_out": torch.tensor(1.2, dtype=torch.float64),
    }


def _reference(pr: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    h = pr["x"] @ pr["W_enc"] + pr["b_enc"]
    return naive_rational_gate(h, pr["a"], pr["b"], pr["c_in"], pr["c_out"]), h


def _cast(pr: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Storage dtype for x, W_enc; float32 for the bias and gate scalars."""
    out = {k: v.to(device=DEVICE, dtype=torch.float32) for k, v in pr.items()}
    out["x"], out["W_enc"] = pr["x"].to(DEVICE, dtype), pr["W_enc"].to(DEVICE, dtype)
    return out


@kernels
@pytest.mark.parametrize(
    "M,d_in,d_sae,p,q",
    [(37, 24, 50, 3, 2), (1, 5, 17, 9, 8), (40, 33, 64, 5, 0)],
)
def test_forward_float32(M: int, d_in: int, d_sae: int, p: int, q: int) -> None:
    pr = _problem(M, d_in, d_sae, p, q, seed=M + d_in)
    z_ref, h_ref = _reference(pr)
    z, h = fused_encoder_fwd(**_cast(pr, torch.float32), allow_tf32=False)
    assert z.shape == (M, d_sae) and z.dtype == torch.float32
    torch.testing.assert_close(h.double().cpu(), h_ref, rtol=TOL, atol=TOL)
    torch.testing.assert_close(z.double().cpu(), z_ref, rtol=TOL, atol=TOL)
    # exact zeros where the gate of the kernel's own h is clearly negative, non-zeros where positive
    g = unrectified_gate64(h.double().cpu(), *(pr[k].float().double() for k in ("a", "b", "c_in")))
    clear = g.abs() > 1e-5
    assert (g[clear] < 0).any() and (g[clear] > 0).any()
    assert (z.cpu()[clear & (g < 0)] == 0).all() and (z.cpu()[clear & (g > 0)] != 0).all()
    if INTERPRET:  # the epilogue gates the float32 accumulator, which *is* h: same zero set as fp32 torch
        z_own = naive_rational_gate(h.cpu(), *(pr[k].float() for k in ("a", "b", "c_in", "c_out")))
        assert torch.equal(z.cpu() == 0, z_own == 0)


@kernels
def test_forward_bfloat16_and_inference_mode() -> None:
    pr = _problem(37, 24, 50, 3, 2, seed=5)
    pr["x"] = pr["x"].bfloat16().double()  # the exact bf16 values, so the reference sees them too
    pr["W_enc"] = pr["W_enc"].bfloat16().double()
    z_ref, h_ref = _reference(pr)
    z, h = fused_encoder_fwd(**_cast(pr, torch.bfloat16))
    assert z.dtype == h.dtype == torch.bfloat16
    torch.testing.assert_close(h.double().cpu(), h_ref, rtol=2**-7, atol=2**-7)
    torch.testing.assert_close(z.double().cpu(), z_ref, rtol=2**-7, atol=2**-7)
    z2, h2 = fused_encoder_fwd(**_cast(pr, torch.bfloat16), store_h=False)
    assert h2 is None and torch.equal(z2, z)


@kernels
def test_strided_weights_and_b_dec() -> None:
    """W_enc given as the transpose of a [d_sae, d_in] matrix (sparsify layout), b_dec subtracted."""
    pr = _problem(19, 24, 40, 3, 2, seed=6)
    b_dec = torch.randn(24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pr_shift = dict(pr, x=pr["x"] - b_dec)
    z_ref, _ = _reference(pr_shift)
    args = _cast(pr, torch.float32)
    args["W_enc"] = args["W_enc"].t().contiguous().t()  # column-major view
    assert not args["W_enc"].is_contiguous()
    x3 = args.pop("x").reshape(19, 1, 24)
    z = fused_encoder(x3, b_dec=b_dec.float().to(DEVICE), **args, allow_tf32=False)
    assert z.shape == (19, 1, 40)
    torch.testing.assert_close(z.reshape(19, 40).double().cpu(), z_ref, rtol=TOL, atol=TOL)


@kernels
@pytest.mark.parametrize("p,q", [(3, 2), (5, 0)])
def test_backward_matches_autograd_float64(p: int, q: int) -> None:
    pr = _problem(37, 24, 50, p, q, seed=7 + p)
    leaves64 = {k: v.clone().requires_grad_(True) for k, v in pr.items()}
    gz = torch.randn(37, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    z_ref, _ = _reference(leaves64)
    z_ref.backward(gz)
    leaves = {k: v.requires_grad_(True) for k, v in _cast(pr, torch.float32).items()}
    z = fused_encoder(**leaves, allow_tf32=False)
    z.backward(gz.float().to(DEVICE))
    for name in pr:
        ref = leaves64[name].grad
        got = leaves[name].grad
        assert got is not None and got.shape == ref.shape and got.dtype == torch.float32, name
        # scalar gradients sum 1850 terms: allow sqrt(n) growth of float32 rounding
        atol = TOL if ref.numel() > 8 else 1e-6 * 1850**0.5 * 10
        torch.testing.assert_close(got.double().cpu(), ref, rtol=TOL, atol=atol, msg=name)


@kernels
def test_backward_keeps_only_one_copy_of_h() -> None:
    """The autograd graph saves x, W_enc, one [M, d_sae] tensor (h) and the gate scalars."""
    pr = _cast(_problem(16, 8, 32, 3, 2, seed=9), torch.float32)
    leaves = {k: v.requires_grad_(True) for k, v in pr.items()}
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fused_encoder(**leaves)
    big = [t for t in saved if t.shape == (16, 32)]
    assert len(big) == 1, [tuple(t.shape) for t in saved]


@kernels
def test_empty_batch_and_bad_shapes() -> None:
    pr = _cast(_problem(3, 8, 32, 3, 2, seed=10), torch.float32)
    pr["x"] = pr["x"][:0]
    z, h = fused_encoder_fwd(**pr)
    assert z.shape == (0, 32) and h.shape == (0, 32)
    bad = dict(pr, x=torch.zeros(2, 7, device=DEVICE))
    with pytest.raises(ValueError, match="`W_enc`"):
        fused_encoder_fwd(**bad)
    with pytest.raises(ValueError, match="`b_enc`"):
        fused_encoder_fwd(**dict(pr, b_enc=torch.zeros(31, device=DEVICE)))


@kernels
def test_custom_op_opcheck_and_torch_compile() -> None:
    """``torch.ops.rsae.fused_encoder``: schema, fake impl, autograd; compiled (aot_eager) == eager."""
    pr = _cast(_problem(16, 8, 32, 3, 2, seed=12), torch.float32)
    args = [pr[k] for k in ("x", "W_enc", "b_enc", "a", "b", "c_in", "c_out")]
    leaves = [t.clone().requires_grad_(True) for t in args]
    torch.library.opcheck(torch.ops.rsae.fused_encoder.default, (*leaves, True, False))
    torch.library.opcheck(torch.ops.rsae.fused_encoder.default, (*args, False, False))  # inference: no h

    def f(*ts: torch.Tensor) -> torch.Tensor:
        return fused_encoder(*ts, allow_tf32=False).square().sum()

    f(*leaves).backward()
    eager = [t.grad.clone() for t in leaves]
    for t in leaves:
        t.grad = None
    torch._dynamo.reset()
    out = torch.compile(f, backend="aot_eager", fullgraph=True)(*leaves)
    out.backward()
    torch.testing.assert_close(out, f(*args), rtol=TOL, atol=TOL)
    for t, g in zip(leaves, eager):
        torch.testing.assert_close(t.grad, g, rtol=TOL, atol=TOL)
    with torch.no_grad():  # no gradient wanted: the epilogue does not write h
        _, h = torch.ops.rsae.fused_encoder(*args, False, False)
        assert h.numel() == 0


@pytest.mark.skipif(RUNNABLE, reason="kernels run in this process")
def test_rerun_under_interpreter() -> None:
    """Triton was imported in compiled mode before this module: rerun the file in interpreter mode."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-x", "-p", "no:cacheprovider"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@kernels
def test_upgrade_speed_with_fused_encoder_smoke(tmp_path: Path) -> None:
    """``benchmarks/upgrade_speed.py --fused-encoder`` trains through the fused kernel (toy size)."""
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "upgrade_speed.py"
    spec = importlib.util.spec_from_file_location("_bench_upgrade_speed_fused", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "us.json"
    args = [
        "--quick",
        "--steps",
        "3",
        "--calibration-steps",
        "0",
        "--n-calibration",
        "256",
        "--fused-encoder",
    ]
    assert bench.main([*args, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["fused_encoder"] is True and doc["steps"] == 3
    assert torch.isfinite(torch.tensor(doc["final_means"]["loss"]))
