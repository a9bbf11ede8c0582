"""Tests of ratapprox.barycentric: evaluation, exact conversions, poles/zeros, JSON."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratapprox._context import workdps
from ratapprox.barycentric import BarycentricRational
from ratapprox.errors import InvalidInputError, RatapproxError

EPS = np.finfo(float).eps


def _monomial_eval(num, den, x):
    return np.polyval(np.asarray(num, float)[::-1], x) / np.polyval(np.asarray(den, float)[::-1], x)


def _random_rational(rng, m, n):
    """p/q with q positive on [-1, 1] (q = 1 + small terms), support points Chebyshev points."""
    num = rng.standard_normal(m + 1)
    den = np.concatenate([[1.0], 0.4 * rng.standard_normal(n) / max(n, 1)])
    N = max(m, n)
    z = np.cos(np.pi * (np.arange(N + 1) + 0.5) / (N + 1))
    return num, den, z


@pytest.mark.parametrize(("m", "n"), [(0, 0), (1, 2), (3, 2), (4, 4), (2, 5), (9, 8)])
def test_barycentric_matches_monomial(m, n):
    rng = np.random.default_rng(20261123 + 10 * m + n)
    num, den, z = _random_rational(rng, m, n)
    r = BarycentricRational.from_monomial(num, den, z)
    assert r.type == (m, n)
    x = np.linspace(-1, 1, 301)
    ref = _monomial_eval(num, den, x)
    assert np.max(np.abs(r(x) - ref)) <= 1e3 * EPS * np.max(np.abs(ref))


def test_exact_at_support_points_no_nan():
    z = np.array([-1.0, -0.25, 0.5, 1.0])
    f = np.array([3.0, -2.0, 7.0, 0.125])
    w = np.array([1.0, -2.0, 2.5, -1.0])
    r = BarycentricRational(z, f, w)
    out = r(z)
    assert np.array_equal(out, f)
    assert np.all(np.isfinite(r(np.linspace(-1, 1, 1001))))
    assert r(0.5) == 7.0 and isinstance(r(0.5), float)
    assert r(z.reshape(2, 2)).shape == (2, 2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=8),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    x=st.floats(min_value=-2.0, max_value=2.0, allow_nan=False),
)
def test_float_and_mp_evaluation_agree(n, seed, x):
    rng = np.random.default_rng(seed)
    z = np.sort(rng.uniform(-1, 1, n + 1))
    if len(np.unique(z)) < n + 1:
        return
    f = rng.standard_normal(n + 1)
    # alternating weights: no pole between the support points (Berrut & Trefethen 2004)
    w = (-1.0) ** np.arange(n + 1) * rng.uniform(0.5, 2.0, n + 1)
    r = BarycentricRational(z, f, w)
    with workdps(40):
        ref = r.eval_mp(x)
        # relative condition of the barycentric sum: sum |w f/(x-z)| / |sum w/(x-z)|
        if x in z:
            return
        cond = sum(abs(mpmath.mpf(float(a)) / (x - mpmath.mpf(float(b)))) for a, b in zip(w, z))
        cond = cond / abs(sum(mpmath.mpf(float(a)) / (x - mpmath.mpf(float(b))) for a, b in zip(w, z)))
    scale = float(max(1.0, abs(ref)) * max(1.0, np.max(np.abs(f))))
    assert abs(r(x) - float(ref)) <= 64 * EPS * float(cond) * scale * (n + 2)


def test_mp_data_eval_and_float_cache():
    with workdps(50):
        z = [mpmath.mpf(-1), mpmath.mpf(0), mpmath.mpf(1)]
        f = [mpmath.mpf(1) / 3, mpmath.mpf(2), mpmath.mpf(1) / 7]
        w = [mpmath.mpf(1), mpmath.mpf(-2), mpmath.mpf(1)]  # polynomial interpolant (sum w = 0, sum wz = 0)
        r = BarycentricRational(z, f, w)
        assert r.is_mp
        x = mpmath.mpf("0.3")
        # Lagrange interpolant of the data at -1, 0, 1
        lag = f[0] * x * (x - 1) / 2 - f[1] * (x + 1) * (x - 1) + f[2] * x * (x + 1) / 2
        assert abs(r.eval_mp(x) - lag) < mpmath.mpf(10) ** -45
        assert abs(r(0.3) - float(lag)) < 1e-15


@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 2), (5, 4), (2, 3), (6, 6)])
def test_monomial_round_trip(m, n):
    rng = np.random.default_rng(7 + 31 * m + n)
    num, den, z = _random_rational(rng, m, n)
    r = BarycentricRational.from_monomial(num, den, z)
    with workdps(30):
        a, b = r.to_monomial()
        assert b[0] == 1 and len(a) == m + 1 and len(b) == n + 1
    # the float64 path introduces rounding in the weights only
    assert np.allclose([float(v) for v in a], num / den[0], rtol=1e-10, atol=1e-12)
    assert np.allclose([float(v) for v in b], den / den[0], rtol=1e-10, atol=1e-12)


def test_monomial_exact_in_mp():
    # exact data: r = (1 + 2x) / (1 - x/3 + x^2/5) on mp support points; conversion at dps 60
    with workdps(60):
        num = [mpmath.mpf(1), mpmath.mpf(2)]
        den = [mpmath.mpf(1), -mpmath.mpf(1) / 3, mpmath.mpf(1) / 5]
        z = [mpmath.mpf(k) / 4 for k in (-3, -1, 1, 3)]
        r = BarycentricRational.from_monomial(num, den, z)
        a, b = r.to_monomial(dps=60)
        assert max(abs(u - v) for u, v in zip(a, num)) < mpmath.mpf(10) ** -55
        assert max(abs(u - v) for u, v in zip(b, den)) < mpmath.mpf(10) ** -55


def test_to_monomial_pole_at_zero_raises():
    r = BarycentricRational.from_monomial([1.0], [0.0, 1.0], [-1.0, 1.0])  # 1/x
    with pytest.raises(RatapproxError, match="vanishes at x = 0"):
        r.to_monomial()


def test_poles_zeros_residues_known():
    # r(x) = (x - 0.5)(x + 0.25) / ((x - 2)(x^2 + 1)) : zeros 0.5, -0.25; poles 2, +-i
    num = np.array([-0.125, -0.25, 1.0])
    den = np.polynomial.polynomial.polyfromroots([2.0, 1j, -1j]).real
    z = np.linspace(-1, 1, 4)
    r = BarycentricRational.from_monomial(num, den, z)
    pol = r.poles()
    assert np.allclose(np.sort_complex(pol), np.sort_complex([2.0, 1j, -1j]), atol=1e-12)
    zer = r.zeros()
    assert np.allclose(np.sort(zer.real), [-0.25, 0.5], atol=1e-12)
    assert np.allclose(zer.imag, 0, atol=1e-12)
    res = r.residues()
    # analytic residue at p: N(p) / Q'(p), with the monomial pair
    dq = np.polynomial.polynomial.polyder(den)
    for p, rp in zip(pol, res):
        expect = np.polynomial.polynomial.polyval(p, num) / np.polynomial.polynomial.polyval(p, dq)
        assert abs(rp - expect) < 1e-10 * max(1, abs(expect))


def test_json_round_trip_float_exact():
    rng = np.random.default_rng(99)
    z = np.sort(rng.uniform(-1, 1, 9))
    r = BarycentricRational(z, rng.standard_normal(9), rng.standard_normal(9), type=(8, 7))
    s = json.dumps(r.to_json())
    r2 = BarycentricRational.from_json(json.loads(s))
    assert r2.type == (8, 7)
    for a, b in ((r.support_points, r2.support_points), (r.values, r2.values), (r.weights, r2.weights)):
        assert np.array_equal(a, b)


def test_json_round_trip_mp_exact():
    with workdps(80):
        z = [mpmath.mpf(k) / 7 for k in range(-3, 4)]
        f = [mpmath.exp(v) for v in z]
        w = [(-1) ** k * (1 + mpmath.mpf(k) / 11) for k in range(7)]
        r = BarycentricRational(z, f, w)
        d = json.loads(json.dumps(r.to_json()))
    # read back at a *lower* working precision: the values must still be bit-identical
    with workdps(15):
        r2 = BarycentricRational.from_json(d)
    for a, b in zip(r.values + r.weights + r.support_points, r2.values + r2.weights + r2.support_points):
        assert a == b


def test_bad_input():
    with pytest.raises(InvalidInputError, match="equal lengths"):
        BarycentricRational([0.0, 1.0], [1.0], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="distinct"):
        BarycentricRational([0.0, 0.0], [1.0, 2.0], [1.0, -1.0])
    with pytest.raises(InvalidInputError, match="finite"):
        BarycentricRational([0.0, np.nan], [1.0, 2.0], [1.0, -1.0])
    with pytest.raises(InvalidInputError, match="non-negative"):
        BarycentricRational([0.0, 1.0], [1.0, 2.0], [1.0, -1.0], type=(-1, 1))
    with pytest.raises(InvalidInputError, match="malformed"):
        BarycentricRational.from_json({"arithmetic": "float64", "values": []})


def test_declared_type_above_data_degree():
    # two support points hold a type (1, 1) rational; declaring (2, 1) pads the monomial form
    r = BarycentricRational([0.0, 1.0], [1.0, 2.0], [1.0, -1.0], type=(2, 1))
    num, den = r.to_monomial(dps=20)
    assert len(num) == 3 and len(den) == 2 and num[2] == 0
    x = np.linspace(-0.5, 0.5, 7)
    assert np.allclose(r(x), _monomial_eval([float(v) for v in num], [float(v) for v in den], x))


def test_type_constraint_truncation_small():
    # type (3, 2) from monomial data: the dropped x^3 denominator coefficient is rounding-level
    num, den = [0.1, 0.5, 0.3, -0.2], [1.0, 0.2, 0.1]
    r = BarycentricRational.from_monomial(num, den, np.linspace(-1, 1, 4))
    dn, dd = r.monomial_truncation()
    assert dn == 0.0 and dd < 1e-14
