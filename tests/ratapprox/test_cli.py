"""Tests of the ``ratapprox`` command line (the contract in issue 3 and ``docs/ratapprox.md``).

Most tests call :func:`ratapprox.cli.main` in-process (fast); a few run the real console script
and ``python -m ratapprox`` in a subprocess to check exit codes and stderr as a shell sees them.
Accuracy is checked against independent references: the returned coefficients are re-evaluated
at high precision (monomial and barycentric forms separately), and the gapped-sign fit is
compared with Zolotarev's closed form.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal

import mpmath
import numpy as np
import pytest

from ratapprox.barycentric import BarycentricRational
from ratapprox.cli import build_domain, main
from ratapprox.errors import InvalidInputError
from ratapprox.targets import get_target

CONTRACT_KEYS = ("target", "type", "domain", "error", "error_lower", "error_upper", "numerator",
                 "denominator", "alternation_points", "iterations", "seconds", "support_points",
                 "weights", "values", "certificate", "converged", "defect", "dps", "history")


def run_main(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def fit_json(capsys, *argv):
    rc, out, err = run_main(capsys, "fit", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def _mp_rational(num, den):
    n = [mpmath.mpf(c) for c in num][::-1]
    d = [mpmath.mpf(c) for c in den][::-1]
    return lambda x: mpmath.polyval(n, x) / mpmath.polyval(d, x)


def _is_decimal(s):
    return isinstance(s, str) and Decimal(s).is_finite()


# --------------------------------------------------------------------------- fit
def test_fit_relu_json_contract(capsys):
    d = fit_json(capsys, "relu", "--type", "3", "2")
    for k in CONTRACT_KEYS:
        assert k in d, k
    assert d["target"] == "relu" and d["type"] == [3, 2]
    assert d["domain"]["intervals"] == [["-1", "1"]]
    assert len(d["numerator"]) == 4 and len(d["denominator"]) == 3
    assert Decimal(d["denominator"][0]) == 1
    for k in ("error", "error_lower", "error_upper"):
        assert _is_decimal(d[k]), k
    assert all(_is_decimal(c) for c in d["numerator"] + d["denominator"] + d["alternation_points"])
    assert all(_is_decimal(c) for k in ("support_points", "weights", "values") for c in d[k])
    lo, e, hi = (Decimal(d[k]) for k in ("error_lower", "error", "error_upper"))
    assert 0 < lo <= e <= hi
    assert len(d["alternation_points"]) >= 3 + 2 + 2
    assert d["converged"] is True and isinstance(d["iterations"], int)
    assert d["dps"] is None  # float64 engine: errors are reprs of doubles
    assert float(d["error"]) == float(repr(float(d["error"])))


def test_fit_coefficients_survive_independent_re_evaluation(capsys):
    """Monomial and barycentric forms agree, and max |relu - r| lies in the certified bracket."""
    d = fit_json(capsys, "relu", "--type", "3", "2")
    r_mono = _mp_rational(d["numerator"], d["denominator"])
    bary = BarycentricRational.from_json({"arithmetic": "float64", "type": d["type"],
                                          **{k: d[k] for k in ("support_points", "weights", "values")}})
    x = np.concatenate([np.linspace(-1, 1, 4001), [float(p) for p in d["alternation_points"]]])
    with mpmath.workdps(40):
        err_mono = max(abs(max(mpmath.mpf(t), 0) - r_mono(mpmath.mpf(t))) for t in x)
        err_bary = max(abs(max(mpmath.mpf(t), 0) - bary.eval_mp(mpmath.mpf(t))) for t in x)
        lo, hi = mpmath.mpf(d["error_lower"]), mpmath.mpf(d["error_upper"])
        assert lo * (1 - 1e-13) <= err_mono <= hi
        assert abs(err_bary - err_mono) <= 1e-12
    # Equioscillation: f - r alternates in sign at the returned points, with |f - r| ~ E.
    with mpmath.workdps(40):
        e_alt = [max(mpmath.mpf(p), 0) - r_mono(mpmath.mpf(p)) for p in d["alternation_points"]]
    signs = np.sign([float(v) for v in e_alt])
    assert np.all(signs[1:] == -signs[:-1])
    np.testing.assert_allclose(np.abs([float(v) for v in e_alt]), float(d["error"]), rtol=1e-6)


def test_fit_sign_with_gap_reproduces_zolotarev(capsys):
    d = fit_json(capsys, "sign", "--type", "5", "4", "--gap", "0.1")
    assert d["domain"]["intervals"] == [["-1", "-0.1"], ["0.1", "1"]]
    rc, out, err = run_main(capsys, "zolotarev", "--delta", "0.1", "--r", "2", "--json")
    assert rc == 0, err
    z = json.loads(out)
    assert z["type"] == [5, 4]
    # Zolotarev (1877): the best type (5, 4) approximation of sign on E_0.1 has this error; a
    # float64 Remez must reproduce it to (much better than) 1e-8 relative.
    assert float(d["error"]) == pytest.approx(float(z["error"]), rel=1e-8)


def test_fit_mp_errors_carry_all_digits(capsys):
    d = fit_json(capsys, "relu", "--type", "3", "2", "--dps", "30")
    assert d["dps"] == 30
    mant = d["error"].split("e")[0].replace(".", "").lstrip("-")
    assert len(mant.rstrip("0")) >= 28  # 30 digits, less possible trailing zeros
    lo, e, hi = (mpmath.mpf(d[k]) for k in ("error_lower", "error", "error_upper"))
    assert lo <= e <= hi


def test_fit_grid_and_interval(capsys):
    d = fit_json(capsys, "exp", "--type", "2", "2", "--interval", "0", "2", "--grid", "201")
    assert d["domain"]["grid"] == {"a": "0", "b": "2", "n": 201}
    grid = np.linspace(0, 2, 201)
    assert all(np.any(np.isclose(float(p), grid, rtol=0, atol=1e-15)) for p in d["alternation_points"])


def test_fit_readable_summary(capsys):
    rc, out, err = run_main(capsys, "fit", "relu", "--type", "3", "2")
    assert rc == 0, err
    assert "error" in out and "certified" in out and "alternation" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


# --------------------------------------------------------------------------- domains from options
def test_build_domain_gap_semantics():
    sign = get_target("sign")
    assert build_domain(sign, None, "0.1").intervals == (("-1", "-0.1"), ("0.1", "1"))
    # Scaled to the interval: on [-2, 2] the gap is 0.1 * 2.
    assert build_domain(sign, ("-2", "2"), "0.1").intervals == (("-2", "-0.2"), ("0.2", "2"))
    step = get_target("step:0.3")
    assert build_domain(step, None, "0.05").intervals == (("-1", "0.25"), ("0.35", "1"))
    jr = get_target("jumprelu:0.1")
    assert build_domain(jr, None, "0.02").intervals == (("-1", "0.08"), ("0.12", "1"))
    g = build_domain(get_target("relu"), None, None, 4001)
    assert g.grid == ("-1", "1", 4001) and g.points_float().size == 4001


@pytest.mark.parametrize("target, interval, gap, match", [
    ("sign", None, "1", "lie in"),
    ("sign", None, "-0.1", "lie in"),
    ("step:0", None, "0", "positive"),
    ("exp", None, "0.1", "applies to"),
    ("exp", ("1", "-1"), None, "reversed"),
    ("exp", ("0", "x"), None, "number"),
])
def test_build_domain_rejects_bad_options(target, interval, gap, match):
    with pytest.raises(InvalidInputError, match=match):
        build_domain(get_target(target), interval, gap)


# --------------------------------------------------------------------------- zolotarev
def test_zolotarev_json(capsys):
    rc, out, err = run_main(capsys, "zolotarev", "--delta", "0.01", "--r", "3", "--json")
    assert rc == 0, err
    z = json.loads(out)
    for k in ("target", "type", "domain", "error", "error_independent", "error_lower", "error_upper",
              "numerator", "denominator", "alternation_points", "dps", "certificate"):
        assert k in z, k
    assert z["type"] == [7, 6] and z["dps"] == 50
    assert len(z["numerator"]) == 8 and len(z["denominator"]) == 7
    assert Decimal(z["denominator"][0]) == 1
    with mpmath.workdps(50):
        e, ei = mpmath.mpf(z["error"]), mpmath.mpf(z["error_independent"])
        assert abs(e - ei) < mpmath.mpf(10) ** -30 * e
        assert mpmath.mpf(z["error_lower"]) <= e <= mpmath.mpf(z["error_upper"])
    assert len(z["alternation_points"]) >= 7 + 6 + 2


# --------------------------------------------------------------------------- bad input
def _assert_one_line_error(rc, err, *words):
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("argv, words", [
    (["fit", "relu", "--type", "-1", "2", "--json"], ["non-negative"]),
    (["fit", "relu", "--type", "3", "-2", "--json"], ["non-negative"]),
    (["fit", "no_such_target", "--type", "2", "2", "--json"], ["unknown target"]),
    (["fit", "exp", "--type", "2", "2", "--interval", "1", "-1", "--json"], ["reversed"]),
    (["fit", "sign", "--type", "5", "4", "--gap", "1.5", "--json"], ["(0, 1)"]),
    (["fit", "sign", "--type", "5", "4", "--gap", "0", "--json"], ["(0, 1)"]),
    (["zolotarev", "--delta", "1.5", "--r", "2", "--json"], ["(0, 1)"]),
    (["zolotarev", "--delta", "0", "--r", "2", "--json"], ["(0, 1)"]),
    (["zolotarev", "--delta", "0.1", "--r", "-1", "--json"], ["--r"]),
    (["fit", "relu", "--type", "3", "2", "--dps", "0", "--json"], ["--dps"]),
    (["fit", "relu", "--type", "3", "2", "--dps", "5", "--json"], ["dps"]),
    (["fit", "relu", "--type", "3", "--json"], ["--type"]),
    (["fit", "relu", "--type", "a", "b"], ["invalid int"]),
    (["fit", "relu"], ["--type"]),
    (["nonsense"], ["invalid choice"]),
    ([], ["required"]),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    rc, out, err = run_main(capsys, *argv)
    _assert_one_line_error(rc, err, *words)
    assert out == ""


def test_target_returning_nan_is_bad_input(capsys, tmp_path, monkeypatch):
    (tmp_path / "nan_target_mod.py").write_text(textwrap.dedent("""
        def f(x):
            return float("nan") if x > 0.5 else x * x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, _out, err = run_main(capsys, "fit", "py:nan_target_mod:f", "--type", "2", "2", "--json")
    _assert_one_line_error(rc, err, "non-finite")


def test_python_callable_target_gives_an_estimate(capsys, tmp_path, monkeypatch):
    (tmp_path / "ok_target_mod.py").write_text("def f(x):\n    return x * x * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    d = fit_json(capsys, "py:ok_target_mod:f", "--type", "1", "1")
    assert d["certificate"]["rigorous"] is False  # no interval enclosure: an estimate only
    rc, _out, err = run_main(capsys, "fit", "py:no_such_module_xyz:f", "--type", "1", "1")
    _assert_one_line_error(rc, err, "cannot import")


def test_non_convergence_is_one_line(capsys):
    # One exchange step cannot converge for a kinked target at this degree.
    rc, _out, err = run_main(capsys, "fit", "abs", "--type", "12", "12", "--max-iter", "1", "--json")
    _assert_one_line_error(rc, err)
    assert "converge" in err or "iteration" in err


def test_help_exits_zero(capsys):
    rc, out, _ = run_main(capsys, "--help")
    assert rc == 0 and "fit" in out and "zolotarev" in out
    rc, out, _ = run_main(capsys, "fit", "--help")
    assert rc == 0 and "--gap" in out


# --------------------------------------------------------------------------- table and plot
def test_table_command_writes_json_and_csv(capsys, tmp_path):
    out = tmp_path / "gates.json"
    rc, stdout, err = run_main(capsys, "table", "--out", str(out), "--only", "relu-3-2",
                               "--only", "sign-5-4", "--quiet")
    assert rc == 0, err
    t = json.loads(out.read_text())
    assert t["schema"] == "ratapprox.table/1"
    assert [e["id"] for e in t["entries"]] == ["relu-3-2", "sign-5-4-gap0.1"]
    assert (tmp_path / "gates.csv").read_text().startswith("id,target")
    assert "relu-3-2" in stdout and "wrote" in stdout


def test_table_unknown_entry_is_bad_input(capsys, tmp_path):
    rc, _, err = run_main(capsys, "table", "--out", str(tmp_path / "x.json"), "--only", "zzz")
    _assert_one_line_error(rc, err, "matches no entry")
    assert not (tmp_path / "x.json").exists()


def test_plot_writes_png(capsys, tmp_path):
    png = tmp_path / "relu.png"
    rc, _, err = run_main(capsys, "plot", "relu", "--type", "3", "2", "--out", str(png))
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png2 = tmp_path / "zolo.png"
    rc, _, err = run_main(capsys, "plot", "--zolotarev", "--delta", "0.1", "--r", "2", "--out", str(png2))
    assert rc == 0, err
    assert png2.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, _, err = run_main(capsys, "plot", "--out", str(tmp_path / "n.png"))
    _assert_one_line_error(rc, err, "TARGET")


# --------------------------------------------------------------------------- as a shell sees it
def _script():
    exe = shutil.which("ratapprox")
    return [exe] if exe else [sys.executable, "-m", "ratapprox"]


def test_console_script_json_and_exit_codes():
    p = subprocess.run([*_script(), "fit", "relu", "--type", "3", "2", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["type"] == [3, 2]
    p = subprocess.run([*_script(), "fit", "relu", "--type", "-1", "2", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_python_dash_m_usage_error():
    p = subprocess.run([sys.executable, "-m", "ratapprox", "zolotarev", "--delta", "2", "--r", "1"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
