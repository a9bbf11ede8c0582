"""The Triton rational gate registered as torch custom ops, so that ``torch.compile`` keeps the model.

Two ops are registered in the ``rsae`` namespace with :func:`torch.library.custom_op`:

``torch.ops.rsae.rational_gate(h, a, b, c_in, c_out) -> z``
    the forward kernel (:func:`~rsae.kernels.rational_gate.triton.rational_gate_fwd_triton`);
``torch.ops.rsae.rational_gate_bwd(grad_z, h, a, b, c_in, c_out)``
    ``-> (grad_h, grad_a, grad_b, grad_c_in, grad_c_out)``:
    the one-pass backward with its deterministic two-stage reduction.

Each has a fake (meta) implementation (:func:`torch.library.register_fake`), so Dynamo and AOT
autograd can trace through them without running a kernel, and the forward op carries its backward
through :func:`torch.library.register_autograd`.  To the compiler the ops are opaque calls: the
graph around them is compiled, the gate stays the hand-written kernel.

:func:`rational_gate` is the entry point the dispatch in
:mod:`rsae.kernels.rational_gate.function` calls for CUDA tensors (backend ``"auto"`` or
``"triton"``).  On CPU tensors it runs the same kernels under Triton's interpreter, which needs
``TRITON_INTERPRET=1`` in the environment before ``triton`` is first imported (the tests do
this); otherwise it raises ``RuntimeError`` explaining how to switch it on.

This module does not import triton itself (only on the first call), so importing it never fixes
Triton's interpreter/compiler mode behind a test's back; it raises ``ImportError`` at import when
triton is not installed, which the dispatch treats as "no Triton backend".
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import Tensor

from rsae.kernels.rational_gate.naive import gate_input_grads

if importlib.util.find_spec("triton") is None:  # pragma: no cover - depends on the installation
    raise ImportError("rsae.kernels.rational_gate.ops needs the `triton` package (pip install triton)")

__all__ = ["rational_gate", "rational_gate_bwd"]


def _kernels() -> Any:
    # Deferred import: see the module docstring.
    from rsae.kernels.rational_gate import triton as kernels

    return kernels


def _compute_dtype(h: Tensor) -> torch.dtype:
    return torch.float64 if h.dtype == torch.float64 else torch.float32


@torch.library.custom_op("rsae::rational_gate", mutates_args=())
def _rational_gate_op(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    return _kernels().rational_gate_fwd_triton(h, a, b, c_in, c_out)


@_rational_gate_op.register_fake
def _(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    # The kernel writes a fresh contiguous tensor of h's shape and dtype.
    return h.new_empty(h.shape)


@torch.library.custom_op("rsae::rational_gate_bwd", mutates_args=())
def _rational_gate_bwd_op(
    grad_z: Tensor, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    grad_h, grad_a, grad_b, grad_c_in, grad_c_out = _kernels().rational_gate_bwd_triton(
        grad_z, h, a, b, c_in, c_out
    )
    # The four scalar gradients are slices of one buffer; custom-op outputs must not alias.
    return grad_h, grad_a.clone(), grad_b.clone(), grad_c_in.clone(), grad_c_out.clone()


@_rational_gate_bwd_op.register_fake
def _(
    grad_z: Tensor, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    dt = _compute_dtype(h)
    return (
        h.new_empty(h.shape),
        h.new_empty(a.shape, dtype=dt),
        h.new_empty(b.shape, dtype=dt),
        h.new_empty((), dtype=dt),
        h.new_empty((), dtype=dt),
    )


def _setup_context(ctx: Any, inputs: tuple[Tensor, ...], output: Tensor) -> None:
    # Only h and the p + q + 3 scalars are kept: the backward recomputes everything else from h.
    ctx.save_for_backward(*inputs)


def _backward(ctx: Any, grad_z: Tensor) -> tuple[Tensor | None, ...]:
    h, a, b, c_in, c_out = ctx.saved_tensors
    grads = _rational_gate_bwd_op(grad_z, h, a, b, c_in, c_out)
    return gate_input_grads(ctx.needs_input_grad, grads, (h, a, b, c_in, c_out))


_rational_gate_op.register_autograd(_backward, setup_context=_setup_context)


def rational_gate(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    """Differentiable rational gate ``z = C_out max(g(h / C_in), 0)`` through the Triton kernels.

    Parameters
    ----------
    h : Tensor
        Pre-activations ``[...]`` (float16/bfloat16/float32/float64), CUDA, or CPU under
        ``TRITON_INTERPRET=1``.
    a, b : Tensor
        Shared coefficients ``a_0..a_p`` (``[p + 1]``) and ``b_1..b_q`` (``[q]``).
    c_in, c_out : Tensor
        0-d (or one-element) scales.

    Returns
    -------
    Tensor
        ``z`` with the shape and dtype of ``h``.  Gradients flow to all five inputs; the
        parameter gradients are returned in each parameter's dtype.

    See Also
    --------
    rsae.kernels.rational_gate.naive.naive_rational_gate_fwd : the specification.
    """
    return _rational_gate_op(h, a, b, c_in, c_out)


def rational_gate_bwd(
    grad_z: Tensor, h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The registered backward op (``torch.ops.rsae.rational_gate_bwd``); see :func:`rational_gate`."""
    return _rational_gate_bwd_op(grad_z, h, a, b, c_in, c_out)
