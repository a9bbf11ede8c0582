"""Tests of the float64 barycentric Remez engine (ratapprox.remez_float).

Every returned fit is re-evaluated *independently* in mpmath (40 digits) from its barycentric
data: the error must alternate in sign on the returned reference, with |e| there within a small
factor of the reported maximum (so by de la Vallée Poussin the fit is near-best), unless the run
reports a defect.  Known values:

* best cubic polynomial to |x| on [-1, 1] is x^2 + 1/8, error 1/8 (Trefethen, ATAP, ch. 10;
  Chebfun test_minimax.m);
* best line to |x| + x is 1/2 + x, error 1/2 (Chebfun test_minimax.m);
* best type (3, 2) approximation of ReLU on [-1, 1]: error about 2.18e-2 (Boullé, Nakatsukasa &
  Townsend 2020);
* sign on [-1, -delta] U [delta, 1], type (2r+1, 2r): Zolotarev's rational, computed here from
  its closed form (Jacobi elliptic functions, Nakatsukasa & Freund 2016, eq. (2.8)) and scanned
  for its extrema in mpmath -- independent of the Remez code.
"""

from __future__ import annotations

import itertools
import time

import mpmath
import numpy as np
import pytest
from _golden import golden_max
from hypothesis import given, settings
from hypothesis import strategies as st

from ratapprox._context import workdps
from ratapprox.domains import Domain
from ratapprox.errors import InvalidInputError, PrecisionError
from ratapprox.remez import minimax
from ratapprox.remez_float import LD_AVAILABLE, remez_float
from ratapprox.targets import get_target

ALT_RTOL = 1e-6  # |e(x_k)| at the reference vs the reported max error


def _mp_errors(run, target, points):
    tgt = get_target(target)
    r = run.rational
    with workdps(40):
        return [tgt.mp(mpmath.mpf(float(x))) - r.eval_mp(mpmath.mpf(float(x))) for x in points]


def _check_equioscillation(run, target, m, n, rtol=ALT_RTOL):
    """Independent mp check: alternation on >= m+n+2-defect points at the reported level."""
    ref = np.asarray(run.reference)
    assert ref.size >= m + n + 2 - run.defect
    assert np.all(np.diff(ref) > 0)
    e = _mp_errors(run, target, ref)
    signs = [mpmath.sign(v) for v in e]
    assert all(s1 == -s0 for s0, s1 in itertools.pairwise(signs)), "error does not alternate"
    lo = min(abs(v) for v in e)
    assert float(lo) >= (1 - rtol) * float(run.max_error)
    assert run.levelled_error <= run.max_error * (1 + 1e-12)


def _zolotarev_error(delta: str, r: int) -> float:
    """Error of Zolotarev's best type (2r+1, 2r) approximation of sign on E_delta (mpmath)."""
    with workdps(30):
        ell = mpmath.mpf(delta)
        m = 1 - ell**2  # parameter m = k'^2 of the complementary modulus
        Kp = mpmath.ellipk(m)
        c = []
        for i in range(1, 2 * r + 1):
            u = i * Kp / (2 * r + 1)
            c.append(ell**2 * mpmath.ellipfun("sn", u, m=m) ** 2 / mpmath.ellipfun("cn", u, m=m) ** 2)

        def Z(x):
            v = x
            for j in range(1, r + 1):
                v *= (x**2 + c[2 * j - 1]) / (x**2 + c[2 * j - 2])
            return v

        # extrema of Z on [ell, 1]: geometric scan, then golden-section refinement
        xs = [ell * (1 / ell) ** (mpmath.mpf(k) / 4000) for k in range(4001)]
        zs = [Z(x) for x in xs]
        ext = [zs[0], zs[-1]]
        for k in range(1, len(xs) - 1):
            for sgn in (1, -1):
                if sgn * zs[k] > sgn * zs[k - 1] and sgn * zs[k] >= sgn * zs[k + 1]:
                    a, b = xs[k - 1], xs[k + 1]
                    g = (mpmath.sqrt(5) - 1) / 2
                    for _ in range(80):
                        x1, x2 = b - g * (b - a), a + g * (b - a)
                        if sgn * Z(x1) > sgn * Z(x2):
                            b = x2
                        else:
                            a = x1
                    ext.append(Z((a + b) / 2))
        zmax, zmin = max(ext), min(ext)
        return float((zmax - zmin) / (zmax + zmin))


# --------------------------------------------------------------------------- known values
def test_best_cubic_to_abs():
    run = remez_float("abs", 3, 0)
    assert run.converged and run.reason == "converged"
    assert abs(run.levelled_error - 0.125) < 1e-12
    x = np.linspace(-1, 1, 101)
    assert np.max(np.abs(run.rational(x) - (x**2 + 0.125))) < 1e-12
    _check_equioscillation(run, "abs", 3, 0)


def test_best_line_to_abs_plus_x():
    run = remez_float(lambda x: abs(x) + x, 1, 0)
    assert run.converged
    x = np.linspace(-1, 1, 101)
    assert abs(run.levelled_error - 0.5) < 1e-13
    assert np.max(np.abs(run.rational(x) - (0.5 + x))) < 1e-13


@pytest.mark.parametrize(("m", "n", "expected"), [(3, 2, 2.18e-2), (5, 4, 4.25e-3), (9, 8, 3.68e-4)])
def test_relu(m, n, expected):
    t0 = time.perf_counter()
    run = remez_float("relu", m, n)
    assert time.perf_counter() - t0 < 20
    assert run.converged, run.reason
    assert abs(run.max_error / expected - 1) < 5e-3
    _check_equioscillation(run, "relu", m, n)
    # float64 levelled error and max error agree to the tolerance (de la Vallée Poussin bracket)
    assert (run.max_error - run.levelled_error) <= 1e-8 * run.levelled_error


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_gapped_sign_matches_zolotarev(r):
    delta = "0.1"
    run = remez_float("sign", 2 * r + 1, 2 * r, Domain.sign_domain(delta))
    assert run.converged, run.reason
    ref = _zolotarev_error(delta, r)
    assert abs(run.levelled_error / ref - 1) < 1e-8
    assert abs(run.max_error / ref - 1) < 1e-8
    _check_equioscillation(run, "sign", 2 * r + 1, 2 * r)


@pytest.mark.parametrize("target", ["step:0.3", "jumprelu:0.3", "step:-0.2", "jumprelu:0.5", "jumprelu:-0.3"])
def test_jump_targets_with_exclusion_98(target):
    theta = target.split(":")[1]
    dom = Domain.interval(-1, 1).excluding(theta, "0.05")
    run = remez_float(target, 9, 8, dom)
    assert run.converged, run.reason
    _check_equioscillation(run, target, 9, 8)
    # the reference avoids the excluded gap
    ref = np.asarray(run.reference)
    assert not np.any(np.abs(ref - float(theta)) < 0.05 - 1e-12)


def test_grid_4001():
    dom = Domain.grid_on(4001)
    run = remez_float("relu", 3, 2, dom)
    assert run.converged
    grid = dom.points_float()
    assert np.all(np.isin(run.reference, grid))
    err = np.abs(np.maximum(grid, 0) - run.rational(grid))
    assert abs(err.max() - run.max_error) <= 1e-15
    _check_equioscillation(run, "relu", 3, 2)
    # the grid problem's error cannot exceed the continuous one
    cont = remez_float("relu", 3, 2)
    assert run.max_error <= cont.max_error * (1 + 1e-10)


@pytest.mark.parametrize(("m", "n"), [(19, 18), (18, 18), (16, 16)])
def test_grid_4001_high_degree_relu(m, n):
    """The continuous reference clusters at 0 below the grid spacing, so snapping merges points;
    the widest gaps are refilled with grid points, and (16, 16) starts from the grid's (17, 16)
    reference (all three used to end "singular")."""
    dom = Domain.grid_on(4001)
    run = remez_float("relu", m, n, dom)
    assert run.converged and run.reason == "converged"
    grid = dom.points_float()
    assert np.all(np.isin(run.reference, grid))
    _check_equioscillation(run, "relu", m, n, rtol=1e-8)
    # max over the whole grid, in mp from the barycentric data, equals the reported max
    assert max(abs(v) for v in _mp_errors(run, "relu", grid)) <= run.max_error * (1 + 1e-9)
    assert run.max_error <= remez_float("relu", m, n).levelled_error  # grid subset of [-1, 1]


def test_exp_44_and_precision_limit():
    run = remez_float("exp", 4, 4)
    assert run.converged
    # error 1.5e-10 next to max|f| = e: the polish levels it to the rounding of the float64
    # data (~1e-6 relative), where plain double gave ~1e-4
    _check_equioscillation(run, "exp", 4, 4, rtol=1e-5)
    # exp at type (8, 8) has error far below double precision: reported, not passed off
    run8 = remez_float("exp", 8, 8)
    assert not run8.converged and run8.reason == "precision"


def _exp_true_max(r, alternation_points) -> mpmath.mpf:
    """max |exp - r| on [-1, 1] in mp (at the caller's precision), independently of the engine:
    golden section on each hump, between the midpoints of the alternation points."""
    e = lambda x: mpmath.exp(x) - r.eval_mp(x)
    ref = [mpmath.mpf(float(v)) for v in alternation_points]
    cuts = [mpmath.mpf(-1), *[(a + b) / 2 for a, b in itertools.pairwise(ref)], mpmath.mpf(1)]
    # s e with s the sign at the alternation point inside: one hump per piece
    signs = [mpmath.sign(e(xk)) for xk in ref]
    return max(golden_max(lambda x, s=s: s * e(x), a, b)
               for s, (a, b) in zip(signs, itertools.pairwise(cuts)))


@pytest.mark.skipif(not LD_AVAILABLE, reason="numpy's long double is plain double here")
@pytest.mark.parametrize(("m", "n"), [(4, 4), (5, 3)])
def test_long_double_polish_six_digits(m, n):
    """The long-double polish alone takes float64 exp to >= 6 digits of E*: at (4, 4) and at
    (5, 3) (m != n: two moment rows cap the numerator degree in its Newton system).  Double
    resolves e = exp - r only to eps e, 4e-6 and 3e-6 of E* here, so the float64 exchange
    alone stops short of 6 digits.  E* from the mpmath engine; the true max error of the
    returned float64 rational found independently in mp (golden section per hump)."""
    E = minimax("exp", m, n, dps=30, certify=False).error
    run = remez_float("exp", m, n)
    assert run.converged and run.history[-1]["polish"] == "long double"
    before = run.history[-1]["float64_max_error_before"]
    with workdps(40):
        true_max = _exp_true_max(run.rational, run.reference)
        assert E * (1 - 1e-12) <= true_max <= E * (1 + 1e-6)
        # the reported error is that true max, measured in long double at the extrema
        assert abs(mpmath.mpf(run.max_error) / true_max - 1) < 1e-8
        assert abs(mpmath.mpf(run.levelled_error) / E - 1) < 1e-8
        assert mpmath.mpf(before) / E - 1 > 1e-6  # what the exchange left was not 6 digits


def test_polish_falls_back_to_mpmath(monkeypatch):
    """When the long-double polish gives up (here: forced), the mpmath polish runs instead and
    reaches the same float64-rounding level on exp (4, 4)."""
    import ratapprox.remez_float as rf

    fast = remez_float("exp", 4, 4)
    monkeypatch.setattr(rf, "_polish_ld", lambda *args: None)
    slow = remez_float("exp", 4, 4)
    assert slow.history[-1]["polish"] == "mpmath"
    assert abs(slow.max_error / fast.max_error - 1) < 1e-6
    assert abs(slow.levelled_error / fast.levelled_error - 1) < 1e-8


def test_exp_float64_against_mp_optimum():
    """Issue 3: exp at (4, 4) in float64 to >= 6 digits of the optimal error E*.

    E* from the mpmath engine (dps 30); the returned float64 rational's true max error found
    here independently (golden section in mp between the returned alternation points' midpoints)
    must lie in [E*, E* (1 + 1e-6)] (never below E*: that would contradict optimality), and the
    reported error agrees with E* to 1e-6, the lower estimate to 2e-6 (it is min |e| on the
    alternation set of the float64 data) and the levelled error to 1e-8: it is solved with
    long-double residuals (64-bit significand, 11 bits more than double; ~1e-10 here), which
    replaced the mpmath polish (the fallback, and the path where long double is plain double)
    -- the returned rational is float64 either way, and its rounding (~2e-7) is what limits
    the result, not |h|.
    """
    best = minimax("exp", 4, 4, dps=30, certify=False)
    res = minimax("exp", 4, 4, certify=False)
    with workdps(40):
        E = best.error
        true_max = _exp_true_max(res.rational, res.alternation_points)
        assert true_max >= E * (1 - 1e-12)
        assert true_max <= E * (1 + 1e-6)
        assert abs(mpmath.mpf(res.error) / E - 1) < 1e-6
        # min |e| on the alternation set (de la Vallee Poussin) of the rounded float64 data
        assert E * (1 - 2e-6) <= mpmath.mpf(res.error_lower) <= E
        assert res.history[-1]["polish"] == ("long double" if LD_AVAILABLE else "mpmath")
        assert abs(mpmath.mpf(res.history[-1]["levelled_error"]) / E - 1) < 1e-8


def test_exp_8_8_is_below_float64_and_says_so():
    """exp at (8, 8): E* = 3.3e-24 (mpmath), eight orders below the half-ulp (1.1e-16) by which
    merely storing a value near 1 in double moves a rational; no float64 rational can have an
    error near E*, so the float64 path must refuse (PrecisionError with its best attempt)."""
    E = minimax("exp", 8, 8, dps=30, certify=False).error
    assert E < 1e-20
    with pytest.raises(PrecisionError) as info:
        minimax("exp", 8, 8, certify=False)
    assert info.value.best is not None


def test_weighted_relative_error():
    # relative error of exp: weight 1/exp(x)
    run = remez_float("exp", 2, 2, weight=lambda x: np.exp(-np.asarray(x, dtype=float)))
    assert run.converged
    x = np.asarray(run.reference)
    e = (np.exp(x) - run.rational(x)) * np.exp(-x)
    assert np.all(np.sign(e[1:]) == -np.sign(e[:-1]))
    assert np.allclose(np.abs(e), run.max_error, rtol=1e-6)


def test_parity_defect_reported():
    # |x| is even: its best type (3, 3) approximation is the even type (2, 2) one, which
    # equioscillates on 7 < 8 points -- a defect, reported as such
    run = remez_float("abs", 3, 3)
    assert run.reason == "defect" and run.defect == 1 and run.converged
    assert len(run.reference) == 7
    even = remez_float("abs", 2, 2)
    assert abs(run.levelled_error / even.levelled_error - 1) < 1e-9
    _check_equioscillation(run, "abs", 3, 3)


def test_parity_agrees_with_direct():
    a = remez_float("abs", 6, 6)
    b = remez_float("abs", 6, 6, use_parity=False)
    assert a.converged and b.converged
    assert abs(a.levelled_error / b.levelled_error - 1) < 1e-7


def test_abs_80_80():
    """|x| at type (80, 80) in double (Chebfun minimax: ~20 s); error ~ 8 exp(-pi sqrt(80))."""
    t0 = time.perf_counter()
    run = remez_float("abs", 80, 80)
    seconds = time.perf_counter() - t0
    assert run.converged, run.reason
    assert seconds < 60
    r = run.rational
    assert r.type == (80, 80)
    # Stahl (1993): E_nn = 8 exp(-pi sqrt(n)) (1 + o(1)); at n = 80 the ratio is ~0.88
    stahl = 8 * np.exp(-np.pi * np.sqrt(80))
    assert 0.8 < run.max_error / stahl < 1.0
    # independent re-evaluation of the barycentric data at 40 digits on the reference:
    # alternation with |e| within 2e-5 of the reported level (plain double stalls at ~2e-3;
    # the polish levels the reference, what is left is the rounding of the float64 data)
    _check_equioscillation(run, "abs", 80, 80, rtol=2e-5)
    # the alternation points cluster exponentially at 0
    ref = np.abs(np.asarray(run.reference))
    assert np.min(ref[ref > 0]) < 1e-10


@pytest.mark.parametrize("k", [18, 24])
def test_relu_diagonal_high_degree(k):
    """ReLU at type (k, k), k >= 18 (used to end "singular"): converged, equioscillating in mp on
    2k + 2 points, and between its neighbours E(k+1, k) <= E(k, k) <= E(k, k-1) (nested classes;
    the neighbours come from the (x + |x|)/2 reduction, a different path)."""
    run = remez_float("relu", k, k)
    assert run.converged and run.reason == "converged" and run.defect == 0
    _check_equioscillation(run, "relu", k, k, rtol=1e-8)
    above = remez_float("relu", k + 1, k)
    below = remez_float("relu", k, k - 1)
    assert above.max_error < run.levelled_error <= run.max_error < below.levelled_error


@pytest.mark.slow
def test_relu_18_18_agrees_with_mp_engine():
    run = remez_float("relu", 18, 18)
    res = minimax("relu", 18, 18, dps=30, certify=False)  # 11 s (warm start from the float fit)
    assert abs(float(res.error) / run.levelled_error - 1) < 1e-12


@pytest.mark.slow
def test_minimax_abs_80_80_estimates():
    """Through minimax (8 s): the mp-evaluated estimate bracket of a fit whose monomial
    coefficients overflow double (regression: an OverflowError in the estimate's precision)."""
    res = minimax("abs", 80, 80, certify=False)
    assert res.converged
    assert 0 < res.error_lower <= res.error <= res.error_lower * (1 + 2e-5)


def test_relu_reduction_matches_direct_engine():
    # relu = (x + |x|)/2 for m >= n + 1: the reduced and the direct exchange agree
    a = remez_float("relu", 5, 4)
    b = remez_float("relu", 5, 4, use_parity=False)
    assert a.converged and b.converged
    assert abs(a.levelled_error / b.levelled_error - 1) < 1e-9
    x = np.linspace(-1, 1, 2001)
    assert np.max(np.abs(a.rational(x) - b.rational(x))) < 1e-7
    hi = remez_float("relu", 17, 16)
    assert hi.converged
    _check_equioscillation(hi, "relu", 17, 16)


def test_odd_reduction_matches_direct_engine():
    dom = Domain.sign_domain("0.05")
    a = remez_float("sign", 5, 4, dom)
    b = remez_float("sign", 5, 4, dom, use_parity=False)
    assert a.converged and b.converged
    assert abs(a.levelled_error / b.levelled_error - 1) < 1e-9
    x = np.concatenate([np.linspace(-1, -0.05, 500), np.linspace(0.05, 1, 500)])
    assert np.max(np.abs(a.rational(x) - b.rational(x))) < 1e-7


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    target=st.sampled_from(["relu", "abs", "exp", "sign", "step:0.25"]),
    m=st.integers(min_value=0, max_value=7),
    n=st.integers(min_value=0, max_value=6),
)
def test_property_equioscillation_or_reported(target, m, n):
    """Every fit either equioscillates on m + n + 2 - defect points (checked in mpmath) or says
    why not -- never a silent wrong answer."""
    dom = {"sign": Domain.sign_domain("0.2"),
           "step:0.25": Domain.interval(-1, 1).excluding("0.25", "0.05")}.get(target)
    run = remez_float(target, m, n, dom)
    assert run.reason in ("converged", "defect", "precision", "singular", "iteration_limit")
    if run.converged:
        _check_equioscillation(run, target, m, n, rtol=1e-5)
    else:
        assert run.reason != "converged"


def test_bad_input():
    with pytest.raises(InvalidInputError, match="non-negative"):
        remez_float("relu", -1, 2)
    with pytest.raises(InvalidInputError, match="unknown target"):
        remez_float("nope", 2, 2)
    with pytest.raises(InvalidInputError, match="tol"):
        remez_float("relu", 2, 2, tol=0)
    with pytest.raises(InvalidInputError, match="needs at least"):
        remez_float("relu", 3, 2, Domain.from_points([-1, 0, 0.5, 1]))
