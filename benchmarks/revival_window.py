"""Alive fraction against MSE as the dead-latent revival window varies, for one study teacher.

The fine-tune revives a latent that has been silent for ``FinetuneConfig.revive_after`` training
tokens (:mod:`rsae.dead_latents`).  This script upgrades one SAELens teacher of the study
(``benchmarks/_artifacts/teachers/L{layer}/{name}``, trained by ``benchmarks/train_teachers.py``)
with :func:`rsae.upgrade.upgrade_init` defaults, fine-tunes a copy for each window with the study's
settings (300 steps x 1024 rows of the ``rsae`` split, lr 1e-3, seed 0, target L0 = the teacher's
on training rows), and prints held-out MSE, L0 and alive fraction (SAELens definitions,
:func:`rsae.metrics.evaluate`, the first ``--n-eval-seq`` sequences of the ``eval`` split)::

    python benchmarks/revival_window.py --teacher topk_64 --windows 16384 4096 2048 1024
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_paper import _ft  # benchmarks/ is not a package: import via sys.path
from study import data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="topk_64", help="study teacher name, e.g. topk_64, jumprelu_64")
    p.add_argument("--layer", type=int, default=3)
    p.add_argument("--windows", type=int, nargs="+", default=[16384, 4096, 2048, 1024],
                   help="revive_after values (0 switches the revival off)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--n-train-seq", type=int, default=512)
    p.add_argument("--n-eval-seq", type=int, default=128)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from rsae.loading import load_sae
    from rsae.metrics import evaluate
    from rsae.upgrade import upgrade_init

    x_train = torch.from_numpy(np.array(data.activations(args.layer, "rsae", args.n_train_seq)))
    x_eval = torch.from_numpy(np.array(data.activations(args.layer, "eval", args.n_eval_seq)))
    teacher = load_sae(data.ARTIFACTS / "teachers" / f"L{args.layer}" / args.teacher).eval()
    target = float(evaluate(teacher, [x_train[:65536]])["l0"])
    init, _ = upgrade_init(teacher, iter([x_train[:8192]]), n_calibration_tokens=8192)
    te = evaluate(teacher, [x_eval])
    print(f"{args.teacher} layer {args.layer}: {len(x_eval)} held-out rows; target L0 {target:.2f}")
    print(f"{'model':<24} {'MSE':>10} {'L0':>8} {'alive':>7} {'s':>5}")
    print(f"{'teacher':<24} {te['mse']:>10.5g} {te['l0']:>8.2f} {te['alive']:>7.4f}")
    for w in args.windows:
        m, t0 = copy.deepcopy(init), time.perf_counter()
        _ft(m, x_train, args.steps, target, seed=0, revive_after=w)  # the study's fine-tune settings
        r = evaluate(m, [x_eval])
        print(f"{'RSAE revive_after=' + str(w):<24} {r['mse']:>10.5g} {r['l0']:>8.2f} {r['alive']:>7.4f} "
              f"{time.perf_counter() - t0:>5.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
