"""Autograd Function for the rational gate and the CPU / Triton dispatch.

The mathematics (clamping below ``-1``, slope-1 continuation above ``1``, rectification, the
``sign(0) = 0`` kink convention) is specified once, in :mod:`rsae.kernels.rational_gate.naive`;
this module only wires it into autograd and chooses a backend.

Backends
--------
``"torch"``
    :class:`RationalGateFunction`: forward bit-for-bit :func:`naive_rational_gate_fwd` (the same
    operations in the same order, done in place), backward the analytic
    :func:`naive_rational_gate_bwd` evaluated only on the *support of the gradient* (see below).
    No autograd graph of the intermediates is kept: ``h``, a boolean mask and the four scalars
    are saved.

Why the backward is compacted
-----------------------------
Every term of the backward carries the factor ``1[g > 0]`` (the rectifier): ``dL/dh``,
``dL/da_k``, ``dL/db_k`` and ``dL/dC_in`` through ``w = grad_z C_out 1[g > 0]``, and
``dL/dC_out = sum grad_z max(g, 0)``.  An SAE gate is sparse by design (L0 of 8-64 of 512
latents: 2-12% of the elements pass), so the Function records the mask ``g > 0`` in the forward
and the backward gathers those elements, runs the specification's backward on them (its
``g > 0`` test is then true everywhere, element-wise arithmetic being identical on a subset) and
scatters ``grad_h`` back into zeros.  The result equals the dense reference except for the order
of the scalar sums (float rounding only).  Measured on one CPU thread (CPU time; 1024 x 512
elements, type (9, 8), 5.7% active): forward 27.3 -> 6.5 ms, forward + backward 90.6 -> 10.4 ms
against the dense version of commit 70e7e1a; a whole fine-tuning step of the study's JumpReLU
teacher (``jumprelu_24``) went from 85 to 33 ms.  Under ``torch.compile`` (data-dependent shapes
break the graph) the dense reference backward is used.
``"triton"``
    ``rsae.kernels.rational_gate.ops.rational_gate(h, a, b, c_in, c_out)`` -- a registered torch
    custom op with its own autograd, provided by the GPU kernels (issue 6).  Forcing it when the
    module is missing raises :class:`RuntimeError`.
``"auto"``
    the Triton op for CUDA tensors when ``ops`` imports, the torch Function otherwise.

The backend is chosen, first match wins, by: the ``backend`` argument (e.g. of
:class:`rsae.gates.RationalGate`), the module attribute :data:`default_backend` (``None`` unless a
user sets it), the environment variable ``RSAE_GATE_BACKEND``, and finally ``"auto"``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from rsae.kernels.rational_gate.naive import (
    gate_input_grads,
    naive_rational_gate_bwd,
)

__all__ = [
    "BACKENDS",
    "RationalGateFunction",
    "default_backend",
    "rational_gate",
    "resolve_backend",
    "triton_ops",
]

BACKENDS: tuple[str, ...] = ("auto", "torch", "triton")
#: Process-wide backend override; ``None`` defers to ``RSAE_GATE_BACKEND`` and then ``"auto"``.
default_backend: str | None = None

_ENV_VAR = "RSAE_GATE_BACKEND"
_OPS_MODULE = "rsae.kernels.rational_gate.ops"
_ops_cache: list[ModuleType | None] = []  # memo of the one import attempt


def _horner_(coeffs: Tensor, u: Tensor) -> Tensor:
    """``sum_k coeffs[k] u^k`` in place on one buffer, in the operation order of ``naive._horner``."""
    acc = coeffs[-1].expand_as(u).clone()
    for c in coeffs.flip(0)[1:]:
        acc.mul_(u).add_(c)
    return acc


def _gate_fwd_with_mask(
    h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor]:
    """``(z, g > 0)``: :func:`naive_rational_gate_fwd` bit for bit, with fewer temporaries.

    Same operations in the same order as ``naive._parts`` (``B`` is evaluated as
    ``(b_q u^{q-1} + ... + b_1) u``, which differs from the reference's trailing ``+ 0`` only in
    the sign of a zero, and ``|B|`` removes that).
    """
    dt = torch.float64 if h.dtype == torch.float64 else torch.float32
    a, b, c_in, c_out = a.to(dt), b.to(dt), c_in.to(dt), c_out.to(dt)
    t = h.to(dt) / c_in
    u = t.clamp(-1.0, 1.0)
    r = _horner_(a, u)  # P(u)
    if b.numel() > 0:  # q = 0: Q = 1 and P / 1 = P exactly
        r.div_(_horner_(b, u).mul_(u).abs_().add_(1.0))  # P / (1 + |B(u)|)
    # g = r + (t - u): t - u is t - 1 above the interval (the reference's r(1) + (t - 1)) and an
    # exact 0 inside it (r + 0 = r up to the sign of a zero); below, g is overwritten with 0.
    g = r.add_(t - u).masked_fill_(t < -1.0, 0.0)
    active = g > 0
    z = g.clamp_min_(0.0).mul_(c_out)
    return z.to(h.dtype), active


def _compact_bwd(
    grad_z: Tensor, h: Tensor, active: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """:func:`naive_rational_gate_bwd` restricted to the elements with ``g > 0`` (see module docs)."""
    idx = active.reshape(-1).nonzero().squeeze(1)
    gh, ga, gb, gci, gco = naive_rational_gate_bwd(
        grad_z.reshape(-1)[idx], h.reshape(-1)[idx], a, b, c_in, c_out
    )
    grad_h = torch.zeros(h.numel(), dtype=h.dtype, device=h.device)
    grad_h[idx] = gh
    return grad_h.reshape(h.shape), ga, gb, gci, gco


class RationalGateFunction(torch.autograd.Function):
    """``z = C_out * max(g(h / C_in), 0)`` with the analytic backward of the reference.

    ``apply(h, a, b, c_in, c_out)``; shapes: ``h [...]``, ``a [p + 1]``, ``b [q]``, ``c_in`` and
    ``c_out`` 0-d.  The output has the shape and dtype of ``h``; arithmetic is float32 (float64
    when ``h`` is float64).  Gradients of the parameters are returned in each parameter's dtype.
    The backward runs on the elements with ``g > 0`` only (module docstring).
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
        z, active = _gate_fwd_with_mask(h, a, b, c_in, c_out)
        ctx.save_for_backward(h, active, a, b, c_in, c_out)
        return z

    @staticmethod
    def backward(ctx: Any, grad_z: Tensor) -> tuple[Tensor | None, ...]:
        h, active, a, b, c_in, c_out = ctx.saved_tensors
        if torch.compiler.is_compiling():
            grads = naive_rational_gate_bwd(grad_z, h, a, b, c_in, c_out)
        else:
            grads = _compact_bwd(grad_z, h, active, a, b, c_in, c_out)
        return gate_input_grads(ctx.needs_input_grad, grads, (h, a, b, c_in, c_out))


def triton_ops() -> ModuleType | None:
    """The Triton custom-op module, or ``None`` when it (or triton) cannot be imported."""
    if not _ops_cache:
        try:
            _ops_cache.append(importlib.import_module(_OPS_MODULE))
        except ImportError:
            _ops_cache.append(None)
    return _ops_cache[0]


def resolve_backend(backend: str | None = None) -> str:
    """The backend name in force: argument, then :data:`default_backend`, then the env var."""
    for source, value in (
        ("`backend`", backend),
        ("`rsae.kernels.rational_gate.function.default_backend`", default_backend),
        (f"environment variable {_ENV_VAR}", os.environ.get(_ENV_VAR) or None),
    ):
        if value is not None:
            if value not in BACKENDS:
                raise ValueError(f"{source} must be one of {BACKENDS}, got {value!r}")
            return value
    return "auto"


def rational_gate(
    h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor, *, backend: str | None = None
) -> Tensor:
    """Apply the rational gate with the chosen backend (see the module docstring)."""
    name = resolve_backend(backend)
    if name == "torch":
        return RationalGateFunction.apply(h, a, b, c_in, c_out)
    ops = triton_ops()
    if name == "triton":
        if ops is None:
            raise RuntimeError(
                f"rational gate backend 'triton' requested but {_OPS_MODULE} cannot be imported "
                "(is triton installed?)"
            )
        return ops.rational_gate(h, a, b, c_in, c_out)
    if ops is not None and h.is_cuda:
        return ops.rational_gate(h, a, b, c_in, c_out)
    return RationalGateFunction.apply(h, a, b, c_in, c_out)
