"""Plain-PyTorch reference of the rational gate: the specification every kernel must match.

The gate (shared scalars ``a[0..p]``, ``b[1..q]``, ``C_in``, ``C_out``) acts element-wise:

.. math::

    t = h / C_\\mathrm{in}, \\qquad
    r(u) = \\frac{P(u)}{Q(u)}, \\quad P(u) = \\sum_{k=0}^{p} a_k u^k, \\quad
    Q(u) = 1 + |B(u)|, \\quad B(u) = \\sum_{k=1}^{q} b_k u^k

(the *safe-Padé* form of Molina, Schramowski & Kersting 2020 / Delfosse et al. 2021: Q >= 1, so
no poles), extended outside the design interval ``[-1, 1]`` and rectified:

.. math::

    g(t) = \\begin{cases} 0 & t < -1 \\\\ r(t) & -1 \\le t \\le 1 \\\\ r(1) + (t - 1) & t > 1
           \\end{cases}, \\qquad z = C_\\mathrm{out} \\max(g(t), 0).

Conventions (the CPU reference and the Triton kernels share them; tests pin each one):

* **Below the design interval** (``t < -1``) the gate is exactly 0, as every teacher gate (ReLU,
  JumpReLU, thresholded TopK) is for large negative pre-activations; a safe-Padé of type
  (p, p-1) would otherwise grow like a multiple of ``t`` there.
* **Above it** (``t > 1``) the gate continues from ``r(1)`` with slope 1, the slope of every
  teacher gate above its threshold; the continuation is continuous (not C^1) at ``t = 1``.
* **Exact sparsity**: ``z = 0`` exactly wherever ``g(t) <= 0``.  Fits are shifted so that
  ``r <= 0`` wherever the teacher gate is 0, so L0 (count of exact non-zeros) is meaningful.
* **Kink of |B|**: ``d|B|/dB = sign(B)`` with ``sign(0) = 0`` (torch's ``abs`` convention).
* **Rectifier and branch points**: derivatives use ``g > 0`` (strict); at ``t = 1`` the inner
  branch (``r'(1)``) is used, at ``t = -1`` the inner branch too.
* **Arithmetic** is float32 (or float64 if ``h`` is float64); bfloat16/float16 inputs are upcast
  inside and the output is cast back to the input dtype.

Derivative of the rational, written to avoid ``P / Q^2`` overflow (DESIGN.md):
``r'(u) = (P'(u) - r(u) sign(B(u)) B'(u)) / Q(u)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "gate_input_grads",
    "naive_rational_gate",
    "naive_rational_gate_bwd",
    "naive_rational_gate_fwd",
]


def _compute_dtype(h: Tensor) -> torch.dtype:
    return torch.float64 if h.dtype == torch.float64 else torch.float32


def _horner(coeffs: Tensor, u: Tensor) -> Tensor:
    """sum_k coeffs[k] u^k (coeffs ascending) by Horner's rule."""
    acc = torch.zeros_like(u) + coeffs[-1]
    for c in coeffs.flip(0)[1:]:
        acc = acc * u + c
    return acc


def _parts(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor) -> dict[str, Tensor]:
    """Every intermediate of the forward pass, in the compute dtype."""
    dt = _compute_dtype(h)
    a, b, c_in = a.to(dt), b.to(dt), c_in.to(dt)
    t = h.to(dt) / c_in
    u = t.clamp(-1.0, 1.0)
    P = _horner(a, u)
    b_full = torch.cat([torch.zeros(1, dtype=dt, device=b.device), b])  # B has no constant term
    B = _horner(b_full, u)
    Q = 1.0 + B.abs()
    r = P / Q
    g = torch.where(t < -1.0, torch.zeros_like(r), torch.where(t > 1.0, r + (t - 1.0), r))
    return {"t": t, "u": u, "P": P, "B": B, "Q": Q, "r": r, "g": g}


def naive_rational_gate_fwd(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    """``z = C_out * max(g(h / C_in), 0)``; same shape and dtype as ``h``.

    Args:
        h: pre-activations, any shape ``[...]``.
        a: numerator coefficients ``a_0..a_p``, shape ``[p + 1]``.
        b: denominator coefficients ``b_1..b_q``, shape ``[q]`` (``q`` may be 0).
        c_in, c_out: scalars (0-d tensors).
    """
    s = _parts(h, a, b, c_in)
    z = c_out.to(s["g"].dtype) * s["g"].clamp_min(0.0)
    return z.to(h.dtype)


def naive_rational_gate_bwd(
    grad_z: Tensor, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Analytic gradients ``(grad_h, grad_a, grad_b, grad_c_in, grad_c_out)``.

    ``grad_h`` has the dtype of ``h``; the scalar gradients are in the compute dtype
    (float32, or float64 for float64 input) and reduced over all elements.
    """
    s = _parts(h, a, b, c_in)
    dt = s["g"].dtype
    t, u, B, Q, r, g = s["t"], s["u"], s["B"], s["Q"], s["r"], s["g"]
    a_, b_, c_in_, c_out_ = a.to(dt), b.to(dt), c_in.to(dt), c_out.to(dt)
    gz = grad_z.to(dt)
    active = g > 0
    inside = (t >= -1.0) & (t <= 1.0)
    above = t > 1.0
    sB = torch.sign(B)
    # P'(u), B'(u) by Horner on the differentiated coefficients.
    p = a_.numel() - 1
    zero = torch.zeros_like(u)
    dP = _horner(a_[1:] * torch.arange(1, p + 1, dtype=dt, device=a_.device), u) if p > 0 else zero
    q = b_.numel()
    dB = _horner(b_ * torch.arange(1, q + 1, dtype=dt, device=b_.device), u) if q > 0 else zero
    dr = (dP - r * sB * dB) / Q
    dg_dt = torch.where(inside, dr, torch.where(above, torch.ones_like(dr), torch.zeros_like(dr)))
    w = gz * c_out_ * active.to(dt)  # dL/dg on active elements
    grad_t = w * dg_dt
    grad_h = (grad_t / c_in_).to(h.dtype)
    grad_c_in = (grad_t * (-t / c_in_)).sum()
    grad_c_out = (gz * g.clamp_min(0.0)).sum()
    # d g / d a_k = u^k / Q and d g / d b_k = -r sign(B) u^k / Q, with u = 1 above, nothing below.
    wc = w * (inside | above).to(dt) / Q
    powers = [torch.ones_like(u)]
    for _ in range(max(p, q)):
        powers.append(powers[-1] * u)
    grad_a = torch.stack([(wc * powers[k]).sum() for k in range(p + 1)])
    grad_b = (
        torch.stack([(-wc * r * sB * powers[k]).sum() for k in range(1, q + 1)]) if q > 0 else b_.new_zeros(0)
    )
    return grad_h, grad_a, grad_b, grad_c_in, grad_c_out


def naive_rational_gate(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    """Differentiable reference built from torch ops only (autograd does the backward).

    Used as the float64 oracle in ``gradcheck`` and kernel tests.  Its autograd gradient agrees
    with :func:`naive_rational_gate_bwd` away from the measure-zero branch points.
    """
    dt = _compute_dtype(h)
    t = h.to(dt) / c_in.to(dt)
    u = t.clamp(-1.0, 1.0)
    P = _horner(a.to(dt), u)
    b_full = torch.cat([torch.zeros(1, dtype=dt, device=b.device), b.to(dt)])
    Q = 1.0 + _horner(b_full, u).abs()
    r = P / Q
    # Above 1: r(1) + (t - 1); written with u so that autograd sees r evaluated at u = 1.
    g = torch.where(t < -1.0, torch.zeros_like(r), r + (t - u))
    return (c_out.to(dt) * g.clamp_min(0.0)).to(h.dtype)


def gate_input_grads(
    need: tuple[bool, ...], grads: tuple[Tensor, ...], inputs: tuple[Tensor, ...]
) -> tuple[Tensor | None, ...]:
    """An autograd backward's return value from ``(grad_h, grad_a, grad_b, grad_c_in, grad_c_out)``.

    Each parameter gradient is cast to its parameter's dtype and shape (the backends reduce in
    float32 and return 0-d or 1-d tensors); ``None`` where ``need`` (``ctx.needs_input_grad``) is
    false.  Shared by the torch Function and the Triton custom op.
    """
    out: list[Tensor | None] = [grads[0] if need[0] else None]
    for k in range(1, 5):
        out.append(grads[k].to(inputs[k].dtype).reshape(inputs[k].shape) if need[k] else None)
    return tuple(out)
