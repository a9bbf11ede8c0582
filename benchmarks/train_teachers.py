"""Train the study's SAELens teachers on the residual stream of the offline host LM.

Teachers are made with the community's own tool: SAELens' training SAE classes
(``StandardTrainingSAE`` = ReLU with the decoder-norm-weighted L1 penalty, ``JumpReLUTrainingSAE``
with the straight-through L0 penalty of Rajamanoharan et al. 2024, ``TopKTrainingSAE`` with the
AuxK loss of Gao et al. 2024) driven by SAELens' ``SAETrainer`` through its public data-provider
seam (an iterator of activation batches), because the host is a plain Hugging Face Llama model that
TransformerLens need not load offline.  The activations are ``hidden_states[L]`` of the host on the
``teacher`` split (see ``study/data.py``; BOS excluded); the last 128 sequences of that split are
held out of training and used only to measure L0 during the coefficient search.

For each layer and family three sparsities are made: TopK with ``k in (8, 24, 64)``, and ReLU /
JumpReLU with the L1 / L0 coefficient searched so that the validation L0 lands within
``--l0-tol`` (default 10%) of 8, 24 and 64.  The search is a secant method on
``log L0`` against ``log coefficient`` (L0 falls monotonically with the coefficient), every
trial a full training run with the same seed, and every trial is recorded.

Output (per teacher): ``ARTIFACTS/teachers/L{layer}/{family}_{target}/`` with SAELens' inference
directory (``cfg.json`` + ``sae_weights.safetensors``, written by ``save_inference_model``) and
``training_record.json`` (command, seed, versions, coefficient, search history, validation metrics
computed with SAELens' own forward pass, wall-clock seconds).

Run it with the SAELens environment (``benchmarks/setup_saelens.sh`` creates it)::

    .venv-saelens/bin/python benchmarks/train_teachers.py --layers 3
    .venv-saelens/bin/python benchmarks/train_teachers.py --layers 3 1 --families topk

Determinism: one CPU thread, ``torch.manual_seed(seed)`` before each SAE is built, and a data
order drawn from ``torch.Generator().manual_seed(seed)``; the same command gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study import data

FAMILIES = ("relu", "jumprelu", "topk")
TARGETS = (8, 24, 64)
N_VAL_SEQ = 128
# Starting coefficients of the search, from a first look at the host (x has norm ~8 at layer 3;
# JumpReLU, init threshold 0.1, lr 3e-3: l0_coefficient 0.3 -> L0 19, 3.0 -> L0 2.8 after 1000 steps).
# SAELens parameterises the JumpReLU threshold directly and Adam moves it by at most ~lr per step,
# so at lr 1e-3 and 1000 steps the threshold is rate-limited and L0 barely responds to the
# coefficient (we measured L0 ~ 19 for coefficients 25 ... 1e6); JumpReLU teachers use --jumprelu-lr.
START_COEF = {"relu": 1.0, "jumprelu": 0.85}


def _provider(x: torch.Tensor, batch: int, seed: int):
    """Endless shuffled batches (a SAELens ``DataProvider``), order fixed by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch + 1, batch):
            yield x[perm[i : i + batch]]


def _make_sae(family: str, value: float, d_in: int, d_sae: int, jumprelu_init_threshold: float = 0.01):
    from sae_lens import (
        JumpReLUTrainingSAE,
        JumpReLUTrainingSAEConfig,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )

    common = dict(d_in=d_in, d_sae=d_sae, dtype="float32", device="cpu", apply_b_dec_to_input=True,
                  normalize_activations="none")
    if family == "relu":
        return StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=value, **common))
    if family == "jumprelu":
        return JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(
            l0_coefficient=value, jumprelu_init_threshold=jumprelu_init_threshold, **common))
    if family == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=int(value), **common))
    raise ValueError(f"`family` must be one of {FAMILIES}, got {family!r}")


@torch.no_grad()
def _validate(sae, x: torch.Tensor) -> dict[str, float]:
    """SAELens-definition metrics of the *inference* forward pass on ``x``."""
    z = sae.encode(x)
    x_hat = sae.decode(z)
    err = ((x - x_hat) ** 2).sum(-1)
    var = (x**2).sum(-1).mean() - (x.mean(0) ** 2).sum()
    return {
        "mse": float(err.mean()),
        "explained_variance": float(1 - err.mean() / var),
        "l0": float((z != 0).sum(-1).float().mean()),
        "alive": float((z != 0).any(0).float().mean()),
        "n_tokens": len(x),
    }


def train_one(family: str, value: float, x_train: torch.Tensor, x_val: torch.Tensor, args) -> tuple:
    """Train one SAELens SAE; return (inference SAE, validation metrics, seconds)."""
    from sae_lens import SAETrainer
    from sae_lens.config import SAETrainerConfig

    lr = args.jumprelu_lr if family == "jumprelu" else args.lr
    torch.manual_seed(args.seed)
    sae = _make_sae(family, value, x_train.shape[1], args.d_sae, args.jumprelu_init_threshold)
    cfg = SAETrainerConfig(
        total_training_samples=args.steps * args.batch,
        train_batch_size_samples=args.batch,
        lr=lr,
        lr_end=lr / 10,
        lr_warm_up_steps=args.steps // 20,
        lr_decay_steps=args.steps // 5,
        lr_scheduler_name="constant",
        device="cpu",
        dead_feature_window=max(args.steps // 4, 50),
        feature_sampling_window=args.steps,
        save_final_checkpoint=False,
    )
    trainer = SAETrainer(cfg=cfg, sae=sae, data_provider=_provider(x_train, args.batch, args.seed))
    t0 = time.perf_counter()
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):  # SAELens' tqdm bar, one per trial
        trained = trainer.fit()
    seconds = time.perf_counter() - t0
    trained.eval()
    return trained, _validate(trained, x_val), seconds


def _search(family: str, target: int, x_train, x_val, args, start: float) -> tuple:
    """Secant search in log-log space for the coefficient that gives validation L0 ~ ``target``."""
    history = []
    best = None
    log_c = math.log(start)
    prev = None
    for trial in range(args.max_trials):
        c = math.exp(log_c)
        sae, met, sec = train_one(family, c, x_train, x_val, args)
        history.append({"coefficient": c, "l0": met["l0"], "mse": met["mse"], "seconds": round(sec, 2)})
        print(f"  [{family} L0~{target}] trial {trial}: coef={c:.4g} -> L0={met['l0']:.2f} "
              f"mse={met['mse']:.4f} ({sec:.1f}s)", flush=True)
        err = abs(met["l0"] / target - 1)
        if best is None or err < best[0]:
            best = (err, c, sae, met, sec)
        if err <= args.l0_tol:
            break
        log_l0 = math.log(max(met["l0"], 1e-3))
        if prev is None or abs(log_l0 - prev[1]) < 1e-6:
            slope = -1.0  # L0 ~ 1/coef is the usual first-order behaviour
        else:
            slope = (log_l0 - prev[1]) / (log_c - prev[0])
            slope = min(slope, -0.1)  # monotone decreasing; keep the step bounded
        prev = (log_c, log_l0)
        step = (math.log(target) - log_l0) / slope
        log_c += max(min(step, 2.5), -2.5)
    _, c, sae, met, sec = best
    return c, sae, met, sec, history


def _start_coefficients(layer: int, x_train: torch.Tensor) -> dict[str, float]:
    """Search starting points for ``layer``, rescaled from the layer-3 values by the activation norm.

    With ``s = mean ||x||`` at ``layer`` over ``s`` at layer 3 (same ``teacher`` split), the MSE term
    scales as ``s^2`` and the decoder-weighted L1 term as ``s``, so the ReLU L1 coefficient that gives
    the same sparsity scales as ``s``; the JumpReLU L0 penalty is scale-free, so its coefficient
    scales as ``s^2``.  At layer 3 ``s = 1`` exactly and the starts are ``START_COEF`` unchanged.
    """
    if layer == 3:
        return dict(START_COEF)
    ref = data.activations(3, "teacher")
    n_ref = len(ref) - N_VAL_SEQ * 255
    s = float(x_train.norm(dim=1).mean()) / float(np.linalg.norm(ref[:n_ref], axis=1).mean())
    return {"relu": START_COEF["relu"] * s, "jumprelu": START_COEF["jumprelu"] * s**2}


def _save(sae, out: Path, record: dict) -> None:
    """Write SAELens' inference directory + our record atomically (temp dir, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".tmp-{out.name}-"))
    try:
        sae.save_inference_model(str(tmp))
        (tmp / "training_record.json").write_text(json.dumps(record, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, nargs="+", default=[3])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--targets", type=int, nargs="+", default=list(TARGETS))
    p.add_argument("--d-sae", type=int, default=512)
    p.add_argument("--steps", type=int, default=1000, help="training steps per teacher")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l0-tol", type=float, default=0.10, help="relative L0 tolerance of the search")
    p.add_argument("--max-trials", type=int, default=6)
    p.add_argument("--jumprelu-init-threshold", type=float, default=0.1,
                   help="SAELens jumprelu_init_threshold (its default 0.01 is for unit-scale inputs)")
    p.add_argument("--jumprelu-lr", type=float, default=3e-3, help="learning rate of the JumpReLU teachers")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=data.ARTIFACTS / "teachers")
    p.add_argument("--force", action="store_true", help="retrain teachers that already exist")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import sae_lens

    versions = {"sae_lens": sae_lens.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    command = "python benchmarks/train_teachers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    n_teacher = data.SPLITS["teacher"][1] - data.SPLITS["teacher"][0]
    for layer in args.layers:
        x_all = data.activations(layer, "teacher")
        n_val = N_VAL_SEQ * 255
        x_train = torch.from_numpy(np.array(x_all[:-n_val]))
        x_val = torch.from_numpy(np.array(x_all[-n_val:]))
        start = _start_coefficients(layer, x_train)
        last: dict[str, tuple[float, int]] = {}
        for family in args.families:
            for target in args.targets:
                out = args.out / f"L{layer}" / f"{family}_{target}"
                if out.exists() and not args.force:
                    print(f"exists, skipped: {out}")
                    continue
                t0 = time.perf_counter()
                if family == "topk":
                    sae, met, sec = train_one(family, target, x_train, x_val, args)
                    coef, history = None, []
                else:
                    guess = start[family]
                    if family in last:  # first-order L0 ~ 1/coef from the previous sparsity
                        guess = last[family][0] * last[family][1] / target
                    coef, sae, met, sec, history = _search(family, target, x_train, x_val, args, guess)
                    last[family] = (coef, target)
                record = {
                    "family": family, "layer": layer, "target_l0": target,
                    "saelens_architecture": sae.cfg.architecture(),
                    "coefficient_name": {"relu": "l1_coefficient", "jumprelu": "l0_coefficient",
                                         "topk": "k"}[family],
                    "coefficient": coef if coef is not None else target,
                    "search": history,
                    "validation": met,
                    "train_seconds": round(sec, 2), "total_seconds": round(time.perf_counter() - t0, 2),
                    "data": {"split": "teacher", "sequences": [data.SPLITS["teacher"][0],
                                                               data.SPLITS["teacher"][1] - N_VAL_SEQ],
                             "validation_sequences": [n_teacher - N_VAL_SEQ, n_teacher],
                             "n_train_tokens": len(x_train), "hidden_states": layer, "bos": "excluded"},
                    "hyperparameters": {"steps": args.steps, "batch": args.batch,
                                        "lr": args.jumprelu_lr if family == "jumprelu" else args.lr,
                                        "d_sae": args.d_sae, "seed": args.seed, "threads": args.threads,
                                        "jumprelu_init_threshold": args.jumprelu_init_threshold,
                                        "lr_warm_up_steps": args.steps // 20,
                                        "lr_decay_steps": args.steps // 5},
                    "command": command, "versions": versions, "machine": platform.platform(),
                }
                _save(sae, out, record)
                print(f"{out.relative_to(args.out)}: L0={met['l0']:.2f} mse={met['mse']:.4f} "
                      f"EV={met['explained_variance']:.4f} alive={met['alive']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
