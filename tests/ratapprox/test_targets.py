"""Unit and property tests of :mod:`ratapprox.targets`.

The reference for each named target is its definition (table in the module docstring); the
three arithmetics (float64, mpmath, interval) must agree with it and with each other, and the
interval enclosure must contain every point value (the property the certificates rely on).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ratapprox.errors import InvalidInputError, TargetEvaluationError
from ratapprox.targets import Target, get_target

NAMED = ["relu", "abs", "sign", "exp", "step:0", "step:0.3", "jumprelu:0", "jumprelu:0.1", "jumprelu:-0.25"]


def _reference(name: str, x: float) -> float:
    if name == "relu":
        return max(x, 0.0)
    if name == "abs":
        return abs(x)
    if name == "sign":
        return float(np.sign(x))
    if name == "exp":
        return math.exp(x)
    kind, _, th = name.partition(":")
    theta = float(th)
    h = 1.0 if x > theta else (0.0 if x < theta else 0.5)
    return h if kind == "step" else x * h


@pytest.mark.parametrize("name", NAMED)
def test_named_targets_match_their_definition(name):
    t = get_target(name)
    x = np.array([-1.0, -0.3, -0.25, -1e-9, 0.0, 1e-9, 0.1, 0.3, 0.7, 1.0])
    np.testing.assert_array_equal(t(x), [_reference(name, v) for v in x])
    for v in x:
        assert float(t.mp(v)) == pytest.approx(_reference(name, float(v)), rel=1e-15, abs=0)


def test_conventions_at_the_jump():
    # All SAE gates are h (sign(h - c) + 1) / 2, hence sign(0) = 0 and H(0) = 1/2.
    assert get_target("sign")(0.0) == 0.0
    assert get_target("step:0.3")(0.3) == 0.5
    assert get_target("jumprelu:0.2")(0.2) == 0.1


def test_metadata():
    assert get_target("abs").parity == "even"
    assert get_target("sign").parity == "odd"
    assert get_target("sign").jumps == ("0",)
    assert get_target("step:0.1").jumps == ("0.1",)
    assert get_target("jumprelu:0").jumps == ()  # jumprelu:0 is relu: continuous
    assert get_target("jumprelu:0.1").params == {"theta": "0.1"}
    assert get_target("exp").breakpoints == ()
    assert all(get_target(n).certifiable for n in NAMED)


def test_names_are_normalised():
    assert get_target("  ReLU ").name == "relu"
    t = get_target("relu")
    assert get_target(t) is t


@pytest.mark.parametrize("bad", ["no_such_target", "step:", "step:abc", "jumprelu:nan", "step:inf", "tanh"])
def test_unknown_or_malformed_names_raise(bad):
    with pytest.raises(InvalidInputError):
        get_target(bad)


def test_non_target_types_raise():
    with pytest.raises(InvalidInputError, match="name or a callable"):
        get_target(3.0)  # type: ignore[arg-type]


def test_callable_target_is_estimate_only():
    t = get_target(lambda x: x * x)
    assert isinstance(t, Target)
    assert not t.certifiable
    assert t.name.startswith("callable:")
    np.testing.assert_array_equal(t(np.array([0.5, -2.0])), [0.25, 4.0])
    with mpmath.workdps(30):
        assert t.mp(mpmath.mpf(1) / 3) == (mpmath.mpf(1) / 3) ** 2


def test_nan_and_inf_are_reported():
    t = get_target(lambda x: float("nan") if x > 0 else 0.0)
    with pytest.raises(TargetEvaluationError, match="non-finite"):
        t(np.array([-1.0, 0.5]))
    with pytest.raises(TargetEvaluationError, match="non-finite"):
        t.mp(mpmath.mpf("0.5"))
    with np.errstate(over="ignore"), pytest.raises(TargetEvaluationError):
        get_target("exp")(np.array([1000.0]))


def test_mp_evaluation_uses_the_exact_decimal_threshold():
    # theta = 0.1 is the decimal 1/10, not the double 0.1000000000000000055...
    t = get_target("step:0.1")
    with mpmath.workdps(40):
        just_above = mpmath.mpf(1) / 10 + mpmath.mpf(10) ** -35
        assert t.mp(just_above) == 1
        assert t.mp(mpmath.mpf(1) / 10) == mpmath.mpf(1) / 2


# --------------------------------------------------------------------------- properties
_x = st.floats(min_value=-2, max_value=2, allow_nan=False, allow_infinity=False)


@given(st.sampled_from(NAMED), _x)
def test_float_and_mp_agree(name, x):
    t = get_target(name)
    with mpmath.workdps(30):
        ym = t.mp(mpmath.mpf(x))
        yf = float(t(np.array([x]))[0])
        assert abs(ym - yf) <= 4 * np.finfo(float).eps * max(1.0, abs(yf))


@given(st.sampled_from(NAMED), _x, _x)
def test_interval_enclosure_contains_point_values(name, a, b):
    assume(a != b)
    lo, hi = min(a, b), max(a, b)
    t = get_target(name)
    old = mpmath.iv.prec
    try:
        mpmath.iv.prec = 80
        enc = t.f_iv(mpmath.iv.mpf([lo, hi]))
        # Point values at far higher precision than the enclosure (a 53-bit value of exp may
        # round above an 80-bit upper bound); slack 2**-150 covers their own rounding.
        with mpmath.workprec(200):
            for x in np.linspace(lo, hi, 7):
                y = t.mp(mpmath.mpf(float(x)))
                slack = mpmath.mpf(2) ** -150 * max(1, abs(y))
                assert enc.a - slack <= y <= enc.b + slack, (name, lo, hi, float(x), enc, y)
    finally:
        mpmath.iv.prec = old


@given(st.floats(min_value=-1, max_value=1, allow_nan=False), st.floats(min_value=0.01, max_value=10))
def test_jumprelu_is_jointly_homogeneous(h, c):
    # h H(h - theta) = c (h/c) H(h/c - theta/c): the identity rsae folds per-latent scales with.
    theta = 0.3
    lhs = get_target(f"jumprelu:{theta!r}")(np.array([h]))[0]
    rhs = c * get_target(f"jumprelu:{theta / c!r}")(np.array([h / c]))[0]
    # Away from the jump the identity holds to rounding; at the jump both sides are theta/2 or
    # differ only when h/c rounds across theta/c.
    assume(abs(h - theta) > 1e-12)
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-15)
