"""Plots (matplotlib, imported lazily) and the markdown report of a proofs_checks run.

Each check gets a log-log or semi-log figure with its data, the fitted line and the predicted
one.  The report states the command that produced it, each theorem's predicted rate next to the
fitted one with its 95% interval, the verdict and the reason the code gave for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = ["make_plots", "render_report"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".tmp-" + os.path.basename(path))
    fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    os.replace(tmp, path)
    return path


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


# ------------------------------------------------------------------------------------------ plots
def _plot_thm5(rec: dict, out: str) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    etas = sorted({d["eta"] for d in rec["data"]}, reverse=True)
    for kind, ax in zip(("jumps", "continuous"), axes):
        for eta in etas:
            pts = [d for d in rec["data"] if d["eta"] == eta and d["kind"] == kind]
            N = [d["N"] for d in pts]
            e = [_num(d["error"]) for d in pts]
            (line,) = ax.loglog(N, e, "o", ms=4, label=f"eta = {eta:g}")
            fit = next((f for f in rec["fits"] if f["eta"] == eta and f["kind"] == kind), None)
            if fit:
                a, b = fit["fit"]["intercept"], fit["fit"]["slope"]
                Nf = [n for n in N if n >= fit["fit_range"][0]]
                ax.loglog(Nf, [math.exp(a) * (n + 1) ** b for n in Nf], "-", color=line.get_color(), lw=1)
                ax.loglog(N, [fit["C_predicted"] / (n + 1) ** 2 for n in N], ":",
                          color=line.get_color(), lw=1)
        ax.set_xlabel("N (breakpoints)")
        ax.set_ylabel("best uniform error eps(N)")
        ax.set_title(f"Thm 5, PL {'with jumps (exact)' if kind == 'jumps' else 'continuous (upper bound)'}\n"
                     "solid: fit, dotted: C(eta)/(N+1)^2")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    return [_save(fig, os.path.join(out, "thm5_lower_bound.png"))]


def make_plots(records: Sequence[dict], out_dir: str) -> dict[str, list[str]]:
    """Write one or more PNGs per check into ``out_dir``; returns ``{check: [paths]}``."""
    plotters = {"thm5_lower_bound": _plot_thm5}
    for name in ("lemma1_thm2", "thm3_relu", "thm4_jump", "claims_audit"):
        fn = globals().get(f"_plot_{name}")
        if fn is not None:
            plotters[name] = fn
    figs: dict[str, list[str]] = {}
    for rec in records:
        fn = plotters.get(rec["check"])
        if fn is None or rec["verdict"] == "not run":
            continue
        try:
            figs[rec["check"]] = fn(rec, out_dir)
        except Exception as exc:  # a plot failure must not lose the report
            figs[rec["check"]] = []
            rec.setdefault("plot_error", repr(exc))
        finally:
            _plt().close("all")
    return figs


# ------------------------------------------------------------------------------------------ report
def _f(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_f(v, digits) for v in x) + "]"
    v = _num(x)
    if math.isnan(v):
        return str(x)
    return f"{v:.{digits}g}"


_TITLES = {
    "lemma1_thm2": "Lemma 1 / Theorem 2: sign on E_delta, size O(log(1/eps) log(1/delta))",
    "thm3_relu": "Theorem 3: ReLU, size O(log^2(1/eps))",
    "thm4_jump": "Theorem 4: JumpReLU / supplied-threshold step outside (theta-delta, theta+delta)",
    "thm5_lower_bound": "Theorem 5: PL gates need N = Omega(eps^-1/2) for eta^2/(x^2+eta^2)",
    "claims_audit": "Audit of the paper's numerical claims about the gates",
}


def render_report(records: Sequence[dict], *, figures: dict[str, list[str]] | None = None,
                  command: str = "python -m proofs_checks", report_path: str | None = None) -> str:
    """Markdown report: summary table, then one section per check (generated text only)."""
    figures = figures or {}
    base = os.path.dirname(os.path.abspath(report_path)) if report_path else os.getcwd()
    L = ["# proofs_checks report", "",
         f"Produced by `{command}` (from the repository root).  Every number below is computed by that "
         "command; verdicts are computed by `proofs_checks.fitting.verdict_from_fit` and the rules in each "
         "module, not written by hand.", "",
         "| check | predicted | fitted | 95% CI | verdict |", "| --- | --- | --- | --- | --- |"]
    for r in records:
        L.append(f"| `{r['check']}` | {_f(r['predicted'])} | {_f(r['fitted'])} | {_f(r['ci95'])} | "
                 f"**{r['verdict']}** |")
    L.append("")
    for r in records:
        L += [f"## {_TITLES.get(r['check'], r['check'])}", ""]
        if r.get("statement"):
            L += [f"*Statement checked:* {r['statement']}", ""]
        if r.get("predicted_source"):
            L += [f"*Prediction:* {r['predicted_source']}", ""]
        L += [f"**Verdict: {r['verdict']}** -- {r['reason']}", ""]
        for para in r.get("notes", []):
            L += [para, ""]
        for tbl in r.get("tables", []):
            L += [f"**{tbl['title']}**", ""]
            L.append("| " + " | ".join(tbl["columns"]) + " |")
            L.append("|" + " --- |" * len(tbl["columns"]))
            for row in tbl["rows"]:
                L.append("| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |")
            L.append("")
        for path in figures.get(r["check"], []):
            rel = os.path.relpath(path, base)
            L += [f"![{r['check']}]({rel})", ""]
        L += [f"_Run time: {_f(r.get('seconds'), 3)} s._", ""]
    return "\n".join(L) + "\n"
