"""Tests of proofs_checks: fitting and verdict logic, the Theorem 5 solver, the |x| Remez, and the
record shape of the CLI on a reduced configuration (the full ``--quick`` run is for the CLI).

Reference values: E_{4,4}(|x|) from ``ratapprox.minimax`` (independent code path); the
Zolotarev rate from the closed form K'/(pi K) and its small-delta asymptote (2/pi^2) log(4/delta).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from proofs_checks import CHECKS, REQUIRED_FIELDS
from proofs_checks.__main__ import main, run_checks
from proofs_checks.fitting import linear_fit, pooled_slope_fit, verdict_from_fit

RTOL = 1e-9


# ------------------------------------------------------------------------------------- fitting
def test_linear_fit_exact_line_has_collapsed_interval():
    x = np.arange(5.0)
    f = linear_fit(x, 3.0 - 2.0 * x)
    assert f.slope == pytest.approx(-2.0, rel=RTOL)
    assert f.intercept == pytest.approx(3.0, rel=RTOL)
    assert f.slope_ci95[1] - f.slope_ci95[0] < 1e-9


def test_linear_fit_interval_covers_truth_on_noisy_data():
    rng = np.random.default_rng(918273645)
    x = np.linspace(0, 10, 40)
    f = linear_fit(x, 1.5 * x + 2 + rng.normal(0, 0.5, x.size))
    assert f.slope_ci95[0] < 1.5 < f.slope_ci95[1]
    assert f.slope_ci95[1] - f.slope_ci95[0] < 0.2


def test_pooled_fit_recovers_common_slope_with_group_intercepts():
    x = np.arange(6.0)
    f = pooled_slope_fit([(x, 1 - 2 * x), (x, 5 - 2 * x + 1e-3 * np.sin(x))])
    assert f.slope == pytest.approx(-2.0, abs=1e-3)
    assert f.intercepts[0] == pytest.approx(1.0, abs=1e-2)
    assert f.intercepts[1] == pytest.approx(5.0, abs=1e-2)


@pytest.mark.parametrize("bad", [([1, 2], [1, 2]), ([1, 1, 1], [1, 2, 3]), ([1, 2, np.nan], [1, 2, 3])])
def test_linear_fit_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        linear_fit(*bad)


def test_verdict_logic():
    x = np.arange(6.0)
    f = linear_fit(x, 0.33 * x + 1e-3 * (-1) ** np.arange(6))
    assert verdict_from_fit(0.33, f)[0] == "consistent"  # in the CI
    assert verdict_from_fit(1 / math.pi, f)[0] == "inconsistent"  # CI too narrow, no tolerance
    v, why = verdict_from_fit(1 / math.pi, f, rel_tol=0.05)
    assert v == "consistent" and "within 5%" in why
    assert verdict_from_fit(0.2, f, rel_tol=0.05)[0] == "inconsistent"


# ------------------------------------------------------------------------------------- Theorem 5
def test_thm5_bracket_and_equidistribution_constant():
    from proofs_checks.thm5_lower_bound import best_pl_error, predicted_constant

    r = best_pl_error(0.1, 64, "jumps")
    assert 0 < r.lower <= r.upper <= r.lower * (1 + 1e-6)
    # eps(N) (N+1)^2 -> C(eta) = (int |f''|^(1/2))^2 / 16 (de Boor 1973): within 3% at N = 64
    assert r.upper * 65**2 / predicted_constant(0.1) == pytest.approx(1.0, rel=0.03)
    c = best_pl_error(0.1, 64, "continuous")
    assert c.lower == r.lower and c.upper >= r.lower


def test_thm5_direct_optimisation_lies_in_the_bracket():
    from proofs_checks.thm5_lower_bound import best_pl_error, direct_continuous

    d = direct_continuous(1.0, 2, starts=2)
    lo, hi = best_pl_error(1.0, 2, "jumps").lower, best_pl_error(1.0, 2, "continuous").upper
    assert lo * (1 - 1e-3) <= d <= hi * (1 + 1e-3)


def test_thm5_rejects_bad_input():
    from proofs_checks.thm5_lower_bound import best_pl_error

    with pytest.raises(ValueError, match="eta"):
        best_pl_error(-1.0, 4)
    with pytest.raises(ValueError, match="kind"):
        best_pl_error(0.1, 4, "smooth")


# ------------------------------------------------------------------------------------- Thm 2 / Thm 3
def test_zolotarev_rate_tends_to_its_asymptote():
    from proofs_checks.lemma1_thm2 import predicted_rate

    s = predicted_rate("1e-8")
    assert s == pytest.approx(2 / math.pi**2 * math.log(4e8), rel=1e-6)


def test_abs_remez_matches_ratapprox_minimax():
    from proofs_checks._abs_remez import best_sqrt_pf
    from ratapprox import Domain, minimax

    res = best_sqrt_pf(2)
    assert res.converged
    ref = minimax("abs", 4, 4, Domain.interval(-1, 1), dps=30)
    assert float(res.levelled) == pytest.approx(float(ref.error), rel=1e-9)


def test_sqrt_certificate_brackets_and_is_not_fooled_by_a_perturbation():
    import mpmath as mp

    from proofs_checks._abs_remez import SqrtPF, best_sqrt_pf, certify_sqrt_pf

    res = best_sqrt_pf(5)
    c = certify_sqrt_pf(res.rational, res.reference)
    E = float(res.levelled)
    assert c.rigorous and 0 < c.lower <= E <= c.upper <= E * (1 + 1e-5)
    # a worse rational (one pole moved by 1%): the upper bound must still cover its sampled
    # maximum, and the lower bound (de la Vallee Poussin) must stay below the optimum
    with mp.workdps(res.dps):
        bad = SqrtPF(res.rational.c, list(res.rational.w), [res.rational.q[0] * mp.mpf("1.01"),
                                                             *res.rational.q[1:]])
        xs = [mp.mpf(i) / 4000 for i in range(4001)] + [mp.mpf(10) ** (-j / 10) for j in range(120)]
        smax = max(abs(bad.err(x)) for x in xs)
    cb = certify_sqrt_pf(bad, res.reference, max_boxes=5000)
    assert cb.upper >= float(smax) > E
    assert cb.lower <= E


def test_cubic_max_bound_covers_the_true_maximum():
    from fractions import Fraction

    from proofs_checks._abs_remez import _cubic_max

    rng = np.random.default_rng(20261123)
    s = np.linspace(-1, 1, 20001)
    for _ in range(200):
        c = [int(v) for v in rng.integers(-10**6, 10**6, size=4)]
        lo, hi = c, [v + int(rng.integers(0, 3)) for v in c]  # enclosures of width 0..2
        bound = _cubic_max(lo, hi)
        # any cubic inside the enclosures stays below the bound; its sampled max is close to it
        for pick in (lo, hi):
            vals = np.abs(np.polyval(np.array(pick[::-1], dtype=float), s))
            assert vals.max() <= float(bound) * (1 + 1e-12)
        assert float(bound) <= np.abs(np.polyval(np.array(lo[::-1], dtype=float), s)).max() + 20
    assert _cubic_max([0, 0, 0, 0], [0, 0, 0, 0]) == Fraction(0)


def test_monomial_form_is_the_same_rational():
    import mpmath as mp

    from proofs_checks._abs_remez import best_sqrt_pf, monomial_in_x

    res = best_sqrt_pf(3)
    num, den = monomial_in_x(res.rational)
    with mp.workdps(50):
        for x in (mp.mpf(0), mp.mpf("0.013"), mp.mpf("0.5"), mp.mpf(1)):
            p = mp.polyval([mp.mpf(c.numerator) / c.denominator for c in num[::-1]], x)
            q = mp.polyval([mp.mpf(c.numerator) / c.denominator for c in den[::-1]], x)
            assert abs(x - p / q - res.rational.err(x)) < mp.mpf(10) ** -30


def test_thm3_point_that_cannot_be_computed_is_reported_not_used(monkeypatch):
    import proofs_checks._abs_remez as ar
    from proofs_checks.thm3_relu import _point

    def boom(k, **kw):
        raise ArithmeticError("no start led to an alternating reference")

    monkeypatch.setattr(ar, "best_sqrt_pf", boom)
    rec, res = _point(84)
    assert res is None and rec["decided"] is False and "alternating" in rec["notes"][0]


def test_sqrt_remez_rejects_bad_degree():
    from proofs_checks._abs_remez import best_sqrt_pf

    with pytest.raises(ValueError, match="k"):
        best_sqrt_pf(0)


# ------------------------------------------------------------------------------------- records
def _check_record(rec):
    for f in REQUIRED_FIELDS:
        assert f in rec, f
    assert rec["verdict"] in ("consistent", "inconsistent", "not run", "reproduced", "not reproduced",
                              "depends on an unstated choice", "mixed")
    if rec["verdict"] != "not run":
        assert isinstance(rec["predicted"], float) and isinstance(rec["fitted"], float)
        lo, hi = rec["ci95"]
        assert lo <= hi
        assert len(rec["data"]) > 0


def test_cli_json_reduced_configuration(capsys):
    # the two cheapest checks end to end through the CLI (the full --quick run is for the CLI itself)
    code = main(["--quick", "--json", "--only", "lemma1_thm2", "thm4_jump"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["quick"] is True
    assert set(out["checks"]) == {"lemma1_thm2", "thm4_jump"}
    for rec in out["checks"].values():
        _check_record(rec)
        assert rec["verdict"] == "consistent"


def test_failing_check_becomes_not_run(monkeypatch):
    import proofs_checks.thm4_jump as mod

    def boom(quick=False):
        raise ImportError("ratapprox.zolotarev is missing")

    monkeypatch.setattr(mod, "run", boom)
    (rec,) = run_checks(["thm4_jump"], quick=True)
    assert rec["verdict"] == "not run" and "zolotarev" in rec["reason"]
    assert rec["predicted"] is None and rec["data"] == []


def test_unknown_check_is_rejected():
    with pytest.raises(ValueError, match="unknown check"):
        run_checks(["thm9"])
    assert set(CHECKS) == {"lemma1_thm2", "thm3_relu", "thm4_jump", "thm5_lower_bound", "claims_audit"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["thm3_relu", "thm5_lower_bound"])
def test_quick_records_of_the_slower_checks(name):
    (rec,) = run_checks([name], quick=True)
    _check_record(rec)
    assert rec["verdict"] == "consistent", rec["reason"]
