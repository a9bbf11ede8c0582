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
                ax.loglog(
                    N, [fit["C_predicted"] / (n + 1) ** 2 for n in N], ":", color=line.get_color(), lw=1
                )
        ax.set_xlabel("N (breakpoints)")
        ax.set_ylabel("best uniform error eps(N)")
        ax.set_title(
            f"Thm 5, PL {'with jumps (exact)' if kind == 'jumps' else 'continuous (upper bound)'}\n"
            "solid: fit, dotted: C(eta)/(N+1)^2"
        )
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    return [_save(fig, os.path.join(out, "thm5_lower_bound.png"))]


def _plot_lemma1_thm2(rec: dict, out: str) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for d in sorted({p["delta"] for p in rec["data"]}, key=float):
        pts = sorted((p for p in rec["data"] if p["delta"] == d), key=lambda p: p["n"])
        (line,) = ax.semilogy([p["n"] for p in pts], [p["error"] for p in pts], "o", ms=3, label=f"delta={d}")
        fit = next((f for f in rec["fits"] if f["delta"] == d), None)
        if fit:
            ns = [p["n"] for p in pts]
            s, a = fit["fit"]["slope"], fit["fit"]["intercept"]  # n = a + s log(1/E)
            ax.semilogy(ns, [math.exp(-(n - a) / s) for n in ns], "-", color=line.get_color(), lw=0.8)
    ax.set_xlabel("size n = 2r+1")
    ax.set_ylabel("Zolotarev error E_r(delta)")
    ax.set_title("sign on E_delta: semi-log, fitted lines")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, alpha=0.3)
    ax = axes[1]
    u = [1 / math.log(1 / float(f["delta"])) for f in rec["fits"]]
    ax.plot(u, [f["c_fitted"] for f in rec["fits"]], "o", label="fitted c(delta) = s/log(1/delta)")
    ax.plot(u, [f["c_predicted"] for f in rec["fits"]], "x", label="K'/(pi K log(1/delta))")
    if rec.get("limit_fit"):
        lf = rec["limit_fit"]
        uu = [0.0, max(u)]
        ax.plot(uu, [lf["intercept"] + lf["slope"] * v for v in uu], "-", lw=1, label="linear extrapolation")
    ax.axhline(2 / math.pi**2, color="k", ls=":", label="2/pi^2")
    ax.set_xlabel("1/log(1/delta)")
    ax.set_ylabel("n / (log(1/eps) log(1/delta))")
    ax.set_title("the ratio's limit")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return [_save(fig, os.path.join(out, "lemma1_thm2.png"))]


def _plot_thm3_relu(rec: dict, out: str) -> list[str]:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    d = [p for p in rec["data"] if p.get("decided")]  # certified points only
    ax = axes[0]
    ax.semilogy([p["n"] for p in d], [p["relu_error"] for p in d], "o", ms=4, label="best (n+1,n), certified")
    ax.semilogy([p["n"] for p in d], [p["stahl"] / 2 for p in d], "--", label="Stahl 4 exp(-pi sqrt n)")
    t = [r for r in rec["eps_table"] if r["constructive_size"]]
    ax.semilogy(
        [r["constructive_size"] for r in t],
        [r["eps"] for r in t],
        "s",
        ms=4,
        label="constructive (Zolotarev) size for eps",
    )
    ax.set_xlabel("n")
    ax.set_ylabel("ReLU uniform error")
    ax.set_title("Thm 3: semi-log")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    ax = axes[1]
    x = [math.log(1 / p["relu_error"]) for p in d]
    ax.plot(x, [math.sqrt(p["n"]) for p in d], "o", label="data")
    if rec.get("fit"):
        f = rec["fit"]
        ax.plot(x, [f["intercept"] + f["slope"] * v for v in x], "-", label=f"fit slope {f['slope']:.4f}")
    ax.plot(x, [(v + math.log(4)) / math.pi for v in x], ":", label="Stahl: (log(1/eps)+log 4)/pi")
    ax.set_xlabel("log(1/eps)")
    ax.set_ylabel("sqrt(n)")
    ax.set_title("sqrt(n) vs log(1/eps)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return [_save(fig, os.path.join(out, "thm3_relu.png"))]


def _plot_thm4_jump(rec: dict, out: str) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    pts = [p for p in rec["data"] if p["gate"].startswith("step")]
    for th in sorted({p["theta"] for p in pts}):
        q = [p for p in pts if p["theta"] == th]
        ax.plot([p["X"] for p in q], [p["size"] for p in q], "o", ms=3, label=f"step, theta={th}")
    xs = sorted(p["X"] for p in pts)
    f = rec["fit"]
    ax.plot(xs, [f["intercept"] + f["slope"] * v for v in xs], "-", label=f"fit slope {f['slope']:.4f}")
    ax.plot(xs, [2 / math.pi**2 * v for v in xs], ":", label="(2/pi^2) X")
    ax.set_xlabel("X = log(2/eps) log(4(1+|theta|)/delta)")
    ax.set_ylabel("constructive size n")
    ax.set_title("Thm 4: size vs log(1/eps) log(1/delta)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return [_save(fig, os.path.join(out, "thm4_jump.png"))]


def _plot_claims_audit(rec: dict, out: str) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    relu = sorted(
        [f for f in rec["data"] if f["target"] == "relu" and f["reading"].startswith("minimax on the 4001")],
        key=lambda f: f["type"][0],
    )
    ax.semilogy(
        [f["type"][0] for f in relu], [f["uniform_error"] for f in relu], "o-", label="ReLU uniform (grid)"
    )
    ax.semilogy(
        [f["type"][0] for f in relu], [f["mse_grid_in_domain"] for f in relu], "s-", label="ReLU MSE (grid)"
    )
    ax.axhline(3.8e-7, color="C1", ls=":", label="paper: ReLU MSE 3.8e-7")
    ax.axhline(2.4e-6, color="C2", ls=":", label="paper: JumpReLU MSE 2.4e-6")
    ax.axhline(2.0**-24, color="k", ls="--", lw=0.8, label="float32 unit roundoff")
    ax.set_xlabel("numerator degree m of type (m, m-1)")
    ax.set_ylabel("error")
    ax.set_title("claims audit: ReLU fits on the 4001-point grid")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return [_save(fig, os.path.join(out, "claims_audit.png"))]


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


def _dump(val) -> str:
    import json

    def short(x):
        if isinstance(x, float):
            return float(f"{x:.6g}")
        if isinstance(x, dict):
            return {k: short(v) for k, v in x.items()}
        if isinstance(x, list):
            return [short(v) for v in x]
        return x

    v = short(val)
    if isinstance(v, list):  # one compact line per item
        return "\n".join(json.dumps(x) for x in v)[:8000]
    return json.dumps(v)[:8000]


_TITLES = {
    "lemma1_thm2": "Lemma 1 / Theorem 2: sign on E_delta, size O(log(1/eps) log(1/delta))",
    "thm3_relu": "Theorem 3: ReLU, size O(log^2(1/eps))",
    "thm4_jump": "Theorem 4: JumpReLU / supplied-threshold step outside (theta-delta, theta+delta)",
    "thm5_lower_bound": "Theorem 5: PL gates need N = Omega(eps^-1/2) for eta^2/(x^2+eta^2)",
    "claims_audit": "Audit of the paper's numerical claims about the gates",
}


def render_report(
    records: Sequence[dict],
    *,
    figures: dict[str, list[str]] | None = None,
    command: str = "python -m proofs_checks",
    report_path: str | None = None,
) -> str:
    """Markdown report: summary table, then one section per check (generated text only)."""
    figures = figures or {}
    base = os.path.dirname(os.path.abspath(report_path)) if report_path else os.getcwd()
    L = [
        "# proofs_checks report",
        "",
        f"Produced by `{command}` (from the repository root).  Every number below comes from that "
        "run; verdicts are computed by `proofs_checks.fitting.verdict_from_fit` and the rules "
        "in each module, not written by hand.",
        "",
        "| check | predicted | fitted | 95% CI | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in records:
        L.append(
            f"| `{r['check']}` | {_f(r['predicted'])} | {_f(r['fitted'])} | {_f(r['ci95'])} | "
            f"**{r['verdict']}** |"
        )
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
        fits = [f for f in r.get("fits", []) if isinstance(f, dict) and "fitted" in f]
        if fits:
            keys = [k for k in ("eta", "kind", "delta") if k in fits[0]]
            extra = [
                k for k in ("C_predicted", "C_fitted_at_Nmax", "c_fitted", "c_predicted") if k in fits[0]
            ]
            L += ["**Per-case fits**", ""]
            L.append(
                "| "
                + " | ".join([*keys, "quantity", "predicted", "fitted", "95% CI", *extra, "verdict"])
                + " |"
            )
            L.append("|" + " --- |" * (len(keys) + len(extra) + 5))
            for f in fits:
                row = [str(f[k]) for k in keys] + [
                    str(f.get("quantity", "")),
                    _f(f["predicted"], 6),
                    _f(f["fitted"], 6),
                    _f(f["ci95"], 5),
                ]
                row += [_f(f[k], 5) for k in extra] + [str(f["verdict"])]
                L.append("| " + " | ".join(row) + " |")
            L.append("")
        for key, title in (
            ("remez_cross_check", "Remez cross-check of the closed form"),
            ("cross_checks", "cross-checks with ratapprox.minimax"),
            ("certified_gates", "constructed gates: certified error vs proven bound vs best"),
            ("direct_optimisation", "direct optimisation (small N) vs the bracket"),
            ("pre_asymptotic", "pre-asymptotic term"),
            ("undecided", "undecided points"),
        ):
            val = r.get(key)
            if val:
                L += [f"**{title}**", "", "```", _dump(val), "```", ""]
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
