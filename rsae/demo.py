"""``rsae demo``: the whole upgrade on a built-in synthetic problem with known features.

1. Activations: :class:`~rsae.activations.SyntheticFeatures` (``d_in = 32``, 96 ground-truth
   unit directions, about 5 active per token, Gaussian noise), written to ``.npy`` files in the
   output directory (training rows and disjoint held-out rows).
2. A small teacher: a ReLU SAE (``d_sae = 128``) trained from a random init with the same loop
   and L0 controller as the fine-tune (:func:`train_relu_teacher`).  With ``family="jumprelu"``
   the teacher becomes a JumpReLU SAE whose thresholds are each latent's 20% quantile of positive
   pre-activations (a teacher with a real jump, derived from the trained weights).
3. The upgrade (init + fine-tune at the teacher's L0) through the same code as ``rsae upgrade``.
4. The Teacher / RSAE-init / RSAE table, the recovery of the ground-truth features (mean over
   true features of the best cosine with a decoder row), and two plots: gate shapes with the
   pre-activation histogram, and MSE against L0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .activations import ArrayActivations, SyntheticFeatures
from .finetune import FinetuneConfig, finetune

__all__ = ["derive_jumprelu_teacher", "feature_recovery", "run_demo", "tied_relu_sae", "train_relu_teacher"]


def tied_relu_sae(d_in: int, d_sae: int, b_dec: torch.Tensor, seed: int = 0) -> torch.nn.Module:
    """An untrained ReLU SAE with the tied init ``W_enc = W_dec^T`` (unit random rows) and ``b_dec``."""
    from .sae import ReLUSAE, SAEConfig

    sae = ReLUSAE(SAEConfig(d_in=d_in, d_sae=d_sae, architecture="relu"))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        W = torch.randn(d_sae, d_in, generator=g)
        W /= W.norm(dim=1, keepdim=True)
        sae.W_dec.copy_(W)
        sae.W_enc.copy_(W.T)
        sae.b_dec.copy_(b_dec)
    return sae


def train_relu_teacher(
    x: torch.Tensor, d_sae: int, *, target_l0: float, steps: int, seed: int = 0, lr: float = 3e-3
) -> torch.nn.Module:
    """A ReLU SAE trained from scratch: tied init ``W_enc = W_dec^T`` (unit random rows), ``b_dec = mean``."""
    sae = tied_relu_sae(x.shape[1], d_sae, x[:8192].mean(0), seed)
    cfg = FinetuneConfig(steps=steps, batch_size=512, lr=lr, target_l0=target_l0, l1_init=0.1, seed=seed)
    finetune(sae, x, cfg)
    return sae


@torch.no_grad()
def derive_jumprelu_teacher(relu: torch.nn.Module, x: torch.Tensor, quantile: float = 0.2) -> torch.nn.Module:
    """JumpReLU SAE with ``relu``'s weights and ``theta_j`` = quantile of latent j's positive pre-acts."""
    from .sae import JumpReLUSAE, SAEConfig

    cfg = SAEConfig(d_in=relu.cfg.d_in, d_sae=relu.cfg.d_sae, architecture="jumprelu")
    t = JumpReLUSAE(cfg)
    for n in ("W_enc", "b_enc", "W_dec", "b_dec"):
        getattr(t, n).copy_(getattr(relu, n))
    h = relu.pre_acts(x)
    th = torch.nanquantile(torch.where(h > 0, h, torch.nan), quantile, dim=0)
    fallback = float(th[~torch.isnan(th)].median()) if bool((~torch.isnan(th)).any()) else 0.1
    t.gate.threshold.copy_(th.nan_to_num(fallback))
    return t


@torch.no_grad()
def feature_recovery(sae: torch.nn.Module, features: np.ndarray) -> float:
    """Mean over true features of ``max_j cos(f_i, W_dec[j])`` (1 = every feature has a latent)."""
    W = sae.W_dec.detach().double()
    W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    F = torch.as_tensor(features, dtype=torch.float64)
    return float((F @ W.T).max(dim=1).values.mean())


def run_demo(
    out: Path,
    *,
    steps: int = 400,
    teacher_steps: int = 400,
    family: str = "relu",
    plots: bool = True,
    seed: int = 0,
    cache_dir: Path | None = None,
    quiet: bool = False,
    n_train: int = 24576,
    n_eval: int = 8192,
) -> dict[str, Any]:
    """Run the demo; returns the JSON-able results (also written to ``out/results.json``)."""

    t0 = time.perf_counter()
    # Matrices here are tiny ([512, 128]): one thread is faster than several fighting over cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_demo(
            out, steps, teacher_steps, family, plots, seed, cache_dir, quiet, n_train, n_eval, t0
        )
    finally:
        torch.set_num_threads(threads)


def _run_demo(
    out: Path, steps: int, teacher_steps: int, family: str, plots: bool, seed: int, cache_dir: Path | None,
    quiet: bool, n_train: int, n_eval: int, t0: float,
) -> dict[str, Any]:
    from .cli import _print_table, _RowRange, run_upgrade
    from .metrics import evaluate

    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = SyntheticFeatures(d_in=32, n_features=96, mean_active=5.0, noise=0.05, seed=seed)
    say = (lambda *a: None) if quiet else print
    say(
        f"[1/4] synthetic activations: d_in={gen.d_in}, {gen.n_features} true features, "
        f"{n_train} train + {n_eval} held-out tokens"
    )
    train_path = gen.write_npy(out / "train_activations.npy", n_train)
    eval_path = gen.write_npy(out / "eval_activations.npy", n_eval, offset=n_train)
    train_src, eval_src = ArrayActivations(train_path), ArrayActivations(eval_path)
    x_train = train_src.rows(0, n_train)
    say(f"[2/4] training a {family} teacher (d_sae=128, {teacher_steps} steps)")
    teacher = train_relu_teacher(x_train, 128, target_l0=8.0, steps=teacher_steps, seed=seed)
    if family == "jumprelu":
        teacher = derive_jumprelu_teacher(teacher, x_train[:8192])
    teacher.eval()

    def eval_fn(m: torch.nn.Module) -> dict[str, Any]:
        return evaluate(m, eval_src.iter_batches(4096))

    say(f"[3/4] upgrade: Remez init + calibration, fine-tune {steps} steps at the teacher's L0")
    run_dir = out / "upgrade"
    res = run_upgrade(
        teacher,
        _RowRange(train_src, 0, n_train),
        eval_fn,
        run_dir,
        steps=steps,
        target_l0=None,
        resume=False,
        force=True,
        init_kwargs={"cache_dir": cache_dir},
        ft_kwargs={"batch_size": 512, "seed": seed},
        progress=not quiet and sys.stderr.isatty(),
    )
    rsae, report, init_model = res.pop("_model"), res.pop("_report"), res.pop("_init_model")
    res.pop("_finetune")
    for name, m in (("teacher", teacher), ("init", init_model), ("rsae", rsae)):
        res[name]["feature_recovery"] = feature_recovery(m, gen.features)
    keys = ["mse", "explained_variance", "l0", "alive", "n_tokens", "feature_recovery"]
    if not quiet:
        print("[4/4] results on held-out tokens")
        _print_table({"Teacher": res["teacher"], "RSAE-init": res["init"], "RSAE": res["rsae"]}, keys)
        up = res["upgrade"]
        gf = up["gate_fit"]
        print(
            f"gate fit: type {tuple(gf['type'])} ({gf['method']}), Remez error {gf['remez_error']:.3g}, "
            f"exact-zero shift {gf['shift']:.3g} -> uniform error {gf['error_after_shift']:.3g}; "
            f"pre-activations outside [-1, 1] after calibration: {up['frac_t_below_minus1']:.3%} below, "
            f"{up['frac_t_above_1']:.3%} above"
        )
    if plots:
        from .plots import plot_frontier, plot_gates

        with torch.no_grad():
            u = init_model.pre_acts(eval_src.rows(0, 2048)).double().numpy()
            # the teacher in the RSAE-init's units (its gate is C_out r(u / C_in), C_out = C_in)
            c_init = float(init_model.gate.c_in)
        files = [
            plot_gates(
                out / "gates.png",
                kappa=report.gate_fit.kappa,
                teacher_gate=lambda v: report.gate_fit.teacher_gate(v / c_init) * c_init,
                gates={"RSAE-init": init_model.gate, "RSAE (fine-tuned)": rsae.gate},
                pre_acts=u,
                title=f"{family} teacher: gate shapes (folded units)",
            ),
            plot_frontier(
                out / "mse_vs_l0.png",
                {
                    n: [(res[k]["l0"], res[k]["mse"])]
                    for n, k in (("Teacher", "teacher"), ("RSAE-init", "init"), ("RSAE", "rsae"))
                },
            ),
        ]
        res["plots"] = [str(f) for f in files]
        say("plots: " + ", ".join(res["plots"]))
    res["seconds"] = time.perf_counter() - t0
    res["family"] = family
    from ._io import write_json_atomic

    write_json_atomic(out / "results.json", _jsonable(res))
    say(f"done in {res['seconds']:.1f} s; results in {out / 'results.json'}")
    return res


def _jsonable(v: Any) -> Any:
    from .cli import _json_safe

    return _json_safe(v)
