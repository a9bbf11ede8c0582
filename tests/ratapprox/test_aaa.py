"""Tests of ratapprox.aaa: AAA with type control and AAA-Lawson.

Reference facts: exp is entire, so AAA reaches machine precision with few terms (Nakatsukasa,
Sète & Trefethen 2018, Fig. 6.1); the best type (3, 2) approximation of ReLU on [-1, 1] has error
about 2.18e-2 (Boullé, Nakatsukasa & Townsend 2020), so a near-best AAA-Lawson fit lands close
above it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ratapprox.aaa import aaa, aaa_lawson, degree_constraints
from ratapprox.errors import InvalidInputError

X = np.linspace(-1, 1, 2001)


def test_aaa_exp_machine_precision():
    r = aaa(X, np.exp(X), rtol=1e-14)
    assert len(r) <= 14
    assert np.max(np.abs(r(X) - np.exp(X))) < 1e-13
    # scipy's default tolerance eps**0.75 (relative to max |f|) is honoured too
    r = aaa(X, np.exp(X))
    assert np.max(np.abs(r(X) - np.exp(X))) <= np.finfo(float).eps ** 0.75 * np.e


@pytest.mark.parametrize(("m", "n"), [(3, 2), (2, 3), (5, 5), (9, 8), (4, 0)])
def test_aaa_type_control(m, n):
    f = 1 / (1.5 - X) + np.sin(3 * X)
    r = aaa(X, f, type=(m, n))
    assert r.type == (m, n) and len(r) == max(m, n) + 1
    # the degree constraints hold: the monomial coefficients above the type are rounding-level
    dn, dd = r.monomial_truncation()
    assert dn < 1e-9 and dd < 1e-9
    # and the constraint rows annihilate the weights
    K = degree_constraints(r.support_points, r.values, m, n)
    assert np.all(np.abs(K @ r.weights) <= 1e-12 * np.max(np.abs(r.weights)) * np.max(np.abs(r.values)))


def test_aaa_lawson_relu_32_near_best():
    r, err = aaa_lawson(X, np.maximum(X, 0), (3, 2), max_iter=60)
    assert r.type == (3, 2)
    assert np.isclose(err, np.max(np.abs(r(X) - np.maximum(X, 0))))
    assert 0.0218 * 0.99 < err < 0.0218 * 1.5


def test_aaa_lawson_improves_on_aaa():
    f = np.abs(X)
    r0 = aaa(X, f, type=(6, 6))
    e0 = np.max(np.abs(r0(X) - f))
    _, e1 = aaa_lawson(X, f, (6, 6), max_iter=40)
    assert e1 < e0


def test_aaa_lawson_sqrt_clustered_sample():
    # sqrt on [0, 1] needs samples clustered exponentially at 0 (Newman 1964; Stahl 1993)
    y = np.unique(np.concatenate([np.geomspace(1e-30, 1, 600), np.linspace(0, 1, 1500)]))
    r, err = aaa_lawson(y, np.sqrt(y), (10, 10), max_iter=30)
    assert err < 5e-5
    assert np.all(np.isfinite(r(np.geomspace(1e-40, 1, 500))))


def test_weighted_lawson_weights_error():
    w = 1 + 10 * X**2
    r, err = aaa_lawson(X, np.exp(X), (2, 2), weight=w, max_iter=20)
    assert np.isclose(err, np.max(np.abs(w * (np.exp(X) - r(X)))))


def test_bad_input():
    with pytest.raises(InvalidInputError, match="equal lengths"):
        aaa(np.arange(3.0), np.arange(4.0))
    with pytest.raises(InvalidInputError, match="non-negative"):
        aaa(X, X, type=(-1, 2))
    with pytest.raises(InvalidInputError, match="finite"):
        aaa(np.array([0.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(InvalidInputError, match="sample points"):
        aaa(np.linspace(0, 1, 4), np.linspace(0, 1, 4), type=(3, 3))
