"""Atomic file writes: a reader never sees a half-written file, and a failure leaves none."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json_atomic", "write_text_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[str], Any], *, suffix: str | None = None) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then ``os.replace`` it onto
    ``path`` (atomic on POSIX).  On any failure the temporary file is removed and ``path`` is left
    as it was.  ``suffix`` (default: ``path``'s own) matters to writers that read it, such as
    ``np.save`` and matplotlib's ``savefig``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(path: str | os.PathLike, obj: Any, *, default: Any = None) -> Path:
    """Write ``obj`` as JSON (indent 1) to ``path`` atomically; ``default`` goes to :func:`json.dumps`."""
    return write_text_atomic(path, json.dumps(obj, indent=1, default=default))
