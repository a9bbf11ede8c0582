"""Atomic file writes: a reader never sees a half-written file, and a failure leaves none."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic"]


def write_json_atomic(path: str | os.PathLike, obj: Any, *, default: Any = None) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file in the same folder and
    ``os.replace`` (atomic on POSIX); ``default`` is passed to :func:`json.dump`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, default=default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
