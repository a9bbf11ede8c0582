"""Coefficient tables for the SAE gate set, and the exact JSON form of every result.

The table (schema ``ratapprox.table/1``, documented in ``docs/ratapprox.md``) lists, for each
gate a rational sparse autoencoder may start from, the best rational approximation on ``[-1, 1]``
(or on ``[-1, 1]`` without a neighbourhood of the jump) with:

* the coefficients in the monomial basis, ascending powers, scaled so that ``denominator[0] = 1``,
  and the barycentric data ``(support_points, weights, values)`` from which a high-degree fit can
  be re-evaluated stably (Berrut & Trefethen 2004);
* the certificate ``[error_lower, error_upper]``: the lower bound from an alternating set (de la
  Vallée Poussin 1910), the upper bound from an interval-arithmetic enclosure of ``max |f - r|``;
* the safe-Padé form ``P(t) / (1 + |b_1 t + ... + b_q t^q|)`` that ``rsae`` consumes (Molina,
  Schramowski & Kersting 2020), with its deviation from the fitted rational;
* the ``ratapprox`` version and the command that reproduces the entry.

Every number is written as a decimal string: a float64 quantity as its ``repr`` (the shortest
string that reads back to the same double), an mpmath quantity with all the digits of its working
precision.  Certified bounds are rounded outwards (``error_lower`` down, ``error_upper`` up) so
that the printed bracket still contains the true error.

Nothing is precomputed: :func:`build_table` runs every fit, deterministically, so the table is a
reproducible function of the code and ``dps``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from .domains import Domain
from .errors import ConvergenceError, InvalidInputError, PrecisionError, RatapproxError

__all__ = [
    "SCHEMA",
    "TABLE_SPEC",
    "TableSpec",
    "build_table",
    "decimal_str",
    "format_summary",
    "minimax_to_json",
    "table_to_csv",
    "write_table",
    "zolotarev_to_json",
]

SCHEMA = "ratapprox.table/1"

MONOMIAL_BASIS = "monomial, ascending; denominator[0] = 1"
BARYCENTRIC_BASIS = "barycentric: r(x) = sum_j w_j f_j / (x - z_j) / sum_j w_j / (x - z_j)"
SAFE_PADE_FORM = "r(t) = (a_0 + a_1 t + ... + a_p t^p) / (1 + |b_1 t + ... + b_q t^q|)"


# --------------------------------------------------------------------------- decimal strings
def _is_mpf(x: Any) -> bool:
    return isinstance(x, mpmath.mpf) or (hasattr(x, "_mpf_") and not hasattr(x, "_mpi_"))


def _exact_decimal(mpf_tuple: tuple) -> Decimal:
    """The exact decimal value of an mpmath ``_mpf_`` tuple ``(sign, man, exp, bc)``.

    ``man * 2**exp`` with ``exp < 0`` equals ``man * 5**(-exp) * 10**exp``: a finite decimal, so
    the conversion is exact and any later rounding is the only rounding.
    """
    sign, man, exp, _ = mpf_tuple
    if exp >= 0:
        return Decimal((sign, tuple(int(c) for c in str(man << exp)), 0))
    # Built from its digit tuple: Decimal arithmetic (scaleb, *) would round to the context's
    # 28 digits.
    return Decimal((sign, tuple(int(c) for c in str(man * 5 ** (-exp))), exp))


def _fraction_decimal(q: Fraction, digits: int) -> Decimal:
    """``q`` as a Decimal with ``digits`` significant digits (round half even)."""
    ctx = Context(prec=max(1, digits), rounding=ROUND_HALF_EVEN, Emax=10**9, Emin=-(10**9))
    return ctx.divide(Decimal(q.numerator), Decimal(q.denominator))


def _format_decimal(d: Decimal, digits: int, rounding: str) -> str:
    ctx = Context(prec=max(1, int(digits)), rounding=rounding, Emax=10**9, Emin=-(10**9))
    r = ctx.plus(d).normalize(ctx)
    if r == 0:
        return "0.0"
    return format(r, "e").replace("e+0", "e0").replace("e+", "e")


def decimal_str(x: Any, digits: int | None = None, rounding: str = "nearest") -> str:
    """Decimal string of a float, mpf, mpmath interval, int, Fraction or Decimal.

    Parameters
    ----------
    x : number
        A float64 is written as its ``repr`` (shortest round-trip string: it reads back to exactly
        the same double, so no rounding direction is needed).  An ``mpf`` is rounded once from its
        exact binary value to ``digits`` significant decimal digits.
    digits : int, optional
        Significant digits for an mpf (default: the current ``mp.dps``).
    rounding : {"nearest", "up", "down"}
        Direction for an mpf: ``"up"`` for certified upper bounds, ``"down"`` for lower bounds.
        For an mpmath interval ``"up"``/``"down"`` take its upper/lower end, ``"nearest"`` its
        midpoint.
    """
    if rounding not in ("nearest", "up", "down"):
        raise InvalidInputError(f"`rounding` must be 'nearest', 'up' or 'down', got {rounding!r}")
    if x is None:
        raise InvalidInputError("cannot write None as a decimal string")
    if isinstance(x, bool):
        raise InvalidInputError("cannot write a bool as a decimal string")
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, str):
        return x
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, Fraction):
        x = mpmath.mpf(x.numerator) / x.denominator
    n = int(digits) if digits is not None else mpmath.mp.dps
    if hasattr(x, "_mpi_"):  # an mpmath interval: pick the end the rounding direction asks for
        # The raw end tuples are converted exactly (mpmath.mpf(tuple) would round them to mp.prec,
        # to nearest, and could move a bound inwards).
        lo, hi = x._mpi_
        special = [end for end in (lo, hi) if end[1] == 0 and end != (0, 0, 0, 0)]  # +-inf, nan
        if special:
            end = hi if rounding == "up" else lo if rounding == "down" else special[0]
            if end in special:
                return str(mpmath.mpf(end))
            mode = ROUND_CEILING if rounding == "up" else ROUND_FLOOR
            return _format_decimal(_exact_decimal(end), n, mode)
        if rounding == "up":
            return _format_decimal(_exact_decimal(hi), n, ROUND_CEILING)
        if rounding == "down":
            return _format_decimal(_exact_decimal(lo), n, ROUND_FLOOR)
        mid = (Fraction(_exact_decimal(lo)) + Fraction(_exact_decimal(hi))) / 2
        return _format_decimal(_fraction_decimal(mid, n + 5), n, ROUND_HALF_EVEN)
    if _is_mpf(x):
        if not mpmath.isfinite(x):
            return str(x)
        mode = {"nearest": ROUND_HALF_EVEN, "up": ROUND_CEILING, "down": ROUND_FLOOR}[rounding]
        return _format_decimal(_exact_decimal(x._mpf_), n, mode)
    try:
        return repr(float(x))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot write {type(x).__name__} as a decimal string") from exc


#: Significant digits for an mpf quantity (a certificate bound) of a float64 result: 17 digits
#: tell any two doubles apart, so the bound is as sharp as the double it brackets.
FLOAT64_DIGITS = 17


def _digits_of(dps: int | None) -> int:
    return FLOAT64_DIGITS if dps is None else int(dps)


def _dec_list(xs: Sequence[Any] | None, dps: int | None) -> list[str]:
    return [] if xs is None else [decimal_str(x, _digits_of(dps)) for x in xs]


def _jsonable(v: Any, dps: int | None) -> Any:
    """History entries and other loose values: numbers become decimal strings, ints stay ints."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(u, dps) for k, u in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(u, dps) for u in v]
    try:
        return decimal_str(v, _digits_of(dps))
    except RatapproxError:
        return str(v)


def _certificate_json(cert: Any, dps: int | None) -> dict[str, Any]:
    if cert is None:
        return {"error_lower": None, "error_upper": None, "rigorous": False, "method": "none"}
    out = {
        "error_lower": decimal_str(cert.lower, _digits_of(dps), "down"),
        "error_upper": decimal_str(cert.upper, _digits_of(dps), "up"),
        "rigorous": bool(cert.rigorous),
        "method": str(cert.method),
    }
    try:
        out["relative_width"] = decimal_str(cert.relative_width, 3, "up")
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        pass
    if getattr(cert, "notes", ""):
        out["notes"] = str(cert.notes)
    return out


def _barycentric_json(rational: Any, dps: int | None) -> dict[str, list[str]]:
    if rational is None:
        return {"support_points": [], "weights": [], "values": []}
    d = rational.to_json() if hasattr(rational, "to_json") else {}
    out = {}
    for key in ("support_points", "weights", "values"):
        if key in d:
            out[key] = [str(v) for v in d[key]]
        else:
            out[key] = _dec_list(list(getattr(rational, key)), dps)
    return out


def _target_name(t: Any) -> str:
    return t if isinstance(t, str) else getattr(t, "name", str(t))


def minimax_to_json(result: Any) -> dict[str, Any]:
    """The JSON form of a :class:`ratapprox.remez.MinimaxResult` (the ``fit --json`` contract).

    Keys: ``target, type, domain, error, error_lower, error_upper, numerator, denominator,
    alternation_points, iterations, seconds, support_points, weights, values, certificate,
    converged, defect, dps, arithmetic, history``.  Every number is a decimal string (``seconds``
    is a JSON number; ``iterations``/``defect`` are integers).
    """
    dps = result.dps
    cert = _certificate_json(result.certificate, dps)
    lower, upper = result.error_lower, result.error_upper
    if lower is None:
        lower = getattr(result.certificate, "lower", None)
    if upper is None:
        upper = getattr(result.certificate, "upper", None)
    out: dict[str, Any] = {
        "target": _target_name(result.target),
        "type": [int(result.type[0]), int(result.type[1])],
        "domain": result.domain.to_json(),
        "domain_text": str(result.domain),
        "arithmetic": "float64" if dps is None else f"mpmath, dps {int(dps)}",
        "error": decimal_str(result.error, _digits_of(dps)),
        "error_lower": None if lower is None else decimal_str(lower, _digits_of(dps), "down"),
        "error_upper": None if upper is None else decimal_str(upper, _digits_of(dps), "up"),
        "certificate": cert,
        "numerator": _dec_list(result.numerator, dps),
        "denominator": _dec_list(result.denominator, dps),
        "alternation_points": _dec_list(result.alternation_points, dps),
        "iterations": int(result.iterations),
        "seconds": float(result.seconds),
        "converged": bool(result.converged),
        "defect": int(result.defect),
        "dps": None if dps is None else int(dps),
    }
    out.update(_barycentric_json(result.rational, dps))
    out["history"] = _jsonable(list(result.history or []), dps)
    return out


def zolotarev_to_json(
    result: Any, delta: Any, r: int, dps: int, seconds: float | None = None
) -> dict[str, Any]:
    """The JSON form of a :class:`ratapprox.zolotarev.ZolotarevResult` (``zolotarev --json``).

    ``error`` is the closed-form error of Zolotarev's approximant (Zolotarev 1877; Akhiezer 1990),
    ``error_independent`` the classical formula it is cross-checked against, and the certificate
    brackets ``max |sign - r|`` over :math:`E_\\delta` independently of both.
    """
    cert = getattr(result, "certificate", None)
    lower = getattr(cert, "lower", None)
    upper = getattr(cert, "upper", None)
    out: dict[str, Any] = {
        "target": "sign",
        "type": [2 * int(r) + 1, 2 * int(r)],
        "delta": decimal_str(delta),
        "r": int(r),
        "domain": Domain.sign_domain(delta).to_json(),
        "domain_text": str(Domain.sign_domain(delta)),
        "arithmetic": f"mpmath, dps {int(dps)}",
        "error": decimal_str(result.error, dps),
        "error_independent": (
            None if getattr(result, "error_independent", None) is None
            else decimal_str(result.error_independent, dps)
        ),
        "error_lower": None if lower is None else decimal_str(lower, dps, "down"),
        "error_upper": None if upper is None else decimal_str(upper, dps, "up"),
        "certificate": _certificate_json(cert, dps),
        "numerator": _dec_list(result.numerator, dps),
        "denominator": _dec_list(result.denominator, dps),
        "alternation_points": _dec_list(getattr(result, "alternation_points", None), dps),
        "iterations": 0,
        "seconds": None if seconds is None else float(seconds),
        "dps": int(dps),
    }
    rational = getattr(result, "rational", None)
    if rational is not None:
        out.update(_barycentric_json(rational, dps))
    return out


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class TableSpec:
    """One table entry to compute.

    ``kind`` is ``"minimax"`` (a Remez fit of ``target`` at ``type`` on [-1, 1], without the
    neighbourhood ``(theta - gap, theta + gap)`` of the jump when ``gap`` is set) or
    ``"zolotarev"`` (sign on :math:`E_\\delta`, ``gap`` = delta, type (2r+1, 2r)).
    """

    kind: str
    target: str
    type: tuple[int, int]
    gap: str | None = None

    @property
    def id(self) -> str:
        m, n = self.type
        base = f"{self.target}-{m}-{n}"
        return base if self.gap is None else f"{base}-gap{self.gap}"

    def domain(self) -> Domain:
        if self.kind == "zolotarev":
            return Domain.sign_domain(self.gap)
        dom = Domain.interval(-1, 1)
        if self.gap is not None:
            theta = self.target.partition(":")[2]
            dom = dom.excluding(theta, self.gap)
        return dom

    def command(self, dps: int | None) -> str:
        """The command line that reproduces this entry on its own."""
        d = "" if dps is None else f" --dps {int(dps)}"
        if self.kind == "zolotarev":
            r = self.type[1] // 2
            return f"ratapprox zolotarev --delta {self.gap} --r {r}{d or ' --dps 50'} --json"
        g = "" if self.gap is None else f" --gap {self.gap}"
        return f"ratapprox fit {self.target} --type {self.type[0]} {self.type[1]}{g}{d} --json"


def _sae_gate_spec() -> tuple[TableSpec, ...]:
    spec: list[TableSpec] = [TableSpec("minimax", "relu", (k, k - 1)) for k in (3, 5, 7, 9)]
    # jumprelu:0 is relu itself (no jump), so JumpReLU starts at the first positive threshold.
    for theta in ("0.1", "0.3"):
        for gap in ("0.05", "0.02"):
            spec.append(TableSpec("minimax", f"jumprelu:{theta}", (9, 8), gap))
    for theta in ("0", "0.1", "0.3"):
        for gap in ("0.05", "0.02"):
            spec.append(TableSpec("minimax", f"step:{theta}", (9, 8), gap))
    for delta, r in (("0.1", 2), ("0.1", 4), ("0.05", 4), ("0.01", 4)):
        spec.append(TableSpec("zolotarev", "sign", (2 * r + 1, 2 * r), delta))
    return tuple(spec)


#: The SAE gate set: relu (3,2)..(9,8); jumprelu/step at (9,8) with thresholds and exclusion
#: widths; Zolotarev sign for a few (delta, r).
TABLE_SPEC: tuple[TableSpec, ...] = _sae_gate_spec()


def _safe_pade_json(num: Any, den: Any, domain: Domain, target: str, dps: int | None) -> dict[str, Any]:
    from .pade import to_safe_pade

    try:
        sp = to_safe_pade(num, den, domain, target=target)
    except RatapproxError as exc:  # recorded, not hidden: the entry says why there is no form
        return {"form": SAFE_PADE_FORM, "available": False, "reason": str(exc)}
    ev = getattr(sp, "error_vs_target", None)
    dev = sp.max_deviation  # None when P/Q is no valid comparison (see "notes")
    return {
        "form": SAFE_PADE_FORM,
        "available": True,
        "a": _dec_list(sp.a, dps),
        "b": _dec_list(sp.b, dps),
        "exact": bool(sp.exact),
        "max_deviation": None if dev is None else decimal_str(dev, _digits_of(dps), "up"),
        "error_vs_target": None if ev is None else decimal_str(ev, _digits_of(dps), "up"),
        "method": str(getattr(sp, "method", "")),
        "notes": str(getattr(sp, "notes", "")),
    }


#: Digits of the mpmath engine when a float64 fit of a table entry cannot be certified.
FALLBACK_DPS = 30


def _real_poles_on_hull(den: Sequence[Any], lo: float, hi: float) -> list[float]:
    """Real zeros of the denominator in ``[lo, hi]`` (float64 roots; a flag, not a proof).

    The rsae gate evaluates ``r`` on the whole design interval, gaps included, so a pole in an
    excluded gap -- harmless for the fit on the domain, fatal for the gate -- must be caught.
    """
    c = np.array([float(v) for v in den], dtype=float)
    nz = np.nonzero(c)[0]
    if nz.size == 0 or nz[-1] == 0:
        return []
    roots = np.roots(c[: nz[-1] + 1][::-1])
    # A loose filter: a double real zero splits into a pair ~1e-8 off the axis in double.
    real = roots[np.abs(roots.imag) <= 1e-6 * np.maximum(1.0, np.abs(roots))].real
    span = hi - lo
    found = sorted(float(x) for x in real if lo - 1e-12 * span <= x <= hi + 1e-12 * span)
    if not found:
        return []
    # Clustered complex-conjugate zeros (e.g. near 0 for |x| fits) can come out real in double.
    # Confirm each candidate at 60 digits from the exact coefficients: at a real zero (simple or
    # multiple), or a complex pair hugging the axis, Q(x) vanishes relative to the size of its
    # terms sum |c_k| |x|^k; at an imaginary cluster near 0, Q(0) = 1 = that size.
    from ._context import workdps

    with workdps(60):
        cs = [mpmath.mpf(v) for v in den]

        def vanishes(x: float) -> bool:
            t = mpmath.mpf(x)
            q = mpmath.polyval(cs[::-1], t)
            size = sum(abs(c) * abs(t) ** k for k, c in enumerate(cs))
            return abs(q) <= size * mpmath.mpf("1e-12")

        return [x for x in found if vanishes(x)]


def _max_abs_on_hull(
    num: Sequence[Any], den: Sequence[Any], domain: Domain, n: int = 20001
) -> dict[str, Any]:
    """Sampled ``max |r|`` on the hull of the domain and on its gaps (an estimate, float64).

    A denominator that stays positive but nearly vanishes in an excluded gap gives the gate a
    huge spike there; the fit's certificate, which lives on the domain, cannot see it.
    """
    x = np.linspace(float(domain.lower), float(domain.upper), n)
    p = np.polyval([float(c) for c in num][::-1], x)
    q = np.polyval([float(c) for c in den][::-1], x)
    with np.errstate(all="ignore"):
        r = np.abs(p / q)
    gaps = ~domain.contains(x)
    return {
        "max_abs_r_on_hull": repr(float(np.max(r))),
        "max_abs_r_in_gaps": repr(float(np.max(r[gaps]))) if np.any(gaps) else None,
        "min_denominator_on_hull": repr(float(np.min(q))),
        "method": f"estimate: float64 sample of {n} equispaced points of the hull",
    }


def _entry_issues(cert: Any, den: Sequence[Any], domain: Domain) -> list[str]:
    """Why an entry cannot be called certified (empty list: it can)."""
    issues = []
    if cert is None or not cert.rigorous:
        issues.append("no rigorous certificate" + (f" ({cert.notes})" if getattr(cert, "notes", "") else ""))
    poles = _real_poles_on_hull(den, float(domain.lower), float(domain.upper))
    if poles:
        issues.append("real pole(s) in [" + domain.lower + ", " + domain.upper + "] at "
                      + ", ".join(f"{p:.6g}" for p in poles))
    return issues


_TIMING = re.compile(r"[;,]?\s*\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\s*(?:s|ms|seconds)\b")


def _without_timings(obj: Any) -> Any:
    """Drop wall-clock figures ("0.18 s") from free-text notes, so the table is deterministic."""
    if isinstance(obj, dict):
        return {k: (_TIMING.sub("", v) if k == "notes" and isinstance(v, str) else _without_timings(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _entry(spec: TableSpec, dps: int | None, version: str) -> dict[str, Any]:
    domain = spec.domain()
    t0 = time.perf_counter()
    if spec.kind == "zolotarev":
        from .zolotarev import zolotarev

        zdps = 50 if dps is None else int(dps)
        res = zolotarev(spec.gap, spec.type[1] // 2, dps=zdps)
        body = zolotarev_to_json(res, spec.gap, spec.type[1] // 2, zdps, time.perf_counter() - t0)
        used_dps: int | None = zdps
        issues = _entry_issues(res.certificate, res.denominator, domain)
        notes: list[str] = []
    else:
        from .remez import minimax

        def fit(d: int | None) -> Any:
            return minimax(spec.target, spec.type[0], spec.type[1], domain=domain, dps=d)

        notes = []
        try:
            res = fit(dps)
            issues = _entry_issues(res.certificate, res.denominator, domain)
        except ConvergenceError as exc:
            if dps is not None:
                raise
            res, issues = None, [f"float64 run failed: {exc}"]
        if issues and dps is None:
            # float64 could not deliver a certified, pole-free fit (ill-conditioning, or a
            # spurious pole in the excluded gap): the mpmath engine redoes this entry.
            notes.append(f"float64 fit rejected ({'; '.join(issues)}); recomputed at dps {FALLBACK_DPS}")
            res = fit(FALLBACK_DPS)
            issues = _entry_issues(res.certificate, res.denominator, domain)
        body = minimax_to_json(res)
        used_dps = res.dps
    entry: dict[str, Any] = {
        "id": spec.id,
        "kind": spec.kind,
        "target": spec.target,
        "type": list(spec.type),
        "domain": domain.to_json(),
        "domain_text": str(domain),
        "basis": {
            "monomial": MONOMIAL_BASIS,
            "barycentric": BARYCENTRIC_BASIS,
            "support_points": body.get("support_points", []),
            "weights": body.get("weights", []),
            "values": body.get("values", []),
        },
        "numerator": body["numerator"],
        "denominator": body["denominator"],
        "error": body["error"],
        "certificate": body["certificate"],
        "alternation_points": body["alternation_points"],
        "safe_pade": _safe_pade_json(res.numerator, res.denominator, domain, spec.target, used_dps),
        "arithmetic": body["arithmetic"],
        "dps": used_dps,
        "iterations": body.get("iterations"),
        "converged": body.get("converged", True),
        "hull_check": _max_abs_on_hull(res.numerator, res.denominator, domain),
        "certified": not issues,
        "issues": issues,
        "notes": notes,
        "ratapprox_version": version,
        "command": spec.command(used_dps if spec.kind == "minimax" else dps),
    }
    if spec.kind == "zolotarev":
        entry["error_independent"] = body.get("error_independent")
    return entry


def _prefixed(exc: RatapproxError, prefix: str) -> RatapproxError:
    """The same kind of error with ``prefix`` in front of its message (keeps reason/best)."""
    msg = prefix + str(exc)
    if isinstance(exc, PrecisionError):
        return PrecisionError(msg, best=exc.best)
    if isinstance(exc, ConvergenceError):
        return ConvergenceError(msg, reason=exc.reason, best=exc.best)
    try:
        return type(exc)(msg)
    except TypeError:  # a subclass with another signature
        return RatapproxError(msg)


def build_table(
    dps: int | None = None,
    specs: Sequence[TableSpec] | None = None,
    progress: Callable[[int, int, TableSpec, float], None] | None = None,
) -> dict[str, Any]:
    """Compute the SAE gate coefficient table.

    Parameters
    ----------
    dps : int, optional
        mpmath working precision of the Remez fits (``None``: float64 engine).  Zolotarev
        entries use ``dps`` too, or 50 digits when ``dps`` is ``None``.
    specs : sequence of TableSpec, optional
        Entries to compute (default :data:`TABLE_SPEC`).
    progress : callable, optional
        Called as ``progress(i, total, spec, seconds)`` after each entry.

    Returns
    -------
    dict
        The table, schema ``ratapprox.table/1``.  Deterministic: no timings or dates inside.

    Raises
    ------
    RatapproxError
        If any fit fails (a table with a silently missing gate would be worse than none).
    """
    from . import __version__

    specs = TABLE_SPEC if specs is None else tuple(specs)
    entries = []
    for i, spec in enumerate(specs):
        t0 = time.perf_counter()
        try:
            entries.append(_without_timings(_entry(spec, dps, __version__)))
        except RatapproxError as exc:
            raise _prefixed(exc, f"table entry {spec.id}: ") from exc
        if progress is not None:
            progress(i + 1, len(specs), spec, time.perf_counter() - t0)
    cmd = "ratapprox table" + ("" if dps is None else f" --dps {int(dps)}")
    return {
        "schema": SCHEMA,
        "ratapprox_version": __version__,
        "command": cmd,
        "dps": None if dps is None else int(dps),
        "description": (
            "Best rational approximations of the SAE gates with certified error brackets; "
            "coefficients as decimal strings, monomial basis ascending with denominator[0] = 1."
        ),
        "entries": entries,
    }


CSV_COLUMNS = (
    "id", "target", "m", "n", "domain", "error", "error_lower", "error_upper", "rigorous",
    "method", "dps", "coefficient", "power", "value",
)


def table_to_csv(table: dict[str, Any]) -> str:
    """Long-format CSV: one row per coefficient (numerator, denominator, safe-Padé a and b)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in table["entries"]:
        cert = e["certificate"]
        head = [
            e["id"], e["target"], e["type"][0], e["type"][1], e["domain_text"], e["error"],
            cert["error_lower"], cert["error_upper"], cert["rigorous"], cert["method"],
            "" if e["dps"] is None else e["dps"],
        ]
        groups = [("numerator", e["numerator"], 0), ("denominator", e["denominator"], 0)]
        sp = e.get("safe_pade") or {}
        if sp.get("available"):
            groups += [("safe_pade_a", sp["a"], 0), ("safe_pade_b", sp["b"], 1)]
        for name, coeffs, first_power in groups:
            for k, v in enumerate(coeffs):
                w.writerow([*head, name, k + first_power, v])
    return buf.getvalue()


def _default_file_mode() -> int:
    """0o666 less the process umask: what ``open(path, "w")`` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, _default_file_mode())  # mkstemp creates 0600; a table is meant to be shared
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_table(
    table: dict[str, Any], json_path: str | os.PathLike, csv_path: str | os.PathLike | None
) -> None:
    """Write the table as JSON (and CSV), each atomically."""
    _atomic_write(Path(json_path), json.dumps(table, indent=1) + "\n")
    if csv_path is not None:
        _atomic_write(Path(csv_path), table_to_csv(table))


def _short(s: str | None, digits: int = 4) -> str:
    if s is None:
        return "-"
    try:
        return f"{float(s):.{digits}e}"
    except ValueError:
        return s


def format_summary(table: dict[str, Any]) -> str:
    """A readable plain-text summary: one line per entry with the certified bracket."""
    rows = [("entry", "type", "domain", "error", "[error_lower, error_upper]", "rel. width", "certified",
             "safe-Padé dev.")]
    for e in table["entries"]:
        c = e["certificate"]
        sp = e.get("safe_pade") or {}
        dev = _short(sp.get("max_deviation"), 1) if sp.get("available") else "n/a"
        rows.append((
            e["id"], f"({e['type'][0]},{e['type'][1]})", e["domain_text"], _short(e["error"], 6),
            f"[{_short(c['error_lower'], 6)}, {_short(c['error_upper'], 6)}]",
            _short(c.get("relative_width"), 1),
            "yes" if e.get("certified", c["rigorous"]) else "NO", dev,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
