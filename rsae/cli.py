"""``rsae`` command line: ``eval``, ``upgrade``, ``demo``.

Bad input (missing or unknown checkpoint, NaN/Inf activations, d_in mismatch, layer out of range,
an existing ``--out`` without ``--resume``/``--force``, an impossible target L0) prints one line
``rsae: error: ...`` on stderr and exits with status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_BAD_INPUT = 2


class CLIError(ValueError):
    """A bad command line or input: reported as one line, exit 2."""


# --------------------------------------------------------------------------- parser
def _add_source(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("activations (one of)")
    g.add_argument(
        "--activations", metavar="FILE", help="cached activations: .npy or .safetensors (tensor `x`)"
    )
    g.add_argument("--host", metavar="DIR", help="Hugging Face causal LM directory (no network)")
    g.add_argument("--layer", type=int, metavar="L", help="residual stream hidden_states[L] of the host")
    g.add_argument("--tokens", metavar="FILE", help="token ids .npy [n_seq, seq_len] for the host")
    g.add_argument("--keep-bos", action="store_true", help="include position 0 (BOS); excluded by default")
    g.add_argument("--seq-batch", type=int, default=16, help="sequences per host forward pass (default 16)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rsae", description="Rational Sparse Autoencoders: evaluate, upgrade, demo."
    )
    sub = ap.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="metrics of an SAE (any supported format or a saved RSAE)")
    ev.add_argument("--sae", required=True, metavar="PATH", help="checkpoint directory or file")
    _add_source(ev)
    ev.add_argument("--max-tokens", type=int, default=None, help="evaluate on at most this many tokens")
    ev.add_argument("--max-seq", type=int, default=None, help="with --host: at most this many sequences")
    ev.add_argument("--batch-size", type=int, default=4096)
    ev.add_argument("--json", action="store_true", help="print JSON")

    up = sub.add_parser("upgrade", help="upgrade a ReLU/JumpReLU/TopK teacher to an RSAE (init + fine-tune)")
    up.add_argument("--teacher", required=True, metavar="PATH", help="teacher checkpoint")
    _add_source(up)
    up.add_argument(
        "--eval-activations",
        metavar="FILE",
        help="held-out activations for the metrics "
        "(default: the last 10%% of --activations rows, which are then not trained on)",
    )
    up.add_argument(
        "--eval-tokens",
        metavar="FILE",
        help="with --host: held-out tokens (default: the last 10%% of the sequences)",
    )
    up.add_argument("--steps", type=int, default=2000, help="fine-tuning steps (default 2000; 0 = init only)")
    up.add_argument("--target-l0", type=float, default=None,
                    help="L0 to hold (default: the teacher's L0 on the training activations)")
    up.add_argument(
        "--out", default="rsae-upgrade", metavar="DIR", help="output directory (default ./rsae-upgrade)"
    )
    up.add_argument("--resume", action="store_true", help="continue a run in --out")
    up.add_argument("--force", action="store_true", help="overwrite --out")
    up.add_argument("--batch-size", type=int, default=1024)
    up.add_argument("--lr", type=float, default=1e-3)
    up.add_argument("--gate-lr", type=float, default=None)
    up.add_argument("--checkpoint-every", type=int, default=100)
    up.add_argument("--calibration-tokens", type=int, default=8192)
    up.add_argument(
        "--type",
        type=int,
        nargs=2,
        metavar=("P", "Q"),
        default=None,
        help="rational type (default: 3 2 for ReLU and per-token TopK, 9 8 for JumpReLU, element-wise TopK)",
    )
    up.add_argument(
        "--topk-thresholds",
        choices=("per_token", "per_latent", "global"),
        default="per_token",
        help="TopK teachers: per_token (default) keeps the top-k selection (a TopK RSAE, init = teacher); "
        "per_latent / global replace it by an element-wise threshold gate",
    )
    up.add_argument("--kappa", type=float, default=None, help="normalised threshold (default 0.5)")
    up.add_argument("--delta", type=float, default=0.02, help="half-width of the excluded jump neighbourhood")
    up.add_argument("--grid-n", type=int, default=4001, help="Remez grid points on [-1, 1]")
    up.add_argument("--max-eval-tokens", type=int, default=None)
    up.add_argument("--seed", type=int, default=0)
    up.add_argument("--no-progress", action="store_true")
    up.add_argument("--json", action="store_true")

    de = sub.add_parser("demo", help="the whole pipeline on a built-in synthetic problem (about a minute)")
    de.add_argument("--out", default="rsae-demo", metavar="DIR", help="where plots and results go")
    de.add_argument("--steps", type=int, default=400, help="RSAE fine-tuning steps")
    de.add_argument("--teacher-steps", type=int, default=400)
    de.add_argument("--family", choices=("relu", "jumprelu"), default="relu")
    de.add_argument("--no-plots", action="store_true")
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--json", action="store_true")
    return ap


# --------------------------------------------------------------------------- helpers
def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def _check_source_args(args: argparse.Namespace) -> str:
    host = any(getattr(args, k) is not None for k in ("host", "layer", "tokens"))
    if args.activations is not None and host:
        raise CLIError("give either --activations or --host/--layer/--tokens, not both")
    if args.activations is not None:
        if not Path(args.activations).is_file():
            raise CLIError(f"activations file not found: {args.activations}")
        return "file"
    if args.host is None or args.layer is None or args.tokens is None:
        raise CLIError("give --activations FILE, or all of --host DIR --layer L --tokens FILE")
    if not Path(args.host).is_dir():
        raise CLIError(f"host model directory not found: {args.host}")
    if not Path(args.tokens).is_file():
        raise CLIError(f"tokens file not found: {args.tokens}")
    return "host"


def _load(path: str) -> Any:
    from .loading import load_sae

    return load_sae(path)


def _print_table(rows: dict[str, dict[str, Any]], keys: list[str]) -> None:
    """Teacher / RSAE-init / RSAE table (rich if available, plain otherwise)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.5g}"
        return str(v)

    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title="rsae upgrade")
        t.add_column("metric")
        for name in rows:
            t.add_column(name, justify="right")
        for k in keys:
            t.add_row(k, *(fmt(rows[n].get(k, "")) for n in rows))
        Console(stderr=False).print(t)
    except ImportError:
        print("metric".ljust(20) + "".join(n.rjust(14) for n in rows))
        for k in keys:
            print(k.ljust(20) + "".join(fmt(rows[n].get(k, "")).rjust(14) for n in rows))


# --------------------------------------------------------------------------- commands
def _cmd_eval(args: argparse.Namespace) -> int:
    from .activations import HostActivations, open_activations
    from .metrics import evaluate, evaluate_host

    kind = _check_source_args(args)
    sae = _load(args.sae)
    sae.eval()
    if kind == "file":
        src = open_activations(args.activations, d_in=sae.cfg.d_in)
        res = evaluate(sae, src.iter_batches(args.batch_size), max_tokens=args.max_tokens)
    else:
        host = HostActivations(
            args.host, args.layer, args.tokens, keep_bos=args.keep_bos, seq_batch=args.seq_batch
        )
        res = evaluate_host(sae, host, max_seq=args.max_seq)
    if args.json:
        print(json.dumps(_json_safe(res)))
    else:
        for k, v in res.items():
            print(f"{k:20s} {v}")
    return 0


def _prepare_out(out: Path, resume: bool, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (resume or force):
        raise CLIError(
            f"--out {out} already exists; pass --resume to continue that run or --force to overwrite it"
        )


class _RowRange:
    """Rows ``[lo, hi)`` of an ArrayActivations, with the take/n_tokens/iter_batches interface."""

    def __init__(self, src: Any, lo: int, hi: int) -> None:
        self.src, self.lo, self.hi = src, lo, hi
        self.n_tokens, self.d_in = hi - lo, src.d_in

    def take(self, index: Any) -> Any:
        return self.src.take(index + self.lo)

    def iter_batches(self, batch_size: int) -> Any:
        for s in range(self.lo, self.hi, batch_size):
            yield self.src.rows(s, min(s + batch_size, self.hi))


def run_upgrade(
    teacher: Any,
    train: Any,
    eval_fn: Any,
    out: Path,
    *,
    steps: int,
    target_l0: float | None,
    resume: bool,
    force: bool,
    init_kwargs: dict[str, Any],
    ft_kwargs: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    """init -> eval -> fine-tune -> eval -> save; the shared core of ``upgrade`` and ``demo``."""
    import torch

    from .finetune import FinetuneConfig, finetune
    from .saving import save_rsae, save_saelens
    from .upgrade import upgrade_init

    t0 = time.perf_counter()
    d_sae = teacher.cfg.d_sae
    if target_l0 is not None and not 0 < target_l0 <= d_sae:
        raise CLIError(f"impossible --target-l0 {target_l0}: it must be in (0, d_sae = {d_sae}]")
    teacher.eval()
    res_teacher = eval_fn(teacher)
    rsae, report = upgrade_init(teacher, train.iter_batches(4096), **init_kwargs)
    res_init = eval_fn(rsae)
    import copy

    init_model = copy.deepcopy(rsae)
    if target_l0 is not None:
        target = target_l0
        if rsae.cfg.k is not None:
            rsae.set_k(round(target_l0))  # a TopK RSAE's L0 is set by its selection: k = target
    else:
        # The teacher's L0 on *training* rows: the held-out tokens only score the result.
        from .metrics import evaluate

        target = float(evaluate(teacher, train.iter_batches(4096), max_tokens=65_536)["l0"])
    cfg = FinetuneConfig(steps=steps, target_l0=target, **ft_kwargs)
    ft = None
    if steps > 0:
        ft = finetune(rsae, train, cfg, out=out / "checkpoint", resume=resume, progress=progress)
    rsae.eval()
    res_rsae = eval_fn(rsae)
    for name in ("rsae", "saelens"):
        if (out / name).exists():
            import shutil

            shutil.rmtree(out / name)
    with torch.no_grad():
        save_rsae(rsae, out / "rsae")
        save_saelens(rsae, out / "saelens")
    result = {
        "teacher": res_teacher,
        "init": res_init,
        "rsae": res_rsae,
        "seconds": time.perf_counter() - t0,
        "upgrade": {
            "family": report.family,
            "tau_k": report.tau_k,
            "counts": report.counts,
            "gate_fit": report.gate_fit.to_json(),
            "calibration": {k: v for k, v in vars(report.calibration).items()},
            "frac_t_below_minus1": report.frac_t_below,
            "frac_t_above_1": report.frac_t_above,
            "n_calibration_tokens": report.n_calibration_tokens,
            "target_l0": target,
            "finetune": ft.summary() if ft is not None else None,
        },
    }
    from ._io import write_json_atomic

    write_json_atomic(out / "results.json", _json_safe(result))
    result["_model"] = rsae
    result["_init_model"] = init_model
    result["_report"] = report
    result["_finetune"] = ft
    return result


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from .activations import HostActivations, harvest_to_npy, load_tokens, open_activations
    from .metrics import evaluate, evaluate_host

    kind = _check_source_args(args)
    out = Path(args.out)
    _prepare_out(out, args.resume, args.force)
    if args.target_l0 is not None and not args.target_l0 > 0:
        raise CLIError(f"impossible --target-l0 {args.target_l0}: it must be > 0")
    teacher = _load(args.teacher)
    if teacher.cfg.architecture not in ("relu", "jumprelu", "topk"):
        raise CLIError(f"--teacher must be a ReLU, JumpReLU or TopK SAE, got {teacher.cfg.architecture!r}")
    if args.target_l0 is not None and args.target_l0 > teacher.cfg.d_sae:
        raise CLIError(
            f"impossible --target-l0 {args.target_l0}: it must be in (0, d_sae = {teacher.cfg.d_sae}]"
        )
    per_token = teacher.cfg.architecture == "topk" and args.topk_thresholds == "per_token"
    if per_token and args.target_l0 is not None and args.target_l0 != round(args.target_l0):
        raise CLIError(
            f"impossible --target-l0 {args.target_l0} for a TopK RSAE (--topk-thresholds per_token): "
            "its L0 is its k, a whole number of latents per token"
        )
    d_in = teacher.cfg.d_in
    if kind == "file":
        src = open_activations(args.activations, d_in=d_in)
        if args.eval_activations:
            ev = open_activations(args.eval_activations, d_in=d_in)
            train, ev_rows = _RowRange(src, 0, src.n_tokens), _RowRange(ev, 0, ev.n_tokens)
        else:
            cut = max(1, int(src.n_tokens * 0.9))
            if cut >= src.n_tokens:
                raise CLIError("--activations has too few rows to hold out 10% for evaluation")
            train, ev_rows = _RowRange(src, 0, cut), _RowRange(src, cut, src.n_tokens)
        # validate every row once (NaN/Inf) before training or writing anything
        for _ in train.iter_batches(65536):
            pass
        for _ in ev_rows.iter_batches(65536):
            pass

        def eval_fn(m: Any) -> dict[str, Any]:
            return evaluate(m, ev_rows.iter_batches(4096), max_tokens=args.max_eval_tokens)

        out.mkdir(parents=True, exist_ok=True)
    else:
        host_tr = HostActivations(
            args.host, args.layer, args.tokens, keep_bos=args.keep_bos, seq_batch=args.seq_batch
        )
        if host_tr.d_in != d_in:
            raise CLIError(
                f"d_in mismatch: the teacher expects d_in = {d_in}, "
                f"host layer {args.layer} has {host_tr.d_in}"
            )
        toks = host_tr.tokens
        if args.eval_tokens:
            ev_toks = load_tokens(args.eval_tokens, host_tr.model.config.vocab_size)
        else:
            cut = max(1, int(toks.shape[0] * 0.9))
            if cut >= toks.shape[0]:
                raise CLIError("--tokens has too few sequences to hold out 10% for evaluation")
            toks, ev_toks = toks[:cut], toks[cut:]
            host_tr.tokens = toks
            host_tr.n_tokens = toks.shape[0] * (toks.shape[1] - (0 if args.keep_bos else 1))
        host_ev = HostActivations(
            host_tr.model, args.layer, ev_toks, keep_bos=args.keep_bos, seq_batch=args.seq_batch
        )
        out.mkdir(parents=True, exist_ok=True)
        cache = out / "checkpoint" / "train_activations.npy"
        if not (args.resume and cache.is_file()):
            harvest_to_npy(host_tr.iter_batches(), cache, host_tr.n_tokens, d_in)
        src = open_activations(cache, d_in=d_in)
        train = _RowRange(src, 0, src.n_tokens)

        def eval_fn(m: Any) -> dict[str, Any]:
            return evaluate_host(m, host_ev)

    init_kwargs = {
        "n_calibration_tokens": args.calibration_tokens,
        "kappa": args.kappa,
        "delta": args.delta,
        "rational_type": tuple(args.type) if args.type else None,
        "grid_n": args.grid_n,
        "cache_dir": _fit_cache_dir(),
        "topk_thresholds": args.topk_thresholds,
    }
    ft_kwargs = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "gate_lr": args.gate_lr,
        "checkpoint_every": args.checkpoint_every,
        "seed": args.seed,
    }
    res = run_upgrade(
        teacher,
        train,
        eval_fn,
        out,
        steps=args.steps,
        target_l0=args.target_l0,
        resume=args.resume,
        force=args.force,
        init_kwargs=init_kwargs,
        ft_kwargs=ft_kwargs,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    public = {k: v for k, v in res.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(_json_safe(public)))
    else:
        keys = list(public["teacher"].keys())
        _print_table(
            {"Teacher": public["teacher"], "RSAE-init": public["init"], "RSAE": public["rsae"]}, keys
        )
        print(f"saved to {out / 'rsae'} (native) and {out / 'saelens'} (SAELens); {public['seconds']:.1f} s")
    return 0


def _fit_cache_dir() -> Path:
    """Where Remez gate fits are cached (``RSAE_CACHE`` or ``~/.cache/rsae/gate_fits``)."""
    base = os.environ.get("RSAE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rsae")
    return Path(base) / "gate_fits"


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    res = run_demo(
        out=Path(args.out),
        steps=args.steps,
        teacher_steps=args.teacher_steps,
        family=args.family,
        plots=not args.no_plots,
        seed=args.seed,
        cache_dir=_fit_cache_dir(),
        quiet=args.json,
    )
    if args.json:
        print(json.dumps(_json_safe(res)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rsae`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from .activations import ActivationError
    from .finetune import DivergenceError

    try:
        from .loading import CheckpointError
    except ImportError:  # pragma: no cover
        CheckpointError = ValueError
    handlers = {"eval": _cmd_eval, "upgrade": _cmd_upgrade, "demo": _cmd_demo}
    try:
        return handlers[args.command](args)
    except (
        CLIError,
        ActivationError,
        CheckpointError,
        DivergenceError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"rsae: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("rsae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
