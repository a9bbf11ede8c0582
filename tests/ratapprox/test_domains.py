"""Unit and property tests of :mod:`ratapprox.domains`.

References are exact: membership of grid points is decided in rational arithmetic
(:class:`fractions.Fraction`), endpoints are the decimal strings the user wrote.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratapprox.domains import Domain
from ratapprox.errors import InvalidInputError, RatapproxError


def test_interval_default_and_str():
    d = Domain.interval()
    assert d.intervals == (("-1", "1"),)
    assert not d.is_discrete
    assert str(d) == "[-1, 1]"
    assert (d.lower, d.upper) == ("-1", "1")


def test_sign_domain_is_two_intervals_with_exact_endpoints():
    d = Domain.sign_domain("0.001")
    assert d.intervals == (("-1", "-0.001"), ("0.001", "1"))
    # The decimal 0.001, not the double nearest to it, at any working precision.
    with mpmath.workdps(50):
        lo = d.intervals_mp()[1][0]
        assert abs(lo - mpmath.mpf(1) / 1000) < mpmath.mpf(10) ** -49


@pytest.mark.parametrize("delta", ["0", "1", "-0.1", "1.5"])
def test_sign_domain_rejects_delta_outside_open_unit_interval(delta):
    with pytest.raises(InvalidInputError, match="delta"):
        Domain.sign_domain(delta)


def test_reversed_and_empty_intervals_are_rejected():
    with pytest.raises(InvalidInputError, match="reversed"):
        Domain.interval(1, -1)
    with pytest.raises(InvalidInputError, match="reversed"):
        Domain.interval(0.5, 0.5)
    with pytest.raises(InvalidInputError):
        Domain.interval("nan", 1)
    with pytest.raises(InvalidInputError):
        Domain.interval("abc", 1)


def test_errors_are_value_errors():
    # One catchable family: RatapproxError is a ValueError.
    with pytest.raises(ValueError):
        Domain.interval(2, 1)
    assert issubclass(InvalidInputError, RatapproxError)


def test_union_sorts_and_rejects_overlap():
    d = Domain.union([(0.5, 1), (-1, -0.5)])
    assert d.intervals == (("-1", "-0.5"), ("0.5", "1"))
    with pytest.raises(InvalidInputError, match="disjoint"):
        Domain.union([(-1, 0.2), (0.1, 1)])


def test_excluding_splits_an_interval_around_a_jump():
    d = Domain.interval(-1, 1).excluding("0.3", "0.05")
    assert d.intervals == (("-1", "0.25"), ("0.35", "1"))
    # A neighbourhood reaching past an end trims instead of splitting.
    d2 = Domain.interval(-1, 1).excluding("0.98", "0.05")
    assert d2.intervals == (("-1", "0.93"),)
    # Disjoint from the domain: unchanged.
    assert Domain.interval(-1, 1).excluding("5", "0.1").intervals == (("-1", "1"),)
    with pytest.raises(InvalidInputError, match="whole domain"):
        Domain.interval(-1, 1).excluding("0", "2")
    with pytest.raises(InvalidInputError, match="positive"):
        Domain.interval(-1, 1).excluding("0", "0")


def test_grid_on_matches_the_paper_grid():
    d = Domain.grid_on(4001)
    x = d.points_float()
    assert x.size == 4001
    assert x[0] == -1.0 and x[-1] == 1.0
    np.testing.assert_allclose(np.diff(x), 2 / 4000, rtol=1e-9)
    assert d.is_discrete


def test_grid_points_mp_are_exact_rationals():
    d = Domain.grid_on(11, "0", "1")
    with mpmath.workdps(40):
        pts = d.points_mp()
        assert len(pts) == 11
        assert abs(pts[3] - mpmath.mpf(3) / 10) < mpmath.mpf(10) ** -39


def test_grid_restricted_to_a_union():
    base = Domain.sign_domain("0.1")
    d = Domain(base.intervals, grid=("-1", "1", 21))  # points k/10
    pts = d.points_float()
    # -1, -0.9, ..., -0.1 and 0.1, ..., 1: 0 is excluded, +-0.1 are endpoints (closed).
    assert pts.size == 20
    assert 0.0 not in pts


def test_from_points_and_too_few_points():
    d = Domain.from_points([0.3, -0.2, 0.3, 0.9])
    np.testing.assert_array_equal(d.points_float(), [-0.2, 0.3, 0.9])
    with pytest.raises(InvalidInputError):
        Domain.from_points([1.0, 1.0])


def test_continuous_domain_has_no_point_list():
    with pytest.raises(InvalidInputError, match="continuous"):
        Domain.interval().points_float()


def test_sample_stays_in_domain_and_covers_endpoints():
    d = Domain.sign_domain("0.01")
    s = d.sample(500)
    assert np.all(d.contains(s))
    for a, b in d.intervals_float():
        assert np.any(np.isclose(s, a)) and np.any(np.isclose(s, b))


def test_json_roundtrip_keeps_exact_strings():
    d = Domain(Domain.sign_domain("0.001").intervals, grid=("-1", "1", 4001))
    d2 = Domain.from_json(d.to_json())
    assert d2 == d
    assert Domain.from_json(Domain.from_points(["0.1", "0.2"]).to_json()).points == ("0.1", "0.2")


# --------------------------------------------------------------------------- properties
_dec = st.decimals(min_value=Decimal("-100"), max_value=Decimal("100"), places=4,
                   allow_nan=False, allow_infinity=False)


@given(_dec, _dec)
def test_interval_valid_iff_a_less_than_b(a, b):
    if a < b:
        d = Domain.interval(str(a), str(b))
        assert Decimal(d.lower) == a and Decimal(d.upper) == b
    else:
        with pytest.raises(InvalidInputError):
            Domain.interval(str(a), str(b))


@given(st.integers(min_value=2, max_value=300),
       st.fractions(min_value=Fraction(-1), max_value=Fraction(1)),
       st.fractions(min_value=Fraction(1, 1000), max_value=Fraction(1, 2)))
def test_grid_membership_is_exact(n, center, radius):
    c, r = f"{float(center):.6f}", f"{float(radius):.6f}"
    try:
        d = Domain.grid_on(n).excluding(c, r)
    except InvalidInputError:
        return  # the exclusion swallowed every grid point: also a correct answer
    pts = d.points_float()
    lo, hi = Fraction(Decimal(c) - Decimal(r)), Fraction(Decimal(c) + Decimal(r))
    expected = [Fraction(-1) + Fraction(2 * k, n - 1) for k in range(n)]
    expected = [x for x in expected if not lo < x < hi]
    # Both the float64 and the mpmath point lists decide membership exactly.
    assert len(d.points_mp()) == len(expected)
    assert pts.size == len(expected)
    np.testing.assert_allclose(pts, [float(x) for x in expected], rtol=0, atol=1e-15)
    assert np.all(d.contains(pts))


@given(st.fractions(min_value=Fraction(1, 10**6), max_value=Fraction(999, 1000)))
def test_sign_domain_contains_exactly_the_gapped_set(delta):
    ds = f"{float(delta):.7g}"
    dv = float(ds)
    if not 0 < dv < 1:
        return
    d = Domain.sign_domain(ds)
    x = np.array([-1.0, -dv, -dv / 2, 0.0, dv / 2, dv, 1.0, 1.5])
    np.testing.assert_array_equal(d.contains(x), [True, True, False, False, False, True, True, False])
