"""Name -> class / loader registries (after SAELens ``registry.py``).

Every registration happens in :mod:`rsae` (the package ``__init__``); registering a name twice
raises ``ValueError``.  ``SAE_CLASSES`` maps an architecture name to its :class:`rsae.sae.SAE`
subclass, ``GATES`` a gate name to its module class, ``LOADERS`` a checkpoint-format name to a
loader (see :class:`rsae.loading.base.CheckpointLoader`); :func:`rsae.loading.load_sae` tries
the loaders in registration order.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GATES",
    "LOADERS",
    "SAE_CLASSES",
    "get_gate_class",
    "get_loader",
    "get_sae_class",
    "register_gate",
    "register_loader",
    "register_sae_class",
]

SAE_CLASSES: dict[str, type] = {}
GATES: dict[str, type] = {}
LOADERS: dict[str, Any] = {}


def _register(registry: dict[str, Any], kind: str, name: str, value: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    if name in registry:
        raise ValueError(f"{kind} {name!r} is already registered ({registry[name]!r})")
    registry[name] = value


def _get(registry: dict[str, Any], kind: str, name: str) -> Any:
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(registry)}") from None


def register_sae_class(architecture: str, cls: type) -> None:
    """Register the SAE class for ``architecture`` (``ValueError`` if already taken)."""
    _register(SAE_CLASSES, "SAE architecture", architecture, cls)


def register_gate(name: str, cls: type) -> None:
    """Register a gate module class under ``name`` (``ValueError`` if already taken)."""
    _register(GATES, "gate", name, cls)


def register_loader(name: str, loader: Any) -> None:
    """Register a checkpoint loader (``detect(path)``/``load(path)``) under ``name``."""
    _register(LOADERS, "checkpoint format", name, loader)


def get_sae_class(architecture: str) -> type:
    """The SAE class registered for ``architecture``."""
    return _get(SAE_CLASSES, "SAE architecture", architecture)


def get_gate_class(name: str) -> type:
    """The gate class registered under ``name``."""
    return _get(GATES, "gate", name)


def get_loader(name: str) -> Any:
    """The checkpoint loader registered under ``name``."""
    return _get(LOADERS, "checkpoint format", name)
