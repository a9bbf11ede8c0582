"""End-to-end speed of a full upgrade: RSAE-init + fine-tune of a 768 x 24576 SAE on one GPU.

What is timed (seconds, ``torch.cuda.synchronize`` at each boundary):

1. ``data``     -- synthetic activations generated on the device into one buffer (not part of the
   upgrade; reported separately): ``x = c F + sigma eps`` with ``F`` unit feature directions and
   sparse non-negative codes ``c`` (Zipf-like firing probabilities), generated in chunks;
2. ``init``     -- :func:`rsae.upgrade.upgrade_init` on a synthetic ReLU teacher (Remez fit of the
   gate, weight copy with per-latent scale folding, calibration on real pre-activations).  If the
   pipeline's init cannot run in this checkout the script says so, records the reason and uses a
   plain weight copy with the default gate (``init_mode = "fallback"``);
3. ``finetune`` -- ``--steps`` (default 22,000) Adam steps at batch ``--batch-size`` (4096) on the
   pipeline's objective ``E||x - x_hat||^2 + lambda E sum_j |z_j| ||W_dec,j||`` with the pipeline's
   controls (:mod:`rsae.finetune`: warm-up + cosine rate, gradient clipping, PI control of lambda
   towards the step-0 L0), and

   * batches gathered on the device from the activation buffer through a per-epoch permutation
     drawn on the device (no host round trip);
   * bf16 autocast for the two matmuls (``--precision bf16``, the default) or TF32 matmuls
     (``tf32``) or plain float32 (``fp32``); master weights, Adam state, loss and the gate's
     arithmetic stay float32 (the Triton gate computes in fp32 from bf16 storage);
   * fused Adam; the L0 controller's state, and the metrics, kept in device tensors and read once
     at the end -- no ``.item()`` or other host sync inside the loop;
   * optionally (``--fused-encoder``) the encoder as one Triton kernel (matmul + b_enc + gate
     epilogue, :mod:`rsae.kernels.fused_encoder`) instead of cuBLAS + the gate kernel;
   * optionally (``--cuda-graphs``) the whole step -- forward, backward, clipping, Adam, controller
     -- captured once and replayed (Adam ``capturable=True``, rate in a device tensor).

The total ``init + finetune`` is the figure issue 6 asks about (goal: under 2 minutes on one
H100).  ``--quick`` runs a toy problem on the CPU in a few seconds (smoke test; its times are not
performance figures); without ``--quick`` and without CUDA the script prints why and exits with
status 0.

Usage::

    python benchmarks/upgrade_speed.py --out upgrade_speed.json              # H100: the full run
    python benchmarks/upgrade_speed.py --steps 2000 --cuda-graphs            # a shorter run
    python benchmarks/upgrade_speed.py --quick --out /tmp/smoke.json         # CPU smoke
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rsae._io import write_json_atomic

FULL = {"d_in": 768, "d_sae": 24576, "steps": 22_000, "batch": 4096, "buffer": 1 << 20, "n_features": 4096}
QUICK = {"d_in": 16, "d_sae": 64, "steps": 20, "batch": 32, "buffer": 2048, "n_features": 48}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def synthetic_activations(n: int, d_in: int, n_features: int, device: torch.device, seed: int = 0) -> Tensor:
    """``[n, d_in]`` float32 on ``device``: sparse non-negative codes times unit features, plus noise."""
    g = torch.Generator(device=device).manual_seed(seed)
    F = torch.randn(n_features, d_in, generator=g, device=device)
    F /= F.norm(dim=1, keepdim=True)
    rank = torch.randperm(n_features, generator=g, device=device).float() + 1
    probs = (rank**-0.5) / (rank**-0.5).sum() * min(32.0, n_features / 4)  # ~32 active per token
    out = torch.empty(n, d_in, device=device)
    chunk = 65536
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        on = torch.rand(m, n_features, generator=g, device=device) < probs
        c = on * torch.rand(m, n_features, generator=g, device=device).add_(0.5)
        out[s : s + m] = c @ F + 0.05 * torch.randn(m, d_in, generator=g, device=device)
    return out


@torch.no_grad()
def synthetic_teacher(d_in: int, d_sae: int, device: torch.device, seed: int = 1) -> torch.nn.Module:
    """A ReLU SAE with unit-norm decoder rows and tied-transpose encoder (a typical init)."""
    from rsae.sae import ReLUSAE, SAEConfig

    sae = ReLUSAE(SAEConfig(d_in=d_in, d_sae=d_sae, architecture="relu", device=str(device)))
    g = torch.Generator(device=device).manual_seed(seed)
    W_dec = torch.randn(d_sae, d_in, generator=g, device=device)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    sae.W_dec.copy_(W_dec)
    sae.W_enc.copy_(W_dec.t())
    sae.b_enc.fill_(-0.5)
    return sae


def rsae_init(
    teacher: torch.nn.Module, acts: Tensor, n_cal: int, grid_n: int, calibration_steps: int
) -> tuple[torch.nn.Module, str, str | None]:
    """``(rsae, init_mode, reason)``: the pipeline's init, or a documented fallback if it cannot run."""
    try:
        from rsae.upgrade import upgrade_init

        rsae, _report = upgrade_init(
            teacher,
            [acts[:n_cal]],
            n_calibration_tokens=n_cal,
            grid_n=grid_n,
            calibration_steps=calibration_steps,
        )
        return rsae, "upgrade_init", None
    except Exception as exc:  # the pipeline is being written in parallel; report, do not hide
        reason = f"{type(exc).__name__}: {exc}"[:300]
        print(f"upgrade_speed: rsae.upgrade.upgrade_init failed ({reason}); using a plain weight copy")
    from rsae.sae import RationalSAE, SAEConfig

    cfg = SAEConfig(
        d_in=teacher.cfg.d_in,
        d_sae=teacher.cfg.d_sae,
        architecture="rational",
        rational_type=(3, 2),
        device=teacher.cfg.device,
    )
    rsae = RationalSAE(cfg)
    with torch.no_grad():
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(rsae, name).copy_(getattr(teacher, name))
    return rsae, "fallback", reason


class _Step:
    """One fine-tuning step of the pipeline's objective, entirely on the device.

    The objective and the controls are those of :mod:`rsae.finetune` (loss
    ``E||x - x_hat||^2 + lambda E sum_j |z_j| ||W_dec,j||``, Adam with its own rate for the gate
    scalars, warm-up + cosine schedule via :func:`rsae.finetune.lr_at`, gradient clipping at 1,
    and the PI controller of :class:`rsae.finetune.L0Controller` with its default gains), but the
    controller state (``log lambda``, the L0 EMA, the error) lives in device tensors, so the step
    has no host synchronisation and can be captured in a CUDA graph.
    """

    def __init__(
        self,
        sae: torch.nn.Module,
        precision: str,
        device: torch.device,
        capturable: bool,
        lr: float,
        lam0: float,
        target_l0: float,
        fused_encoder: bool = False,
    ) -> None:
        from rsae.finetune import FinetuneConfig

        self.sae, self.device, self.fused_encoder = sae, device, fused_encoder
        if fused_encoder and sae.cfg.normalize_activations not in ("none", "expected_average_only_in"):
            raise ValueError("--fused-encoder needs an SAE without runtime input normalisation")
        self.cfg = FinetuneConfig(lr=lr)  # gains, clip, schedule shape: the pipeline's defaults
        self.autocast = precision == "bf16" and device.type == "cuda"
        fused = device.type == "cuda"
        self.capturable = capturable and fused
        gate_ids = {id(p) for p in sae.gate.parameters()}
        weights = [p for p in sae.parameters() if id(p) not in gate_ids]
        # capturable Adam reads the rate from a device tensor that is refreshed between replays
        mk = (lambda v: torch.tensor(v, device=device)) if self.capturable else float
        groups = [
            {"params": weights, "lr": mk(lr), "base_lr": lr},
            {"params": list(sae.gate.parameters()), "lr": mk(lr), "base_lr": lr},
        ]
        self.opt = torch.optim.Adam(groups, betas=(0.9, 0.999), fused=fused, capturable=self.capturable)
        f32 = {"device": device, "dtype": torch.float32}
        self.log_lam = torch.tensor(math.log(max(lam0, 1e-12)), **f32)
        self.target = torch.tensor(float(target_l0), **f32)
        self.l0_ema = torch.tensor(float(target_l0), **f32)
        self.err = torch.zeros((), **f32)
        self.sums = torch.zeros(3, device=device)  # loss, mse, l0 -- summed over steps on the device

    def set_lr(self, step: int) -> None:
        from rsae.finetune import lr_at

        mult = lr_at(step, self.cfg)
        for g in self.opt.param_groups:
            if isinstance(g["lr"], Tensor):
                g["lr"].fill_(g["base_lr"] * mult)
            else:
                g["lr"] = g["base_lr"] * mult

    def _fused_encode(self, x: Tensor) -> Tensor:
        """``rsae.kernels.fused_encoder``: matmul + b_enc + gate in one kernel (bf16 under autocast)."""
        from rsae.kernels.fused_encoder import fused_encoder

        sae, gate = self.sae, self.sae.gate
        xin = x - sae.b_dec if sae.cfg.apply_b_dec_to_input else x
        dt = torch.bfloat16 if self.autocast else xin.dtype
        return fused_encoder(xin.to(dt), sae.W_enc.to(dt), sae.b_enc, gate.a, gate.b, gate.c_in, gate.c_out)

    def __call__(self, x: Tensor) -> None:
        c = self.cfg
        # No autocast weight cache under CUDA-graph capture (PyTorch's CUDA-graphs notes).
        ctx = (
            torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=not self.capturable)
            if self.autocast
            else contextlib.nullcontext()
        )
        with ctx:
            z = self._fused_encode(x) if self.fused_encoder else self.sae.encode(x)
            x_hat = self.sae.decode(z)
        lam = torch.exp(self.log_lam + c.controller_kp * self.err)
        mse = (x_hat.float() - x).square().sum(-1).mean()
        l1 = (z.float().abs() * self.sae.W_dec.norm(dim=-1)).sum(-1).mean()
        loss = mse + lam * l1
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.sae.parameters(), c.grad_clip, foreach=True)
        self.opt.step()
        with torch.no_grad():  # the controller update of L0Controller.update, on the device
            l0 = (z != 0).sum(-1, dtype=torch.float32).mean()
            self.l0_ema.mul_(c.controller_ema).add_((1 - c.controller_ema) * l0)
            self.err.copy_(torch.log(self.l0_ema.clamp_min(1e-3) / self.target).clamp(-1.0, 1.0))
            self.log_lam.add_(c.controller_ki * self.err)
            self.sums += torch.stack([loss.detach(), mse.detach(), l0])


@torch.no_grad()
def _initial_controller(sae: torch.nn.Module, x: Tensor) -> tuple[float, float]:
    """``(lambda0, target L0)`` as the pipeline chooses them: ``0.1 mse / l1`` and the step-0 L0."""
    z = sae.encode(x)
    x_hat = sae.decode(z)
    mse = float((x_hat.float() - x).square().sum(-1).mean())
    l1 = float((z.float().abs() * sae.W_dec.norm(dim=-1)).sum(-1).mean())
    l0 = float((z != 0).sum(-1, dtype=torch.float32).mean())
    return 0.1 * mse / max(l1, 1e-12), max(l0, 1.0)


def finetune(
    sae: torch.nn.Module,
    acts: Tensor,
    steps: int,
    batch: int,
    lr: float,
    precision: str,
    cuda_graphs: bool,
    seed: int = 2,
    fused_encoder: bool = False,
) -> dict[str, Any]:
    """Run ``steps`` Adam steps; returns device-accumulated means (read once, at the end)."""
    device = acts.device
    n = acts.shape[0]
    if n < batch:
        raise ValueError(f"activation buffer ({n}) smaller than `batch_size` ({batch})")
    per_epoch = n // batch
    g = torch.Generator(device=device).manual_seed(seed)
    perm = torch.randperm(n, generator=g, device=device)
    x_static = torch.empty(batch, acts.shape[1], device=device)
    lam0, target = _initial_controller(sae, acts[perm[:batch]])  # outside the loop: two host reads
    step_fn = _Step(sae, precision, device, cuda_graphs, lr, lam0, target, fused_encoder)

    def load(s: int) -> None:  # gather on the device; a fresh permutation at each epoch start
        nonlocal perm
        k = s % per_epoch
        if k == 0 and s > 0:
            perm = torch.randperm(n, generator=g, device=device)
        torch.index_select(acts, 0, perm[k * batch : (k + 1) * batch], out=x_static)
        step_fn.set_lr(s)

    run: Callable[[], None] = lambda: step_fn(x_static)
    start = 0
    if cuda_graphs and device.type == "cuda":
        # Warm up on a side stream (allocates grads and Adam state, compiles kernels), then capture.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for s in range(min(3, steps)):
                load(s)
                step_fn(x_static)
        torch.cuda.current_stream().wait_stream(side)
        start = min(3, steps)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step_fn(x_static)
        run = graph.replay
    for s in range(start, steps):
        load(s)
        run()
    _sync(device)
    means = (step_fn.sums / max(steps, 1)).tolist()  # the one host read of the metrics
    return {
        "loss": means[0],
        "mse": means[1],
        "l0": means[2],
        "target_l0": target,
        "final_lambda": float(torch.exp(step_fn.log_lam + step_fn.cfg.controller_kp * step_fn.err)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="toy CPU smoke run (times are meaningless)")
    ap.add_argument("--steps", type=int, help="Adam steps (default 22000; quick: 20)")
    ap.add_argument("--batch-size", type=int, help="tokens per step (default 4096)")
    ap.add_argument("--lr", type=float, default=1e-4, help="Adam rate (weights and gate scalars)")
    ap.add_argument("--precision", choices=["bf16", "tf32", "fp32"], default="bf16")
    ap.add_argument("--cuda-graphs", action="store_true", help="capture the training step in a CUDA graph")
    ap.add_argument("--fused-encoder", action="store_true", help="encode with rsae.kernels.fused_encoder")
    ap.add_argument("--n-calibration", type=int, default=8192, help="tokens for RSAE-init calibration")
    ap.add_argument("--grid-n", type=int, help="Remez grid points (default 4001, the paper's; quick: 201)")
    ap.add_argument(
        "--calibration-steps", type=int, help="init calibration Adam steps (default 300; quick: 20)"
    )
    ap.add_argument("--out", default="upgrade_speed.json")
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not args.quick:
        print(
            "upgrade_speed: no CUDA device found; the full run needs a GPU (H100-class). "
            "Run with --quick for a CPU smoke run. Nothing measured."
        )
        return 0
    P = dict(QUICK if args.quick else FULL)
    if args.steps is not None:
        P["steps"] = args.steps
    if args.batch_size is not None:
        P["batch"] = args.batch_size
    device = torch.device("cuda" if cuda else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = args.precision in ("tf32", "bf16")
    torch.backends.cudnn.allow_tf32 = args.precision in ("tf32", "bf16")

    t0 = time.perf_counter()
    acts = synthetic_activations(P["buffer"], P["d_in"], P["n_features"], device)
    _sync(device)
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    teacher = synthetic_teacher(P["d_in"], P["d_sae"], device)
    grid_n = args.grid_n or (201 if args.quick else 4001)
    cal_steps = args.calibration_steps if args.calibration_steps is not None else (20 if args.quick else 300)
    rsae, init_mode, reason = rsae_init(
        teacher, acts, min(args.n_calibration, P["buffer"]), grid_n, cal_steps
    )
    rsae = rsae.to(device).float()
    _sync(device)
    t_init = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = finetune(
        rsae,
        acts,
        P["steps"],
        P["batch"],
        args.lr,
        args.precision,
        args.cuda_graphs,
        fused_encoder=args.fused_encoder,
    )
    t_ft = time.perf_counter() - t0

    result = {
        "benchmark": "upgrade_speed",
        "quick": args.quick,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "d_in": P["d_in"],
        "d_sae": P["d_sae"],
        "steps": P["steps"],
        "batch": P["batch"],
        "precision": args.precision,
        "cuda_graphs": args.cuda_graphs,
        "fused_encoder": args.fused_encoder,
        "init_mode": init_mode,
        "init_grid_n": grid_n,
        "init_calibration_steps": cal_steps,
        "init_fallback_reason": reason,
        "seconds_data": t_data,
        "seconds_init": t_init,
        "seconds_finetune": t_ft,
        "seconds_upgrade": t_init + t_ft,
        "steps_per_second": P["steps"] / t_ft if t_ft > 0 else float("nan"),
        "final_means": metrics,
    }
    note = "  (QUICK CPU SMOKE RUN: times are not performance figures)" if args.quick else ""
    print(f"device: {result['device']}{note}")
    print(
        f"SAE {P['d_in']} x {P['d_sae']}, {P['steps']} steps x {P['batch']} tokens, precision "
        f"{args.precision}, cuda graphs {args.cuda_graphs}, init {init_mode}"
    )
    for k in ("seconds_data", "seconds_init", "seconds_finetune", "seconds_upgrade", "steps_per_second"):
        print(f"  {k:18s} {result[k]:.3f}")
    print(
        f"  mean loss {metrics['loss']:.4g}  mse {metrics['mse']:.4g}  L0 {metrics['l0']:.4g} "
        f"(target {metrics['target_l0']:.4g}, final lambda {metrics['final_lambda']:.3g})"
    )
    write_json_atomic(Path(args.out), result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
