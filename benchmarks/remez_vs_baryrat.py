"""ratapprox's Remez exchange against baryrat's BRASIL on the same problems, in one run.

For each problem (target, type, domain) this script

1. runs ``ratapprox.minimax`` in float64 (timed, without certification), then certifies the
   result (timed separately): the certificate ``[error_lower, error_upper]`` brackets the optimum
   ``E*`` -- ``error_lower`` is a de la Vallée Poussin lower bound for *every* rational of the type,
   ``error_upper`` a rigorous upper bound of ratapprox's own error, hence ``>= E*``;
2. runs ``baryrat.brasil`` (Hofreither 2021, "An algorithm for best rational approximation based
   on barycentric rational interpolation", Numer. Algorithms 88) with its default parameters
   (``tol=1e-4``, ``maxiter=1000``, ``npi=-30``), timed;
3. measures both approximants' max error the same way, on one dense sample of the domain
   (Chebyshev points of each interval plus points clustered geometrically at break points) --
   an estimate, identical for both, and compares it with the certified bracket.  Where the
   optimum is far below double precision (exp at type (8, 8)), ratapprox runs its mpmath engine
   and its error is sampled in mpmath; BRASIL runs in float64 (baryrat's extended precision
   needs gmpy2, which is not installed here).

BRASIL approximates on one interval only; problems on a union of intervals (sign on
``[-1,-0.1] U [0.1,1]``, step with an excluded neighbourhood of the jump) are run through
ratapprox only and reported as "not supported" for BRASIL.

Usage::

    python benchmarks/remez_vs_baryrat.py [--json PATH] [--repeat K] [--only NAME ...]

Timings are wall-clock (best of ``--repeat`` runs) on whatever machine runs the script; the
machine is printed with the table.  BLAS runs single-threaded for both (threadpoolctl, when
installed): on a small shared machine the idle threads of a multithreaded OpenBLAS, woken by one
problem's large solves, kept spinning into the next problem's timings (exp (4, 4) measured
25 ms after the |x| problems instead of 13 ms; BRASIL's times are the same either way).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratapprox import Domain, __version__, get_target, minimax
from ratapprox.certify import certify
from ratapprox.errors import RatapproxError
from ratapprox.remez_float import _blas_single_thread


@dataclass(frozen=True)
class Problem:
    target: str
    m: int
    n: int
    domain: Domain
    label: str
    dps: int | None = None  # ratapprox's mp engine where the optimum is below double precision

    @property
    def single_interval(self) -> bool:
        return len(self.domain.intervals) == 1 and not self.domain.is_discrete


def problems() -> list[Problem]:
    iv = Domain.interval(-1, 1)
    return [
        Problem("relu", 3, 2, iv, "relu"),
        Problem("relu", 9, 8, iv, "relu"),
        Problem("abs", 10, 10, iv, "abs"),
        Problem("abs", 20, 20, iv, "abs"),
        Problem("exp", 4, 4, iv, "exp"),
        # E*(exp, (8,8)) is far below 1e-16: only an mp run can reach it; BRASIL runs in float64.
        Problem("exp", 8, 8, iv, "exp", dps=40),
        Problem("sign", 5, 4, Domain.sign_domain("0.1"), "sign, gap 0.1"),
        Problem("step:0.1", 9, 8, iv.excluding("0.1", "0.05"), "step:0.1, gap 0.05"),
    ]


def dense_sample(p: Problem, n: int = 20000) -> np.ndarray:
    """Chebyshev points per interval plus geometric clustering at the target's break points."""
    t = get_target(p.target)
    xs = [p.domain.sample(n)]
    for bp in (float(b) for b in t.breakpoints):
        for a, b in p.domain.intervals_float():
            g = np.geomspace(1e-14, 1, 2000)
            if a <= bp < b:
                xs.append(bp + (b - bp) * g)
            if a < bp <= b:
                xs.append(bp - (bp - a) * g)
            # Gap edges next to a break point: the error peaks there too.
            if bp < a:
                xs.append(a + (b - a) * g)
            if bp > b:
                xs.append(b - (b - a) * g)
    x = np.unique(np.concatenate(xs))
    return x[p.domain.contains(x)]


def sampled_error(f: Any, r: Any, x: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        e = np.abs(np.asarray(f(x), dtype=float) - np.asarray(r(x), dtype=float))
    return float(np.max(e)) if np.all(np.isfinite(e)) else float("inf")


def sampled_error_mp(t: Any, rational: Any, x: np.ndarray, dps: int) -> float:
    """max |f - r| over ``x`` evaluated in mpmath (for optima far below double precision)."""
    import mpmath

    from ratapprox._context import workdps

    with workdps(dps):
        return float(max(abs(t.mp(mpmath.mpf(float(v))) - rational.eval_mp(mpmath.mpf(float(v))))
                         for v in x))


def best_time(fn: Any, repeat: int) -> tuple[Any, float]:
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def run_problem(p: Problem, repeat: int) -> dict[str, Any]:
    t = get_target(p.target)
    x = dense_sample(p)
    row: dict[str, Any] = {"problem": p.label, "target": p.target, "type": [p.m, p.n],
                           "domain": str(p.domain),
                           "ratapprox_arithmetic": "float64" if p.dps is None else f"mpmath dps {p.dps}"}

    # ratapprox: fit (float64, no certificate), then the certificate on its own.
    try:
        res, t_fit = best_time(
            lambda: minimax(p.target, p.m, p.n, domain=p.domain, dps=p.dps, certify=False), repeat)
        t0 = time.perf_counter()
        # rel_tol 1e-6 (the bracket requirement) and a box budget keep the benchmark to
        # minutes; the bracket stays rigorous either way, only possibly wider.
        cert = certify(p.target, res.numerator, res.denominator, p.domain,
                       alternation_points=res.alternation_points, dps=p.dps or 30,
                       rel_tol=1e-6, max_boxes=20_000)
        t_cert = time.perf_counter() - t0
        err = (sampled_error(t.f_float, res.rational, x) if p.dps is None
               else sampled_error_mp(t, res.rational, x[:: max(1, x.size // 4000)], p.dps))
        row["ratapprox"] = {
            "converged": bool(res.converged), "iterations": int(res.iterations),
            "error_sampled": err,
            "levelled_error": float(res.error),
            "seconds_fit": t_fit, "seconds_certify": t_cert,
        }
        row["optimum_bracket"] = [float(cert.lower), float(cert.upper)]
        row["certificate_rigorous"] = bool(cert.rigorous)
    except RatapproxError as exc:
        row["ratapprox"] = {"failed": f"{type(exc).__name__}: {exc}"}
        row["optimum_bracket"] = None

    # BRASIL (one interval only).
    if not p.single_interval:
        row["brasil"] = {"supported": False,
                         "reason": "BRASIL approximates on a single interval; this domain is a union"}
    else:
        import baryrat

        a, b = p.domain.intervals_float()[0]

        def run_brasil() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return baryrat.brasil(t.f_float, (a, b), (p.m, p.n), info=True)

        import contextlib
        import io

        buf = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buf):  # BRASIL prints its non-convergence warning
                (r_b, info), t_b = best_time(run_brasil, repeat)
        except Exception as exc:  # BRASIL raised: report it as measured, do not hide the problem
            row["brasil"] = {"supported": True, "converged": False,
                             "failed": f"{type(exc).__name__}: {exc}",
                             "seconds": time.perf_counter() - t0}
        else:
            row["brasil"] = {
                "supported": True, "converged": bool(info.converged), "iterations": int(info.iterations),
                "error_reported": float(info.error), "error_sampled": sampled_error(t.f_float, r_b, x),
                "seconds": t_b,
            }
    # Distances to the optimum and speed-up (only where both produced an answer).
    lo = row["optimum_bracket"][0] if row.get("optimum_bracket") else None
    for key in ("ratapprox", "brasil"):
        d = row[key]
        if lo and "error_sampled" in d:
            d["excess_over_optimum"] = d["error_sampled"] / lo - 1.0
    rb, ra = row["brasil"], row["ratapprox"]
    if rb.get("converged") and "seconds_fit" in ra:
        row["speedup"] = rb["seconds"] / ra["seconds_fit"]
    return row


def _fmt(v: Any, spec: str = ".3e") -> str:
    return "-" if v is None else format(v, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ("problem", "type", "certified optimum [lo, hi]", "ratapprox err", "time fit (+cert)",
            "BRASIL err", "time", "conv.", "speed-up")
    out = [head]
    for r in rows:
        ra, rb = r["ratapprox"], r["brasil"]
        br = r.get("optimum_bracket")
        bracket = f"[{br[0]:.6e}, {br[1]:.6e}]" if br else "-"
        if "failed" in ra:
            ra_err, ra_t = "failed", "-"
        else:
            ra_err = _fmt(ra["error_sampled"])
            ra_t = f"{ra['seconds_fit']:.3f} s (+{ra['seconds_certify']:.2f})"
        if not rb["supported"]:
            b_err, b_t, b_c = "not supported", "-", "-"
        elif "failed" in rb:
            b_err, b_t, b_c = "raised " + rb["failed"].split(":")[0], f"{rb['seconds']:.3f} s", "no"
        else:
            b_err, b_t, b_c = _fmt(rb["error_sampled"]), f"{rb['seconds']:.3f} s", (
                "yes" if rb["converged"] else "no")
        sp = f"{r['speedup']:.2g}x" if "speedup" in r else "-"
        arith = r["ratapprox_arithmetic"]
        label = r["problem"] + ("" if arith == "float64" else f" [{arith}]")
        out.append((label, f"({r['type'][0]},{r['type'][1]})", bracket, ra_err, ra_t,
                    b_err, b_t, b_c, sp))
    widths = [max(len(row[i]) for row in out) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in out]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--repeat", type=int, default=1, help="best-of-K timings (default 1)")
    ap.add_argument("--only", action="append", help="run only problems whose label starts with this")
    args = ap.parse_args(argv)
    probs = [p for p in problems() if not args.only or any(p.label.startswith(o) for o in args.only)]
    rows = []
    with _blas_single_thread():  # one BLAS thread for both engines (module docstring)
        for p in probs:
            print(f"... {p.label} ({p.m},{p.n})", file=sys.stderr, flush=True)
            rows.append(run_problem(p, args.repeat))
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"Python {platform.python_version()}")
    print(format_table(rows))
    print(f"\nratapprox {__version__}; BRASIL = baryrat.brasil with default parameters; errors measured on "
          f"one dense sample per problem (the same for both); BLAS single-threaded for both; "
          f"machine: {machine}")
    if args.json:
        doc = {"ratapprox_version": __version__, "machine": machine, "repeat": args.repeat, "rows": rows}
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
