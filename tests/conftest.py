"""Shared pytest set-up for ratapprox and rsae.

* ``reset_mp_globals`` (autouse): mpmath keeps its working precision in global mutable state
  (``mp.prec``, ``iv.prec``).  A test that raises precision and fails half-way would leak it into
  every later test, so -- as mpmath's own ``conftest.py`` does -- the precision is restored after
  every test.
* hypothesis profiles: ``dev`` (few examples, fast local runs) and ``ci`` (more examples, no
  deadline); ``CI=true`` in the environment selects ``ci``, ``HYPOTHESIS_PROFILE`` overrides both.
* the ``gpu`` marker: tests marked ``@pytest.mark.gpu`` are skipped when no CUDA device is found
  (torch is imported only if such a test is collected, so ratapprox tests never need torch).
"""

from __future__ import annotations

import os

import mpmath
import pytest

try:  # hypothesis is a dev dependency; the suite still collects without it
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover
    settings = None  # type: ignore[assignment]

if settings is not None:
    settings.register_profile(
        "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile(
        "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    _default = "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


@pytest.fixture(autouse=True)
def reset_mp_globals():
    """Restore mpmath's global precision and ``pretty`` flag (mp and iv) after every test."""
    mp_prec, iv_prec = mpmath.mp.prec, mpmath.iv.prec
    mp_pretty, iv_pretty = mpmath.mp.pretty, mpmath.iv.pretty
    try:
        yield
    finally:
        mpmath.mp.prec, mpmath.iv.prec = mp_prec, iv_prec
        mpmath.mp.pretty, mpmath.iv.pretty = mp_pretty, iv_pretty


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu``-marked tests when no CUDA device is present."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu_items:
        item.add_marker(skip)
