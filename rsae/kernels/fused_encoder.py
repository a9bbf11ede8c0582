"""Fused RSAE encoder: ``z = gate(x W_enc + b_enc)`` with the gate in the matmul's epilogue.

Forward (one Triton kernel, a tiled matmul after the Triton tutorial's grouped ordering):

.. math::

    h = x W_\\mathrm{enc} + b_\\mathrm{enc}, \\qquad z = C_\\mathrm{out} \\max(g(h / C_\\mathrm{in}), 0),

with ``g`` the clamped, slope-1-continued safe-Padé rational of
:mod:`rsae.kernels.rational_gate.naive` (same conventions, float32 arithmetic).  Each output tile
is accumulated in float32 registers; the epilogue adds ``b_enc``, evaluates the gate on the
accumulator and writes ``z`` -- and ``h`` only when a backward will need it.  Compared with
``matmul -> + b_enc -> gate`` this saves one write and one read of the ``[M, d_sae]``
pre-activations plus the separate bias pass.

The op is registered as ``torch.ops.rsae.fused_encoder`` (:func:`torch.library.custom_op`, with a
fake implementation and :func:`torch.library.register_autograd`), so ``torch.compile`` treats it
as one opaque call instead of tracing into the launcher.

Backward: the only activation kept is ``h`` (written once by the
forward epilogue; ``z`` is not saved, and no second copy of the pre-activations is made):

.. math::

    \\bar h = \\mathrm{gate\\_bwd}(\\bar z, h), \\quad \\bar x = \\bar h W_\\mathrm{enc}^\\top, \\quad
    \\bar W_\\mathrm{enc} = x^\\top \\bar h, \\quad \\bar b_\\mathrm{enc} = \\textstyle\\sum_m \\bar h_m,

where ``gate_bwd`` is the one-pass Triton backward of
:func:`~rsae.kernels.rational_gate.triton.rational_gate_bwd_triton` (which also returns the
scalar-coefficient gradients) and the two matmuls go to cuBLAS through torch.

Whether the fusion pays must be measured (``benchmarks/gate_kernels.py``); on CPU the kernel runs
only under ``TRITON_INTERPRET=1`` at tiny sizes, for correctness tests.

References
----------
.. [1] P. Tillet et al., "Triton: an intermediate language and compiler for tiled neural network
   computations", MAPL 2019; Triton tutorial 03 "Matrix Multiplication" (grouped tile order).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from rsae.kernels.rational_gate import ops as gate_ops
from rsae.kernels.rational_gate import triton as gate_kernels
from rsae.kernels.rational_gate.triton import _gate_fwd_math

__all__ = ["fused_encoder", "fused_encoder_fwd"]

_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32)
# Tile sizes for CUDA (not yet tuned on a GPU; the autotuner picks among these) and for the
# interpreter (small, so that CPU tests stay fast).
_CUDA_CONFIGS = [
    triton.Config({"BM": 128, "BN": 128, "BK": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
    triton.Config({"BM": 128, "BN": 256, "BK": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
    triton.Config({"BM": 64, "BN": 128, "BK": 64, "GROUP_M": 8}, num_stages=4, num_warps=4),
    triton.Config({"BM": 128, "BN": 64, "BK": 32, "GROUP_M": 8}, num_stages=4, num_warps=4),
]
_INTERPRET_TILE = {"BM": 16, "BN": 32, "BK": 16, "GROUP_M": 2}


@triton.jit
def _fused_encoder_kernel(
    x_ptr, w_ptr, benc_ptr, h_ptr, z_ptr, a_ptr, b_ptr, c_in_ptr, c_out_ptr,
    M, N, K, stride_xm, stride_xk, stride_wk, stride_wn,
    P: tl.constexpr, QD: tl.constexpr, STORE_H: tl.constexpr, PRECISION: tl.constexpr,
    UPCAST: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr,
):  # fmt: skip
    # Grouped ordering: GROUP_M row-tiles share each column strip of W, for L2 reuse.
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BM)
    num_n = tl.cdiv(N, BN)
    group = GROUP_M * num_n
    first_m = (pid // group) * GROUP_M
    size_m = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + ((pid % group) % size_m)
    pid_n = (pid % group) // size_m

    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    x_ptrs = x_ptr + rm[:, None].to(tl.int64) * stride_xm + rk[None, :] * stride_xk
    w_ptrs = w_ptr + rk[:, None].to(tl.int64) * stride_wk + rn[None, :] * stride_wn
    acc = tl.zeros([BM, BN], dtype=tl.float32)
    for k0 in range(0, K, BK):
        kmask = (k0 + rk) < K
        xt = tl.load(x_ptrs, mask=(rm[:, None] < M) & kmask[None, :], other=0.0)
        wt = tl.load(w_ptrs, mask=kmask[:, None] & (rn[None, :] < N), other=0.0)
        if UPCAST:  # Triton 3.9's interpreter multiplies bf16 tiles wrongly; bf16 x bf16 is exact in fp32
            xt = xt.to(tl.float32)
            wt = wt.to(tl.float32)
        acc = tl.dot(xt, wt, acc, input_precision=PRECISION)
        x_ptrs += BK * stride_xk
        w_ptrs += BK * stride_wk

    # ---- epilogue: + b_enc, then the gate of naive.py on the float32 accumulator ----
    nmask = rn < N
    h = acc + tl.load(benc_ptr + rn, mask=nmask, other=0.0).to(tl.float32)[None, :]
    c_in = tl.load(c_in_ptr).to(tl.float32)
    c_out = tl.load(c_out_ptr).to(tl.float32)
    z = _gate_fwd_math(h, a_ptr, b_ptr, c_in, c_out, P, QD, tl.float32)

    out_offs = rm[:, None].to(tl.int64) * N + rn[None, :]
    out_mask = (rm[:, None] < M) & nmask[None, :]
    tl.store(z_ptr + out_offs, z.to(z_ptr.dtype.element_ty), mask=out_mask)
    if STORE_H:
        tl.store(h_ptr + out_offs, h.to(h_ptr.dtype.element_ty), mask=out_mask)


_fused_encoder_kernel_tuned = triton.autotune(
    configs=_CUDA_CONFIGS, key=["M", "N", "K", "P", "QD", "STORE_H"]
)(_fused_encoder_kernel)


def _check(x: Tensor, W_enc: Tensor, b_enc: Tensor) -> None:
    if x.ndim != 2:
        raise ValueError(f"`x` must be 2-d [M, d_in] here, got shape {tuple(x.shape)}")
    if x.dtype not in _SUPPORTED:
        raise ValueError(f"`x` must be float16, bfloat16 or float32, got {x.dtype}")
    if W_enc.ndim != 2 or W_enc.shape[0] != x.shape[1]:
        raise ValueError(f"`W_enc` must be [d_in, d_sae] = [{x.shape[1]}, d_sae], got {tuple(W_enc.shape)}")
    if W_enc.dtype != x.dtype:
        raise ValueError(f"`W_enc` has dtype {W_enc.dtype} but `x` has {x.dtype}")
    if b_enc.shape != (W_enc.shape[1],):
        raise ValueError(f"`b_enc` must have shape [{W_enc.shape[1]}], got {tuple(b_enc.shape)}")
    for name, t in (("W_enc", W_enc), ("b_enc", b_enc)):
        if t.device != x.device:
            raise ValueError(f"`{name}` is on {t.device} but `x` is on {x.device}")


def fused_encoder_fwd(
    x: Tensor,
    W_enc: Tensor,
    b_enc: Tensor,
    a: Tensor,
    b: Tensor,
    c_in: Tensor,
    c_out: Tensor,
    *,
    store_h: bool = True,
    allow_tf32: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Launch the fused kernel: ``(z, h)`` with ``h = x W_enc + b_enc`` and ``z = gate(h)``.

    Parameters
    ----------
    x : Tensor
        ``[M, d_in]`` (any strides), float16/bfloat16/float32.
    W_enc : Tensor
        ``[d_in, d_sae]`` (SAELens layout, any strides), same dtype as ``x``.
    b_enc : Tensor
        ``[d_sae]``.
    a, b, c_in, c_out : Tensor
        Gate coefficients as in :func:`rsae.kernels.rational_gate.ops.rational_gate`.
    store_h : bool
        Write the pre-activations (needed by the backward); ``False`` for inference.
    allow_tf32 : bool
        float32 inputs: use TF32 tensor cores (``True``) or exact IEEE products (``False``).

    Returns
    -------
    z : Tensor
        ``[M, d_sae]`` in ``x.dtype``.
    h : Tensor or None
        ``[M, d_sae]`` in ``x.dtype`` when ``store_h``.
    """
    _check(x, W_enc, b_enc)
    gate_kernels._check(x, a, b, c_in, c_out)
    M, K = x.shape
    N = W_enc.shape[1]
    z = torch.empty((M, N), dtype=x.dtype, device=x.device)
    h = torch.empty((M, N), dtype=x.dtype, device=x.device) if store_h else None
    if M == 0 or N == 0:
        return z, h
    if K == 0:  # no products: h = b_enc; reuse the element-wise gate kernel
        hh = b_enc.to(x.dtype).expand(M, N).contiguous()
        return gate_kernels.rational_gate_fwd_triton(hh, a, b, c_in, c_out), (hh if store_h else None)
    a_, b_, ci, co = gate_kernels._coefficients(a, b, c_in, c_out)
    # TF32 only where asked for, on a GPU; exact products for float32 otherwise (and in the
    # interpreter).  For 16-bit inputs the setting does not change the products.
    exact = x.dtype == torch.float32 and not (allow_tf32 and x.is_cuda)
    precision = "ieee" if exact else "tf32"
    interpret = gate_kernels.interpreter_active()
    common = dict(
        P=a.numel() - 1,
        QD=b.numel(),
        STORE_H=store_h,
        PRECISION=precision,
        UPCAST=interpret and x.dtype != torch.float32,
    )
    args = (x, W_enc, b_enc.contiguous(), h if store_h else z, z, a_, b_, ci, co, M, N, K,
            x.stride(0), x.stride(1), W_enc.stride(0), W_enc.stride(1))  # fmt: skip
    if interpret:
        tile = _INTERPRET_TILE
        grid = (triton.cdiv(M, tile["BM"]) * triton.cdiv(N, tile["BN"]),)
        _fused_encoder_kernel[grid](*args, **common, **tile)
    else:

        def grid(meta: dict[str, Any]) -> tuple[int]:
            return (triton.cdiv(M, meta["BM"]) * triton.cdiv(N, meta["BN"]),)

        _fused_encoder_kernel_tuned[grid](*args, **common)
    return z, h


# --------------------------------------------------------------------------------------------------
# Custom op (opaque to torch.compile) with its autograd
# --------------------------------------------------------------------------------------------------


@torch.library.custom_op("rsae::fused_encoder", mutates_args=())
def _fused_encoder_op(
    x: Tensor, W_enc: Tensor, b_enc: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor,
    store_h: bool, allow_tf32: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    z, h = fused_encoder_fwd(x, W_enc, b_enc, a, b, c_in, c_out, store_h=store_h, allow_tf32=allow_tf32)
    return z, (h if h is not None else x.new_empty(0))  # ops return tensors: an empty h for inference


@_fused_encoder_op.register_fake
def _(
    x: Tensor, W_enc: Tensor, b_enc: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor,
    store_h: bool, allow_tf32: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    shape = (x.shape[0], W_enc.shape[1])
    return x.new_empty(shape), x.new_empty(shape if store_h else (0,))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    x, W_enc, b_enc, a, b, c_in, c_out, store_h, _allow_tf32 = inputs
    # The only [M, d_sae] tensor kept is h, written once by the forward epilogue.
    ctx.save_for_backward(x, W_enc, output[1], a, b, c_in, c_out)
    ctx.store_h = store_h
    ctx.b_enc_dtype = b_enc.dtype


def _backward(ctx: Any, grad_z: Tensor, grad_h_out: Tensor | None) -> tuple[Tensor | None, ...]:
    if not ctx.store_h:
        raise RuntimeError("rsae::fused_encoder ran with store_h=False (inference); it has no backward")
    x, W_enc, h, a, b, c_in, c_out = ctx.saved_tensors
    grad_h, ga, gb, gci, gco = gate_ops.rational_gate_bwd(grad_z, h, a, b, c_in, c_out)
    if grad_h_out is not None:  # h is an output too; its gradient (normally none) adds up
        grad_h = grad_h + grad_h_out
    need = ctx.needs_input_grad
    return (
        grad_h @ W_enc.t() if need[0] else None,
        x.t() @ grad_h if need[1] else None,
        grad_h.sum(0, dtype=torch.float32).to(ctx.b_enc_dtype) if need[2] else None,
        ga.to(a.dtype) if need[3] else None,
        gb.to(b.dtype) if need[4] else None,
        gci.to(c_in.dtype).reshape(c_in.shape) if need[5] else None,
        gco.to(c_out.dtype).reshape(c_out.shape) if need[6] else None,
        None,
        None,
    )


_fused_encoder_op.register_autograd(_backward, setup_context=_setup_context)


def fused_encoder(
    x: Tensor,
    W_enc: Tensor,
    b_enc: Tensor,
    a: Tensor,
    b: Tensor,
    c_in: Tensor,
    c_out: Tensor,
    *,
    b_dec: Tensor | None = None,
    allow_tf32: bool = True,
) -> Tensor:
    """Differentiable fused encoder ``z = gate((x - b_dec) W_enc + b_enc)``.

    Parameters
    ----------
    x : Tensor
        ``[..., d_in]``; leading dimensions are flattened and restored.
    W_enc, b_enc : Tensor
        ``[d_in, d_sae]`` and ``[d_sae]``.
    a, b, c_in, c_out : Tensor
        Gate parameters (see :mod:`rsae.kernels.rational_gate.naive`).
    b_dec : Tensor, optional
        ``[d_in]``, subtracted from ``x`` first (SAELens ``apply_b_dec_to_input``); done by torch,
        it costs one pass over ``x``, which is ``d_sae / d_in`` times smaller than the output.
    allow_tf32 : bool
        See :func:`fused_encoder_fwd`.

    Returns
    -------
    Tensor
        ``z`` of shape ``[..., d_sae]`` in ``x.dtype``.
    """
    if b_dec is not None:
        x = x - b_dec
    lead = x.shape[:-1]
    tensors = (x, W_enc, b_enc, a, b, c_in, c_out)
    store_h = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    z, _h = _fused_encoder_op(
        x.reshape(-1, x.shape[-1]), W_enc, b_enc, a, b, c_in, c_out, store_h, allow_tf32
    )
    return z.reshape(*lead, W_enc.shape[1])
