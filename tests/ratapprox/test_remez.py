"""Tests of ratapprox.minimax (remez.py) and the mpmath exchange engine (remez_mp.py).

Reference values and where they come from
-----------------------------------------
* ``|x|`` by cubics: the best cubic is ``x^2 + 1/8``, error 1/8 (Trefethen, *Approximation Theory
  and Approximation Practice*, 2013, ch. 10; also Chebfun's ``test_minimax.m``).  ``|x| + x`` by
  lines: ``1/2 + x`` (Chebfun ``test_minimax.m``).
* ReLU (3, 2): the coefficients published by Boullé, Nakatsukasa & Townsend (2020), in
  ``data/boulle2020_relu_3_2.json`` with their provenance (4 decimals).
* Zolotarev: the closed-form error of :func:`ratapprox.zolotarev.zolotarev` (Jacobi elliptic
  functions; that module cross-checks it against a theta-function formula).
* ``|x|`` at type (2k, 2k) on [-1, 1] equals ``sqrt(y)`` at type (k, k) on [0, 1]
  (substitute y = x^2; the best approximation of an even function is even).  We did not obtain
  the tables of Varga, Ruttan & Carpenter (1993); this identity is our independent computation:
  a different target, a different domain, no parity reduction.
* exp: the certified bracket of :func:`ratapprox.certify.certify` (interval arithmetic, written
  independently of the exchange) and a run at much higher precision.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratapprox._context import workdps
from ratapprox.barycentric import BarycentricRational
from ratapprox.domains import Domain
from ratapprox.errors import (
    ConvergenceError,
    InvalidInputError,
    PrecisionError,
    TargetEvaluationError,
)
from ratapprox.remez import MinimaxResult, minimax
from ratapprox.remez_mp import parity_reduced_type, remez_mp
from ratapprox.targets import Target, get_target

DATA = Path(__file__).parent / "data"


def _mpsqrt(x):
    return mpmath.sqrt(x) if isinstance(x, mpmath.mpf) else math.sqrt(x)


def _errors_at(res: MinimaxResult, xs, dps: int = 60):
    """f - p/q at ``xs``, from the returned monomial coefficients, evaluated at ``dps`` digits."""
    tgt = get_target(res.target) if not res.target.startswith("callable") else None
    with workdps(dps):
        out = []
        for x in xs:
            x = mpmath.mpf(x)
            f = tgt.mp(x) if tgt is not None else None
            r = mpmath.polyval(res.numerator[::-1], x) / mpmath.polyval(res.denominator[::-1], x)
            out.append(f - r if f is not None else r)
        return out


def _assert_equioscillates(res: MinimaxResult, rel: float):
    """At least m + n + 2 - defect alternating points where |f - r| = error (to ``rel``)."""
    m, n = res.type
    pts = res.alternation_points
    assert len(pts) >= m + n + 2 - res.defect
    errs = _errors_at(res, pts)
    for a, b in itertools.pairwise(errs):
        assert (a > 0) != (b > 0)
    with workdps(60):  # compare at high precision (mpf arithmetic rounds to the context's)
        for e in errs:
            assert abs(abs(e) / res.error - 1) < rel


# ------------------------------------------------------------------------- known best approximations
def test_best_cubic_to_abs_is_x2_plus_one_eighth():
    res = minimax("abs", 3, 0, dps=30, certify=False)
    assert res.converged
    assert abs(res.error - mpmath.mpf(1) / 8) < mpmath.mpf(10) ** -28
    expected = [mpmath.mpf(1) / 8, 0, 1, 0]
    assert all(abs(c - e) < mpmath.mpf(10) ** -28 for c, e in zip(res.numerator, expected))
    assert res.denominator == [1]
    _assert_equioscillates(res, 1e-25)


def test_best_line_to_abs_plus_x():
    # A kink where the error peaks must be declared (Target.breakpoints) to be hit exactly.
    tgt = Target("abs_plus_x", lambda x: np.abs(x) + x, lambda x: abs(x) + x, breakpoints=("0",))
    res = minimax(tgt, 1, 0, dps=20, certify=False)
    assert abs(res.error - mpmath.mpf(1) / 2) < mpmath.mpf(10) ** -18
    assert abs(res.numerator[0] - mpmath.mpf(1) / 2) < mpmath.mpf(10) ** -18
    assert abs(res.numerator[1] - 1) < mpmath.mpf(10) ** -18
    # A bare callable: the kink is found by Brent's search only to ~sqrt(eps) in x.
    bare = minimax(lambda x: abs(x) + x, 1, 0, dps=20, certify=False)
    assert abs(bare.error - mpmath.mpf(1) / 2) < 1e-12


# ------------------------------------------------------------------------- ReLU (3, 2)
@pytest.fixture(scope="module")
def relu32():
    return minimax("relu", 3, 2, dps=30, certify=False)


def test_relu_3_2_error_and_published_coefficients(relu32):
    ref = json.loads((DATA / "boulle2020_relu_3_2.json").read_text())
    assert relu32.converged and relu32.defect == 0
    assert abs(relu32.error - mpmath.mpf("0.022")) < mpmath.mpf("0.0005")  # "about 2.2e-2"
    for ours, theirs, dec in zip(relu32.numerator, ref["numerator_ascending"],
                                 ref["published_decimals_numerator"]):
        assert abs(ours - mpmath.mpf(theirs)) <= mpmath.mpf(10) ** -dec / 2
    for ours, theirs, dec in zip(relu32.denominator, ref["denominator_ascending"],
                                 ref["published_decimals_denominator"]):
        assert abs(ours - mpmath.mpf(theirs)) <= mpmath.mpf(10) ** -dec / 2
    _assert_equioscillates(relu32, 1e-20)


def test_relu_3_2_self_consistent_across_dps(relu32):
    hi = minimax("relu", 3, 2, dps=40, certify=False)
    assert abs(hi.error / relu32.error - 1) < 1e-25
    for a, b in zip(hi.numerator + hi.denominator, relu32.numerator + relu32.denominator):
        assert abs(a - b) < mpmath.mpf(10) ** -20


def test_relu_3_2_mp_agrees_with_float64(relu32):
    fl = minimax("relu", 3, 2, dps=None, certify=False)
    assert fl.converged
    assert abs(fl.error / float(relu32.error) - 1) < 1e-6
    for a, b in zip(fl.numerator, relu32.numerator):
        assert abs(a - float(b)) < 1e-6
    for a, b in zip(fl.denominator, relu32.denominator):
        assert abs(a - float(b)) < 1e-6


def test_result_shape(relu32):
    assert isinstance(relu32, MinimaxResult)
    assert relu32.type == (3, 2) and relu32.target == "relu" and relu32.dps == 30
    assert relu32.denominator[0] == 1
    assert isinstance(relu32.rational, BarycentricRational)
    assert relu32.rational.type == (3, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        relu32.error = 0  # type: ignore[misc]
    # The barycentric form and the monomial coefficients are the same rational.
    with workdps(40):
        for x in [mpmath.mpf(k) / 13 for k in range(-13, 14)]:
            mono = mpmath.polyval(relu32.numerator[::-1], x) / mpmath.polyval(relu32.denominator[::-1], x)
            assert abs(relu32.rational.eval_mp(x) - mono) < mpmath.mpf(10) ** -28
    s = relu32.decimal_strings()
    with workdps(max(h["dps"] for h in relu32.history if h.get("dps"))):
        assert len(s["numerator"]) == 4 and mpmath.mpf(s["error"]) == relu32.error
        assert [mpmath.mpf(c) for c in s["denominator"]] == relu32.denominator
    # every history entry names its engine; the last working precision is recorded
    assert all(h["engine"] == "mpmath" for h in relu32.history)
    assert relu32.history[-1]["dps"] >= 30


# ------------------------------------------------------------------------- exp
@pytest.mark.parametrize("k", [4, 8])
def test_exp_de_la_vallee_poussin_and_higher_precision(k):
    res = minimax("exp", k, k, dps=30, certify=False)
    # De la Vallee Poussin (1910): alternating signs with |e| >= L on m + n + 2 points give
    # L <= E*; a sample of |e| (Chebyshev points, evaluated here at 60 digits from the returned
    # coefficients) must not exceed the reported maximum.
    _assert_equioscillates(res, 1e-20)
    with workdps(60):
        xs = [mpmath.cos(mpmath.pi * j / 400) for j in range(401)]
        sample_max = max(abs(e) for e in _errors_at(res, xs))
    assert sample_max <= res.error * (1 + 1e-20)
    # A much more precise run (dps 60) agrees with the dps-30 one to ~30 digits.
    hi = minimax("exp", k, k, dps=60, certify=False)
    assert abs(hi.error / res.error - 1) < 1e-27


def test_exp_4_4_certified():
    res = minimax("exp", 4, 4, dps=30, certify=True)
    cert = res.certificate
    assert cert is not None and cert.rigorous
    assert cert.lower <= res.error <= cert.upper
    assert (cert.upper - cert.lower) / cert.lower < 1e-8


# ------------------------------------------------------------------------- |x|
@pytest.mark.parametrize("k", [1, 2])
def test_abs_equals_sqrt_on_unit_interval(k):
    a = minimax("abs", 2 * k, 2 * k, dps=30, certify=False)
    b = minimax(_mpsqrt, k, k, Domain.interval(0, 1), dps=30, certify=False)
    assert a.defect == 0 and b.defect == 0
    assert abs(a.error / b.error - 1) < 1e-25
    _assert_equioscillates(a, 1e-20)


def test_abs_odd_degree_reports_defect():
    # The best (5,5) approximation of |x| is even, so of exact type (4,4): defect 1.
    five = minimax("abs", 5, 5, dps=30, certify=False)
    four = minimax("abs", 4, 4, dps=30, certify=False)
    assert five.defect == 1 and four.defect == 0
    assert abs(five.error / four.error - 1) < 1e-25
    assert five.numerator[5] == 0 and five.denominator[5] == 0
    _assert_equioscillates(five, 1e-20)  # >= 5 + 5 + 2 - 1 = 11 points
    assert parity_reduced_type(get_target("abs"), Domain.interval(-1, 1), 5, 5) == (4, 4, 1)
    assert parity_reduced_type(get_target("sign"), Domain.sign_domain("0.1"), 4, 4) == (3, 4, 0)
    assert parity_reduced_type(get_target("abs"), Domain.interval(-1, 2), 5, 5) == (5, 5, 0)


# ------------------------------------------------------------------------- Zolotarev
@pytest.mark.parametrize("delta,r", [("0.1", 1), ("0.01", 2), ("0.05", 3), ("0.001", 4),
                                     # 6-13 s on a loaded 2-core machine (it used to end at
                                     # the iteration limit after 129 s)
                                     ("0.0001", 8)])
def test_sign_reproduces_zolotarev(delta, r):
    from ratapprox.zolotarev import zolotarev

    res = minimax("sign", 2 * r + 1, 2 * r, Domain.sign_domain(delta), dps=40, certify=False)
    z = zolotarev(delta, r, dps=50)
    assert res.converged and res.defect == 0
    # issue 3 asks for 1e-8; dps = 40 should give at least 30 digits (measured: ~1e-50)
    with workdps(50):
        assert abs(res.error / z.error - 1) < 1e-30
    _assert_equioscillates(res, 1e-20)


@pytest.mark.slow
def test_abs_20_20_mp_agrees_with_float64_polish():
    """|x| at (20, 20), dps 30 (5-7 s): the mp engine (warm-started from the float64 engine) and
    the float64 engine's mp-polished levelled error agree; before the start and precision fixes
    the mp run ended in a spurious defect 1e-11 above E*."""
    from ratapprox.remez_float import remez_float

    res = minimax("abs", 20, 20, dps=30, certify=False)
    fl = remez_float("abs", 20, 20)
    assert res.converged and res.defect == 0
    assert abs(float(res.error) / fl.levelled_error - 1) < 1e-12
    _assert_equioscillates(res, 1e-20)


# ------------------------------------------------------------------------- SAE gates with a gap
GAP_CASES = [("step", "0", "0.05"), ("jumprelu", "0.1", "0.05"), ("jumprelu", "0.3", "0.02")]
GAP_CASES_SLOW = [("step", "0.1", "0.02"), ("step", "0.3", "0.02"), ("jumprelu", "0", "0.05")]


@pytest.mark.parametrize("kind,theta,delta", GAP_CASES + [
    pytest.param(*c, marks=pytest.mark.slow) for c in GAP_CASES_SLOW])
def test_gate_fits_with_exclusion_gap_converge(kind, theta, delta):
    dom = Domain.interval(-1, 1).excluding(theta, delta)
    res = minimax(f"{kind}:{theta}", 9, 8, dom, dps=30, certify=False)
    assert res.converged
    assert res.error < 1e-2
    _assert_equioscillates(res, 1e-15)
    _assert_no_pole_on_hull(res)


def _assert_no_pole_on_hull(res: MinimaxResult):
    # minimax searches rationals continuous on the hull [min X, max X]: q > 0 in the gap too.
    with workdps(40):
        xs = [mpmath.mpf(k) / 500 for k in range(-500, 501)]
        assert all(mpmath.polyval(res.denominator[::-1], x) > 0 for x in xs)


def test_float_path_never_returns_a_pole_in_the_gap():
    # (remez_float on this problem has been seen to converge to a rational with a real pole in
    # the excluded gap (0.28, 0.32); minimax must refuse such a result, not return it.)
    dom = Domain.interval(-1, 1).excluding("0.3", "0.02")
    try:
        res = minimax("jumprelu:0.3", 9, 8, dom, dps=None, certify=False)
    except ConvergenceError as exc:
        assert "pole" in str(exc) or exc.reason != "singular"
        return
    poles = res.rational.poles()
    real = poles[abs(poles.imag) < 1e-10].real
    assert not any(-1 <= p <= 1 for p in real)


@pytest.mark.parametrize("m,n", [(5, 4), pytest.param(9, 8, marks=pytest.mark.slow)])
def test_grid_fit_relu_4001_points(m, n):
    grid = minimax("relu", m, n, Domain.grid_on(4001), dps=30, certify=False)
    assert grid.converged
    _assert_equioscillates(grid, 1e-15)
    assert all(mpmath.mpf(x) * 2000 == int(mpmath.mpf(x) * 2000) for x in grid.alternation_points)
    # The grid is a subset of [-1, 1]: its best error is at most the interval's, and close to it.
    cont = minimax("relu", m, n, dps=20, certify=False)
    assert grid.error <= cont.error
    assert grid.error > cont.error * 0.9


@pytest.mark.slow
def test_grid_fit_jumprelu_with_gap():
    dom = Domain.grid_on(4001).excluding("0.3", "0.02")
    res = minimax("jumprelu:0.3", 9, 8, dom, dps=30, certify=False)
    assert res.converged
    _assert_equioscillates(res, 1e-15)


# ------------------------------------------------------------------------- weights, engine
def test_weighted_relative_error_of_exp():
    w = lambda x: 1 / mpmath.exp(x)
    res = minimax("exp", 2, 2, dps=25, weight=w, certify=True)
    assert res.converged and res.certificate is None  # certify() bounds unweighted errors only
    with workdps(40):
        errs = [w(x) * e for x, e in zip(res.alternation_points, _errors_at(res, res.alternation_points, 40))]
    assert len(errs) >= 6
    assert all((a > 0) != (b > 0) for a, b in itertools.pairwise(errs))
    assert all(abs(abs(e) / res.error - 1) < 1e-15 for e in errs)


def test_start_from_a_previous_result(relu32):
    again = minimax("relu", 3, 2, dps=40, certify=False, start=relu32)
    assert again.history[0]["note"] == "start: user"
    assert again.iterations <= 3
    assert abs(again.error / relu32.error - 1) < 1e-25
    with pytest.raises(InvalidInputError, match="`start`"):
        minimax("relu", 3, 2, dps=20, start=[0.0, 0.5])


def test_remez_mp_engine_returns_exchange_run():
    run = remez_mp(get_target("exp"), 2, 1, Domain.interval(0, 2), dps=20)
    assert run.converged and run.reason == "converged"
    assert len(run.reference) >= 5
    assert run.dps >= 20
    assert abs(run.max_error / run.levelled_error - 1) < 1e-15


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=st.floats(0.5, 3.0), b=st.floats(-1.0, 1.0), m=st.integers(0, 3), n=st.integers(0, 2))
def test_property_every_fit_equioscillates(a, b, m, n):
    """Chebyshev's theorem: a returned fit equioscillates on >= m + n + 2 - defect points."""
    def f(x):
        return (mpmath.exp(a * x) if isinstance(x, mpmath.mpf) else math.exp(a * x)) + b * x

    try:
        res = minimax(f, m, n, dps=20, certify=False)
    except ConvergenceError:
        return  # allowed: failing loudly is not a silent wrong answer
    pts = res.alternation_points
    assert len(pts) >= m + n + 2 - res.defect
    with workdps(40):
        errs = [f(mpmath.mpf(x)) - mpmath.polyval(res.numerator[::-1], mpmath.mpf(x))
                / mpmath.polyval(res.denominator[::-1], mpmath.mpf(x)) for x in pts]
    assert all((u > 0) != (v > 0) for u, v in itertools.pairwise(errs))
    assert all(abs(abs(e) / res.error - 1) < 1e-8 for e in errs)


# ------------------------------------------------------------------------- failures
def test_iteration_limit_raises_with_best():
    # from an equispaced start (not the float64 engine's warm start, which converges in two
    # steps) two exchange steps cannot reach the tolerance
    with pytest.raises(ConvergenceError) as exc:
        minimax("relu", 5, 4, dps=20, max_iter=2, certify=False,
                start=[str(v) for v in np.linspace(-1, 1, 11)])
    err = exc.value
    assert err.reason == "iteration_limit"
    assert isinstance(err.best, MinimaxResult) and not err.best.converged
    assert err.best.error > 0


def test_precision_error_when_dps_cannot_resolve_the_error():
    # E_{6,6}(exp) on [-1, 1] is about 4.2e-17: below 10^-15.
    with pytest.raises(PrecisionError) as exc:
        minimax("exp", 6, 6, dps=15, certify=False)
    assert exc.value.reason == "precision"
    assert exc.value.best is not None and exc.value.best.error < 1e-15


@pytest.mark.parametrize("kwargs,match", [
    ({"target": "relu", "m": -1, "n": 2}, "`m`"),
    ({"target": "relu", "m": 3, "n": -2}, "`n`"),
    ({"target": "relu", "m": 2.5, "n": 2}, "`m`"),
    ({"target": "nosuch", "m": 3, "n": 2}, "unknown target"),
    ({"target": "relu", "m": 3, "n": 2, "dps": 5}, "`dps`"),
    ({"target": "relu", "m": 3, "n": 2, "max_iter": 0}, "`max_iter`"),
    ({"target": "relu", "m": 3, "n": 2, "domain": (-1, 1)}, "`domain`"),
    ({"target": "relu", "m": 3, "n": 2, "domain": Domain.grid_on(6)}, "m \\+ n \\+ 2"),
    ({"target": "step:0.2", "m": 3, "n": 2}, "jumps"),
    ({"target": "relu", "m": 3, "n": 2, "weight": lambda x: -1}, "`weight`"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        minimax(dps=kwargs.pop("dps", 20), **kwargs)


def test_reversed_interval_is_rejected():
    with pytest.raises(InvalidInputError, match="reversed"):
        minimax("relu", 3, 2, Domain.interval(1, -1), dps=20)


def test_nan_target_is_rejected():
    with pytest.raises(TargetEvaluationError):
        minimax(lambda x: math.nan if isinstance(x, float) else mpmath.nan, 2, 2, dps=20)
    with pytest.raises(TargetEvaluationError):
        minimax(lambda x: mpmath.log(x) if isinstance(x, mpmath.mpf) else math.log(x) if x > 0
                else math.nan, 2, 2, Domain.interval(-1, 1), dps=20)
