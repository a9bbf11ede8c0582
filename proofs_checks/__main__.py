"""Command line: ``python -m proofs_checks [--quick] [--json] [--plots DIR] [--report PATH]``.

Runs the checks (all, or ``--only NAME ...``), prints a one-line summary per check (or the full
JSON records with ``--json``), writes plots and the markdown report when asked.  Exit status 0
when every check ran (whatever its verdict), 1 when one could not run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence

from . import CHECKS, REQUIRED_FIELDS

__all__ = ["main", "run_checks"]


def _not_run(name: str, reason: str, seconds: float = 0.0) -> dict:
    return {
        "check": name,
        "predicted": None,
        "fitted": None,
        "ci95": None,
        "verdict": "not run",
        "reason": reason,
        "data": [],
        "seconds": seconds,
    }


def run_checks(
    names: Sequence[str] = CHECKS, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> list[dict]:
    """Run each check module's ``run(quick)``; exceptions become ``"not run"`` records."""
    out = []
    for name in names:
        if name not in CHECKS:
            raise ValueError(f"unknown check `{name}`; known: {', '.join(CHECKS)}")
        if progress:
            progress(f"[proofs_checks] {name} ...")
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"proofs_checks.{name}")
            rec = mod.run(quick=quick)
        except Exception as exc:  # a dependency missing or broken: say so, do not invent numbers
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            rec = _not_run(name, f"{tb}", time.perf_counter() - t0)
        missing = [f for f in REQUIRED_FIELDS if f not in rec]
        if missing:
            rec = _not_run(name, f"record lacks fields {missing}", time.perf_counter() - t0)
        rec.setdefault("seconds", time.perf_counter() - t0)
        if progress:
            progress(f"[proofs_checks] {name}: {rec['verdict']} ({rec['seconds']:.1f} s)")
        out.append(rec)
    return out


def _jsonable(x):
    """Floats that JSON cannot hold (nan, inf) become strings; mpf/numpy become floats."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, int):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else str(f)


def _write_atomic(path: str, text: str) -> None:
    d = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    try:
        return f"{float(x):.4g}"
    except (TypeError, ValueError):
        return str(x)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m proofs_checks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small configuration (a few minutes on 2 cores)")
    ap.add_argument("--json", action="store_true", help="print the records as JSON on stdout")
    ap.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    ap.add_argument("--report", metavar="PATH", help="write the markdown report to PATH")
    ap.add_argument(
        "--only", nargs="+", choices=CHECKS, metavar="CHECK", help=f"subset of {', '.join(CHECKS)}"
    )
    ap.add_argument(
        "--from-json",
        metavar="PATH",
        help="re-render plots/report from the JSON of an earlier --json run (no recomputation)",
    )
    args = ap.parse_args(argv)
    names = args.only or list(CHECKS)
    argv_used = ["python", "-m", "proofs_checks", *(argv if argv is not None else sys.argv[1:])]
    if args.from_json:
        with open(args.from_json) as fh:
            saved = json.load(fh)
        records = [r for r in saved["checks"].values() if r["check"] in names]
        origin = " ".join(saved.get("command") or ["python -m proofs_checks --json (earlier run)"])
    else:
        records = run_checks(
            names, quick=args.quick, progress=lambda s: print(s, file=sys.stderr, flush=True)
        )
    records = _jsonable(records)
    figures: dict[str, list[str]] = {}
    if args.plots:
        from .report import make_plots

        figures = make_plots(records, args.plots)
    if args.report:
        from .report import render_report

        cmd = " ".join(a for a in argv_used if a != "--json")
        if args.from_json:
            cmd = f"{origin}` (computation), re-rendered by `{cmd}"
        _write_atomic(
            args.report, render_report(records, figures=figures, command=cmd, report_path=args.report)
        )
    if args.json:
        json.dump(
            {"quick": args.quick, "command": argv_used, "checks": {r["check"]: r for r in records}},
            sys.stdout,
            indent=1,
        )
        sys.stdout.write("\n")
    else:
        for r in records:
            print(
                f"{r['check']:18s} {r['verdict']:14s} predicted {_fmt(r['predicted'])}  fitted "
                f"{_fmt(r['fitted'])}  ci95 {_fmt(r['ci95'])}  ({r.get('seconds', 0):.1f} s)"
            )
            print(f"{'':18s} {r['reason']}")
    return 0 if all(r["verdict"] != "not run" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
