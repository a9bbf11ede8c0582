"""Command-line front end: ``ratapprox fit | zolotarev | table | plot``.

::

    ratapprox fit TARGET --type M N [--interval A B] [--gap DELTA] [--grid N] [--dps D] [--json]
    ratapprox zolotarev --delta DELTA --r R [--dps D] [--json]
    ratapprox table [--out PATH] [--csv PATH] [--dps D] [--only ID ...]
    ratapprox plot TARGET --type M N [domain options] --out FILE.png
    ratapprox plot --zolotarev --delta D --r R --out FILE.png

Domains (``fit`` and ``plot``): the default is [-1, 1]; ``--interval A B`` sets ``[A, B]``;
``--gap DELTA`` removes a neighbourhood of the target's break point --

* ``sign``, ``abs``, ``relu`` (break point 0): DELTA is relative to the half-width ``w`` of the
  interval, so on [-1, 1] the domain is :math:`E_\\delta = [-1,-\\delta] \\cup [\\delta, 1]` and on
  [-w, w] it is ``[-w, -delta w] U [delta w, w]``; DELTA must lie in (0, 1);
* ``step:THETA``, ``jumprelu:THETA``: the open interval ``(THETA - DELTA, THETA + DELTA)`` is
  removed (DELTA absolute, > 0);

``--grid N`` restricts the domain to the N equispaced points of ``[A, B]`` that lie in it.

TARGET is a name (``relu, abs, sign, exp, step:THETA, jumprelu:THETA``) or ``py:MODULE:FUNCTION``,
a Python function of one real argument that works on floats and mpf; such a target has no interval
enclosure, so its error bracket is an estimate (``rigorous: false``), never a certificate.

Every failure a user can provoke (a bad argument, an unknown target, a target that returns NaN, a
precision too small for the request, non-convergence) ends as exactly one line on stderr and exit
status 2, never a traceback; ``--traceback`` shows the traceback when debugging.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from .domains import Domain
from .errors import CertificationError, InvalidInputError, RatapproxError
from .targets import TARGET_NAMES, Target, get_target

__all__ = ["build_domain", "build_parser", "main", "resolve_target"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2

DEFAULT_TABLE_PATH = "ratapprox_gate_table.json"
ZOLOTAREV_DEFAULT_DPS = 50


class _UsageError(Exception):
    """An argparse usage error, turned into one line on stderr by :func:`main`."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors become one line + exit 2 (not usage text + exit)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


# --------------------------------------------------------------------------- argument helpers
def _decimal_arg(name: str, s: str) -> Decimal:
    try:
        d = Decimal(s)
    except InvalidOperation as exc:
        raise InvalidInputError(f"`{name}` must be a number, got {s!r}") from exc
    if not d.is_finite():
        raise InvalidInputError(f"`{name}` must be finite, got {s!r}")
    return d


def _check_degrees(m: int, n: int) -> None:
    if m < 0 or n < 0:
        raise InvalidInputError(f"degrees must be non-negative, got --type {m} {n}")


def _check_dps(dps: int | None) -> None:
    if dps is not None and dps < 1:
        raise InvalidInputError(f"`--dps` must be a positive number of decimal digits, got {dps}")


def build_domain(
    target: Target,
    interval: Sequence[str] | None = None,
    gap: str | None = None,
    grid: int | None = None,
) -> Domain:
    """The domain that ``fit``/``plot`` options describe (see the module docstring).

    Parameters
    ----------
    target : Target
        The resolved target: its break point decides where ``gap`` removes a neighbourhood.
    interval : (str, str), optional
        ``[A, B]`` as decimal strings (default ``[-1, 1]``); ``A < B``.
    gap : str, optional
        The exclusion parameter DELTA.
    grid : int, optional
        Restrict to ``grid`` equispaced points of ``[A, B]``.
    """
    a, b = (str(interval[0]), str(interval[1])) if interval is not None else ("-1", "1")
    da, db = _decimal_arg("--interval A", a), _decimal_arg("--interval B", b)
    if not da < db:
        raise InvalidInputError(f"`--interval {a} {b}` is reversed or empty: need A < B")
    dom = Domain.interval(a, b)
    if gap is not None:
        g = _decimal_arg("--gap", gap)
        theta = target.params.get("theta")
        if theta is not None:  # step:THETA / jumprelu:THETA: absolute exclusion around the jump
            if not g > 0:
                raise InvalidInputError(f"`--gap` must be positive, got {gap}")
            dom = dom.excluding(theta, gap)
        elif target.name in ("sign", "abs", "relu"):
            if not 0 < g < 1:
                raise InvalidInputError(f"`--gap` (delta) must lie in (0, 1), got {gap}")
            w = (db - da) / 2
            half_gap = format((g * w).normalize(), "f")  # "0.3", not "0.30" or "3E-1"
            if da == -db:
                dom = Domain.sign_domain(half_gap, half_width=b)
            else:
                dom = dom.excluding("0", half_gap)
        else:
            raise InvalidInputError(
                f"`--gap` applies to sign, abs, relu, step:THETA and jumprelu:THETA, not `{target.name}`"
            )
    if grid is not None:
        if grid < 2:
            raise InvalidInputError(f"`--grid` needs at least 2 points, got {grid}")
        dom = Domain(dom.intervals, grid=(a, b, int(grid)))
    return dom


def resolve_target(spec: str) -> Target:
    """A named target, or ``py:MODULE:FUNCTION`` -- a Python callable on floats and mpf.

    A callable target has no interval enclosure, so its certificate is an estimate
    (``rigorous: false``); a callable that returns NaN/Inf is reported as bad input.
    """
    if not spec.startswith("py:"):
        return get_target(spec)
    module, _, func = spec[3:].rpartition(":")
    if not module or not func:
        raise InvalidInputError(f"a Python target is `py:MODULE:FUNCTION`, got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"cannot import target {spec!r}: {exc}") from exc
    if not callable(fn):
        raise InvalidInputError(f"target {spec!r} is not callable")
    return get_target(fn)


def _add_domain_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", nargs=2, metavar=("A", "B"), help="interval [A, B] (default -1 1)")
    p.add_argument("--gap", metavar="DELTA", help="exclude a neighbourhood of the break point")
    p.add_argument("--grid", type=int, metavar="N", help="restrict to N equispaced points")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="ratapprox",
        description="Certified best rational approximation (Remez, Zolotarev, safe-Padé, tables).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"ratapprox {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks (debugging)")
    sub = parser.add_subparsers(dest="command", metavar="{fit,zolotarev,table,plot}")
    sub.required = True

    p = sub.add_parser("fit", help="best rational approximation of a target",
                       description="Best type (M, N) rational approximation by a relaxed Remez exchange.")
    p.add_argument("target", help=f"target: {', '.join(TARGET_NAMES)}, or py:MODULE:FUNCTION")
    p.add_argument("--type", nargs=2, type=int, metavar=("M", "N"), required=True,
                   help="numerator and denominator degrees")
    _add_domain_options(p)
    p.add_argument("--dps", type=int, help="mpmath decimal digits (default: float64 engine)")
    p.add_argument("--max-iter", type=int, dest="max_iter", help="iteration limit of the exchange")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("zolotarev", help="Zolotarev's best approximation of sign on [-1,-d] U [d,1]",
                       description="Zolotarev's best type (2r+1, 2r) approximation of sign in closed form.")
    p.add_argument("--delta", required=True, help="gap parameter, 0 < delta < 1")
    p.add_argument("--r", type=int, required=True, help="type (2r+1, 2r)")
    p.add_argument("--dps", type=int, default=ZOLOTAREV_DEFAULT_DPS,
                   help=f"mpmath decimal digits (default {ZOLOTAREV_DEFAULT_DPS})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("table", help="certified coefficient table of the SAE gates",
                       description="Compute the SAE gate coefficient table (schema ratapprox.table/1).")
    p.add_argument("--out", default=DEFAULT_TABLE_PATH, help=f"JSON path (default {DEFAULT_TABLE_PATH})")
    p.add_argument("--csv", help="CSV path (default: the JSON path with .csv)")
    p.add_argument("--dps", type=int, help="mpmath digits of the Remez fits (default: float64)")
    p.add_argument("--only", action="append", metavar="ID",
                   help="compute only entries whose id starts with ID (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--allow-uncertified", action="store_true", dest="allow_uncertified",
                   help="exit 0 even if some entry has no rigorous certificate or a pole in [-1, 1]")

    p = sub.add_parser("plot", help="plot the error curve f - r (PNG)",
                       description="Plot the error curve of a best approximation with its alternation.")
    p.add_argument("target", nargs="?", help="target name (omit with --zolotarev)")
    p.add_argument("--type", nargs=2, type=int, metavar=("M", "N"))
    _add_domain_options(p)
    p.add_argument("--dps", type=int, help="mpmath decimal digits")
    p.add_argument("--max-iter", type=int, dest="max_iter", help="iteration limit of the exchange")
    p.add_argument("--zolotarev", action="store_true", help="plot Zolotarev's sign approximant")
    p.add_argument("--delta", help="Zolotarev gap parameter")
    p.add_argument("--r", type=int, help="Zolotarev type (2r+1, 2r)")
    p.add_argument("--out", required=True, help="PNG path")
    return parser


# --------------------------------------------------------------------------- commands
def _fit(args: argparse.Namespace) -> Any:
    m, n = args.type
    _check_degrees(m, n)
    _check_dps(args.dps)
    target = resolve_target(args.target)
    domain = build_domain(target, args.interval, args.gap, args.grid)
    kwargs: dict[str, Any] = {}
    if args.max_iter is not None:
        if args.max_iter < 1:
            raise InvalidInputError(f"`--max-iter` must be positive, got {args.max_iter}")
        kwargs["max_iter"] = args.max_iter
    from .remez import minimax  # after validation: bad input fails fast, without numerics

    spec: Any = target if args.target.startswith("py:") else target.name
    return minimax(spec, m, n, domain=domain, dps=args.dps, **kwargs)


def _validate_zolotarev(delta: str | None, r: int | None, dps: int | None) -> None:
    if delta is None or r is None:
        raise InvalidInputError("Zolotarev needs `--delta` and `--r`")
    d = _decimal_arg("--delta", delta)
    if not 0 < d < 1:
        raise InvalidInputError(f"`--delta` must lie in (0, 1), got {delta}")
    if r < 0:
        raise InvalidInputError(f"`--r` must be non-negative, got {r}")
    _check_dps(dps)


def _zolotarev(delta: str, r: int, dps: int) -> tuple[Any, float]:
    from .zolotarev import zolotarev

    t0 = time.perf_counter()
    res = zolotarev(delta, r, dps=dps)
    return res, time.perf_counter() - t0


def _fit_summary(d: dict[str, Any]) -> str:
    m, n = d["type"]
    cert = d.get("certificate") or {}
    kind = "rigorous" if cert.get("rigorous") else "estimate"
    lines = [
        f"{d['target']}: best type ({m}, {n}) approximation on {d['domain_text']} [{d['arithmetic']}]",
        f"  error        {d['error']}",
        f"  certified    [{d['error_lower']}, {d['error_upper']}]  ({kind}; {cert.get('method', '?')})",
    ]
    if "iterations" in d and "converged" in d:
        state = "converged" if d["converged"] else "NOT converged"
        defect = f", defect {d['defect']}" if d.get("defect") else ""
        lines.append(f"  iterations   {d['iterations']} ({state}{defect}), {d['seconds']:.3g} s")
    elif d.get("seconds") is not None:
        lines.append(f"  time         {d['seconds']:.3g} s")
    if d.get("error_independent") is not None:
        lines.append(f"  independent  {d['error_independent']}")
    lines.append("  numerator    " + " ".join(d["numerator"]))
    lines.append("  denominator  " + " ".join(d["denominator"]))
    pts = d.get("alternation_points") or []
    lines.append(f"  alternation  {len(pts)} points: " + " ".join(f"{float(x):.6g}" for x in pts))
    return "\n".join(lines)


def _cmd_fit(args: argparse.Namespace) -> int:
    from .tables import minimax_to_json

    d = minimax_to_json(_fit(args))
    print(json.dumps(d, indent=1) if args.json else _fit_summary(d))
    return EXIT_OK


def _cmd_zolotarev(args: argparse.Namespace) -> int:
    from .tables import zolotarev_to_json

    _validate_zolotarev(args.delta, args.r, args.dps)
    res, seconds = _zolotarev(args.delta, args.r, args.dps)
    d = zolotarev_to_json(res, args.delta, args.r, args.dps, seconds)
    print(json.dumps(d, indent=1) if args.json else _fit_summary(d))
    return EXIT_OK


def _cmd_table(args: argparse.Namespace) -> int:
    from .tables import TABLE_SPEC, build_table, format_summary, write_table

    _check_dps(args.dps)
    specs = TABLE_SPEC
    if args.only:
        specs = tuple(s for s in TABLE_SPEC if any(s.id.startswith(p) for p in args.only))
        if not specs:
            known = ", ".join(s.id for s in TABLE_SPEC)
            raise InvalidInputError(f"`--only {' '.join(args.only)}` matches no entry; ids: {known}")
    out = Path(args.out)
    csv_path = Path(args.csv) if args.csv else out.with_suffix(".csv")

    def progress(i: int, total: int, spec: Any, seconds: float) -> None:
        if not args.quiet:
            print(f"[{i}/{total}] {spec.id} ({seconds:.2f} s)", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    table = build_table(dps=args.dps, specs=specs, progress=progress)
    write_table(table, out, csv_path)
    print(format_summary(table))
    print(f"\n{len(table['entries'])} entries in {time.perf_counter() - t0:.1f} s; "
          f"wrote {out} and {csv_path} (schema {table['schema']})")
    bad = [e for e in table["entries"] if not e.get("certified", True)]
    if bad and not args.allow_uncertified:
        raise CertificationError(
            f"{len(bad)} table entr{'y' if len(bad) == 1 else 'ies'} not certified (marked "
            f"\"certified\": false in {out}): "
            + "; ".join(f"{e['id']}: {', '.join(e['issues'])}" for e in bad)
        )
    return EXIT_OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from . import plotting

    if args.zolotarev:
        _validate_zolotarev(args.delta, args.r, args.dps)
        dps = args.dps or ZOLOTAREV_DEFAULT_DPS
        res, _ = _zolotarev(args.delta, args.r, dps)
        path = plotting.plot_zolotarev(res, args.delta, args.r, args.out, dps=dps)
    else:
        if args.target is None or args.type is None:
            raise InvalidInputError("`plot` needs TARGET and `--type M N` (or `--zolotarev`)")
        res = _fit(args)
        path = plotting.plot_minimax(res, args.out)
    print(f"wrote {path}")
    return EXIT_OK


_COMMANDS = {"fit": _cmd_fit, "zolotarev": _cmd_zolotarev, "table": _cmd_table, "plot": _cmd_plot}


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input or failure, 1 internal).

    Warnings raised while computing (e.g. numpy overflow in a target) are collected and printed
    after the result, one line each, so that stderr on failure stays one line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # --traceback is accepted anywhere on the line, not only before the sub-command.
    show_tb = "--traceback" in argv
    argv = [a for a in argv if a != "--traceback"]
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(f"{_one_line(str(exc))} (see `ratapprox --help`)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = _COMMANDS[args.command](args)
        except RatapproxError as exc:
            if show_tb:
                traceback.print_exc()
            reason = getattr(exc, "reason", None)
            tail = f" (reason: {reason})" if reason and reason not in str(exc) else ""
            print(f"ratapprox {args.command}: error: {_one_line(str(exc))}{tail}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("ratapprox: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (`ratapprox fit ... | head`): not an error of ours, no message.
            # As the Python docs advise, point stdout at devnull so the exit flush cannot fail.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_INTERNAL
        except Exception as exc:  # a bug, not bad input: still one line unless --traceback
            if show_tb:
                traceback.print_exc()
            print(f"ratapprox {args.command}: internal error: {type(exc).__name__}: "
                  f"{_one_line(str(exc))} (rerun with --traceback)", file=sys.stderr)
            return EXIT_INTERNAL
    seen = set()
    for w in caught:
        line = f"ratapprox: warning: {_one_line(str(w.message))}"
        if line not in seen:
            seen.add(line)
            print(line, file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
