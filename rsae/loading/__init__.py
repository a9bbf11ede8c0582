"""Checkpoint loaders, one file per source format, and :func:`load_sae` that detects the format.

Formats (registered in :mod:`rsae`, tried in this order): ``native`` (rsae), ``saelens``,
``sparsify``, ``gemma_scope``, ``dictionary_learning``.  Every loader reproduces its origin
library's ``encode``/``decode``; see each module's docstring for the exact formula and the options
it supports.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rsae import registry
from rsae.loading import dictionary_learning, gemma_scope, native, saelens, sparsify
from rsae.loading.base import CheckpointError, CheckpointLoader, Loader
from rsae.loading.dictionary_learning import load_dictionary_learning
from rsae.loading.gemma_scope import load_gemma_scope
from rsae.loading.native import load_native
from rsae.loading.saelens import load_saelens
from rsae.loading.sparsify import load_sparsify
from rsae.sae import SAE

__all__ = [
    "FORMATS",
    "CheckpointError",
    "CheckpointLoader",
    "Loader",
    "detect_format",
    "load_dictionary_learning",
    "load_gemma_scope",
    "load_native",
    "load_sae",
    "load_saelens",
    "load_sparsify",
]

#: the built-in formats in detection order (native first: its file name is unique to rsae);
#: :mod:`rsae` registers them
FORMATS: tuple[Loader, ...] = (
    native.LOADER,
    saelens.LOADER,
    sparsify.LOADER,
    gemma_scope.LOADER,
    dictionary_learning.LOADER,
)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name of the registered format that recognises ``path`` (``CheckpointError`` if none)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file or directory")
    for name, loader in registry.LOADERS.items():
        if loader.detect(p):
            return name
    if p.is_dir():  # e.g. a multi-hookpoint sparsify repo or a Gemma Scope release folder
        subs = sorted(
            c.name
            for c in p.iterdir()
            if c.is_dir() and any(ld.detect(c) for ld in registry.LOADERS.values())
        )
        if subs:
            shown = ", ".join(subs[:5]) + (", ..." if len(subs) > 5 else "")
            raise CheckpointError(
                f"{p}: holds several checkpoints in sub-directories ({shown}); point at one"
            )
    known = "; ".join(loader.description for loader in registry.LOADERS.values())
    raise CheckpointError(f"{p}: unknown checkpoint format (expected one of: {known})")


def load_sae(
    path: str | os.PathLike[str], *, format: str | None = None, device: torch.device | str | None = None
) -> SAE:
    """Load any supported checkpoint as an :class:`rsae.sae.SAE`.

    Parameters
    ----------
    path
        A checkpoint directory or file (see :func:`detect_format`).
    format
        Force a format by its registry name instead of detecting it.
    device
        Move the loaded SAE there (loading itself happens on the CPU).

    Raises
    ------
    CheckpointError
        Unknown format, missing/truncated/corrupt file, a pickle that is not a plain tensor state
        dict, a missing, unexpected or misshaped key; the message is one line naming the file.
    """
    p = Path(path)
    if format is None:
        format = detect_format(p)
    elif not p.exists():
        raise CheckpointError(f"{p}: no such file or directory")
    try:
        loader = registry.get_loader(format)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    sae = loader.load(p)
    if sae.cfg.source_format is None:
        sae.cfg.source_format = format
    if device is not None:
        sae = sae.to(device)
        sae.cfg.device = str(torch.device(device))
    return sae
