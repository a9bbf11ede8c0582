"""Tests of ratapprox.pade: the safe-Padé form P(t) / (1 + |B(t)|).

Facts used (module docstring of ratapprox.pade): with Q(0) = 1 the conversion is exact iff
B = Q - 1 >= 0 on the domain; otherwise the form is fitted and its deviation certified.  The
certified numbers are checked against dense sampling (a certified upper bound can never be below
a sampled value) and for looseness.
"""

from __future__ import annotations

import re

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratapprox.domains import Domain
from ratapprox.errors import InvalidInputError
from ratapprox.pade import SafePade, to_safe_pade
from ratapprox.targets import get_target
from ratapprox.zolotarev import zolotarev


def _rat(num, den, x):
    num = [float(v) for v in num]
    den = [float(v) for v in den]
    return np.polynomial.polynomial.polyval(x, num) / np.polynomial.polynomial.polyval(x, den)


def test_exact_when_b_nonnegative():
    sp = to_safe_pade([0, 1], [1, 0, "0.5"], Domain.interval(-1, 1))
    assert sp.exact and sp.max_deviation == 0
    assert [float(v) for v in sp.a] == [0.0, 1.0] and [float(v) for v in sp.b] == [0.0, 0.5]
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(sp(x), x / (1 + x**2 / 2), rtol=1e-15)


def test_normalisation_q0():
    sp = to_safe_pade([2, 4], [2, 0, 1], Domain.interval(-1, 1))  # (2 + 4x)/(2 + x^2)
    assert sp.exact
    assert [float(v) for v in sp.a] == [1.0, 2.0]
    assert [float(v) for v in sp.b] == [0.0, 0.5]


def test_exact_with_target_reports_certified_error():
    # x^2 + 1/8 is a rational with Q = 1: B = 0 >= 0, exact; its error against |x| is 1/8
    sp = to_safe_pade(["0.125", 0, 1], [1], Domain.interval(-1, 1), target="abs")
    assert sp.exact
    assert mpmath.mpf(1) / 8 <= sp.error_vs_target <= mpmath.mpf(1) / 8 * (1 + 1e-6)


def test_zolotarev_is_exact():
    z = zolotarev("0.01", 3, dps=30)
    sp = to_safe_pade(z.numerator, z.denominator, z.domain, target="sign")
    assert sp.exact  # Q = prod (x^2 + c) / prod c >= 1
    assert z.error <= sp.error_vs_target <= z.error * (1 + 1e-5)


def test_not_exact_is_fitted_and_certified():
    # Pade (1,1) of exp: (1 + x/2) / (1 - x/2); B = -x/2 changes sign on [-1, 1]
    num, den = [1, "0.5"], [1, "-0.5"]
    dom = Domain.interval(-1, 1)
    sp = to_safe_pade(num, den, dom, target="exp")
    assert not sp.exact
    assert sp.method.startswith("fitted")
    x = np.linspace(-1, 1, 4001)
    # (sampled in float64: allow its rounding, 1e-12 relative)
    sampled_dev = np.max(np.abs(_rat(num, den, x) - sp(x)))
    assert sp.max_deviation >= sampled_dev * (1 - 1e-12)  # a certified bound is never below a sample
    assert sp.max_deviation <= 1.5 * sampled_dev + 1e-12  # and not loose
    sampled_err = np.max(np.abs(np.exp(x) - sp(x)))
    assert sp.error_vs_target >= sampled_err * (1 - 1e-12)
    assert sp.certificates["max_deviation"].rigorous


@pytest.mark.parametrize(
    "den, why",
    [
        ([1, 0, -4, 0, 0], "not proven positive"),  # Q = 1 - 4x^2 vanishes at +-1/2
        ([-1, 0, 0, 0, 1], "Q\\(0\\)"),  # Q(0) = -1: no normalisation Q(0) = 1
    ],
)
def test_not_convertible_is_fitted_to_the_target(den, why):
    """P/Q unusable, target given: the form is fitted to f itself; its certified error bounds an
    independent dense evaluation at 30 digits, and P/Q is not used as a comparison."""
    dom = Domain.interval(-1, 1).excluding("0.3", "0.05")
    sp = to_safe_pade([0] * 6, den, dom, target="step:0.3")
    assert sp.type == (5, 4)
    assert sp.method.startswith("fitted to the target")
    assert sp.max_deviation is None and re.search(why, sp.notes)
    c = sp.certificates["error_vs_target"]
    assert c.rigorous and sp.error_vs_target == c.upper
    xs = np.concatenate([np.linspace(-1, 0.25, 1200), np.linspace(0.35, 1, 700)])
    with mpmath.workdps(30):
        a, b = [mpmath.mpf(v) for v in sp.a], [mpmath.mpf(v) for v in sp.b]
        dense = max(
            abs((1 if x > 0.3 else 0)
                - mpmath.polyval(a[::-1], mpmath.mpf(x))
                / (1 + abs(mpmath.polyval([*b[::-1], 0], mpmath.mpf(x)))))
            for x in xs
        )
    assert sp.error_vs_target >= dense  # a certified bound is never below a sample
    assert sp.error_vs_target <= dense * 1.01  # and not loose
    assert dense < mpmath.mpf("0.5")  # better than the constant 1/2
    j = sp.to_json()
    assert j["max_deviation"] is None and j["error_vs_target"] is not None


def test_not_convertible_without_target_raises():
    with pytest.raises(InvalidInputError, match="not proven positive"):
        to_safe_pade([1], [1, 0, -4], Domain.interval(-1, 1))


def test_sign_proofs():
    """B = t (t - 3) >= 0 on [-1, 0] (B(0) = 0 with C(0) = -3 < 0 must not refute it); a
    polynomial with coefficients ~1e6 and minimum 1e-4 next to an interval end is proven
    positive (Taylor forms; plain interval Horner needed ~1e6 boxes)."""
    from fractions import Fraction

    from ratapprox.pade import _nonneg_on_domain

    assert _nonneg_on_domain([Fraction(0), Fraction(-3), Fraction(1)], Domain.interval(-1, 0)) is True
    assert _nonneg_on_domain([Fraction(0), Fraction(-3), Fraction(1)], Domain.interval(-1, 1)) is False
    # 1e6 (t - 0.32)^2 (t + 1) + 1e-4 on [0.32, 1]: positive, minimum at the left end
    c = [Fraction(v) for v in np.polynomial.polynomial.polyfromroots([0.32, 0.32, -1])]
    c = [v * 10**6 for v in c]
    c[0] += Fraction(1, 10**4)
    assert _nonneg_on_domain(c, Domain.interval("0.32", 1), strict=True) is True
    c[0] -= Fraction(2, 10**4)  # now negative at 0.32
    assert _nonneg_on_domain(c, Domain.interval("0.32", 1)) is False


def test_discrete_domain():
    dom = Domain.grid_on(201)
    sp = to_safe_pade([0, 1], [1, 0, "0.5"], dom)
    assert sp.exact


@pytest.mark.parametrize(
    "num, den, match",
    [
        ([1], [-1, 0, 1], "Q\\(0\\)"),
        ([1], [0, 1], "Q\\(0\\)"),
        ([1], [1, 0, -4], "not proven positive"),  # 1 - 4x^2 vanishes at +-1/2
        ([], [1], "at least one"),
    ],
)
def test_bad_input(num, den, match):
    with pytest.raises(InvalidInputError, match=match):
        to_safe_pade(num, den, Domain.interval(-1, 1))


def test_json_round_trip():
    z = zolotarev("0.1", 2, dps=30)
    sp = to_safe_pade(z.numerator, z.denominator, z.domain)
    j = sp.to_json(digits=25)
    assert j["exact"] is True
    with mpmath.workdps(30):  # parse and compare at 30 digits, not mpmath's default 15
        a = [mpmath.mpf(v) for v in j["a"]]
        assert all(abs(u - v) <= abs(v) * mpmath.mpf("1e-24") for u, v in zip(a, sp.a))


def _make(a, b) -> SafePade:
    return SafePade(a=tuple(mpmath.mpf(v) for v in a), b=tuple(mpmath.mpf(v) for v in b),
                    exact=True, max_deviation=mpmath.mpf(0), error_vs_target=None,
                    domain=Domain.interval(-1, 1), method="test")


coef = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@given(
    a=st.lists(coef, min_size=1, max_size=10),
    b=st.lists(coef, min_size=0, max_size=9),
    t=st.lists(st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False), min_size=1,
               max_size=20),
)
def test_safe_pade_never_nan(a, b, t):
    """No pole, no NaN for finite input: the denominator is >= 1 everywhere."""
    sp = _make(a, b)
    y = sp(np.array(t))
    assert not np.any(np.isnan(y))
    # where P(t) itself is finite, |r(t)| <= |P(t)| (the denominator is at least 1)
    with np.errstate(over="ignore", invalid="ignore"):
        P = np.polynomial.polynomial.polyval(np.array(t), np.array(a, dtype=float))
    ok = np.isfinite(P)
    assert np.all(np.abs(y[ok]) <= np.abs(P[ok]) * (1 + 1e-12) + 1e-300)


@given(
    a=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=6),
    b=st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=5),
    t=st.floats(-3, 3, allow_nan=False),
)
def test_float_and_mp_agree(a, b, t):
    sp = _make(a, b)
    v = sp.eval_mp(t, dps=40)
    scale = sum(abs(c) * abs(t) ** k for k, c in enumerate(a)) + 1e-300
    assert abs(float(v) - float(sp(t))) <= 1e-13 * scale


def test_targets_agree_with_rsae_conventions():
    """The float evaluation is P / (1 + |B|) with B without constant term (rsae's gate form)."""
    sp = _make([0.5, 1.0], [2.0, -1.0])  # B = 2t - t^2
    t = np.array([-1.0, 0.0, 0.5, 3.0])
    expect = (0.5 + t) / (1 + np.abs(2 * t - t**2))
    np.testing.assert_allclose(sp(t), expect, rtol=1e-15)
    assert get_target("relu")  # the module imports cleanly alongside the targets
