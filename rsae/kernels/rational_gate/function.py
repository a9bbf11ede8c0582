"""Autograd Function for the rational gate and the CPU / Triton dispatch.

The mathematics (clamping below ``-1``, slope-1 continuation above ``1``, rectification, the
``sign(0) = 0`` kink convention) is specified once, in :mod:`rsae.kernels.rational_gate.naive`;
this module only wires it into autograd and chooses a backend.

Backends
--------
``"torch"``
    :class:`RationalGateFunction`: forward :func:`naive_rational_gate_fwd`, backward the analytic
    :func:`naive_rational_gate_bwd` (no autograd graph of the intermediates is kept: only ``h`` and
    the four scalars are saved).
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
    naive_rational_gate_fwd,
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


class RationalGateFunction(torch.autograd.Function):
    """``z = C_out * max(g(h / C_in), 0)`` with the analytic backward of the reference.

    ``apply(h, a, b, c_in, c_out)``; shapes: ``h [...]``, ``a [p + 1]``, ``b [q]``, ``c_in`` and
    ``c_out`` 0-d.  The output has the shape and dtype of ``h``; arithmetic is float32 (float64
    when ``h`` is float64).  Gradients of the parameters are returned in each parameter's dtype.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
        ctx.save_for_backward(h, a, b, c_in, c_out)
        return naive_rational_gate_fwd(h, a, b, c_in, c_out)

    @staticmethod
    def backward(ctx: Any, grad_z: Tensor) -> tuple[Tensor | None, ...]:
        h, a, b, c_in, c_out = ctx.saved_tensors
        grads = naive_rational_gate_bwd(grad_z, h, a, b, c_in, c_out)
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
