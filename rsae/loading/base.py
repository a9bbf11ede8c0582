"""Shared pieces of the checkpoint loaders: the loader Protocol, the error type, safe readers.

Every loader turns a checkpoint into an :class:`rsae.sae.SAE` whose ``encode``/``decode``
reproduce the origin library's.  Each one checks every key and shape while copying (as nanoGPT's
``GPT.from_pretrained`` does) and reports any problem as one line of :class:`CheckpointError`
naming the file and the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from rsae.registry import get_sae_class
from rsae.sae import SAE, SAEConfig

__all__ = [
    "CheckpointError",
    "CheckpointLoader",
    "Loader",
    "assemble_sae",
    "check_keys",
    "dir_with",
    "file_or_dir_with",
    "json_safe",
    "make_config",
    "read_json",
    "read_safetensors",
]


class CheckpointError(ValueError):
    """A checkpoint cannot be read: unknown format, corrupt/truncated file, missing or misshaped key."""


@runtime_checkable
class CheckpointLoader(Protocol):
    """What :func:`rsae.loading.load_sae` needs from a loader.

    ``detect(path)`` must be cheap (look at file names only) and never raise; ``load(path)`` reads
    the checkpoint and returns the SAE, raising :class:`CheckpointError` on any problem.
    """

    name: str
    description: str

    def detect(self, path: Path) -> bool: ...

    def load(self, path: Path) -> SAE: ...


@dataclass(frozen=True)
class Loader:
    """A checkpoint format as registered: its name, a one-line description, ``detect``, ``load``."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[[Path], SAE]


def dir_with(*filenames: str) -> Callable[[Path], bool]:
    """``detect`` for a directory holding all of ``filenames``."""

    def detect(path: Path) -> bool:
        return path.is_dir() and all((path / name).is_file() for name in filenames)

    return detect


def file_or_dir_with(filename: str, suffixes: tuple[str, ...]) -> Callable[[Path], bool]:
    """``detect`` for a file with one of ``suffixes``, or a directory holding ``filename``."""

    def detect(path: Path) -> bool:
        file = path / filename if path.is_dir() else path
        return file.is_file() and file.suffix in suffixes

    return detect


def make_config(where: Path, **fields: Any) -> SAEConfig:
    """``SAEConfig(**fields)``, its ``ValueError`` reported as a ``CheckpointError`` naming ``where``."""
    try:
        return SAEConfig(**fields)
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` (``CheckpointError`` if missing, unreadable or not an object)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a ``.safetensors`` file on the CPU (``CheckpointError`` if truncated/corrupt)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({msg})") from None


def check_keys(
    tensors: Mapping[str, Any], required: Iterable[str], path: Path, optional: Iterable[str] = ()
) -> None:
    """Raise ``CheckpointError`` for a missing required key or an unexpected one."""
    required, optional = set(required), set(optional)
    missing = sorted(required - set(tensors))
    if missing:
        raise CheckpointError(f"{path}: missing key(s) {missing}; found {sorted(tensors)}")
    unexpected = sorted(set(tensors) - required - optional)
    if unexpected:
        raise CheckpointError(f"{path}: unexpected key(s) {unexpected} (expected {sorted(required)})")


def json_safe(obj: Any) -> Any:
    """A JSON-serialisable copy of ``obj`` (non-finite floats and odd objects become strings)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def assemble_sae(cfg: SAEConfig, tensors: Mapping[str, Tensor], path: Path) -> SAE:
    """Build the SAE for ``cfg`` and copy ``tensors`` (its state-dict keys) in, checking each one.

    Every key of the model's state dict must be present with exactly the model's shape; no
    extra keys are allowed.  Floating tensors must be finite.  Values are kept bitwise: a tensor
    whose dtype differs from the parameter's is converted only if the conversion is exact (e.g.
    bfloat16 -> float32), and rejected otherwise (loaders cast explicitly where the origin library
    does).
    """
    try:
        sae = get_sae_class(cfg.architecture)(cfg)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    expected = sae.state_dict()
    check_keys(tensors, expected.keys(), path)
    ready: dict[str, Tensor] = {}
    for key, ref in expected.items():
        t = tensors[key]
        if not isinstance(t, Tensor):
            raise CheckpointError(f"{path}: key {key!r} is a {type(t).__name__}, not a tensor")
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{path}: key {key!r} has shape {list(t.shape)}, expected {list(ref.shape)} "
                f"(d_in={cfg.d_in}, d_sae={cfg.d_sae})"
            )
        if t.dtype != ref.dtype:
            cast = t.to(ref.dtype)
            if not torch.equal(cast.to(t.dtype), t):  # only value-preserving conversions
                raise CheckpointError(f"{path}: key {key!r} has dtype {t.dtype}, expected {ref.dtype}")
            t = cast
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: key {key!r} contains NaN or Inf")
        ready[key] = t.detach().to(device=ref.device).contiguous()
    sae.load_state_dict(ready, strict=True, assign=True)
    return sae
