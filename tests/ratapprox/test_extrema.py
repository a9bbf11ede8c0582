"""Tests of ratapprox.extrema: Brent maximisation, local extrema in mp and float64, exchange selection.

The oracle for the curve searches is the Chebyshev polynomial T_k, whose extrema on [-1, 1] are
known in closed form: x_j = cos(j pi / k), T_k(x_j) = (-1)^j (Rivlin 1974, ch. 1).
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratapprox._context import workdps
from ratapprox.domains import Domain
from ratapprox.extrema import (
    alternating_subset,
    brent_max_mp,
    local_extrema_float,
    local_extrema_mp,
)


def test_brent_finds_smooth_maximum_to_working_precision():
    with workdps(50):
        x0 = mpmath.mpf(1) / 3
        g = lambda x: 1 - (x - x0) ** 2 * (2 + mpmath.sin(x))
        start = mpmath.mpf("0.9")
        x, gx = brent_max_mp(g, mpmath.mpf(0), mpmath.mpf(1), start, g(start), mpmath.mpf(10) ** -24)
        assert abs(x - x0) < mpmath.mpf(10) ** -22
        assert abs(gx - 1) < mpmath.mpf(10) ** -44


def test_brent_never_returns_worse_than_start():
    with workdps(30):
        g = lambda x: -abs(x - mpmath.mpf("0.25"))
        s = mpmath.mpf("0.5")
        x, gx = brent_max_mp(g, mpmath.mpf(0), mpmath.mpf(1), s, g(s), mpmath.mpf(10) ** -15)
        assert gx >= g(s)
        assert abs(x - mpmath.mpf("0.25")) < mpmath.mpf(10) ** -12


@pytest.mark.parametrize("k", [5, 8])
def test_mp_extrema_of_chebyshev_polynomial(k):
    with workdps(40):
        ext = local_extrema_mp(lambda x: mpmath.chebyt(k, x), Domain.interval(-1, 1))
        assert len(ext) == k + 1
        for (x, e), j in zip(ext, range(k, -1, -1)):
            assert abs(x - mpmath.cos(j * mpmath.pi / k)) < mpmath.mpf(10) ** -15
            assert abs(abs(e) - 1) < mpmath.mpf(10) ** -30
        assert alternating_subset(ext) == ext  # signs alternate


def test_mp_extrema_use_the_reference_to_resolve_clustered_peaks():
    # T_6 squeezed into [0, 1e-3] U plus a slow tail: peaks much closer than a uniform sample
    # would resolve; the reference points (where they were last iteration) locate them.
    a = mpmath.mpf("1e-3")
    with workdps(30):
        def e(x):
            return mpmath.chebyt(6, 2 * x / a - 1) if x <= a else mpmath.mpf(1) - (x - a)

        ref = [a * (1 - mpmath.cos(j * mpmath.pi / 6)) / 2 for j in range(7)]
        ext = local_extrema_mp(e, Domain.interval(0, 1), reference=ref, per_gap=4)
        peaks = [x for x, v in ext if abs(abs(v) - 1) < mpmath.mpf(10) ** -20]
        assert len(peaks) >= 7


def test_mp_extrema_geometric_layer_finds_peaks_near_a_breakpoint_without_reference():
    """A peak of width ~1e-5 at x ~ 2e-5 next to a kink at 0, with no reference point nearby
    (the situation of |x| at (20, 20) once the reference lost a point): the geometric layer at
    the breakpoint finds it; without the layer (cluster=0) the uniform samples miss it."""
    c, w = mpmath.mpf("2e-5"), mpmath.mpf("1e-5")
    with workdps(30):
        def e(x):
            return mpmath.mpf(1) / 2 - abs(x) / 4 + mpmath.exp(-((x - c) / w) ** 2)

        found = local_extrema_mp(e, Domain.interval(-1, 1), breakpoints=["0"], min_points=16)
        missed = local_extrema_mp(e, Domain.interval(-1, 1), breakpoints=["0"], min_points=16,
                                  cluster=0)
        assert any(abs(x - c) < w and v > 1.4 for x, v in found)
        assert not any(abs(x - c) < w for x, _ in missed)


def test_mp_extrema_keep_breakpoints_and_ends():
    with workdps(30):
        # |x - 0.3| - 1/2: peaks at both ends (positive) and at the kink 0.3 (negative).
        ext = local_extrema_mp(lambda x: abs(x - mpmath.mpf("0.3")) - mpmath.mpf(1) / 2,
                               Domain.interval(-1, 1), breakpoints=["0.3"])
        xs = [x for x, _ in ext]
        assert mpmath.mpf("0.3") in xs
        assert xs == [-1, mpmath.mpf("0.3"), 1]


def test_discrete_extrema_on_grid_with_gap_use_signs():
    # Across an excluded gap, list neighbours are far apart; a larger value of the opposite sign
    # on the other side must not hide a peak.
    dom = Domain.grid_on(41, -1, 1).excluding("0", "0.2")
    with workdps(20):
        ext = local_extrema_mp(lambda x: mpmath.mpf(1) if x < 0 else mpmath.mpf(-2) * (1 + x),
                               dom)
    signs = [v > 0 for _, v in ext]
    assert True in signs and False in signs


def test_discrete_prefilter_gives_the_same_peaks():
    dom = Domain.grid_on(401)
    with workdps(30):
        f = lambda x: mpmath.chebyt(7, x) * (1 + x / 10)
        full = local_extrema_mp(f, dom)
        fast = local_extrema_mp(f, dom, prefilter=lambda x: np.cos(7 * np.arccos(x)) * (1 + x / 10))
        assert [x for x, _ in full] == [x for x, _ in fast]


def test_float_extrema_of_chebyshev_polynomial():
    k = 9
    x, e = local_extrema_float(lambda t: np.cos(k * np.arccos(np.clip(t, -1, 1))), Domain.interval(-1, 1))
    assert len(x) == k + 1
    np.testing.assert_allclose(np.sort(x), np.cos(np.arange(k, -1, -1) * math.pi / k), atol=1e-7)
    np.testing.assert_allclose(np.abs(e), 1, atol=1e-12)


def test_float_extrema_on_union_of_intervals():
    dom = Domain.sign_domain("0.1")
    x, e = local_extrema_float(lambda t: np.sin(7 * t), dom)
    assert np.all(dom.contains(x))
    assert np.all(np.diff(x) > 0)
    assert np.isclose(np.max(np.abs(e)), 1, atol=1e-10)


# ------------------------------------------------------------------------- exchange selection
def test_alternating_subset_merges_and_trims():
    pts = [(0, 1.0), (1, 2.0), (2, -1.0), (3, 3.0), (4, -0.1), (5, 0.5), (6, -2.0)]
    merged = alternating_subset(pts)
    assert merged == [(1, 2.0), (2, -1.0), (3, 3.0), (4, -0.1), (5, 0.5), (6, -2.0)]
    four = alternating_subset(pts, 4)
    assert [x for x, _ in four] == [1, 2, 3, 6]


@given(st.lists(st.floats(-10, 10, allow_nan=False).filter(lambda v: abs(v) > 1e-9),
                min_size=1, max_size=40),
       st.integers(1, 12))
def test_alternating_subset_properties(vals, n):
    pts = list(enumerate(vals))
    out = alternating_subset(pts, n)
    assert len(out) <= n
    assert all((a[1] > 0) != (b[1] > 0) for a, b in itertools.pairwise(out))  # alternates
    assert [x for x, _ in out] == sorted(x for x, _ in out)  # a subsequence, in order
    full = alternating_subset(pts)
    # The largest |value| always survives the merge (it wins every same-sign run).
    assert max(abs(v) for _, v in full) == max(abs(v) for v in vals)
