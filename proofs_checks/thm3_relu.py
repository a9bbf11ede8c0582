r"""Theorem 3: ReLU on [-1, 1] with a rational of size O(log^2(1/eps)).

Reductions (proved here, verified numerically in the record):

* ``R -> 2R - x`` is a bijection of the type-(n+1, n) rationals, and ``2 relu(x) - x = |x|``, so
  :math:`E_{n+1,n}(\mathrm{ReLU}) = E_{n+1,n}(|x|)/2`.
* The best approximation of the even |x| is even (uniqueness; Achieser 1956), an even rational of
  type (2k+1, 2k) has type (2k, 2k), so :math:`E_{2k+1,2k}(|x|) = E_{2k,2k}(|x|)`; and
  ``|x| = sqrt(x^2)`` gives :math:`E_{2k,2k}(|x|) = E_{k,k}(\sqrt t; [0,1])`.

Hence the best type (2k+1, 2k) ReLU error is half the best (2k, 2k) |x| error, which we compute
with :mod:`proofs_checks._abs_remez` and certify with ``ratapprox.certify`` (rigorous de la Vallée
Poussin lower bound on [-1, 1] from the symmetric alternation set, rigorous interval
branch-and-bound upper bound on [0, 1], the error being exactly even).

Prediction (Stahl 1993, *Best uniform rational approximation of |x| on [-1, 1]*, Mat. Sb. 183):
:math:`E_{n,n}(|x|) = 8 e^{-\pi\sqrt n}(1 + o(1))`; so for ReLU
:math:`\sqrt n = (\log(1/\varepsilon) + \log 4)/\pi + o(1)`: slope 1/pi of sqrt(n) against
log(1/eps), i.e. size :math:`n \approx \log^2(1/\varepsilon)/\pi^2`.  Varga, Ruttan & Carpenter
(1993, Mat. Sb. 74) tabulated :math:`E_{2k,2k}(|x|)` to high precision; their observed ratio
:math:`E_n e^{\pi\sqrt n}/8 \to 1` is slow, which is the pre-asymptotic term we quantify.

Constructive route (the paper's proof): ``relu(x) ~ x (1 + R(x))/2`` with Zolotarev's R on
:math:`E_\delta` has error ``<= max(E_r(delta), delta)/2`` (``ratapprox.zolotarev_relu``); its size
``2r + 2`` with the best ``delta`` is asymptotically ``(2/pi^2) log^2(1/eps)``, i.e. twice the
best size: predicted ratio 2.
"""

from __future__ import annotations

import math
import time

import mpmath

from .fitting import linear_fit, local_slopes, verdict_from_fit

__all__ = ["run"]

_CERT_DPS = 40


def _to_x(res) -> tuple[list, list]:
    """P(t)/Q(t) with t = x^2 -> coefficient lists in x (degree 2k)."""
    k = res.n // 2
    num = [mpmath.mpf(0)] * (2 * k + 1)
    den = [mpmath.mpf(0)] * (2 * k + 1)
    for i, c in enumerate(res.num):
        num[2 * i] = c
    for i, c in enumerate(res.den):
        den[2 * i] = c
    return num, den


def _certify_abs(res, *, upper: bool) -> dict:
    from ratapprox import Domain
    from ratapprox.certify import certify, lower_bound_de_la_vallee_poussin

    num, den = _to_x(res)
    with mpmath.workdps(res.dps):
        alt = sorted({*res.reference, *[-x for x in res.reference]})
    lo, _notes = lower_bound_de_la_vallee_poussin(
        "abs", num, den, alt, Domain.interval(-1, 1), m=res.n, n=res.n, dps=_CERT_DPS
    )
    out = {
        "lower": float(lo),
        "upper": float(res.max_error),
        "rigorous_upper": False,
        "certificate": "lower: de la Vallee Poussin on [-1,1] (rigorous); upper: sampled maximum",
    }
    if upper:
        c = certify("abs", num, den, Domain.interval(0, 1), m=res.n, n=res.n, dps=_CERT_DPS, rel_tol=1e-4)
        out.update(
            upper=float(c.upper),
            rigorous_upper=bool(c.rigorous),
            certificate=f"lower: de la Vallee Poussin on [-1,1]; upper: {c.method} on [0,1] (even error)",
        )
    return out


def _constructive_size(eps: float) -> dict:
    """Smallest 2r+2 such that max(E_r(delta), delta)/2 <= eps for some delta (closed-form E_r)."""
    from ratapprox.zolotarev import zolotarev_error_independent

    for r in range(0, 400):
        # the best delta balances E_r(delta) = delta (E_r decreases in delta); bisection in log delta
        lo, hi = -60.0, math.log(0.999)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            d = math.exp(mid)
            if float(zolotarev_error_independent(repr(d), r, 30)) > d:
                lo = mid
            else:
                hi = mid
        d = math.exp(hi)
        bound = max(float(zolotarev_error_independent(repr(d), r, 30)), d) / 2
        if bound <= eps:
            return {"r": r, "size": 2 * r + 2, "delta": d, "bound": bound}
    raise RuntimeError("constructive size beyond r = 400")


def run(quick: bool = False) -> dict:
    """Theorem 3 record (see the module docstring)."""
    from ._abs_remez import best_abs_sequence

    t0 = time.perf_counter()
    k_max = 6 if quick else 17
    n_cert_max = 26  # interval upper bound beyond this costs minutes per degree
    n_fit_min = 8
    seq = best_abs_sequence(k_max)
    data, undecided = [], []
    for res in seq:
        if res.levelled is None or not res.converged:
            undecided.append({"n": res.n, "reason": getattr(res, "failure", "Remez did not converge")})
            continue
        cert = _certify_abs(res, upper=res.n <= (8 if quick else n_cert_max))
        E = float(res.levelled)
        rec = {
            "n": res.n,
            "type_abs": [res.n, res.n],
            "type_relu": [res.n + 1, res.n],
            "abs_error": E,
            "relu_error": E / 2,
            "abs_lower": cert["lower"],
            "abs_upper": cert["upper"],
            "relu_lower": cert["lower"] / 2,
            "relu_upper": cert["upper"] / 2,
            "rigorous_upper": cert["rigorous_upper"],
            "certificate": cert["certificate"],
            "remez_iterations": res.iterations,
            "dps": res.dps,
            "stahl": 8 * math.exp(-math.pi * math.sqrt(res.n)),
            "ratio_to_stahl": E * math.exp(math.pi * math.sqrt(res.n)) / 8,
        }
        width = (rec["abs_upper"] - rec["abs_lower"]) / rec["abs_upper"]
        rec["decided"] = width <= 1e-2
        if not rec["decided"]:
            undecided.append({"n": res.n, "reason": f"certificate relative width {width:.2g} > 1e-2"})
        data.append(rec)
    use = [d for d in data if d["n"] >= n_fit_min and d["decided"]]
    predicted = 1 / math.pi
    # 1) sqrt(n) against log(1/eps_relu): Stahl predicts slope 1/pi, intercept log(4)/pi
    if len(use) >= 3:
        fit = linear_fit([math.log(1 / d["relu_error"]) for d in use], [math.sqrt(d["n"]) for d in use])
        verdict, reason = verdict_from_fit(predicted, fit, rel_tol=0.05)
        fitted, ci = fit.slope, list(fit.slope_ci95)
        fit_json = fit.to_json()
    else:
        fit, fitted, ci, fit_json = None, None, None, None
        verdict, reason = "not run", f"fewer than 3 certified points with n >= {n_fit_min}"
    # 2) cross-checks: ReLU (2k+1, 2k) directly with ratapprox.minimax and certify
    cross = []
    try:
        from ratapprox import Domain, minimax

        for k in [1] if quick else [1, 2]:
            m = minimax("relu", 2 * k + 1, 2 * k, Domain.interval(-1, 1), dps=30)
            absd = next(d for d in data if d["n"] == 2 * k)
            cross.append(
                {
                    "relu_type": [2 * k + 1, 2 * k],
                    "minimax_relu_error": float(m.error),
                    "minimax_lower": float(m.error_lower),
                    "minimax_upper": float(m.error_upper),
                    "half_abs_error": absd["relu_error"],
                    "agree": bool(
                        float(m.error_lower) <= absd["relu_error"] * (1 + 1e-8)
                        and absd["relu_error"] <= float(m.error_upper) * (1 + 1e-8)
                    ),
                }
            )
        m = minimax("abs", 4, 4, Domain.interval(-1, 1), dps=30)
        absd = next(d for d in data if d["n"] == 4)
        cross.append(
            {
                "abs_type": [4, 4],
                "minimax_abs_error": float(m.error),
                "sqrt_remez": absd["abs_error"],
                "agree": abs(float(m.error) / absd["abs_error"] - 1) < 1e-8,
            }
        )
    except Exception as exc:
        cross.append({"error": repr(exc)})
    if any(not c.get("agree", False) for c in cross) and verdict == "consistent":
        verdict, reason = "inconsistent", reason + "; a cross-check with ratapprox.minimax disagrees"
    # 3) smallest n for each eps, best vs constructive
    eps_list = [10.0**-j for j in range(2, 13)]
    table = []
    for eps in eps_list:
        best = next((d for d in data if d["relu_upper"] <= eps), None)
        try:
            cons = _constructive_size(eps)
        except Exception as exc:
            cons = {"size": None, "error": repr(exc)}
        stahl_n = (math.log(4 / eps) / math.pi) ** 2
        table.append(
            {
                "eps": eps,
                "best_n": best["n"] if best else None,
                "best_error_upper": best["relu_upper"] if best else None,
                "stahl_n": stahl_n,
                "constructive_size": cons.get("size"),
                "constructive_delta": cons.get("delta"),
                "gap_ratio_vs_stahl": (cons["size"] / stahl_n) if cons.get("size") else None,
                "gap_ratio_vs_best": (cons["size"] / best["n"]) if (best and cons.get("size")) else None,
            }
        )
    # pre-asymptotic term: E_n e^{pi sqrt n}/8 = 1 - a / sqrt(n) + ... fitted over n >= n_fit_min
    pre = None
    if len(use) >= 3:
        pf = linear_fit([1 / math.sqrt(d["n"]) for d in use], [d["ratio_to_stahl"] for d in use])
        pre = {
            "model": "E_n exp(pi sqrt n)/8 = b0 + b1 / sqrt(n)",
            "b0": pf.intercept,
            "b0_ci95": list(pf.intercept_ci95),
            "b1": pf.slope,
            "b1_ci95": list(pf.slope_ci95),
            "local_slopes_sqrt_n_vs_log_inv_eps": local_slopes(
                [math.log(1 / d["relu_error"]) for d in use], [math.sqrt(d["n"]) for d in use]
            ),
        }
    largest = max((d["n"] for d in data), default=0)
    notes = [
        f"Best approximations computed up to n = {largest} (ReLU type ({largest + 1}, {largest}), error "
        f"{min((d['relu_error'] for d in data), default=float('nan')):.3g}); smaller eps in the table are "
        "reached only by the Stahl prediction and the constructive route.",
        "Certificates: the lower end is ratapprox's rigorous de la Vallee Poussin bound for every n; "
        f"the upper end is ratapprox's interval branch-and-bound for n <= {n_cert_max} and the sampled "
        "maximum of the error (not rigorous, flagged rigorous_upper = false) beyond, where the interval "
        "bound costs minutes per degree.",
    ]
    return {
        "check": "thm3_relu",
        "statement": "ReLU on [-1,1] to accuracy eps with a rational of size O(log^2(1/eps))",
        "predicted": predicted,
        "predicted_source": "Stahl (1993): E_{n,n}(|x|) ~ 8 exp(-pi sqrt n); "
        "E_{n+1,n}(ReLU) = E_{n,n}(|x|)/2 => d sqrt(n) / d log(1/eps) -> 1/pi",
        "fitted": fitted,
        "ci95": ci,
        "verdict": verdict,
        "reason": reason,
        "fit": fit_json,
        "fit_range_n": [use[0]["n"], use[-1]["n"]] if use else None,
        "pre_asymptotic": pre,
        "cross_checks": cross,
        "eps_table": table,
        "undecided": undecided,
        "notes": notes,
        "tables": [
            {
                "title": "smallest size for ReLU accuracy eps: best (certified) vs Stahl vs constructive",
                "columns": [
                    "eps",
                    "best n (type (n+1,n))",
                    "Stahl n",
                    "constructive 2r+2",
                    "constructive / Stahl",
                ],
                "rows": [
                    [
                        f"{t['eps']:.0e}",
                        t["best_n"] if t["best_n"] is not None else "beyond computed",
                        t["stahl_n"],
                        t["constructive_size"],
                        t["gap_ratio_vs_stahl"],
                    ]
                    for t in table
                ],
            }
        ],
        "data": data,
        "config": {"k_max": k_max, "n_fit_min": n_fit_min, "quick": quick},
        "seconds": time.perf_counter() - t0,
    }
