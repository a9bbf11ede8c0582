"""Triton kernels for the rational (safe-Padé) gate: forward, one-pass backward, deterministic reduction.

The mathematics is specified by :mod:`rsae.kernels.rational_gate.naive` (read its docstring); this
module reproduces it element-wise on ``h`` viewed as a flat vector of ``n`` elements:

.. math::

    t = h / C_\\mathrm{in}, \\quad u = \\mathrm{clamp}(t, -1, 1), \\quad
    r(u) = \\frac{P(u)}{1 + |B(u)|}, \\quad
    g = \\begin{cases} 0 & t < -1 \\\\ r(u) & |t| \\le 1 \\\\ r(1) + (t - 1) & t > 1 \\end{cases},
    \\quad z = C_\\mathrm{out} \\max(g, 0),

and the backward uses ``r'(u) = (P'(u) - r(u) sign(B(u)) B'(u)) / Q(u)`` (no ``P / Q^2``
overflow), ``sign(0) = 0``, the rectifier's derivative on ``g > 0`` (strict) and the inner branch
at ``t = +-1`` -- exactly as :func:`~rsae.kernels.rational_gate.naive.naive_rational_gate_bwd`.

Kernels
-------
``_rational_gate_fwd_kernel``
    one tile of ``BLOCK`` elements per program; reads ``h``, writes ``z`` (2 tensors moved).
``_rational_gate_bwd_kernel`` (strategy ``"tile"``) and ``_rational_gate_bwd_lane_kernel`` (``"lane"``)
    each program walks ``tiles_per_prog`` consecutive tiles, reads ``h`` and ``grad_z``, writes
    ``grad_h`` (3 tensors moved) and accumulates the ``p + q + 3`` scalar-gradient sums of its
    tiles in registers (block-reduced per tile, or per lane and reduced once at the end); it writes
    them once, as one row of a ``[n_programs, p + q + 3]`` buffer (columns ``a_0..a_p, b_1..b_q,
    C_in, C_out``).
``_reduce_partials_kernel``
    one program sums that buffer over its rows in a fixed order.  There are no atomics anywhere and
    the grid depends only on ``n``, so identical inputs give bit-identical gradients.

The element-wise arithmetic lives in two shape-agnostic ``@triton.jit`` helpers,
``_gate_fwd_math`` and ``_gate_bwd_math``, inlined into every kernel (and into the fused
encoder's epilogue), so the formulas exist once.  Degrees ``p`` and ``q`` are ``tl.constexpr``:
every (p, q) compiles its own specialised kernel with the Horner loops fully unrolled.  Storage
may be float16, bfloat16, float32 or float64; arithmetic is float32 inside (float64 for float64
storage) and results are cast back on store, so a bf16 ``t^9`` never underflows.  ``C_in`` and
``C_out`` are read from device memory by the kernels, so no launcher synchronises with the host
(no ``.item()``).

On CPU tensors the kernels run only under Triton's interpreter, which must be switched on with
``TRITON_INTERPRET=1`` *before* ``triton`` is first imported (Triton decides at decoration time);
that is how the tests exercise these kernels without a GPU.

References
----------
.. [1] A. Molina, P. Schramowski, K. Kersting, "Padé Activation Units: End-to-end Learning of
   Flexible Activation Functions in Deep Networks", ICLR 2020 (the safe-Padé form).
.. [2] P. Tillet, H. T. Kung, D. Cox, "Triton: an intermediate language and compiler for tiled
   neural network computations", MAPL 2019.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = [
    "MAX_DEGREE",
    "interpreter_active",
    "rational_gate_bwd_triton",
    "rational_gate_fwd_triton",
]

#: Largest numerator / denominator degree accepted (each degree compiles its own kernel).
MAX_DEGREE = 32
#: Elements per tile (a power of two).  Not yet tuned on a GPU; see README.md.
FWD_BLOCK = 1024
BWD_BLOCK = 1024
#: Cap on backward programs: bounds the partial-sum buffer (``<= 4096 x (p + q + 3)`` floats) and
#: fixes the reduction tree as a function of ``n`` alone (determinism across runs).
BWD_MAX_PROGRAMS = 4096
#: First-stage reduction strategy of the backward ("tile" or "lane"; see the launcher).
BWD_STRATEGY = "tile"
_REDUCE_ROWS = 128
_NUM_WARPS = 4

_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def interpreter_active() -> bool:
    """True when Triton was imported with ``TRITON_INTERPRET=1`` (kernels run on the CPU)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(_rational_gate_fwd_kernel, InterpretedFunction)


# --------------------------------------------------------------------------------------------------
# Element-wise gate arithmetic, shared by the kernels here and by the fused encoder's epilogue.
# Shape-agnostic (1-d tiles here, 2-d tiles in the matmul epilogue); inlined by the compiler.
# --------------------------------------------------------------------------------------------------


@triton.jit
def _gate_fwd_math(h, a_ptr, b_ptr, c_in, c_out, P: tl.constexpr, QD: tl.constexpr, CT: tl.constexpr):
    """``z = C_out max(g(h / C_in), 0)`` in the compute dtype ``CT`` (``h`` already in ``CT``)."""
    t = h / c_in
    # where() rather than min/max so that NaN propagates as in torch.clamp.
    u = tl.where(t < -1.0, -1.0, tl.where(t > 1.0, 1.0, t))
    # P(u) by Horner, highest coefficient first (the reference's order).
    Pv = u * 0.0 + tl.load(a_ptr + P).to(CT)
    for i in tl.static_range(1, P + 1):
        Pv = Pv * u + tl.load(a_ptr + (P - i)).to(CT)
    # B(u) = b_1 u + ... + b_q u^q (no constant term); b_ptr[k - 1] holds b_k.
    Bv = u * 0.0
    if QD > 0:
        Bv = Bv + tl.load(b_ptr + (QD - 1)).to(CT)
        for i in tl.static_range(1, QD):
            Bv = Bv * u + tl.load(b_ptr + (QD - 1 - i)).to(CT)
        Bv = Bv * u
    r = Pv / (1.0 + tl.abs(Bv))
    # Below -1: 0.  Above 1: u == 1 there, so r is r(1) and g = r(1) + (t - 1).
    g = tl.where(t < -1.0, 0.0, tl.where(t > 1.0, r + (t - 1.0), r))
    # Rectify with exact zeros; `g <= 0` keeps a NaN as NaN (torch.clamp_min does too).
    return c_out * tl.where(g <= 0.0, 0.0, g)


@triton.jit
def _gate_bwd_math(h, gz, a_ptr, b_ptr, c_in, c_out, P: tl.constexpr, QD: tl.constexpr, CT: tl.constexpr):
    """Per-element pieces of the backward: ``(grad_t, t, u, g_plus, wc, wb)``.

    ``grad_t = dL/dt``; the scalar gradients are sums of ``wc u^k`` (a_k), ``wb u^k`` (b_k),
    ``grad_t (-t / C_in)`` (C_in) and ``grad_z g_plus`` (C_out), ``g_plus = max(g, 0)``.
    """
    t = h / c_in
    u = tl.where(t < -1.0, -1.0, tl.where(t > 1.0, 1.0, t))
    # P and P' in one Horner sweep (each coefficient loaded once).
    Pv = u * 0.0 + tl.load(a_ptr + P).to(CT)
    dP = u * 0.0
    for i in tl.static_range(1, P + 1):
        dP = dP * u + Pv
        Pv = Pv * u + tl.load(a_ptr + (P - i)).to(CT)
    # B and B' likewise; the missing constant term is the final "* u".
    Bv = u * 0.0
    dB = u * 0.0
    if QD > 0:
        Bv = Bv + tl.load(b_ptr + (QD - 1)).to(CT)
        for i in tl.static_range(1, QD):
            dB = dB * u + Bv
            Bv = Bv * u + tl.load(b_ptr + (QD - 1 - i)).to(CT)
        dB = dB * u + Bv
        Bv = Bv * u
    Qv = 1.0 + tl.abs(Bv)
    r = Pv / Qv
    below = t < -1.0
    above = t > 1.0
    inside = (t >= -1.0) & (t <= 1.0)
    g = tl.where(below, 0.0, tl.where(above, r + (t - 1.0), r))
    sB = tl.where(Bv > 0.0, 1.0, tl.where(Bv < 0.0, -1.0, 0.0))  # sign(0) = 0
    dr = (dP - r * sB * dB) / Qv  # r' without P / Q^2
    dg_dt = tl.where(inside, dr, tl.where(above, 1.0, 0.0))
    w = tl.where(g > 0.0, gz * c_out, 0.0)  # dL/dg where the rectifier passes
    grad_t = w * dg_dt
    # dg/da_k = u^k / Q and dg/db_k = -r sign(B) u^k / Q (u = 1 above, nothing below).
    wc = tl.where(below, 0.0, w / Qv)
    wb = -wc * r * sB
    return grad_t, t, u, tl.where(g > 0.0, g, 0.0), wc, wb


# --------------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------------


@triton.jit
def _rational_gate_fwd_kernel(
    h_ptr, z_ptr, a_ptr, b_ptr, c_in_ptr, c_out_ptr, n,
    P: tl.constexpr, QD: tl.constexpr, BLOCK: tl.constexpr, CT: tl.constexpr,
):  # fmt: skip
    # Memory traffic: read n elements of h, write n of z; coefficients are p + q + 3 scalars.
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(CT)
    c_in = tl.load(c_in_ptr).to(CT)
    c_out = tl.load(c_out_ptr).to(CT)
    z = _gate_fwd_math(h, a_ptr, b_ptr, c_in, c_out, P, QD, CT)
    tl.store(z_ptr + offs, z.to(z_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rational_gate_bwd_kernel(
    gz_ptr, h_ptr, gh_ptr, part_ptr, a_ptr, b_ptr, c_in_ptr, c_out_ptr, n, tiles_per_prog,
    P: tl.constexpr, QD: tl.constexpr, NC: tl.constexpr, NC_PAD: tl.constexpr,
    BLOCK: tl.constexpr, CT: tl.constexpr,
):  # fmt: skip
    # Strategy "tile": each tile's p + q + 3 contributions are block-reduced (tl.sum) at once and
    # added into a register vector.  Memory traffic: read h and grad_z, write grad_h (3n
    # elements); write one row of NC partials per program.
    pid = tl.program_id(0).to(tl.int64)
    c_in = tl.load(c_in_ptr).to(CT)
    c_out = tl.load(c_out_ptr).to(CT)
    cols = tl.arange(0, NC_PAD)
    acc = tl.zeros([NC_PAD], dtype=CT)  # this program's sums, column k = coefficient k
    for it in range(tiles_per_prog):
        offs = (pid * tiles_per_prog + it) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        # Masked lanes read h = 0 and grad_z = 0, so every contribution of theirs is exactly 0.
        h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(CT)
        gz = tl.load(gz_ptr + offs, mask=mask, other=0.0).to(CT)
        grad_t, t, u, g_plus, wc, wb = _gate_bwd_math(h, gz, a_ptr, b_ptr, c_in, c_out, P, QD, CT)
        tl.store(gh_ptr + offs, (grad_t / c_in).to(gh_ptr.dtype.element_ty), mask=mask)
        pw = u * 0.0 + 1.0
        for k in tl.static_range(P + 1):
            acc += tl.where(cols == k, tl.sum(wc * pw, axis=0), 0.0)
            pw = pw * u
        pw = u
        for k in tl.static_range(1, QD + 1):
            acc += tl.where(cols == P + k, tl.sum(wb * pw, axis=0), 0.0)
            pw = pw * u
        acc += tl.where(cols == P + QD + 1, tl.sum(grad_t * (-t / c_in), axis=0), 0.0)
        acc += tl.where(cols == P + QD + 2, tl.sum(gz * g_plus, axis=0), 0.0)
    tl.store(part_ptr + pid * NC + cols, acc, mask=cols < NC)


@triton.jit
def _rational_gate_bwd_lane_kernel(
    gz_ptr, h_ptr, gh_ptr, part_ptr, a_ptr, b_ptr, c_in_ptr, c_out_ptr, n, tiles_per_prog,
    P: tl.constexpr, QD: tl.constexpr, NC: tl.constexpr, PA_PAD: tl.constexpr, PB_PAD: tl.constexpr,
    BLOCK: tl.constexpr, CT: tl.constexpr,
):  # fmt: skip
    # Strategy "lane": contributions are accumulated per lane across all tiles of the program, in
    # [BLOCK, PA_PAD] / [BLOCK, PB_PAD] / [BLOCK] registers, and block-reduced once at the end.
    # Powers u^k come from a running product along the coefficient axis (tl.cumprod), O(p + q)
    # per element.  Same memory traffic as "tile"; fewer cross-warp reductions, more registers.
    pid = tl.program_id(0).to(tl.int64)
    c_in = tl.load(c_in_ptr).to(CT)
    c_out = tl.load(c_out_ptr).to(CT)
    ka = tl.arange(0, PA_PAD)
    kb = tl.arange(0, PB_PAD)
    acc_a = tl.zeros([BLOCK, PA_PAD], dtype=CT)
    acc_b = tl.zeros([BLOCK, PB_PAD], dtype=CT)
    acc_ci = tl.zeros([BLOCK], dtype=CT)
    acc_co = tl.zeros([BLOCK], dtype=CT)
    for it in range(tiles_per_prog):
        offs = (pid * tiles_per_prog + it) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(CT)
        gz = tl.load(gz_ptr + offs, mask=mask, other=0.0).to(CT)
        grad_t, t, u, g_plus, wc, wb = _gate_bwd_math(h, gz, a_ptr, b_ptr, c_in, c_out, P, QD, CT)
        tl.store(gh_ptr + offs, (grad_t / c_in).to(gh_ptr.dtype.element_ty), mask=mask)
        u2a = u[:, None] + tl.zeros([BLOCK, PA_PAD], dtype=CT)
        acc_a += wc[:, None] * tl.cumprod(tl.where(ka[None, :] == 0, 1.0, u2a), axis=1)  # u^0..u^(PA_PAD-1)
        if QD > 0:
            u2b = u[:, None] + tl.zeros([BLOCK, PB_PAD], dtype=CT)
            acc_b += wb[:, None] * tl.cumprod(u2b, axis=1)  # u^1..u^PB_PAD
        acc_ci += grad_t * (-t / c_in)
        acc_co += gz * g_plus
    row = part_ptr + pid * NC
    tl.store(row + ka, tl.sum(acc_a, axis=0), mask=ka <= P)
    if QD > 0:
        tl.store(row + P + 1 + kb, tl.sum(acc_b, axis=0), mask=kb < QD)
    tl.store(row + P + QD + 1, tl.sum(acc_ci, axis=0))
    tl.store(row + P + QD + 2, tl.sum(acc_co, axis=0))


@triton.jit
def _reduce_partials_kernel(
    part_ptr, out_ptr, n_rows, NC: tl.constexpr, NC_PAD: tl.constexpr, ROWS: tl.constexpr,
):  # fmt: skip
    # Second, deterministic stage: one program, rows visited in a fixed order, fixed tree in tl.sum.
    rows = tl.arange(0, ROWS)
    cols = tl.arange(0, NC_PAD)
    acc = tl.zeros([ROWS, NC_PAD], dtype=out_ptr.dtype.element_ty)
    for r0 in range(0, n_rows, ROWS):
        rr = r0 + rows
        m = (rr[:, None] < n_rows) & (cols[None, :] < NC)
        acc += tl.load(part_ptr + rr[:, None] * NC + cols[None, :], mask=m, other=0.0)
    tl.store(out_ptr + cols, tl.sum(acc, axis=0), mask=cols < NC)


# --------------------------------------------------------------------------------------------------
# Launchers
# --------------------------------------------------------------------------------------------------


def _compute_dtype(h: Tensor) -> torch.dtype:
    return torch.float64 if h.dtype == torch.float64 else torch.float32


def _tl_dtype(dt: torch.dtype) -> tl.dtype:
    return tl.float64 if dt == torch.float64 else tl.float32


def _check(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> None:
    """Validate shapes, dtypes and devices; raise ``ValueError`` naming the argument."""
    if h.dtype not in _SUPPORTED:
        raise ValueError(f"`h` must be float16, bfloat16, float32 or float64, got {h.dtype}")
    if a.ndim != 1 or a.numel() < 1:
        raise ValueError(f"`a` must be a 1-d tensor of p + 1 >= 1 coefficients, got shape {tuple(a.shape)}")
    if b.ndim != 1:
        raise ValueError(f"`b` must be a 1-d tensor of q >= 0 coefficients, got shape {tuple(b.shape)}")
    if a.numel() - 1 > MAX_DEGREE or b.numel() > MAX_DEGREE:
        raise ValueError(f"degrees (p, q) = ({a.numel() - 1}, {b.numel()}) exceed MAX_DEGREE = {MAX_DEGREE}")
    for name, c in (("c_in", c_in), ("c_out", c_out)):
        if c.numel() != 1:
            raise ValueError(f"`{name}` must hold one element, got shape {tuple(c.shape)}")
    for name, x in (("a", a), ("b", b), ("c_in", c_in), ("c_out", c_out)):
        if not x.is_floating_point():
            raise ValueError(f"`{name}` must be floating point, got {x.dtype}")
        if x.device != h.device:
            raise ValueError(f"`{name}` is on {x.device} but `h` is on {h.device}")
    if h.device.type == "cpu" and not interpreter_active():
        raise RuntimeError(
            "the Triton rational-gate kernels got CPU tensors but Triton is not in interpreter mode; "
            "set TRITON_INTERPRET=1 before triton is first imported, or use the torch backend"
        )


def _coefficients(a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> tuple[Tensor, ...]:
    # Contiguous views; an empty `b` gets a one-element stand-in so the kernel has a valid pointer
    # (it is never read: QD = 0 removes every access at compile time).
    b_arg = b.contiguous() if b.numel() > 0 else a.new_zeros(1)
    return a.contiguous(), b_arg, c_in.reshape(1).contiguous(), c_out.reshape(1).contiguous()


def rational_gate_fwd_triton(h: Tensor, a: Tensor, b: Tensor, c_in: Tensor, c_out: Tensor) -> Tensor:
    """Forward of the rational gate with the Triton kernel.

    Parameters
    ----------
    h : Tensor
        Pre-activations, any shape ``[...]``, float16/bfloat16/float32/float64, CUDA (or CPU under
        ``TRITON_INTERPRET=1``).  Non-contiguous input is copied to a contiguous buffer first.
    a : Tensor
        Numerator coefficients ``a_0..a_p``, shape ``[p + 1]``.
    b : Tensor
        Denominator coefficients ``b_1..b_q``, shape ``[q]`` (``q = 0`` allowed).
    c_in, c_out : Tensor
        One-element tensors (read on the device; no host synchronisation).

    Returns
    -------
    Tensor
        ``z = C_out * max(g(h / C_in), 0)``, same shape and dtype as ``h``, contiguous.
    """
    _check(h, a, b, c_in, c_out)
    hc = h.contiguous()
    z = torch.empty_like(hc)
    n = hc.numel()
    if n == 0:
        return z
    a_, b_, ci, co = _coefficients(a, b, c_in, c_out)
    grid = (triton.cdiv(n, FWD_BLOCK),)
    _rational_gate_fwd_kernel[grid](
        hc, z, a_, b_, ci, co, n,
        P=a.numel() - 1, QD=b.numel(), BLOCK=FWD_BLOCK, CT=_tl_dtype(_compute_dtype(h)),
        num_warps=_NUM_WARPS,
    )  # fmt: skip
    return z


def _bwd_grid(n: int, block: int, max_programs: int) -> tuple[int, int]:
    """``(n_programs, tiles_per_prog)``: a function of ``n`` only, so the reduction order is fixed."""
    n_tiles = triton.cdiv(n, block)
    tiles_per_prog = triton.cdiv(n_tiles, max_programs)
    return triton.cdiv(n_tiles, tiles_per_prog), tiles_per_prog


def rational_gate_bwd_triton(
    grad_z: Tensor,
    h: Tensor,
    a: Tensor,
    b: Tensor,
    c_in: Tensor,
    c_out: Tensor,
    *,
    block: int | None = None,
    max_programs: int | None = None,
    num_warps: int | None = None,
    strategy: str | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Backward of the rational gate: one pass over ``(h, grad_z)`` plus a deterministic reduction.

    Parameters
    ----------
    grad_z : Tensor
        Gradient of the loss with respect to ``z``, same shape as ``h`` (any float dtype).
    h, a, b, c_in, c_out : Tensor
        As in :func:`rational_gate_fwd_triton`.
    block, max_programs, num_warps : int, optional
        Tile size (power of two), cap on the number of programs of the first stage, and warps per
        program; the defaults are :data:`BWD_BLOCK`, :data:`BWD_MAX_PROGRAMS` and 4.  Tests lower
        the first two to exercise multi-tile programs at small sizes; ``benchmarks/gate_kernels.py
        --sweep`` times alternatives on a GPU.
    strategy : {"tile", "lane"}, optional
        How the first stage reduces the scalar-gradient contributions (default
        :data:`BWD_STRATEGY`): ``"tile"`` block-reduces each tile's ``p + q + 3`` sums as it goes;
        ``"lane"`` accumulates per lane across the program's tiles and reduces once at the end.
        Both are deterministic; which is faster is for the GPU benchmark to decide.

    Returns
    -------
    grad_h, grad_a, grad_b, grad_c_in, grad_c_out : Tensor
        ``grad_h`` has the shape and dtype of ``h``; the scalar gradients are float32 (float64 for
        float64 ``h``), shapes ``[p + 1]``, ``[q]``, ``[]``, ``[]`` -- the conventions of
        :func:`~rsae.kernels.rational_gate.naive.naive_rational_gate_bwd`.

    Notes
    -----
    Stage 1 writes one row of ``p + q + 3`` partial sums per program (no atomics); stage 2 sums
    the rows in a fixed order in one program.  The grid is a function of ``h.numel()`` alone, so
    two calls with identical inputs return bit-identical gradients.
    """
    _check(h, a, b, c_in, c_out)
    if grad_z.shape != h.shape:
        raise ValueError(f"`grad_z` has shape {tuple(grad_z.shape)} but `h` has {tuple(h.shape)}")
    if grad_z.device != h.device:
        raise ValueError(f"`grad_z` is on {grad_z.device} but `h` is on {h.device}")
    if not grad_z.is_floating_point():
        raise ValueError(f"`grad_z` must be floating point, got {grad_z.dtype}")
    block = BWD_BLOCK if block is None else int(block)
    max_programs = BWD_MAX_PROGRAMS if max_programs is None else int(max_programs)
    if block < 16 or block & (block - 1):
        raise ValueError(f"`block` must be a power of two >= 16, got {block}")
    if max_programs < 1:
        raise ValueError(f"`max_programs` must be >= 1, got {max_programs}")
    strategy = BWD_STRATEGY if strategy is None else strategy
    if strategy not in ("tile", "lane"):
        raise ValueError(f"`strategy` must be 'tile' or 'lane', got {strategy!r}")
    num_warps = _NUM_WARPS if num_warps is None else int(num_warps)
    if num_warps not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"`num_warps` must be a power of two in [1, 32], got {num_warps}")

    p, q = a.numel() - 1, b.numel()
    nc = p + q + 3
    ct = _compute_dtype(h)
    hc, gzc = h.contiguous(), grad_z.contiguous()
    grad_h = torch.empty_like(hc)
    n = hc.numel()
    sums = torch.zeros(nc, dtype=ct, device=h.device)
    if n > 0:
        a_, b_, ci, co = _coefficients(a, b, c_in, c_out)
        n_progs, tiles_per_prog = _bwd_grid(n, block, max_programs)
        partials = torch.empty((n_progs, nc), dtype=ct, device=h.device)
        nc_pad = triton.next_power_of_2(nc)
        common = (gzc, hc, grad_h, partials, a_, b_, ci, co, n, tiles_per_prog)
        if strategy == "tile":
            _rational_gate_bwd_kernel[(n_progs,)](
                *common, P=p, QD=q, NC=nc, NC_PAD=nc_pad, BLOCK=block, CT=_tl_dtype(ct), num_warps=num_warps
            )
        else:
            _rational_gate_bwd_lane_kernel[(n_progs,)](
                *common, P=p, QD=q, NC=nc, PA_PAD=triton.next_power_of_2(p + 1),
                PB_PAD=triton.next_power_of_2(max(q, 1)), BLOCK=block, CT=_tl_dtype(ct), num_warps=num_warps,
            )  # fmt: skip
        _reduce_partials_kernel[(1,)](
            partials, sums, n_progs, NC=nc, NC_PAD=nc_pad, ROWS=_REDUCE_ROWS, num_warps=_NUM_WARPS
        )
    return grad_h, sums[: p + 1], sums[p + 1 : p + 1 + q], sums[p + 1 + q], sums[p + 2 + q]
