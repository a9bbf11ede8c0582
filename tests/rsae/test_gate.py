"""RationalGate / RationalGateFunction against the specification in ``naive.py``.

Oracles: ``naive_rational_gate`` (autograd-only float64 reference) for gradients, the closed-form
definition of the gate (written again here with numpy) for values, and the teacher gates' own
definitions for the teacher-gate modules.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from rsae.gates import JumpReLUGate, RationalGate, ReLUGate, TopKGate
from rsae.kernels.rational_gate import (
    RationalGateFunction,
    naive_rational_gate,
    naive_rational_gate_bwd,
    naive_rational_gate_fwd,
    rational_gate,
    resolve_backend,
)
from rsae.kernels.rational_gate import function as fn

# A type (3, 2) safe-Padé with B changing sign inside [-1, 1] (b1 t + b2 t^2 = 0 at t = 0, -b1/b2),
# and a numerator that is negative for t < ~-0.1, so rectification produces exact zeros.
A = [0.05, 0.9, 0.4, -0.2]
B = [0.6, 1.5]  # B(t) = t (0.6 + 1.5 t): zero at t = 0 and t = -0.4


def _np_gate(h: np.ndarray, a, b, c_in: float, c_out: float) -> np.ndarray:
    """Independent float64 evaluation of the specification (numpy, no torch)."""
    t = h / c_in
    u = np.clip(t, -1.0, 1.0)
    P = sum(ak * u**k for k, ak in enumerate(a))
    Bv = sum(bk * u ** (k + 1) for k, bk in enumerate(b))
    r = P / (1.0 + np.abs(Bv))
    g = np.where(t < -1.0, 0.0, np.where(t > 1.0, r + (t - 1.0), r))
    return c_out * np.maximum(g, 0.0)


def _params(dtype=torch.float64, c_in=1.7, c_out=0.8):
    a = torch.tensor(A, dtype=dtype)
    b = torch.tensor(B, dtype=dtype)
    return a, b, torch.tensor(c_in, dtype=dtype), torch.tensor(c_out, dtype=dtype)


def _points_away_from_branches(n: int, c_in: float, seed: int) -> torch.Tensor:
    """Random h with t = h / c_in in [-2.5, 2.5], at least 1e-3 away from every branch point.

    Branch points: t = +-1 (clamp), B(t) = 0 (t = 0, -0.4: the |B| kink), and the zeros of g
    (rectifier), located by bisection-free dense sampling of the float64 formula.
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(-2.5, 2.5, size=4 * n)
    grid = np.linspace(-1, 1, 200001)
    g = _np_gate(grid, A, B, 1.0, 1.0)
    r_raw = np.array([sum(ak * x**k for k, ak in enumerate(A)) for x in grid])
    sign_change = grid[:-1][np.diff(np.sign(r_raw)) != 0]
    del g
    branch = np.concatenate([[-1.0, 1.0, 0.0, -0.4], sign_change])
    keep = np.min(np.abs(t[:, None] - branch[None, :]), axis=1) > 1e-3
    t = t[keep][:n]
    assert t.size == n
    return torch.tensor(t * c_in, dtype=torch.float64)


# ------------------------------------------------------------------------------- forward values
@pytest.mark.parametrize("c_in,c_out", [(1.0, 1.0), (1.7, 0.8), (-0.5, 2.0)])
def test_forward_matches_numpy_spec_float64(c_in, c_out):
    h = torch.linspace(-4, 4, 1001, dtype=torch.float64)
    a, b, ci, co = _params(c_in=c_in, c_out=c_out)
    z = RationalGateFunction.apply(h, a, b, ci, co)
    ref = _np_gate(h.numpy(), A, B, c_in, c_out)
    np.testing.assert_allclose(z.numpy(), ref, rtol=1e-14, atol=1e-15)


def test_forward_equals_naive_bitwise():
    rng = torch.Generator().manual_seed(1234)
    h = torch.randn(63, 301, generator=rng) * 2
    gate = RationalGate.from_coefficients(A, B, c_in=1.3, c_out=0.9, backend="torch")
    z = gate(h)
    ref = naive_rational_gate_fwd(h, gate.a, gate.b, gate.c_in, gate.c_out)
    assert torch.equal(z, ref)
    assert torch.equal(z, naive_rational_gate(h, gate.a, gate.b, gate.c_in, gate.c_out))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_forward_equals_naive_on_special_values(dtype):
    """The in-place forward keeps the reference's results at +-inf, NaN, +-0 and the branch points."""
    h = torch.tensor([float("inf"), float("-inf"), float("nan"), 0.0, -0.0, 1.3, -1.3, 1e30, -1e30],
                     dtype=dtype)
    for q in (2, 0):  # q = 0: Q = 1, no denominator pass
        gate = RationalGate.from_coefficients(A, B[:q], c_in=1.3, c_out=0.9, backend="torch")
        z = gate(h)
        ref = naive_rational_gate_fwd(h, gate.a, gate.b, gate.c_in, gate.c_out)
        assert z.dtype == ref.dtype
        torch.testing.assert_close(z, ref, rtol=0, atol=0, equal_nan=True)


# --------------------------------------------------------------------------------- gradients
def test_gradcheck_float64_against_autograd_reference():
    h = _points_away_from_branches(40, c_in=1.7, seed=20240611).requires_grad_(True)
    a, b, ci, co = (p.clone().requires_grad_(True) for p in _params())
    assert torch.autograd.gradcheck(RationalGateFunction.apply, (h, a, b, ci, co), eps=1e-7, atol=1e-8)
    # and the analytic backward agrees with autograd of the reference itself
    gz = torch.randn(h.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    g1 = torch.autograd.grad(RationalGateFunction.apply(h, a, b, ci, co), (h, a, b, ci, co), gz)
    g2 = torch.autograd.grad(naive_rational_gate(h, a, b, ci, co), (h, a, b, ci, co), gz)
    for x, y in zip(g1, g2):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_out", [0.9, 0.0])
def test_compact_backward_equals_dense_reference_float32(c_out):
    """The Function's backward runs on the g > 0 elements only; it must equal the dense spec.

    A sparse input (most of ``h`` far below the zero of ``P``) as in a real SAE; ``c_out = 0``
    checks that the support is taken from ``g`` and not from ``z`` (``dL/dC_out`` is not 0 there).
    """
    rng = torch.Generator().manual_seed(99)
    h = (torch.randn(301, 257, generator=rng) * 0.8 - 0.9).requires_grad_(True)
    a, b, ci, co = (p.clone().float().requires_grad_(True) for p in _params(c_in=1.3, c_out=c_out))
    gz = torch.randn(h.shape, generator=rng)
    z = RationalGateFunction.apply(h, a, b, ci, co)
    active = _np_gate(h.detach().double().numpy(), A, B, 1.3, 1.0) > 0
    assert 0.02 < active.mean() < 0.5  # sparse, but not trivially so
    got = torch.autograd.grad(z, (h, a, b, ci, co), gz)
    ref = naive_rational_gate_bwd(gz, h.detach(), a.detach(), b.detach(), ci.detach(), co.detach())
    assert torch.equal(got[0], ref[0])  # element-wise: identical arithmetic on the subset
    for x, y in zip(got[1:], ref[1:]):  # sums in another order: float32 rounding only
        torch.testing.assert_close(x, y.reshape(x.shape), rtol=1e-5, atol=1e-5 * float(y.abs().max()))
    assert float(got[4]) != 0.0


def test_gradients_flow_through_module_parameters():
    gate = RationalGate.from_coefficients(A, B, c_in=1.5, c_out=0.7, backend="torch")
    h = torch.randn(500, generator=torch.Generator().manual_seed(3)) * 2
    gate(h).sum().backward()
    for p in (gate.a, gate.b, gate.c_in, gate.c_out):
        assert p.grad is not None and p.grad.dtype == torch.float32 and p.grad.shape == p.shape
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dtype_preserved_and_float32_inside(dtype):
    gate = RationalGate.from_coefficients(A, B, c_in=1.3, c_out=0.9, backend="torch")
    h32 = torch.randn(257, generator=torch.Generator().manual_seed(11)) * 2
    h = h32.to(dtype).requires_grad_(True)
    z = gate(h)
    assert z.dtype == dtype
    # the value is the float32 computation on the (rounded) input, rounded once to the output dtype
    ref = naive_rational_gate_fwd(h.detach().float(), gate.a, gate.b, gate.c_in, gate.c_out).to(dtype)
    assert torch.equal(z, ref)
    z.sum().backward()
    assert h.grad.dtype == dtype
    assert gate.a.grad.dtype == torch.float32


def test_bfloat16_gate_parameters_follow_input_rules():
    gate = RationalGate.from_coefficients(A, B, backend="torch", dtype=torch.bfloat16)
    h = torch.randn(64, dtype=torch.bfloat16, requires_grad=True)
    gate(h).float().sum().backward()
    assert gate.a.grad.dtype == torch.bfloat16 and gate.c_in.grad.shape == ()


# ------------------------------------------------------------------ out of range, exact zeros
def test_far_below_is_exact_zero_far_above_is_slope_one():
    gate = RationalGate.from_coefficients(A, B, c_in=2.0, c_out=1.5, backend="torch")
    with torch.no_grad():
        below = gate(torch.tensor([-2.0001 * 2, -1e3, -1e30, -3.4e38]))
        assert torch.equal(below, torch.zeros(4))  # exact zeros, no sign, no NaN
        r1 = float(_np_gate(np.array([2.0]), A, B, 2.0, 1.0)[0])  # g(1) = r(1)
        big = torch.tensor([10.0, 1e3, 1e6], dtype=torch.float64)
        z = gate(big)
        expected = 1.5 * (r1 + (big / 2.0 - 1.0))
        torch.testing.assert_close(z, expected, rtol=1e-6, atol=0)
        # slope in h is C_out / C_in = 0.75 above the interval
        d = gate(torch.tensor([1001.0], dtype=torch.float64)) - gate(
            torch.tensor([1000.0], dtype=torch.float64)
        )
        assert abs(d.item() - 0.75) < 1e-6


def test_exact_zeros_where_g_nonpositive_and_zero_grad_there():
    gate = RationalGate.from_coefficients(A, B, c_in=1.0, c_out=1.0, backend="torch")
    h = torch.linspace(-3, 3, 6001, requires_grad=True)
    z = gate(h)
    g = _np_gate(h.detach().double().numpy(), A, B, 1.0, 1.0)
    zero_mask = g <= 0
    assert zero_mask.sum() > 1000  # the fixture really exercises rectification
    assert (z.detach().numpy()[zero_mask] == 0).all()
    assert (z.detach().numpy()[~zero_mask] > 0).all()
    z.sum().backward()
    assert (h.grad.numpy()[zero_mask] == 0).all()


def test_kink_convention_sign_zero_is_zero():
    """At B(u) = 0 (here t = 0) the derivative uses sign(0) = 0: r'(0) = P'(0) = a_1."""
    a = torch.tensor([0.3, 0.5, 0.0], dtype=torch.float64)
    b = torch.tensor([2.0], dtype=torch.float64)  # B(t) = 2 t, kink at 0
    h = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    one = torch.tensor(1.0, dtype=torch.float64)
    z = RationalGateFunction.apply(h, a, b, one, one)
    (gh,) = torch.autograd.grad(z.sum(), h)
    assert gh.item() == 0.5
    # either one-sided derivative differs: (a1 - r(0) * 2) = 0.5 - 0.6 and 0.5 + 0.6
    hp = torch.tensor([1e-7], dtype=torch.float64, requires_grad=True)
    (gp,) = torch.autograd.grad(RationalGateFunction.apply(hp, a, b, one, one).sum(), hp)
    assert abs(gp.item() - (0.5 - 0.6)) < 1e-5


def test_empty_and_shape():
    gate = RationalGate.from_coefficients(A, B)
    assert gate(torch.empty(0, 5)).shape == (0, 5)
    assert gate(torch.randn(2, 3, 4)).shape == (2, 3, 4)


# ------------------------------------------------------------------------------ constructors
class _DuckSafePade:
    def __init__(self, a, b):
        self.a, self.b = a, b


def test_constructors_accept_strings_fractions_mpf():
    mpmath = pytest.importorskip("mpmath")
    g1 = RationalGate.from_coefficients(["0.05", "0.9", "0.4", "-0.2"], ["0.6", "1.5"])
    g2 = RationalGate.from_safe_pade(
        _DuckSafePade([mpmath.mpf("0.05"), 0.9, Fraction(2, 5), -0.2], [0.6, "1.5"])
    )
    g3 = RationalGate.from_table_entry({"safe_pade": {"a": A, "b": B}, "type": [3, 2], "error": "1e-3"})
    g4 = RationalGate.from_table_entry({"a": A, "b": B, "c_in": "2.5"})
    for g in (g2, g3):
        assert torch.equal(g.a, g1.a) and torch.equal(g.b, g1.b)
    assert g1.type == (3, 2) and g4.c_in.item() == 2.5
    assert g1.a.dtype == torch.float32 and g1.c_in.shape == ()
    assert "type=(3, 2)" in repr(g1)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: RationalGate.from_coefficients([], [1.0]), "at least one"),
        (lambda: RationalGate.from_coefficients([1.0, "x"], []), r"`a\[1\]` is not a number"),
        (lambda: RationalGate.from_coefficients([1.0, float("nan")], []), "not finite"),
        (lambda: RationalGate.from_coefficients([1.0], [], c_in=0), "`c_in` must be non-zero"),
        (lambda: RationalGate.from_safe_pade(object()), "attributes `a` and `b`"),
        (lambda: RationalGate.from_table_entry({"numerator": [1]}), "no safe-Padé coefficients"),
        (lambda: RationalGate(2, 1, backend="cuda"), "`backend` must be one of"),
        (
            lambda: RationalGate.from_table_entry(
                {"id": "e1", "safe_pade": {"available": False, "reason": "pole"}}
            ),
            "'e1' has no safe-Padé form: pole",
        ),
    ],
)
def test_constructor_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------ dispatch
def test_backend_resolution_order(monkeypatch):
    monkeypatch.delenv("RSAE_GATE_BACKEND", raising=False)
    monkeypatch.setattr(fn, "default_backend", None)
    assert resolve_backend() == "auto"
    monkeypatch.setenv("RSAE_GATE_BACKEND", "torch")
    assert resolve_backend() == "torch"
    monkeypatch.setattr(fn, "default_backend", "triton")
    assert resolve_backend() == "triton"
    assert resolve_backend("torch") == "torch"
    monkeypatch.setenv("RSAE_GATE_BACKEND", "gpu")
    monkeypatch.setattr(fn, "default_backend", None)
    with pytest.raises(ValueError, match="RSAE_GATE_BACKEND"):
        resolve_backend()


def test_auto_uses_torch_function_on_cpu_and_triton_op_when_forced(monkeypatch):
    calls = []

    class _FakeOps:
        @staticmethod
        def rational_gate(h, a, b, c_in, c_out):
            calls.append(h.shape)
            return naive_rational_gate(h, a, b, c_in, c_out)

    monkeypatch.setattr(fn, "_ops_cache", [_FakeOps])
    a, b, ci, co = _params(torch.float32)
    h = torch.randn(10)
    rational_gate(h, a, b, ci, co, backend="auto")  # CPU tensor: the torch Function
    assert calls == []
    rational_gate(h, a, b, ci, co, backend="triton")
    assert calls == [torch.Size([10])]
    monkeypatch.setattr(fn, "_ops_cache", [None])
    with pytest.raises(RuntimeError, match="triton"):
        rational_gate(h, a, b, ci, co, backend="triton")
    torch.testing.assert_close(
        rational_gate(h, a, b, ci, co, backend="auto"), naive_rational_gate(h, a, b, ci, co)
    )


# ------------------------------------------------------------------------------ teacher gates
def test_teacher_gates():
    h = torch.tensor([[-2.0, -0.5, 0.0, 0.3, 0.7, 1.5]])
    assert torch.equal(ReLUGate()(h), torch.tensor([[0.0, 0.0, 0.0, 0.3, 0.7, 1.5]]))
    j = JumpReLUGate(6)
    with torch.no_grad():
        j.threshold.copy_(torch.tensor([-3.0, -1.0, 0.0, 0.3, 0.5, 2.0]))
    # h > theta strictly, and ReLU: -2 > -3 but relu(-2) = 0; 0.3 > 0.3 is false
    assert torch.equal(j(h), torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.7, 0.0]]))
    t = TopKGate(3)
    assert torch.equal(t(h), torch.tensor([[0.0, 0.0, 0.0, 0.3, 0.7, 1.5]]))
    # k larger than the number of positives: the negative survivors are ReLU'd to 0
    assert torch.equal(TopKGate(5)(-h.abs()), torch.zeros(1, 6))
    with pytest.raises(ValueError, match="`k`"):
        TopKGate(0)


def test_from_safe_pade_of_a_ratapprox_conversion():
    """Integration with ratapprox.pade (skipped until it lands): the gate evaluates the converted r."""
    pade = pytest.importorskip("ratapprox.pade")
    from ratapprox.domains import Domain

    num, den = [0.1, 1.0, 0.3], [1.0, 0.25]  # den > 0 on [-1, 1]
    sp = pade.to_safe_pade(num, den, Domain.interval(-1, 1))
    gate = RationalGate.from_safe_pade(sp, backend="torch")
    t = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    with torch.no_grad():
        z = gate(t).numpy()
    tn = t.numpy()
    ref = np.maximum((0.1 + tn + 0.3 * tn**2) / (1 + 0.25 * tn), 0.0)
    # max(., 0) is 1-Lipschitz: the gate is within the certified deviation (+ float32 rounding)
    assert np.max(np.abs(z - ref)) <= float(sp.max_deviation) + 1e-6


def test_torch_compile_traces_the_function():
    """torch.compile (aot_eager: no C compiler needed) runs the custom Function without graph breaks."""
    gate = RationalGate.from_coefficients(A, B, c_in=1.3, c_out=0.9, backend="torch")
    h = torch.randn(33, 17, generator=torch.Generator().manual_seed(21), requires_grad=True)
    compiled = torch.compile(gate, backend="aot_eager", fullgraph=True)
    z_c = compiled(h)
    (gh_c,) = torch.autograd.grad(z_c.sum(), h)
    z = gate(h)
    (gh,) = torch.autograd.grad(z.sum(), h)
    assert torch.equal(z_c, z) and torch.equal(gh_c, gh)
