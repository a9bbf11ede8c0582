"""Tests of :mod:`ratapprox.tables`: exact decimal strings, the table schema, CSV, atomic writes.

References: the exact value of a binary float is a finite decimal (``Decimal(float)`` is exact,
and ``Fraction`` gives the exact value of an mpf), so every rounding claim is checked against
exact arithmetic.  The table entries are checked against an independent re-evaluation of their
own coefficients (monomial vs barycentric vs safe-Padé) at high precision.
"""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratapprox import __version__
from ratapprox.barycentric import BarycentricRational
from ratapprox.errors import InvalidInputError
from ratapprox.tables import (
    CSV_COLUMNS,
    SCHEMA,
    TABLE_SPEC,
    build_table,
    decimal_str,
    format_summary,
    table_to_csv,
    write_table,
)

# --------------------------------------------------------------------------- decimal strings


def _exact(x: mpmath.mpf) -> Fraction:
    sign, man, exp, _ = x._mpf_
    v = Fraction(man) * (Fraction(2) ** exp)
    return -v if sign else v


@pytest.mark.parametrize("x", [0.1, 1 / 3, -2.5e-300, 1e300, 5e-324, 0.0, -0.0])
def test_float_is_written_as_its_repr(x):
    s = decimal_str(x)
    assert s == repr(x)
    assert float(s) == x  # round-trips exactly
    assert decimal_str(np.float64(x)) == s


def test_integers_and_strings_pass_through():
    assert decimal_str(3) == "3"
    assert decimal_str("0.125") == "0.125"
    with pytest.raises(InvalidInputError):
        decimal_str(None)
    with pytest.raises(InvalidInputError):
        decimal_str(True)
    with pytest.raises(InvalidInputError, match="rounding"):
        decimal_str(1.0, rounding="sideways")


def test_mpf_gets_all_requested_digits():
    with mpmath.workdps(60):
        x = mpmath.mpf(1) / 3
        s = decimal_str(x, 50)
    mant = s.split("e")[0].replace(".", "").lstrip("-")
    assert mant == "3" * 50  # 50 significant digits, not the decimal module's default 28


@given(st.integers(min_value=1, max_value=2**200), st.integers(min_value=-400, max_value=400),
       st.booleans(), st.integers(min_value=1, max_value=60))
def test_directed_rounding_brackets_the_exact_value(man, exp, neg, digits):
    x = mpmath.mpf(((1 if neg else 0), man, exp, man.bit_length()))
    exact = _exact(x)
    down = Fraction(Decimal(decimal_str(x, digits, "down")))
    up = Fraction(Decimal(decimal_str(x, digits, "up")))
    near = Fraction(Decimal(decimal_str(x, digits, "nearest")))
    assert down <= exact <= up
    # One unit in the last of `digits` places at most between the two directed roundings.
    ulp = Fraction(10) ** (len(str(int(abs(exact) * 10**500))) - 500 - digits)
    assert up - down <= ulp
    assert abs(near - exact) <= ulp / 2


def test_interval_ends_follow_the_rounding_direction():
    mpmath.iv.prec = 80  # the autouse fixture in conftest restores it
    iv = mpmath.iv.mpf(["0.1", "0.2"])
    lo, hi = (Fraction(Decimal(decimal_str(iv, 20, r))) for r in ("down", "up"))
    assert lo <= Fraction(1, 10) and hi >= Fraction(2, 10)
    assert hi - lo < Fraction(1, 10) + Fraction(1, 10**18)


# --------------------------------------------------------------------------- table
QUICK_IDS = ("relu-3-2", "sign-5-4-gap0.1")


@pytest.fixture(scope="module")
def quick_table():
    specs = [s for s in TABLE_SPEC if s.id in QUICK_IDS]
    assert len(specs) == len(QUICK_IDS)
    return build_table(dps=None, specs=specs)


def test_spec_covers_the_sae_gate_set():
    ids = {s.id for s in TABLE_SPEC}
    for k in (3, 5, 7, 9):
        assert f"relu-{k}-{k - 1}" in ids
    jumps = [s for s in TABLE_SPEC if s.target.startswith(("jumprelu:", "step:"))]
    assert {s.type for s in jumps} == {(9, 8)}
    assert len({s.target for s in jumps}) >= 4 and len({s.gap for s in jumps}) >= 2
    assert sum(s.kind == "zolotarev" for s in TABLE_SPEC) >= 3
    assert len(ids) == len(TABLE_SPEC)  # ids are unique


def test_schema_and_entry_fields(quick_table):
    t = quick_table
    assert t["schema"] == SCHEMA
    assert t["ratapprox_version"] == __version__
    assert [e["id"] for e in t["entries"]] == list(QUICK_IDS)
    for e in t["entries"]:
        for key in ("id", "kind", "target", "type", "domain", "basis", "numerator", "denominator",
                    "error", "certificate", "safe_pade", "ratapprox_version", "command", "hull_check",
                    "certified", "issues"):
            assert key in e, key
        m, n = e["type"]
        assert len(e["numerator"]) == m + 1 and len(e["denominator"]) == n + 1
        assert Decimal(e["denominator"][0]) == 1
        assert all(isinstance(c, str) for c in e["numerator"] + e["denominator"])
        c = e["certificate"]
        lo, hi = Decimal(c["error_lower"]), Decimal(c["error_upper"])
        assert 0 < lo <= Decimal(e["error"]) <= hi
        assert c["rigorous"] is True
        assert e["basis"]["monomial"].startswith("monomial, ascending")
        assert e["command"].startswith("ratapprox ")
        assert len(e["alternation_points"]) >= m + n + 2


def test_entries_re_evaluate_consistently(quick_table):
    """Monomial, barycentric and safe-Padé forms of an entry agree; the error is inside the bracket."""
    relu = quick_table["entries"][0]
    num = [mpmath.mpf(c) for c in relu["numerator"]]
    den = [mpmath.mpf(c) for c in relu["denominator"]]
    bary = BarycentricRational.from_json({
        "arithmetic": "float64", "type": relu["type"],
        **{k: relu["basis"][k] for k in ("support_points", "weights", "values")},
    })
    x = np.linspace(-1, 1, 2001)
    with mpmath.workdps(30):
        mono = np.array([float(mpmath.polyval(num[::-1], t) / mpmath.polyval(den[::-1], t)) for t in x])
    np.testing.assert_allclose(bary(x), mono, rtol=0, atol=1e-12)
    err = np.max(np.abs(np.maximum(x, 0) - mono))
    c = relu["certificate"]
    assert float(c["error_lower"]) * (1 - 1e-12) <= err <= float(c["error_upper"]) * (1 + 1e-12)
    sp = relu["safe_pade"]
    assert sp["available"]
    a = [float(v) for v in sp["a"]]
    b = [float(v) for v in sp["b"]]
    r_sp = np.polyval(a[::-1], x) / (1 + np.abs(np.polyval([*b[::-1], 0.0], x)))
    assert np.max(np.abs(r_sp - mono)) <= float(sp["max_deviation"]) * (1 + 1e-9) + 1e-15


def test_zolotarev_entry_matches_closed_form(quick_table):
    z = quick_table["entries"][1]
    assert z["kind"] == "zolotarev" and z["type"] == [5, 4]
    assert z["domain"]["intervals"] == [["-1", "-0.1"], ["0.1", "1"]]
    assert abs(Decimal(z["error"]) - Decimal(z["error_independent"])) < Decimal("1e-30")
    # Zolotarev's approximant is odd and increasing on [0, delta] (its value at delta is 1 - E),
    # so in the gap |r| <= 1 - E: no spike where the gate is evaluated but was not fitted.
    gap_max = float(z["hull_check"]["max_abs_r_in_gaps"])
    assert gap_max <= 1 - float(z["error"]) + 1e-12


def test_table_is_deterministic(quick_table):
    specs = [s for s in TABLE_SPEC if s.id == "relu-3-2"]
    again = build_table(dps=None, specs=specs)
    assert json.dumps(again["entries"][0], sort_keys=True) == json.dumps(
        quick_table["entries"][0], sort_keys=True)


def test_csv_long_format(quick_table):
    text = table_to_csv(quick_table)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    relu = [r for r in rows if r["id"] == "relu-3-2"]
    nums = [r for r in relu if r["coefficient"] == "numerator"]
    assert [int(r["power"]) for r in nums] == [0, 1, 2, 3]
    assert nums[2]["value"] == quick_table["entries"][0]["numerator"][2]
    assert {r["coefficient"] for r in relu} >= {"numerator", "denominator", "safe_pade_a", "safe_pade_b"}


def test_write_table_is_atomic_and_replaces(tmp_path, quick_table):
    out, out_csv = tmp_path / "t.json", tmp_path / "t.csv"
    out.write_text("old")
    write_table(quick_table, out, out_csv)
    assert json.loads(out.read_text())["schema"] == SCHEMA
    assert out_csv.read_text().startswith(",".join(CSV_COLUMNS))
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "t.json"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o666 & ~umask  # not mkstemp's private 0600


def test_write_table_leaves_old_file_on_failure(tmp_path):
    out = tmp_path / "t.json"
    out.write_text("old")
    with pytest.raises(TypeError):
        write_table({"entries": [], "bad": object()}, out, None)
    assert out.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.json"]


def test_summary_lists_every_entry(quick_table):
    s = format_summary(quick_table)
    lines = s.splitlines()
    assert "certified" in lines[0]
    for e in quick_table["entries"]:
        (line,) = [ln for ln in lines if ln.startswith(e["id"] + " ")]
        assert " yes " in line  # both quick entries certify
        assert f"{float(e['error']):.6e}" in line


@pytest.mark.slow
@pytest.mark.parametrize("entry_id", ["step:0.1-9-8-gap0.05", "jumprelu:0.1-9-8-gap0.02"])
def test_jump_gate_entries_certify(entry_id):
    """Issue 3: the (9,8) step/jumprelu fits with a gap converge and certify to a relative bracket
    width <= 1e-6, with no pole anywhere in [-1, 1] (gaps included)."""
    from ratapprox.tables import _real_poles_on_hull

    (spec,) = [s for s in TABLE_SPEC if s.id == entry_id]
    (e,) = build_table(specs=[spec])["entries"]
    assert e["certified"], e["issues"]
    c = e["certificate"]
    assert c["rigorous"]
    lo, hi = Decimal(c["error_lower"]), Decimal(c["error_upper"])
    assert lo <= Decimal(e["error"]) <= hi
    assert (hi - lo) / lo <= Decimal("1e-6")
    assert _real_poles_on_hull(e["denominator"], -1.0, 1.0) == []


def test_pole_in_an_excluded_gap_is_flagged():
    """A pole inside the gap is harmless on the fit domain but fatal for the gate on [-1, 1]."""
    from ratapprox.domains import Domain
    from ratapprox.tables import _entry_issues, _real_poles_on_hull

    # den = 1 - 10 x has its zero at x = 0.1; den = 1 + x^2 has none on the real line.
    assert _real_poles_on_hull(["1", "-10"], -1.0, 1.0) == pytest.approx([0.1])
    assert _real_poles_on_hull(["1", "0", "1"], -1.0, 1.0) == []
    assert _real_poles_on_hull(["1", "-0.5"], -1.0, 1.0) == []  # zero at 2, outside [-1, 1]
    # A double zero at 0.1, (x - 0.1)^2: double precision splits it off the axis; still a pole.
    assert _real_poles_on_hull(["0.01", "-0.2", "1"], -1.0, 1.0) == pytest.approx([0.1, 0.1], abs=1e-7)
    # Zeros at +-1e-26 i (1 + 1e52 x^2, the clustering of |x| fits): no real pole, Q(0) = 1.
    assert _real_poles_on_hull(["1", "0", "1e52"], -1.0, 1.0) == []

    class Cert:
        rigorous, notes = True, ""

    gapped = Domain.interval(-1, 1).excluding("0.1", "0.02")
    issues = _entry_issues(Cert(), ["1", "-10"], gapped)
    assert len(issues) == 1 and "pole" in issues[0]
    assert _entry_issues(Cert(), ["1", "0", "1"], gapped) == []


def _safe_pade_error(sp: dict, f, xs) -> mpmath.mpf:
    """max |f - P/(1 + |B|)| over xs, from the entry's decimal strings at 30 digits."""
    with mpmath.workdps(30):
        a = [mpmath.mpf(v) for v in sp["a"]][::-1]
        b = [*(mpmath.mpf(v) for v in reversed(sp["b"])), 0]
        return max(abs(f(x) - mpmath.polyval(a, x) / (1 + abs(mpmath.polyval(b, x))))
                   for x in map(mpmath.mpf, xs))


def test_safe_pade_json_when_p_over_q_is_not_convertible():
    """Q = 1 - 4x^2 vanishes on the domain: the entry still gets a safe-Padé form, fitted to the
    target, with a certified error_vs_target and no max_deviation (P/Q is no comparison)."""
    from ratapprox.domains import Domain
    from ratapprox.tables import _safe_pade_json

    dom = Domain.interval(-1, 1).excluding("0.3", "0.05")
    sp = _safe_pade_json(["0"] * 6, ["1", "0", "-4", "0", "0"], dom, "step:0.3", None)
    assert sp["available"] is True and sp["exact"] is False
    assert sp["max_deviation"] is None and "no valid comparison" in sp["notes"]
    assert sp["method"].startswith("fitted to the target")
    xs = np.concatenate([np.linspace(-1, 0.25, 600), np.linspace(0.35, 1, 350)])
    assert _safe_pade_error(sp, lambda x: 1 if x > 0.3 else 0, xs) <= mpmath.mpf(sp["error_vs_target"])


@pytest.mark.slow
@pytest.mark.parametrize("entry_id", ["jumprelu:0.3-9-8-gap0.02", "step:0.3-9-8-gap0.02"])
def test_threshold_entries_have_a_certified_safe_pade(entry_id):
    """The entries whose Q comes within ~5e-5 of zero near the gap (no safe-Padé form before):
    available, with certified bounds that an independent 30-digit evaluation respects."""
    (spec,) = [s for s in TABLE_SPEC if s.id == entry_id]
    (e,) = build_table(specs=[spec])["entries"]
    sp = e["safe_pade"]
    assert sp["available"] is True, sp
    theta = mpmath.mpf(spec.target.partition(":")[2])
    f = (lambda x: x if x > theta else 0) if spec.target.startswith("jumprelu") else (
        lambda x: 1 if x > theta else 0)
    g = float(spec.gap)
    xs = np.concatenate([np.linspace(-1, float(theta) - g, 2000), np.linspace(float(theta) + g, 1, 1000)])
    assert _safe_pade_error(sp, f, xs) <= mpmath.mpf(sp["error_vs_target"])
    if sp["max_deviation"] is not None:  # P/Q valid: the deviation from it is bounded too
        num = [mpmath.mpf(v) for v in e["numerator"]][::-1]
        den = [mpmath.mpf(v) for v in e["denominator"]][::-1]
        dev = _safe_pade_error(sp, lambda x: mpmath.polyval(num, x) / mpmath.polyval(den, x), xs)
        assert dev <= mpmath.mpf(sp["max_deviation"])
