"""Triton rational-gate kernels against the float64 reference (``naive.py``), on CPU via the interpreter.

Triton chooses between compiling and interpreting when a ``@triton.jit`` function is *decorated*,
so ``TRITON_INTERPRET=1`` has to be in the environment before ``triton`` is first imported.  On a
machine without CUDA (where compiled Triton cannot run anyway) this module sets it before its
imports.  If some earlier test module already imported triton in compiled mode, the kernel tests
here are skipped in this process and :func:`test_rerun_under_interpreter` runs this file again in
a fresh interpreter-mode subprocess, so the checks are never silently lost.

Tolerances (float32 arithmetic, unit roundoff 2^-24 ~ 6e-8):

* forward and ``grad_h``: ``rtol = atol = 1e-5`` -- Horner of degree <= 9 on ``|u| <= 1`` with
  O(1) coefficients loses a few tens of ulps at most;
* scalar gradients (sums over ``n`` elements, fp32 partial sums): ``rtol = 1e-5`` plus
  ``atol = 1e-6 sqrt(n) * max|contribution|``;
* bfloat16 storage: compared with the reference evaluated on the same bf16 input, ``rtol = 2^-7``
  (one bf16 rounding of the output, 2^-8, with a factor 2 of room).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available() and "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported; see the module docstring

triton = pytest.importorskip("triton")

from rsae.kernels.rational_gate import ops  # noqa: E402
from rsae.kernels.rational_gate import triton as K  # noqa: E402
from rsae.kernels.rational_gate.naive import (  # noqa: E402
    naive_rational_gate,
    naive_rational_gate_bwd,
    naive_rational_gate_fwd,
)

INTERPRET = K.interpreter_active()
DEVICE = "cpu" if INTERPRET else "cuda"
RUNNABLE = INTERPRET or torch.cuda.is_available()
kernels = pytest.mark.skipif(
    not RUNNABLE,
    reason="triton was imported in compiled mode and no CUDA device: see test_rerun_under_interpreter",
)

RTOL = 1e-5
ATOL = 1e-5
DEGREES = [(3, 2), (9, 8), (5, 0)]
STRATEGIES = ["tile", "lane"]  # the backward's two first-stage reductions


def _coeffs(p: int, q: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(p + 1, generator=g, dtype=torch.float64) * 0.6
    a[0] = -0.05  # r(0) < 0: a band of exact zeros around t = 0, as in a shifted ReLU fit
    b = torch.randn(q, generator=g, dtype=torch.float64) * 0.6
    c_in = torch.tensor(0.7, dtype=torch.float64)
    c_out = torch.tensor(1.3, dtype=torch.float64)
    return a, b, c_in, c_out


def _inputs(n: int, seed: int) -> torch.Tensor:
    """Pre-activations covering t < -1, |t| <= 1, t > 1, and the branch points t = 0, +-1."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, generator=g, dtype=torch.float64) * 1.2
    special = torch.tensor([0.0, 0.7, -0.7, 3.0, -3.0], dtype=torch.float64)  # t = 0, 1, -1, ...
    k = min(n, special.numel())
    h[:k] = special[:k]
    return h


def unrectified_gate64(h: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c_in: torch.Tensor) -> torch.Tensor:
    """``g(h / C_in)`` before rectification, float64, written independently of ``naive.py``."""
    t = h / c_in
    u = t.clamp(-1.0, 1.0)
    P = sum(a[k] * u**k for k in range(a.numel()))
    B = sum(b[k - 1] * u**k for k in range(1, b.numel() + 1)) if b.numel() else torch.zeros_like(u)
    r = P / (1.0 + B.abs())
    return torch.where(t < -1, torch.zeros_like(r), torch.where(t > 1, r + t - 1, r))


def _to(dev_dtype: torch.dtype, *xs: torch.Tensor) -> list[torch.Tensor]:
    return [x.to(device=DEVICE, dtype=dev_dtype) for x in xs]


def _scalar_atol(n: int, grad_z: torch.Tensor, c_out: torch.Tensor) -> float:
    # Each scalar-gradient term is bounded by |grad_z| |C_out| max(1, |t|) / Q <= ~10 here.
    return 1e-6 * max(n, 1) ** 0.5 * float(grad_z.abs().max()) * abs(float(c_out)) * 10.0


# ------------------------------------------------------------------------------------------------
# forward
# ------------------------------------------------------------------------------------------------


@kernels
@pytest.mark.parametrize("p,q", DEGREES)
@pytest.mark.parametrize("n", [1, 17, 4097])
def test_forward_matches_float64_reference(p: int, q: int, n: int) -> None:
    a, b, c_in, c_out = _coeffs(p, q, seed=1000 + 10 * p + q)
    h = _inputs(n, seed=n)
    z_ref = naive_rational_gate_fwd(h, a, b, c_in, c_out)
    z = K.rational_gate_fwd_triton(*_to(torch.float32, h, a, b, c_in, c_out))
    assert z.dtype == torch.float32 and z.shape == h.shape
    torch.testing.assert_close(z.double().cpu(), z_ref, rtol=RTOL, atol=ATOL)


@kernels
@pytest.mark.parametrize("p,q", DEGREES)
def test_exact_zeros_where_reference_is_zero(p: int, q: int) -> None:
    a, b, c_in, c_out = _coeffs(p, q, seed=7 + p)
    h = _inputs(4097, seed=3)
    z = K.rational_gate_fwd_triton(*_to(torch.float32, h, a, b, c_in, c_out)).cpu()
    # Independent float64 evaluation of the unrectified g, on the float32-rounded inputs.
    g = unrectified_gate64(*(x.float().double() for x in (h, a, b, c_in)))
    clear = g.abs() > 1e-5  # away from g = 0, where float32 rounding may legitimately flip the sign
    assert (g[clear] < 0).any() and (g[clear] > 0).any(), "test data must contain both signs of g"
    assert (z[clear & (g < 0)] == 0).all()  # exact zeros, not tiny values
    assert (z[clear & (g > 0)] != 0).all()
    assert (z[h / c_in < -1] == 0).all()  # below the design interval: exactly 0
    if INTERPRET:  # same float32 expressions in the same order as the fp32 reference: same L0
        z32_ref = naive_rational_gate_fwd(*(x.float() for x in (h, a, b, c_in, c_out)))
        assert torch.equal(z == 0, z32_ref == 0)


@kernels
def test_far_outside_design_interval() -> None:
    """t = +-1e6 (and +-1e30): 0 below, r(1) + (t - 1) above; gradients 0 below, 1/C_in above."""
    a, b, c_in, c_out = _coeffs(3, 2, seed=11)
    a[0] = 0.1  # r(1) > -1 so that the continuation is active above
    t = torch.tensor([-1e30, -1e6, -2.0, 2.0, 1e6, 1e30], dtype=torch.float64)
    h = t * c_in
    z_ref = naive_rational_gate_fwd(h, a, b, c_in, c_out)
    args = _to(torch.float32, h, a, b, c_in, c_out)
    z = K.rational_gate_fwd_triton(*args).double().cpu()
    assert torch.isfinite(z).all()
    assert (z[:3] == 0).all()
    torch.testing.assert_close(z, z_ref, rtol=RTOL, atol=ATOL)
    gz = torch.ones_like(h)
    grad_h = K.rational_gate_bwd_triton(*_to(torch.float32, gz), *args)[0].double().cpu()
    assert (grad_h[:3] == 0).all()
    torch.testing.assert_close(grad_h[3:], (c_out / c_in).expand(3), rtol=RTOL, atol=0.0)


@kernels
def test_nan_and_inf_follow_the_reference() -> None:
    """NaN propagates (as torch.clamp does), +inf continues with slope 1, -inf gives 0."""
    a, b, c_in, c_out = _coeffs(3, 2, seed=13)
    a[0] = 0.1
    h = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.3], dtype=torch.float64)
    z_ref = naive_rational_gate_fwd(h.float(), *(x.float() for x in (a, b, c_in, c_out)))
    z = K.rational_gate_fwd_triton(*_to(torch.float32, h, a, b, c_in, c_out)).cpu()
    assert torch.isnan(z[0]) and torch.isnan(z_ref[0])
    assert z[1] == z_ref[1] == float("inf") and z[2] == z_ref[2] == 0
    torch.testing.assert_close(z[3], z_ref[3], rtol=RTOL, atol=ATOL)


@kernels
@pytest.mark.parametrize("p,q", [(3, 2), (9, 8)])
def test_bfloat16_storage(p: int, q: int) -> None:
    a, b, c_in, c_out = _coeffs(p, q, seed=21)
    h16 = _inputs(4097, seed=5).to(torch.bfloat16)
    z_ref = naive_rational_gate_fwd(h16.double(), a, b, c_in, c_out)
    args = [h16.to(DEVICE), *_to(torch.float32, a, b, c_in, c_out)]
    z = K.rational_gate_fwd_triton(*args)
    assert z.dtype == torch.bfloat16
    torch.testing.assert_close(z.double().cpu(), z_ref, rtol=2**-7, atol=1e-6)
    assert torch.equal(
        z.cpu() == 0, naive_rational_gate_fwd(h16, *(x.float() for x in (a, b, c_in, c_out))) == 0
    )
    gz = torch.randn(h16.shape, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    grads = K.rational_gate_bwd_triton(gz.to(DEVICE), *args)
    refs = naive_rational_gate_bwd(gz.double(), h16.double(), a, b, c_in, c_out)
    assert grads[0].dtype == torch.bfloat16 and grads[1].dtype == torch.float32
    torch.testing.assert_close(grads[0].double().cpu(), refs[0], rtol=2**-7, atol=1e-6)
    atol = _scalar_atol(h16.numel(), gz.double(), c_out)
    for g, r in zip(grads[1:], refs[1:]):  # fp32 sums of bf16 inputs: the fp32 tolerance
        torch.testing.assert_close(g.double().cpu(), r, rtol=RTOL, atol=atol)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_float64_storage_is_float64_arithmetic(strategy: str) -> None:
    if not RUNNABLE:
        pytest.skip("kernels not runnable in this process")
    a, b, c_in, c_out = _coeffs(9, 8, seed=31)
    h = _inputs(1000, seed=8)
    args = [x.to(DEVICE) for x in (h, a, b, c_in, c_out)]
    z = K.rational_gate_fwd_triton(*args)
    assert z.dtype == torch.float64
    torch.testing.assert_close(z.cpu(), naive_rational_gate_fwd(h, a, b, c_in, c_out), rtol=1e-13, atol=1e-13)
    gz = torch.randn(h.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    grads = K.rational_gate_bwd_triton(gz.to(DEVICE), *args, strategy=strategy)
    refs = naive_rational_gate_bwd(gz, h, a, b, c_in, c_out)
    for g, r in zip(grads, refs):
        assert g.dtype == torch.float64
        torch.testing.assert_close(g.cpu(), r, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# backward
# ------------------------------------------------------------------------------------------------


@kernels
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("p,q", DEGREES)
@pytest.mark.parametrize("n", [1, 17, 4097])
def test_backward_matches_float64_reference(p: int, q: int, n: int, strategy: str) -> None:
    a, b, c_in, c_out = _coeffs(p, q, seed=2000 + 10 * p + q)
    h = _inputs(n, seed=n + 1)
    gz = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    refs = naive_rational_gate_bwd(gz, h, a, b, c_in, c_out)
    grads = K.rational_gate_bwd_triton(*_to(torch.float32, gz, h, a, b, c_in, c_out), strategy=strategy)
    names = ("grad_h", "grad_a", "grad_b", "grad_c_in", "grad_c_out")
    for name, g, r in zip(names, grads, refs):
        assert g.shape == r.shape, name
        assert g.dtype == torch.float32, name
    torch.testing.assert_close(grads[0].double().cpu(), refs[0], rtol=RTOL, atol=ATOL)
    atol = _scalar_atol(n, gz, c_out)
    for name, g, r in zip(names[1:], grads[1:], refs[1:]):
        torch.testing.assert_close(g.double().cpu(), r, rtol=RTOL, atol=atol, msg=name)


@kernels
def test_backward_matches_autograd_of_reference() -> None:
    """Independent check of the analytic backward: autograd through ``naive_rational_gate``."""
    a, b, c_in, c_out = _coeffs(3, 2, seed=41)
    h = _inputs(300, seed=9)
    h = h[(h / c_in).abs().sub(1).abs() > 1e-3]  # away from the measure-zero branch points t = +-1
    h = h[h != 0]  # and from the kink of |B| at t = 0
    leaves = [x.clone().requires_grad_(True) for x in (h, a, b, c_in, c_out)]
    gz = torch.randn(h.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    naive_rational_gate(*leaves).backward(gz)
    grads = K.rational_gate_bwd_triton(*_to(torch.float32, gz, h, a, b, c_in, c_out))
    atol = _scalar_atol(h.numel(), gz, c_out)
    for g, leaf in zip(grads, leaves):
        torch.testing.assert_close(g.double().cpu().reshape(leaf.shape), leaf.grad, rtol=RTOL, atol=atol)


@kernels
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_multi_tile_programs_and_bit_identical_gradients(strategy: str) -> None:
    """Several tiles per program (small ``block``/``max_programs``) and two runs bit-for-bit equal."""
    a, b, c_in, c_out = _coeffs(9, 8, seed=51)
    h = _inputs(4097, seed=10)
    gz = torch.randn(4097, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    args = _to(torch.float32, gz, h, a, b, c_in, c_out)
    first = K.rational_gate_bwd_triton(
        *args, block=64, max_programs=5, strategy=strategy
    )  # 65 tiles, 13/program
    second = K.rational_gate_bwd_triton(*args, block=64, max_programs=5, strategy=strategy)
    default = K.rational_gate_bwd_triton(*args, strategy=strategy)
    for x, y, d, r in zip(first, second, default, naive_rational_gate_bwd(gz, h, a, b, c_in, c_out)):
        assert torch.equal(x, y)
        torch.testing.assert_close(x.double().cpu(), r, rtol=RTOL, atol=_scalar_atol(4097, gz, c_out))
        torch.testing.assert_close(x, d, rtol=RTOL, atol=_scalar_atol(4097, gz, c_out))


@kernels
def test_kink_of_abs_B_uses_sign_zero() -> None:
    """At t = 0, B(0) = 0: sign(0) = 0, so dr/dt = P'(0) and dg/db_k = 0 exactly."""
    a, b, c_in, c_out = _coeffs(3, 2, seed=61)
    a[0] = 0.2  # g(0) = a_0 > 0: active at the kink
    h = torch.zeros(5, dtype=torch.float64)
    gz = torch.ones(5, dtype=torch.float64)
    grads = K.rational_gate_bwd_triton(*_to(torch.float32, gz, h, a, b, c_in, c_out))
    expected_grad_h = float(c_out * a[1] / c_in)  # C_out P'(0) / C_in
    torch.testing.assert_close(
        grads[0].double().cpu(), torch.full((5,), expected_grad_h, dtype=torch.float64)
    )
    assert (grads[2] == 0).all()


# ------------------------------------------------------------------------------------------------
# shapes, strides, errors
# ------------------------------------------------------------------------------------------------


@kernels
def test_empty_input() -> None:
    a, b, c_in, c_out = _to(torch.float32, *_coeffs(3, 2, seed=1))
    h = torch.empty((0, 5), device=DEVICE)
    z = K.rational_gate_fwd_triton(h, a, b, c_in, c_out)
    assert z.shape == (0, 5)
    grads = K.rational_gate_bwd_triton(h, h, a, b, c_in, c_out)
    assert grads[0].shape == (0, 5)
    assert [tuple(g.shape) for g in grads[1:]] == [(4,), (2,), (), ()]
    assert all((g == 0).all() for g in grads[1:])


@kernels
def test_non_contiguous_and_multidimensional() -> None:
    a, b, c_in, c_out = _to(torch.float32, *_coeffs(3, 2, seed=2))
    base = _inputs(2 * 33 * 10, seed=12).to(device=DEVICE, dtype=torch.float32).reshape(33, 20)
    h = base[:, ::2].t()  # shape [10, 33], neither row- nor column-contiguous
    assert not h.is_contiguous()
    z = K.rational_gate_fwd_triton(h, a, b, c_in, c_out)
    assert z.shape == h.shape
    assert torch.equal(z, K.rational_gate_fwd_triton(h.contiguous(), a, b, c_in, c_out))
    gz = torch.randn(33, 10).to(DEVICE).t()  # non-contiguous grad_z too
    g1 = K.rational_gate_bwd_triton(gz, h, a, b, c_in, c_out)
    g2 = K.rational_gate_bwd_triton(gz.contiguous(), h.contiguous(), a, b, c_in, c_out)
    assert all(torch.equal(x, y) for x, y in zip(g1, g2))


@kernels
def test_bad_arguments_raise() -> None:
    a, b, c_in, c_out = _to(torch.float32, *_coeffs(3, 2, seed=3))
    h = torch.randn(10, device=DEVICE)
    with pytest.raises(ValueError, match="`a`"):
        K.rational_gate_fwd_triton(h, a[None], b, c_in, c_out)
    with pytest.raises(ValueError, match="`c_in`"):
        K.rational_gate_fwd_triton(h, a, b, torch.ones(2, device=DEVICE), c_out)
    with pytest.raises(ValueError, match="`h`"):
        K.rational_gate_fwd_triton(h.to(torch.int32), a, b, c_in, c_out)
    with pytest.raises(ValueError, match="`grad_z`"):
        K.rational_gate_bwd_triton(h[:5], h, a, b, c_in, c_out)
    with pytest.raises(ValueError, match="`strategy`"):
        K.rational_gate_bwd_triton(h, h, a, b, c_in, c_out, strategy="atomic")
    with pytest.raises(ValueError, match="MAX_DEGREE"):
        K.rational_gate_fwd_triton(h, torch.zeros(K.MAX_DEGREE + 2, device=DEVICE), b, c_in, c_out)


# ------------------------------------------------------------------------------------------------
# custom op: autograd, fake tensors, torch.compile, dispatch
# ------------------------------------------------------------------------------------------------


def _leaf_params(p: int, q: int) -> list[torch.Tensor]:
    return [x.float().to(DEVICE).requires_grad_(True) for x in _coeffs(p, q, seed=71)]


@kernels
def test_custom_op_autograd_matches_reference() -> None:
    params = _leaf_params(3, 2)
    h = _inputs(500, seed=13).float().to(DEVICE).requires_grad_(True)
    gz = torch.randn(500, generator=torch.Generator().manual_seed(8)).to(DEVICE)
    ops.rational_gate(h, *params).backward(gz)
    refs = naive_rational_gate_bwd(
        gz.double().cpu(), h.detach().double().cpu(), *(x.detach().double().cpu() for x in params)
    )
    atol = _scalar_atol(500, gz, params[3].detach())
    for leaf, r in zip([h, *params], refs):
        assert leaf.grad.dtype == leaf.dtype and leaf.grad.shape == leaf.shape
        torch.testing.assert_close(leaf.grad.double().cpu(), r, rtol=RTOL, atol=atol)


@kernels
def test_custom_ops_pass_opcheck() -> None:
    """Schema, fake (meta) implementation, autograd registration and AOT dispatch of both ops."""
    a, b, c_in, c_out = _leaf_params(3, 2)
    h = _inputs(64, seed=14).float().to(DEVICE)
    torch.library.opcheck(torch.ops.rsae.rational_gate.default, (h, a, b, c_in, c_out))
    args = (torch.randn(64, device=DEVICE), h, a.detach(), b.detach(), c_in.detach(), c_out.detach())
    torch.library.opcheck(torch.ops.rsae.rational_gate_bwd.default, args)
    from torch._subclasses.fake_tensor import FakeTensorMode

    real = (h.to(torch.bfloat16), a, b, c_in, c_out)
    with FakeTensorMode() as mode:
        fake = [mode.from_tensor(x) for x in real]
        z = ops.rational_gate(*fake)
        assert z.shape == h.shape and z.dtype == torch.bfloat16


class _TinyEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 24)
        self.a, self.b, self.c_in, self.c_out = (
            torch.nn.Parameter(x.float()) for x in _coeffs(3, 2, seed=81)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.rational_gate(self.lin(x), self.a, self.b, self.c_in, self.c_out)


def _compiled_vs_eager(backend: str) -> None:
    torch.manual_seed(0)
    model = _TinyEncoder().to(DEVICE)
    x = torch.randn(16, 8, device=DEVICE)
    eager = model(x)
    eager.square().sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, backend=backend, fullgraph=False)
    out = compiled(x)
    out.square().sum().backward()
    torch.testing.assert_close(out, eager, rtol=RTOL, atol=ATOL)
    for p, g in zip(model.parameters(), eager_grads):
        torch.testing.assert_close(p.grad, g, rtol=RTOL, atol=ATOL)


@kernels
def test_torch_compile_aot_eager() -> None:
    """Dynamo + AOT autograd trace the custom op (fake impl) and keep the kernel as an opaque call."""
    torch._dynamo.reset()
    _compiled_vs_eager("aot_eager")


@kernels
@pytest.mark.slow
def test_torch_compile_inductor() -> None:
    """Full inductor compile (C++ codegen on CPU, ~20 s on a shared core)."""
    torch._dynamo.reset()
    _compiled_vs_eager("inductor")


@kernels
def test_dispatch_backend_triton_uses_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """``function.rational_gate(..., backend="triton")`` routes CPU tensors to the interpreted kernel."""
    from rsae.kernels.rational_gate.function import rational_gate

    calls: list[str] = []
    fwd, bwd = K.rational_gate_fwd_triton, K.rational_gate_bwd_triton
    monkeypatch.setattr(K, "rational_gate_fwd_triton", lambda *args: calls.append("fwd") or fwd(*args))
    monkeypatch.setattr(K, "rational_gate_bwd_triton", lambda *args: calls.append("bwd") or bwd(*args))
    a, b, c_in, c_out = _leaf_params(3, 2)
    h = _inputs(100, seed=15).float().to(DEVICE)
    z = rational_gate(h, a, b, c_in, c_out, backend="triton")
    z.sum().backward()
    assert calls == ["fwd", "bwd"]
    torch.testing.assert_close(
        z.detach().double().cpu(),
        naive_rational_gate_fwd(h.double().cpu(), *(x.detach().double().cpu() for x in (a, b, c_in, c_out))),
        rtol=RTOL,
        atol=ATOL,
    )


# ------------------------------------------------------------------------------------------------
# fallback and GPU
# ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(RUNNABLE, reason="kernels run in this process")
def test_rerun_under_interpreter() -> None:
    """Triton was imported in compiled mode before this module: rerun the file in interpreter mode."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.skipif(
    INTERPRET or not torch.cuda.is_available(), reason="needs compiled Triton on a CUDA device"
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gpu_large_matches_reference(dtype: torch.dtype) -> None:
    a, b, c_in, c_out = _coeffs(9, 8, seed=91)
    h = _inputs(4096 * 4096 + 3, seed=16).to(dtype)
    z = K.rational_gate_fwd_triton(
        *(x.cuda() for x in (h, a.float(), b.float(), c_in.float(), c_out.float()))
    )
    tol = RTOL if dtype == torch.float32 else 2**-7
    torch.testing.assert_close(
        z.double().cpu(), naive_rational_gate_fwd(h.double(), a, b, c_in, c_out), rtol=tol, atol=tol
    )


@kernels
def test_benchmark_quick_smoke_run(tmp_path: Path) -> None:
    """``benchmarks/gate_kernels.py --quick`` runs every column and writes its JSON (times unchecked)."""
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "gate_kernels.py"
    spec = importlib.util.spec_from_file_location("_bench_gate_kernels", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "gk.json"
    assert bench.main(["--quick", "--dtypes", "fp32", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {r["method"] for r in doc["gate"]} == {"relu", "eager", "triton", "floor"}
    assert all(r["error"] is None and r["ms"] > 0 for r in doc["gate"])
    (check,) = [r for r in doc["gate"] if r["method"] == "triton"]
    assert check["err_z"] < 1e-5 and check["err_grad_h"] < 1e-5 and check["same_zeros"] == 1.0
    assert {(r["phase"], r["method"]) for r in doc["encoder"]} >= {("fwd", "fused"), ("fwd+bwd", "fused")}
