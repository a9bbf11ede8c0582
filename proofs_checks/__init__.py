"""Numerical verification of the RSAE paper's approximation theorems, and an audit of its claims.

Run ``python -m proofs_checks [--quick] [--json] [--plots DIR] [--report PATH]``.  One module per
check; each exposes ``run(quick: bool) -> dict`` returning a record with at least ``check``,
``predicted``, ``fitted``, ``ci95``, ``verdict``, ``reason`` and ``data``:

==================  ==========================================================================
``lemma1_thm2``     sign on E_delta: Zolotarev degree for accuracy eps vs log(1/eps) log(1/delta)
``thm3_relu``       ReLU: best type (n+1, n) error vs n, sqrt(n) per log(1/eps) -> 1/pi (Stahl)
``thm4_jump``       JumpReLU / step with a supplied threshold, outside a delta-neighbourhood
``thm5_lower_bound``  free-knot PL approximation of eta^2/(x^2+eta^2): eps(N) ~ C(eta) N^-2
``claims_audit``    the paper's numerical claims about the gates next to certified numbers
==================  ==========================================================================

Verdicts are computed from the fits (:mod:`proofs_checks.fitting`), never written by hand; a check
whose dependency is missing or broken is reported as ``"not run"`` with the reason.
"""

from __future__ import annotations

CHECKS = ("lemma1_thm2", "thm3_relu", "thm4_jump", "thm5_lower_bound", "claims_audit")
REQUIRED_FIELDS = ("check", "predicted", "fitted", "ci95", "verdict", "reason", "data")
VERDICTS = ("consistent", "inconsistent", "not run", "reproduced", "not reproduced",
            "depends on an unstated choice", "mixed")

__all__ = ["CHECKS", "REQUIRED_FIELDS", "VERDICTS", "run_checks"]


def run_checks(names=CHECKS, *, quick: bool = False, progress=None) -> list[dict]:
    """Run the named checks; a failing check yields a ``"not run"`` record, never an exception."""
    from .__main__ import run_checks as _run

    return _run(names, quick=quick, progress=progress)
