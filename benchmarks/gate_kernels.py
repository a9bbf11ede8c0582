"""Benchmark of the rational gate: forward + backward against ReLU, eager torch, torch.compile, the floor.

For each shape ``[tokens, d_sae]`` and storage dtype it times one forward + backward (gradients of
``h`` and of the gate scalars; ``torch.autograd.grad``, so nothing accumulates) of

* ``relu``      -- ``torch.relu``: the bar (issue 6 asks for <= 1.2x of it);
* ``eager``     -- :func:`rsae.kernels.rational_gate.naive.naive_rational_gate` under autograd;
* ``compile``   -- the same function through ``torch.compile`` (inductor);
* ``triton``    -- the custom op :func:`rsae.kernels.rational_gate.ops.rational_gate`;
* ``floor``     -- bytes that any fwd+bwd must move (read h, write z; read h and grad_z, write
  grad_h: ``5 n`` elements) divided by the device-to-device copy bandwidth measured in the same
  run (``y.copy_(x)`` of a 1 GiB buffer, counted as read + write).

and the fused encoder (``rsae.kernels.fused_encoder``) against the bare matmul ``x @ W_enc`` at
``x [4096, 768]``, ``W_enc [768, 24576]`` (forward, and forward + backward).

Timing: ``triton.testing.do_bench`` (CUDA events, warm-up, L2 flushed between repetitions,
median) on a GPU.  ``--quick`` is a CPU smoke run at toy sizes (wall clock, the Triton kernels in
the interpreter): it checks that every path runs and writes its JSON, its times mean nothing.
Without ``--quick`` and without a CUDA device the script prints why and exits with status 0
without measuring anything.

Usage::

    python benchmarks/gate_kernels.py --out gate_kernels.json          # on a GPU
    python benchmarks/gate_kernels.py --quick --out /tmp/smoke.json    # anywhere
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rsae._io import write_json_atomic

FULL_SHAPES = [(4096, 4096), (4096, 24576), (4096, 65536)]
QUICK_SHAPES = [(64, 96)]
FULL_ENCODER = (4096, 768, 24576)
QUICK_ENCODER = (32, 24, 64)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GOAL_RELU_RATIO = 1.2  # triton fwd+bwd / relu fwd+bwd, issue 6
GOAL_COMPILE_SPEEDUP = 2.0  # compile / triton
GOAL_FUSED_RATIO = 1.1  # fused encoder / bare matmul


def _bench(fn: Callable[[], Any], cuda: bool, quick_reps: int = 3) -> float:
    """Median milliseconds of ``fn``."""
    if cuda:
        import triton.testing

        return float(triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median"))
    fn()  # warm-up
    times = []
    for _ in range(quick_reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _copy_bandwidth(device: torch.device, cuda: bool, nbytes: int) -> float:
    """Bytes/s of a device-to-device copy (read + write counted)."""
    x = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    y = torch.empty_like(x)
    ms = _bench(lambda: y.copy_(x), cuda)
    return 2 * x.numel() * 4 / (ms * 1e-3)


def _gate_params(device: torch.device) -> list[torch.Tensor]:
    # A type (3, 2) shifted-ReLU-like fit; the values only need to exercise every branch.
    a = torch.tensor([-0.02, 0.5, 0.6, -0.1], device=device)
    b = torch.tensor([0.05, 0.3], device=device)
    c_in = torch.tensor(2.0, device=device)
    c_out = torch.tensor(2.0, device=device)
    return [p.requires_grad_(True) for p in (a, b, c_in, c_out)]


def bench_gate(
    shape: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
    cuda: bool,
    compile_: bool,
    bandwidth: float,
) -> list[dict[str, Any]]:
    from rsae.kernels.rational_gate import ops
    from rsae.kernels.rational_gate.naive import naive_rational_gate

    g = torch.Generator(device=device).manual_seed(0)
    h = (
        torch.randn(shape, generator=g, device=device, dtype=torch.float32)
        .mul_(1.5)
        .to(dtype)
        .requires_grad_(True)
    )
    gz = torch.randn(shape, generator=g, device=device, dtype=torch.float32).to(dtype)
    params = _gate_params(device)
    n = h.numel()

    def relu() -> None:
        torch.autograd.grad(torch.relu(h), [h], gz)

    def rational(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        return lambda: torch.autograd.grad(fn(h, *params), [h, *params], gz)

    methods: dict[str, Callable[[], None]] = {"relu": relu, "eager": rational(naive_rational_gate)}
    if compile_:
        methods["compile"] = rational(torch.compile(naive_rational_gate, dynamic=False))
    methods["triton"] = rational(ops.rational_gate)

    check = _check_against_eager(h, gz, params, ops.rational_gate, naive_rational_gate)
    rows = []
    bytes_moved = 5 * n * h.element_size()
    floor_ms = bytes_moved / bandwidth * 1e3
    for name, fn in methods.items():
        try:
            ms = _bench(fn, cuda)
            err = None
        except Exception as exc:  # a failing method is reported, not fatal (e.g. compile OOM)
            ms, err = float("nan"), f"{type(exc).__name__}: {exc}"[:300]
        rows.append(
            {
                "kind": "gate",
                "shape": list(shape),
                "dtype": str(dtype).removeprefix("torch."),
                "method": name,
                "ms": ms,
                "GBps": bytes_moved / (ms * 1e-3) / 1e9,
                "error": err,
            }
        )
        if cuda:
            torch.cuda.empty_cache()
    rows.append(
        {
            "kind": "gate",
            "shape": list(shape),
            "dtype": str(dtype).removeprefix("torch."),
            "method": "floor",
            "ms": floor_ms,
            "GBps": bandwidth / 1e9,
            "error": None,
        }
    )
    relu_ms = next(r["ms"] for r in rows if r["method"] == "relu")
    for r in rows:
        r["x_relu"] = r["ms"] / relu_ms
        if r["method"] == "triton":
            r.update(check)
    return rows


def _check_against_eager(
    h: torch.Tensor,
    gz: torch.Tensor,
    params: list[torch.Tensor],
    kernel: Callable[..., Any],
    reference: Callable[..., Any],
) -> dict[str, float]:
    """Largest relative deviations of the kernel from the eager reference at the benchmark size.

    ``z`` and ``grad_h``: max |kernel - eager| / max |eager|; each scalar gradient: |kernel - eager| /
    |eager| (the eager one sums in float32 too, so both carry rounding of order sqrt(n) ulps).
    """
    outs = []
    for fn in (kernel, reference):
        z = fn(h, *params)
        grads = torch.autograd.grad(z, [h, *params], gz)
        outs.append((z.detach().float(), [g.float() for g in grads]))
        del z
    (zk, gk), (ze, ge) = outs
    rel = {
        "err_z": float((zk - ze).abs().max() / ze.abs().max().clamp_min(1e-30)),
        "err_grad_h": float((gk[0] - ge[0]).abs().max() / ge[0].abs().max().clamp_min(1e-30)),
    }
    scal = torch.cat([g.reshape(-1) for g in gk[1:]]), torch.cat([g.reshape(-1) for g in ge[1:]])
    rel["err_scalar_grads"] = float(((scal[0] - scal[1]).abs() / scal[1].abs().clamp_min(1e-30)).max())
    rel["same_zeros"] = float(
        (zk == 0).eq(ze == 0).float().mean()
    )  # fraction of elements with equal zero status
    return rel


def bench_encoder(
    dims: tuple[int, int, int], dtype: torch.dtype, device: torch.device, cuda: bool
) -> list[dict[str, Any]]:
    from rsae.kernels.fused_encoder import fused_encoder, fused_encoder_fwd
    from rsae.kernels.rational_gate import ops

    M, d_in, d_sae = dims
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(M, d_in, generator=g, device=device).to(dtype).requires_grad_(True)
    W = (torch.randn(d_in, d_sae, generator=g, device=device) / d_in**0.5).to(dtype).requires_grad_(True)
    b_enc = torch.zeros(d_sae, device=device, dtype=dtype).requires_grad_(True)
    params = _gate_params(device)
    gz = torch.randn(M, d_sae, generator=g, device=device).to(dtype)
    det = [p.detach() for p in params]
    with torch.no_grad():
        methods_fwd: dict[str, Callable[[], Any]] = {
            "matmul": lambda: x @ W,
            "unfused": lambda: ops.rational_gate(torch.addmm(b_enc, x, W), *det),
            "fused": lambda: fused_encoder_fwd(x.detach(), W.detach(), b_enc.detach(), *det, store_h=False),
        }
        rows = [("fwd", k, _bench(f, cuda)) for k, f in methods_fwd.items()]
    methods_bwd = {
        "matmul": lambda: torch.autograd.grad(x @ W, [x, W], gz),
        "unfused": lambda: torch.autograd.grad(
            ops.rational_gate(torch.addmm(b_enc, x, W), *params), [x, W, b_enc, *params], gz
        ),
        "fused": lambda: torch.autograd.grad(fused_encoder(x, W, b_enc, *params), [x, W, b_enc, *params], gz),
    }
    rows += [("fwd+bwd", k, _bench(f, cuda)) for k, f in methods_bwd.items()]
    out = []
    for phase, name, ms in rows:
        base = next(m for p, k, m in rows if p == phase and k == "matmul")
        out.append(
            {
                "kind": "encoder",
                "dims": list(dims),
                "dtype": str(dtype).removeprefix("torch."),
                "phase": phase,
                "method": name,
                "ms": ms,
                "x_matmul": ms / base,
            }
        )
    return out


def sweep_backward(
    shape: tuple[int, int], dtype: torch.dtype, device: torch.device, cuda: bool
) -> list[dict[str, Any]]:
    """Time the Triton backward alone over tile size, program cap and warps (tuning aid)."""
    from rsae.kernels.rational_gate.triton import rational_gate_bwd_triton

    g = torch.Generator(device=device).manual_seed(0)
    h = torch.randn(shape, generator=g, device=device).mul_(1.5).to(dtype)
    gz = torch.randn(shape, generator=g, device=device).to(dtype)
    params = [p.detach() for p in _gate_params(device)]
    grid = [(256, 4), (512, 4), (1024, 4), (2048, 4), (2048, 8), (4096, 8)] if cuda else [(128, 4)]
    caps = [1024, 4096, 16384] if cuda else [4]
    rows = []
    for strategy in ("tile", "lane"):
        for block, warps in grid:
            for cap in caps:

                def fn(
                    block: int = block, cap: int = cap, warps: int = warps, strategy: str = strategy
                ) -> Any:
                    return rational_gate_bwd_triton(
                        gz, h, *params, block=block, max_programs=cap, num_warps=warps, strategy=strategy
                    )

                ms = _bench(fn, cuda)
                rows.append(
                    {
                        "shape": list(shape),
                        "dtype": str(dtype).removeprefix("torch."),
                        "strategy": strategy,
                        "block": block,
                        "num_warps": warps,
                        "max_programs": cap,
                        "ms": ms,
                        "GBps": 3 * h.numel() * h.element_size() / (ms * 1e-3) / 1e9,
                    }
                )
    return rows


def _goals(gate_rows: list[dict[str, Any]], enc_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue-6 goals evaluated on the measured rows (shape 4096 x 24576; fused encoder)."""
    goals = []
    for dt in DTYPES:
        name = str(DTYPES[dt]).removeprefix("torch.")
        sel = {r["method"]: r for r in gate_rows if r["shape"] == [4096, 24576] and r["dtype"] == name}
        if "triton" in sel:
            goals.append(
                {
                    "goal": f"triton <= {GOAL_RELU_RATIO}x relu ({dt})",
                    "value": sel["triton"]["x_relu"],
                    "met": sel["triton"]["x_relu"] <= GOAL_RELU_RATIO,
                }
            )
        if "triton" in sel and "compile" in sel:
            speedup = sel["compile"]["ms"] / sel["triton"]["ms"]
            goals.append(
                {
                    "goal": f"triton >= {GOAL_COMPILE_SPEEDUP}x faster than compile ({dt})",
                    "value": speedup,
                    "met": speedup >= GOAL_COMPILE_SPEEDUP,
                }
            )
    for r in enc_rows:
        if r["method"] == "fused" and r["phase"] == "fwd":
            goals.append(
                {
                    "goal": f"fused encoder fwd <= {GOAL_FUSED_RATIO}x matmul ({r['dtype']})",
                    "value": r["x_matmul"],
                    "met": r["x_matmul"] <= GOAL_FUSED_RATIO,
                }
            )
    return goals


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    body = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CPU smoke run at toy sizes (times are meaningless)")
    ap.add_argument("--out", default="gate_kernels.json", help="JSON results file")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma-separated subset of fp32,bf16")
    ap.add_argument("--sweep", action="store_true", help="also sweep the backward's block / programs / warps")
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not args.quick:
        print(
            "gate_kernels: no CUDA device found; the full benchmark needs a GPU (H100-class). "
            "Run with --quick for a CPU smoke run. Nothing measured."
        )
        return 0
    if not cuda and "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = "1"  # the kernels run in Triton's interpreter on CPU
    import triton

    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    shapes = QUICK_SHAPES if args.quick else FULL_SHAPES
    enc_dims = QUICK_ENCODER if args.quick else FULL_ENCODER
    compile_ = not args.no_compile and not args.quick  # inductor on CPU takes tens of seconds
    dtypes = [DTYPES[d] for d in args.dtypes.split(",")]

    bandwidth = _copy_bandwidth(device, cuda, nbytes=(1 << 30) if cuda else (1 << 24))
    gate_rows: list[dict[str, Any]] = []
    enc_rows: list[dict[str, Any]] = []
    for dtype in dtypes:
        for shape in shapes:
            gate_rows += bench_gate(shape, dtype, device, cuda, compile_, bandwidth)
        enc_rows += bench_encoder(enc_dims, dtype, device, cuda)
    goals = _goals(gate_rows, enc_rows) if not args.quick else []
    sweep_rows = (
        [r for dt in dtypes for r in sweep_backward(shapes[min(1, len(shapes) - 1)], dt, device, cuda)]
        if args.sweep
        else []
    )

    print(
        f"device: {torch.cuda.get_device_name() if cuda else platform.processor() or 'cpu'}"
        f"{'  (QUICK CPU SMOKE RUN: times are not performance figures)' if args.quick else ''}"
    )
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s\n")
    print(_table(gate_rows, ["shape", "dtype", "method", "ms", "GBps", "x_relu"]))
    checks = [r for r in gate_rows if r["method"] == "triton"]
    print("\ntriton vs eager torch (relative deviations at the benchmark size):")
    print(_table(checks, ["shape", "dtype", "err_z", "err_grad_h", "err_scalar_grads", "same_zeros"]))
    print()
    print(_table(enc_rows, ["dims", "dtype", "phase", "method", "ms", "x_matmul"]))
    if goals:
        print()
        print(_table(goals, ["goal", "value", "met"]))
    if sweep_rows:
        print()
        print(
            _table(
                sweep_rows, ["shape", "dtype", "strategy", "block", "num_warps", "max_programs", "ms", "GBps"]
            )
        )
    errors = [r for r in gate_rows if r.get("error")]
    for r in errors:
        print(f"error in {r['method']} {r['shape']} {r['dtype']}: {r['error']}")
    write_json_atomic(
        Path(args.out),
        {
            "benchmark": "gate_kernels",
            "quick": args.quick,
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            "torch": torch.__version__,
            "triton": triton.__version__,
            "copy_bandwidth_Bps": bandwidth,
            "gate": gate_rows,
            "backward_sweep": sweep_rows,
            "encoder": enc_rows,
            "goals": goals,
        },
        default=str,
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
