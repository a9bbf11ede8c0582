"""Tests of ratapprox.zolotarev and ratapprox.elliptic.

The oracle here is mathematics, not stored numbers:

* the closed form (Nakatsukasa & Freund 2016, eq. (4.2): the c_i through sn/cn, the error from
  the values at the ends) against the theta-function formula of Jacobi's transformation of order
  2r + 1 (no c_i, no sn/cn) -- two different routes to E_r(delta);
* the Chebyshev alternation property itself (|e| = E at the 4r + 4 points with alternating
  signs, |e| <= E everywhere on the domain), checked by dense evaluation at high precision and by
  the interval certificate;
* r = 0: the best line to sign on E_delta is 2x/(1 + delta), error (1 - delta)/(1 + delta);
* the asymptotic 4 rho^-(2r+1) (relative error O(rho^-2(2r+1))).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from ratapprox import elliptic
from ratapprox.errors import InvalidInputError
from ratapprox.targets import get_target
from ratapprox.zolotarev import (
    zolotarev,
    zolotarev_abs,
    zolotarev_error_asymptotic,
    zolotarev_error_independent,
    zolotarev_jumprelu,
    zolotarev_relu,
    zolotarev_step,
)

# A sample of the (delta, r) grid of issue 3 (1e-1 .. 1e-12, r up to 32), kept small for speed.
GRID = [
    ("0.1", 1), ("0.1", 7), ("0.1", 32),
    ("1e-3", 2), ("1e-3", 16),
    ("1e-6", 5), ("1e-6", 32),
    ("1e-9", 3), ("1e-9", 20),
    ("1e-12", 1), ("1e-12", 11), ("1e-12", 32),
]


@pytest.mark.parametrize("delta, r", GRID)
def test_closed_form_matches_theta_formula(delta, r):
    z = zolotarev(delta, r, dps=50)
    diff = abs(z.error - z.error_independent)
    assert diff <= mpmath.mpf("1e-30")  # the requirement (absolute)
    assert diff <= mpmath.mpf("1e-45") * z.error  # and in fact to nearly all 50 digits


@pytest.mark.parametrize("delta, r", [("0.1", 3), ("1e-3", 6), ("1e-12", 8)])
def test_equioscillation(delta, r):
    z = zolotarev(delta, r, dps=50)
    E = z.error
    pts = z.alternation_points
    assert len(pts) == 4 * r + 4
    with mpmath.workdps(60):  # (the differences too: outside, mpmath works at 53 bits)
        errs = [mpmath.sign(x) - z.eval_mp(x, 60) for x in pts]
        for e in errs:
            assert abs(abs(e) - E) <= mpmath.mpf("1e-40") * E
    signs = [mpmath.sign(e) for e in errs]
    # alternation within each half; the two halves mirror each other (R is odd)
    half = 2 * r + 2
    assert all(signs[i] == -signs[i + 1] for i in range(half - 1))
    assert all(signs[i] == -signs[i + 1] for i in range(half, 2 * half - 1))
    # |e| <= E on a dense sample of [delta, 1] (geometric, to resolve the cluster near delta)
    d = float(delta)
    xs = np.unique(np.concatenate([np.geomspace(d, 1, 3000), np.linspace(d, 1, 1000)]))
    with mpmath.workdps(60):
        # float(delta) may lie just below the decimal delta, outside the domain: keep x >= delta
        pts = [mpmath.mpf(float(x)) for x in xs if mpmath.mpf(float(x)) >= mpmath.mpf(delta)]
        worst = max(abs(1 - z.eval_mp(x, 60)) for x in [mpmath.mpf(delta), *pts])
        assert worst <= E * (1 + mpmath.mpf("1e-30"))


def test_r_zero_is_the_best_line():
    z = zolotarev("0.25", 0, dps=40)
    with mpmath.workdps(40):
        assert abs(z.error - mpmath.mpf(3) / 5) < mpmath.mpf("1e-38")
        assert abs(z.scale - mpmath.mpf(8) / 5) < mpmath.mpf("1e-38")
    assert z.type == (1, 0)


@pytest.mark.parametrize("delta", ["0.1", "1e-4", "1e-12"])
def test_error_decay_matches_asymptotic(delta):
    prev = None
    for r in (2, 4, 8, 16):
        z = zolotarev(delta, r, dps=40)
        asym = zolotarev_error_asymptotic(delta, r, dps=40)
        assert z.error < asym  # E = 4Q(1 - 4Q^2 + ...) < 4Q
        Q = asym / 4
        assert (asym - z.error) / z.error <= 5 * Q**2 + mpmath.mpf("1e-35")
        if prev is not None:  # ratio E_{r} / E_{r/2} follows rho^-(2r+1) / rho^-(r+1) asymptotically
            assert z.error < prev
        prev = z.error


def test_independent_error_function():
    E = zolotarev_error_independent(0.01, 5, dps=30)
    assert abs(E - zolotarev(0.01, 5, dps=30).error) < mpmath.mpf("1e-28")


def test_certificate_brackets_closed_form_error():
    z = zolotarev("0.1", 2, dps=40)
    c = z.certificate
    assert c.rigorous
    assert c.lower <= z.error <= c.upper
    assert c.relative_width <= 1e-6
    assert "de la Vallée Poussin on 11" in c.method  # 4r + 3 = 11 alternating points needed


def test_product_and_monomial_forms_agree():
    z = zolotarev("1e-3", 6, dps=50)
    assert z.denominator[0] == 1
    assert len(z.numerator) == 14 and len(z.denominator) == 13
    with mpmath.workdps(50):
        for x in ("0.001", "0.0137", "0.5", "1", "-0.3"):
            xm = mpmath.mpf(x)
            mono = mpmath.polyval(list(z.numerator)[::-1], xm) / mpmath.polyval(
                list(z.denominator)[::-1], xm)
            assert abs(mono - z.eval_mp(xm)) <= mpmath.mpf("1e-40")
    xs = np.linspace(-1, 1, 101)
    f64 = z(xs)
    mp = np.array([float(z.eval_mp(x)) for x in xs])
    np.testing.assert_allclose(f64, mp, rtol=1e-13, atol=1e-15)


def test_zeros_and_poles_on_imaginary_axis():
    z = zolotarev("0.01", 4, dps=30)
    assert len(z.poles) == 8 and len(z.zeros) == 9
    assert all(abs(mpmath.re(p)) == 0 for p in z.poles)
    # interlacing on the imaginary axis: 0 < c_1 < c_2 < ... < c_2r
    assert all(a < b for a, b in zip(z.c, z.c[1:]))


@pytest.mark.parametrize(
    "make, target",
    [
        (lambda: zolotarev_abs("0.01", 3, dps=30), "abs"),
        (lambda: zolotarev_relu("0.01", 3, dps=30), "relu"),
        (lambda: zolotarev_step("0.3", "0.05", 4, dps=30), "step:0.3"),
        (lambda: zolotarev_jumprelu("-0.2", "0.1", 3, dps=30), "jumprelu:-0.2"),
    ],
)
def test_derived_gate_bounds_hold(make, target):
    g = make()
    assert g.name == target
    tgt = get_target(target)
    xs = g.domain.sample(4000)
    err = np.abs(tgt(xs) - g(xs))
    assert err.max() <= float(g.bound)
    # the bound is attained to within a few percent somewhere (it is not a loose bound)
    assert err.max() >= 0.9 * float(g.bound)
    # the monomial form is the same function
    with mpmath.workdps(30):
        for x in xs[::400]:
            xm = mpmath.mpf(float(x))
            mono = mpmath.polyval(list(g.numerator)[::-1], xm) / mpmath.polyval(
                list(g.denominator)[::-1], xm)
            assert abs(mono - g.eval_mp(xm)) < mpmath.mpf("1e-20")
    assert g.denominator[0] == 1


def test_step_gate_certificate():
    g = zolotarev_step("0.3", "0.05", 4, dps=30)
    assert g.type == (9, 8)
    c = g.certificate
    assert c.rigorous
    assert c.upper <= g.bound * (1 + mpmath.mpf("1e-5"))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: zolotarev(0, 2), "delta"),
        (lambda: zolotarev(1.5, 2), "delta"),
        (lambda: zolotarev(0.1, -1), "`r`"),
        (lambda: zolotarev(0.1, 2.5), "`r`"),
        (lambda: zolotarev(0.1, 2, dps=5), "dps"),
        (lambda: zolotarev_step("1.5", "0.1", 2), "theta"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


# --------------------------------------------------------------------------- elliptic
def test_elliptic_conventions():
    with mpmath.workdps(30):
        m = mpmath.mpf("0.36")  # k = 0.6, k' = 0.8
        K = elliptic.ellipk(m)
        assert abs(elliptic.sn(K, m) - 1) < 1e-25
        assert abs(elliptic.cn(K, m)) < 1e-25
        assert abs(elliptic.dn(K, m) - mpmath.mpf("0.8")) < 1e-25
        assert abs(elliptic.ellipkp(m) - mpmath.ellipk(1 - m)) < 1e-25
        k, kc = elliptic.modulus_from_nome(elliptic.nome(m))
        assert abs(k - mpmath.mpf("0.6")) < 1e-25 and abs(kc - mpmath.mpf("0.8")) < 1e-25
        assert abs(elliptic.complementary_nome(m) - elliptic.nome(1 - m)) < 1e-25


def test_elliptic_parameter_near_one():
    """With mc = 1 - m given exactly, no digits are lost to forming m = 1 - mc."""
    mc = mpmath.mpf("1e-24")
    with mpmath.workdps(30):
        u = elliptic.ellipkp(mc) / 3
        v = elliptic.dn(u, mc=mc)
    with mpmath.workdps(90):  # the same u, the parameter formed exactly at 90 digits
        ref = mpmath.ellipfun("dn", u, m=1 - mpmath.mpf("1e-24"))
        assert abs(v - ref) < mpmath.mpf("1e-28") * abs(ref)


def test_elliptic_bad_parameter():
    with pytest.raises(InvalidInputError, match="`m`"):
        elliptic.ellipk(1.5)
