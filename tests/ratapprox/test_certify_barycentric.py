"""Tests of the float64 interval primitives and of the barycentric certifier.

The primitives are checked against exact rational arithmetic (``fractions.Fraction``): every
enclosure must contain the exact result.  The certifier is checked against an *independent*
maximum of |f - r| computed in mpmath at 50 digits (dense sampling plus golden-section
maximisation near every alternation point) and against the monomial-form certifier
(:func:`ratapprox.certify.certify`).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from _golden import golden_max
from hypothesis import given, settings
from hypothesis import strategies as st

import ratapprox._float_interval as fi
from ratapprox import Domain, minimax
from ratapprox.barycentric import BarycentricRational
from ratapprox.certify import certify
from ratapprox.certify_barycentric import certify_barycentric, supports_barycentric
from ratapprox.errors import InvalidInputError

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150)
tiny_or_big = st.one_of(finite, st.floats(min_value=-1e-300, max_value=1e-300),
                        st.sampled_from([0.0, 1.0, -1.0]))


def _iv(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = min(a, b), max(a, b)
    return np.array([lo]), np.array([hi])


def _contains(iv: tuple[np.ndarray, np.ndarray], q: Fraction) -> bool:
    lo, hi = float(iv[0][0]), float(iv[1][0])
    return (lo == -np.inf or Fraction(lo) <= q) and (hi == np.inf or q <= Fraction(hi))


@settings(max_examples=300, deadline=None)
@given(tiny_or_big, tiny_or_big, tiny_or_big, tiny_or_big, st.floats(0, 1), st.floats(0, 1))
def test_primitives_enclose_exact_rational_results(a, b, c, d, s, t):
    X, Y = _iv(a, b), _iv(c, d)
    # exact points of X and Y (end points and an interior dyadic point)
    xs = [Fraction(float(X[0][0])), Fraction(float(X[1][0]))]
    ys = [Fraction(float(Y[0][0])), Fraction(float(Y[1][0]))]
    xs.append(xs[0] + (xs[1] - xs[0]) * Fraction(s))
    ys.append(ys[0] + (ys[1] - ys[0]) * Fraction(t))
    add, sub, mul = fi.add(X, Y), fi.sub(X, Y), fi.mul(X, Y)
    sq, rec, quo = fi.sqr(X), fi.recip(Y), fi.div(X, Y)
    for x in xs:
        assert _contains(sq, x * x)
        for y in ys:
            assert _contains(add, x + y)
            assert _contains(sub, x - y)
            assert _contains(mul, x * y)
            if y != 0:
                assert _contains(rec, 1 / y)
                assert _contains(quo, x / y)


@settings(max_examples=200, deadline=None)
@given(st.lists(tiny_or_big, min_size=1, max_size=40), st.floats(0, 1e-3))
def test_row_sum_encloses_exact_sum(values, width):
    lo = np.array(values)
    hi = lo + np.abs(lo) * width  # a few ulps to many: the exact sums of both ends must be inside
    hi = np.maximum(hi, lo)
    out = fi.row_sum((lo[None, :], hi[None, :]))
    assert _contains(out, sum((Fraction(float(v)) for v in lo), Fraction(0)))
    assert _contains(out, sum((Fraction(float(v)) for v in hi), Fraction(0)))
    # tight: a few ulps of the terms and the sum, not n ulps of sum |x_i| (the a-priori bound)
    if width == 0:
        size = max(float(np.max(np.abs(lo))), abs(float(out[0][0])), 1e-300)
        assert float(out[1][0] - out[0][0]) <= 8 * np.spacing(size)


@given(st.fractions(max_denominator=10**30))
def test_enclose_fraction_is_narrowest(q):
    lo, hi = fi.enclose_fraction(q)
    assert Fraction(lo) <= q <= Fraction(hi)
    assert hi == lo or np.nextafter(lo, np.inf) == hi


# --------------------------------------------------------------------------- the certifier
def _mp_max_abs_error(r: BarycentricRational, f, alternation, lo=-1.0, hi=1.0, dps=50) -> mpmath.mpf:
    """Independent maximum of |f - r| in mpmath: 41 samples per bracket around each alternation
    point and 60 golden-section steps on the best one (an estimate from below of the maximum)."""
    with mpmath.workdps(dps):
        z, fv, w = ([mpmath.mpf(float(v)) for v in arr] for arr in (r.support_points, r.values, r.weights))

        def err(x):
            num = den = mpmath.mpf(0)
            for zj, fj, wj in zip(z, fv, w):
                if x == zj:
                    return abs(f(x) - fj)
                num += wj * fj / (x - zj)
                den += wj / (x - zj)
            return abs(f(x) - num / den)

        alt = sorted(float(a) for a in alternation)
        edges = [lo, *[(a + b) / 2 for a, b in itertools.pairwise(alt)], hi]
        best = mpmath.mpf(0)
        for a, b in itertools.pairwise(edges):
            xs = [mpmath.mpf(a) + (mpmath.mpf(b) - a) * k / 40 for k in range(41)]
            vals = [err(x) for x in xs]
            k = max(range(41), key=lambda i: vals[i])
            best = max(best, vals[k])
            best = max(best, golden_max(err, xs[max(k - 1, 0)], xs[min(k + 1, 40)], 60))
        return best


def test_abs_high_degree_bracket_contains_independent_mp_maximum():
    n = 30
    res = minimax("abs", n, n, certify=False)
    cert = certify_barycentric("abs", res.rational, res.domain, alternation_points=res.alternation_points,
                               m=n, n=n, defect=res.defect)
    assert cert.rigorous
    emax = _mp_max_abs_error(res.rational, abs, res.alternation_points)
    assert cert.lower <= emax <= cert.upper
    # tight: within 1e-4 relative of the independent maximum (the float64 fit's own de la
    # Vallee Poussin gap is ~1e-7 here; the float64 rounding of e is ~1e-7 of |e|)
    assert float(cert.relative_width) < 1e-4
    assert float((cert.upper - emax) / emax) < 1e-4
    assert "Taylor models" in cert.method


def test_jump_target_with_gap_matches_monomial_certifier():
    d = Domain.interval(-1, 1).excluding("0.1", "0.02")
    res = minimax("step:0.1", 9, 8, domain=d, certify=False)
    bc = certify_barycentric("step:0.1", res.rational, d, alternation_points=res.alternation_points,
                             m=9, n=8, defect=res.defect)
    mc = certify("step:0.1", res.numerator, res.denominator, d, alternation_points=res.alternation_points,
                 m=9, n=8, defect=res.defect)
    assert bc.rigorous and mc.rigorous
    # two rationals equal up to float64 rounding of their data: overlapping brackets
    assert bc.lower <= mc.upper and mc.lower <= bc.upper
    assert float(abs(bc.upper - mc.upper) / mc.upper) < 1e-8
    step = lambda x: mpmath.mpf(1) if x > mpmath.mpf("0.1") else mpmath.mpf(0)
    alt = res.alternation_points
    emax = max(_mp_max_abs_error(res.rational, step, [a for a in alt if a < 0.1], -1, 0.08),
               _mp_max_abs_error(res.rational, step, [a for a in alt if a > 0.1], 0.12, 1))
    assert bc.lower <= emax <= bc.upper


def test_relu_unequal_type_is_projected_exactly_and_agrees():
    res = minimax("relu", 5, 4, certify=False)
    bc = certify_barycentric("relu", res.rational, res.domain, alternation_points=res.alternation_points,
                             m=5, n=4)
    mc = certify("relu", res.numerator, res.denominator, res.domain,
                 alternation_points=res.alternation_points, m=5, n=4)
    assert bc.rigorous
    assert bc.lower <= mc.upper and mc.lower <= bc.upper
    assert float(bc.relative_width) < 1e-6


def test_pole_in_domain_gives_no_finite_upper_bound():
    # r(x) = 1 / (x - 0.3) on [-1, 1] as a barycentric form: a pole the certifier must not miss
    z = np.array([-1.0, 0.0, 1.0])
    r = BarycentricRational.from_monomial([1.0], [-0.3, 1.0], z)
    c = certify_barycentric("relu", r, Domain.interval(-1, 1), m=1, n=1, max_boxes=2000)
    assert not c.rigorous and not mpmath.isfinite(c.upper)


def test_minimax_uses_barycentric_certificate_for_piecewise_linear_float_fits():
    res = minimax("abs", 12, 12)
    assert res.certificate.rigorous and "barycentric form" in res.certificate.method
    res_mp = minimax("abs", 4, 4, dps=20)
    assert "barycentric" not in res_mp.certificate.method


def test_bad_input():
    r = minimax("abs", 4, 4, certify=False).rational
    with pytest.raises(InvalidInputError, match="piecewise-linear"):
        certify_barycentric("exp", r, Domain.interval(-1, 1))
    with pytest.raises(InvalidInputError, match="piecewise-linear"):
        certify_barycentric("abs", r.to_mp(), Domain.interval(-1, 1))
    with pytest.raises(InvalidInputError, match="piecewise-linear"):
        certify_barycentric("abs", r, Domain.grid_on(101))
    with pytest.raises(InvalidInputError, match="rel_tol"):
        certify_barycentric("abs", r, Domain.interval(-1, 1), rel_tol=0)
    assert not supports_barycentric(lambda x: x, r, Domain.interval(-1, 1))


def test_symmetry_halving_needs_matching_parity():
    # an even rational against the odd target sign: |e| is not even, both halves must be covered
    r = minimax("abs", 6, 6, certify=False).rational
    d = Domain.sign_domain("0.1")
    c = certify_barycentric("sign", r, d, m=6, n=6)
    with mpmath.workdps(30):
        left = max(abs(-1 - r.eval_mp(mpmath.mpf(x))) for x in np.linspace(-1, -0.1, 200))
    assert "symmetry" not in c.method
    assert c.upper >= left > 1


@pytest.mark.slow
def test_abs_80_80_float64_certificate_survives_independent_reevaluation():
    # The check: `ratapprox fit abs --type 80 80 --json` in float64; its certificate must
    # contain max |f - r| of the returned barycentric form re-evaluated at 50 digits.
    res = minimax("abs", 80, 80)
    cert = res.certificate
    assert cert.rigorous and "barycentric form" in cert.method
    assert float(cert.relative_width) <= 1e-2
    emax = _mp_max_abs_error(res.rational, abs, res.alternation_points)
    assert cert.lower <= emax <= cert.upper


def test_taylor_model_box_enclosures_contain_pointwise_errors():
    # every box enclosure of e must contain e(x), evaluated at 40 digits, at points of the box:
    # boxes of many sizes, some containing support points, on both linear pieces of |x|
    from ratapprox.certify_barycentric import _Data, _Evaluator, _TargetFI
    from ratapprox.targets import get_target

    res = minimax("abs", 12, 12, certify=False)
    ev = _Evaluator(_Data(res.rational, 12, 12), _TargetFI(get_target("abs")))
    rng = np.random.default_rng(20261123)
    centres = np.concatenate([rng.uniform(-1, 1, 40), res.rational.support_points[:6]])
    widths = 10.0 ** rng.uniform(-9, -1.5, centres.size)
    lo, hi = np.maximum(centres - widths, -1.0), np.minimum(centres + widths, 1.0)
    keep = (lo >= 0) | (hi <= 0)  # one linear piece per box
    lo, hi = lo[keep], hi[keep]
    s_L, c_L, lin = ev.t.piece(lo, hi)
    assert np.all(lin)
    eX, ec, _ = ev.taylor(lo, hi, s_L, c_L)
    with mpmath.workdps(40):
        for i in range(lo.size):
            vals = []
            for t in np.linspace(0, 1, 7):
                x = lo[i] + (hi[i] - lo[i]) * t
                vals.append(abs(mpmath.mpf(x)) - res.rational.eval_mp(mpmath.mpf(x)))
                if np.isfinite(eX[0][i]):
                    assert eX[0][i] <= vals[-1] <= eX[1][i]
            c = lo[i] + (hi[i] - lo[i]) / 2
            e_c = abs(mpmath.mpf(c)) - res.rational.eval_mp(mpmath.mpf(c))
            if np.isfinite(ec[0][i]):
                assert ec[0][i] <= e_c <= ec[1][i]
            if hi[i] - lo[i] < 1e-6:
                # tight: a small box's enclosure is the range of e there (e is nearly linear on
                # it, so 7 samples give that range) plus float64 rounding (~1e-16 here)
                assert float(eX[1][i] - eX[0][i]) <= 1.01 * float(max(vals) - min(vals)) + 1e-14
