"""Tests of ratapprox.certify: brackets on problems whose best error is known in closed form.

Reference values:

* the best cubic to |x| on [-1, 1] is x^2 + 1/8, error exactly 1/8, alternating at
  -1, -1/2, 0, 1/2, 1 (Trefethen, *Approximation Theory and Approximation Practice*, 2013, ch. 10;
  also Chebfun's ``test_minimax.m``);
* the best line to exp on [0, 1]: slope e - 1, the error alternates at 0, ln(e - 1), 1, and
  E = 1 - a with a = (e - (e - 1) ln(e - 1)) / 2 (convexity; Powell 1981, ch. 7);
* a Taylor polynomial of exp on [-1, 1] has its largest error at x = 1 (all terms of the remainder
  are positive there), e - sum 1/k!.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from _golden import golden_max
from hypothesis import given, settings
from hypothesis import strategies as st

from ratapprox.certify import (
    Certificate,
    _ends,
    _to_fraction,
    certify,
    lower_bound_de_la_vallee_poussin,
)
from ratapprox.domains import Domain
from ratapprox.errors import InvalidInputError

REL_TOL = 1e-8


def _best_line_exp() -> tuple[list, list, object]:
    with mpmath.workdps(60):
        e = mpmath.e
        xi = mpmath.log(e - 1)
        a = (e - (e - 1) * xi) / 2
        return [a, e - 1], [mpmath.mpf(0), xi, mpmath.mpf(1)], 1 - a


def test_best_cubic_to_abs_is_bracketed_exactly():
    c = certify("abs", ["0.125", 0, 1], [1], Domain.interval(-1, 1),
                alternation_points=[-1, "-0.5", 0, "0.5", 1], m=3, n=0)
    assert c.rigorous
    assert c.lower == mpmath.mpf(1) / 8  # the error is exactly 1/8 at the five points
    assert mpmath.mpf(1) / 8 <= c.upper <= mpmath.mpf(1) / 8 * (1 + REL_TOL)
    assert c.relative_width <= REL_TOL
    assert "de la Vallée Poussin on 5" in c.method


def test_best_line_to_exp_on_unit_interval():
    num, pts, E = _best_line_exp()
    c = certify("exp", num, [1], Domain.interval(0, 1), alternation_points=pts, m=1, n=0, dps=40)
    assert c.rigorous
    # lower is min |e(x_i)| in interval arithmetic: equal to E up to the coefficients' rounding
    assert abs(c.lower - E) < mpmath.mpf(10) ** -35
    assert c.lower <= c.upper
    assert c.upper <= E * (1 + REL_TOL)


@pytest.mark.parametrize("k", [2, 4, 7])
def test_taylor_polynomial_of_exp(k):
    num = [mpmath.mpf(1) / math.factorial(j) for j in range(k + 1)]
    with mpmath.workdps(50):
        exact = mpmath.e - sum(mpmath.mpf(1) / math.factorial(j) for j in range(k + 1))
    c = certify("exp", num, [1], Domain.interval(-1, 1))
    assert c.rigorous
    assert c.lower == 0  # no alternation set given
    assert exact <= c.upper <= exact * (1 + REL_TOL) + mpmath.mpf(10) ** -25


def test_non_alternating_set_is_rejected():
    # x^2 + 1/8 against |x|: at -1, -1/2, 1/2 the error signs are -, +, + (one sign change lost)
    c = certify("abs", ["0.125", 0, 1], [1], Domain.interval(-1, 1),
                alternation_points=[-1, "-0.5", "0.5", 1], m=3, n=0)
    assert c.lower == 0
    assert "needs m + n + 2 - defect = 5" in c.notes
    assert c.upper >= mpmath.mpf(1) / 8  # the upper bound does not depend on the points


def test_equal_signs_are_merged_and_too_few_remain():
    # e(0.25) = +1/16 has the sign of e(0.5): the alternating subsequence has 3 points only.
    lower, notes = lower_bound_de_la_vallee_poussin(
        "abs", ["0.125", 0, 1], [1], [-1, "-0.5", "0.25", "0.5", 1], Domain.interval(-1, 1), m=3, n=0
    )
    assert lower == 0
    assert "did not change sign" in notes
    assert "only 3 alternating" in notes


def test_claimed_defect_cannot_replace_degrees():
    # Claiming defect 1 for a full-degree cubic does not lower the number of points needed.
    c = certify("abs", ["0.125", 0, 1, "1e-30"], [1], Domain.interval(-1, 1),
                alternation_points=[-1, "-0.5", 0, "0.5"], m=3, n=0, defect=1)
    assert c.lower == 0
    assert "exceeds the coefficients' exact defect" in c.notes


def test_best_line_to_sign_on_gapped_domain():
    # The best line to sign on [-1, -delta] U [delta, 1] is c x with c = 2 / (1 + delta),
    # E = (1 - delta) / (1 + delta), alternating at -1, -delta, delta, 1.  0.3 is not a binary
    # number: the float 0.3 is 0.29999999999999998890 and lies just outside [0.3, 1]; such points
    # are moved onto the exact endpoint.
    with mpmath.workdps(40):
        d = mpmath.mpf("0.3")
        c_, E = 2 / (1 + d), (1 - d) / (1 + d)
    c = certify("sign", [0, c_], [1], Domain.sign_domain("0.3"),
                alternation_points=[-1.0, -0.3, 0.3, 1.0], m=1, n=0)
    assert "moved onto the exact domain endpoint" in c.notes
    assert c.rigorous
    assert abs(c.lower - E) < mpmath.mpf(10) ** -28
    assert E <= c.upper <= E * (1 + REL_TOL)


def test_callable_target_gives_an_estimate():
    c = certify(lambda x: abs(x), ["0.125", 0, 1], [1], Domain.interval(-1, 1),
                alternation_points=[-1, "-0.5", 0, "0.5", 1], m=3, n=0)
    assert not c.rigorous
    assert c.method.startswith("estimate: dense sampling (")
    assert abs(c.upper - mpmath.mpf(1) / 8) < 1e-20


def test_discrete_domain_uses_every_point():
    dom = Domain.grid_on(101)
    c = certify("abs", ["0.125", 0, 1], [1], dom, alternation_points=[-1, "-0.5", 0, "0.5", 1])
    assert c.rigorous
    assert "all 101 domain points" in c.method
    assert c.lower == c.upper == mpmath.mpf(1) / 8


def test_grid_points_are_snapped():
    dom = Domain.grid_on(5)  # -1, -0.5, 0, 0.5, 1
    c = certify("abs", ["0.125", 0, 1], [1], dom, alternation_points=[-0.99, -0.51, 0.01, 0.49, 1])
    assert "snapped" in c.notes
    assert c.lower == mpmath.mpf(1) / 8


def test_denominator_with_a_real_zero_is_not_certified():
    c = certify("relu", [1], ["0.5", 0, -1], Domain.interval(-1, 1))
    assert not c.rigorous
    assert c.upper == mpmath.inf
    assert "denominator not proven positive" in c.notes


def test_negative_denominator_is_reoriented():
    c1 = certify("exp", [1, 1], [1, "0.1"], Domain.interval(-1, 1))
    c2 = certify("exp", [-1, -1], [-1, "-0.1"], Domain.interval(-1, 1))
    assert c2.rigorous and "negated" in c2.notes
    assert c1.upper == c2.upper


def test_certificate_json_rounds_outward():
    num, pts, _ = _best_line_exp()
    c = certify("exp", num, [1], Domain.interval(0, 1), alternation_points=pts, m=1, n=0)
    j = c.to_json(digits=12)
    assert mpmath.mpf(j["lower"]) <= c.lower
    assert mpmath.mpf(j["upper"]) >= c.upper
    assert j["rigorous"] is True
    assert isinstance(c, Certificate)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num": []}, "at least one coefficient"),
        ({"dps": 2}, "dps"),
        ({"rel_tol": 0.0}, "rel_tol"),
        ({"den": [0, 0]}, "identically zero"),
        ({"m": 0}, "smaller than the coefficient"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"num": [1, 1], "den": [1], "dps": 30, "rel_tol": 1e-8}
    args.update(kwargs)
    m = args.pop("m", None)
    with pytest.raises(InvalidInputError, match=match):
        certify("exp", args["num"], args["den"], Domain.interval(-1, 1), dps=args["dps"],
                rel_tol=args["rel_tol"], m=m)


@given(
    a=st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=4),
    b=st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=0, max_size=3),
)
def test_upper_bound_dominates_dense_sample(a, b):
    """For random P / (1 + small), the certified upper end is >= the error at 2001 points."""
    den = [1.0, *b]  # |b_1 x + b_2 x^2 + b_3 x^3| <= 0.9 < 1 on [-1, 1]: Q > 0
    c = certify("relu", a, den, Domain.interval(-1, 1), rel_tol=1e-6)
    assert c.rigorous
    xs = np.linspace(-1, 1, 2001)
    with mpmath.workdps(40):
        sampled = max(
            abs(max(mpmath.mpf(x), 0) - mpmath.polyval(a[::-1], x) / mpmath.polyval(den[::-1], x))
            for x in xs
        )
    assert c.upper >= sampled
    assert c.upper <= sampled * (1 + 1e-3) + 1e-12  # and it is tight (the grid is dense)


# --------------------------------------------------------------------------- Taylor models
def _exact_taylor_of_ratio(num, den, x, K):
    """Taylor coefficients of P/Q at the rational x, in exact rational arithmetic (reference)."""

    def shift(cs):
        n = len(cs)
        return [sum(math.comb(j, k) * cs[j] * x ** (j - k) for j in range(k, n)) for k in range(n)]

    P, Q = shift(num), shift(den)
    r = []
    for k in range(K + 1):
        s = P[k] if k < len(P) else Fraction(0)
        s -= sum(Q[j] * r[k - j] for j in range(1, min(k, len(Q) - 1) + 1))
        r.append(s / Q[0])
    return r


def _in(q, iv):
    """Whether the exact rational q lies in the mpmath interval iv."""
    lo, hi = _ends(iv)
    return _to_fraction(lo) <= q <= _to_fraction(hi)


def test_taylor_and_series_coefficients_enclose_exact_ones():
    """Synthetic division and series division enclose the Taylor coefficients of P/Q at a point
    (to rounding width) and over a box (at points of the box), against exact rational ones."""
    from ratapprox._context import workdps
    from ratapprox.certify import _series_div, _taylor_coeffs

    num, den = ["0.5", "-1.25", "0.75", "2"], ["1", "0.3", "-0.2"]
    numq, denq = [Fraction(c) for c in num], [Fraction(c) for c in den]
    K = 10
    with workdps(40):
        a = [mpmath.iv.mpf(c) for c in num]
        b = [mpmath.iv.mpf(c) for c in den]
        C = mpmath.iv.mpf("0.3")
        rc = _series_div(_taylor_coeffs(a, C, K), _taylor_coeffs(b, C, K), K)
        X = mpmath.iv.mpf(["0.25", "0.35"])
        rX = _series_div(_taylor_coeffs(a, X, K), _taylor_coeffs(b, X, K), K)
        lo_c, hi_c = (_to_fraction(v) for v in _ends(C))
    ref = _exact_taylor_of_ratio(numq, denq, Fraction(3, 10), K)
    inside = (Fraction(1, 4), Fraction(31, 100), Fraction(7, 20))
    refs = [_exact_taylor_of_ratio(numq, denq, x, K) for x in inside]
    for k in range(K + 1):
        # rc encloses the coefficients at every point of C (0.3 rounded outward)
        assert _in(_exact_taylor_of_ratio(numq, denq, lo_c, K)[k], rc[k])
        assert _in(_exact_taylor_of_ratio(numq, denq, hi_c, K)[k], rc[k])
        assert rc[k].delta < mpmath.mpf(10) ** -30 * (1 + abs(float(ref[k])))
        for rr in refs:
            assert _in(rr[k], rX[k])


def test_taylor_iv_is_none_at_a_breakpoint():
    from ratapprox.targets import get_target

    X = mpmath.iv.mpf(["-0.1", "0.1"])
    assert get_target("relu").taylor_iv(X, 5) is None
    Y = mpmath.iv.mpf(["0.2", "0.4"])
    cs = get_target("relu").taylor_iv(Y, 5)
    assert len(cs) == 6 and cs[1] == 1 and all(v == 0 for v in cs[2:])
    assert get_target("jumprelu:0.3").taylor_iv(Y, 5) is None
    ex = get_target("exp").taylor_iv(Y, 4)
    assert mpmath.exp(mpmath.mpf("0.3")) / 24 in ex[4]


def _independent_max(num, den, points, dps=60):
    """max |exp - P/Q| by golden-section search between the midpoints of neighbouring
    alternation points, plus the domain ends (plain mpmath at `dps` digits, no intervals)."""
    with mpmath.workdps(dps):
        P = [mpmath.mpf(c) for c in num][::-1]
        Q = [mpmath.mpf(c) for c in den][::-1]

        def err(x):
            return abs(mpmath.exp(x) - mpmath.polyval(P, x) / mpmath.polyval(Q, x))

        xs = sorted(mpmath.mpf(p) for p in points)
        edges = [mpmath.mpf(-1)] + [(u + v) / 2 for u, v in itertools.pairwise(xs)] + [mpmath.mpf(1)]
        best = max(err(mpmath.mpf(-1)), err(mpmath.mpf(1)))
        for lo, hi in itertools.pairwise(edges):
            best = max(best, golden_max(err, lo, hi, 120))
        return best


@pytest.mark.parametrize("m, dps", [(6, 30), (8, 40)])
def test_exp_minimax_certified_tight_by_taylor_models(m, dps):
    """exp at type (m, m) with a small error (4e-17, 3e-24): the high-order Taylor models certify
    it tightly (the third-order forms needed 200,001 boxes and 3 min for (8, 8) and stayed at
    relative width 1e4), and the bracket contains an independent mpmath maximum of |f - r|."""
    from ratapprox import minimax

    res = minimax("exp", m, m, dps=dps)
    c = res.certificate
    assert c.rigorous
    assert "Taylor models of order" in c.method
    assert "box budget" not in c.notes
    assert c.relative_width <= 1e-6
    emax = _independent_max(res.numerator, res.denominator, res.alternation_points)
    assert c.lower <= emax <= c.upper
    assert c.upper <= emax * (1 + 1e-7)  # the upper end is the maximum, not an overestimate


@settings(max_examples=30, deadline=None)
@given(
    a=st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=5),
    b=st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=0, max_size=3),
)
def test_exp_upper_bound_dominates_dense_sample(a, b):
    """The Taylor-model path (exp): the certified upper end is >= the error at 2001 points and
    within 1e-3 of it (the grid is dense)."""
    den = [1.0, *b]
    c = certify("exp", a, den, Domain.interval(-1, 1), rel_tol=1e-6)
    assert c.rigorous and "Taylor models of order" in c.method
    xs = np.linspace(-1, 1, 2001)
    with mpmath.workdps(40):
        sampled = max(
            abs(mpmath.exp(x) - mpmath.polyval(a[::-1], x) / mpmath.polyval(den[::-1], x)) for x in xs
        )
    assert c.upper >= sampled
    assert c.upper <= sampled * (1 + 1e-3) + 1e-12
