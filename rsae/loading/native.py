"""The native rsae format: ``rsae_config.json`` + ``rsae.safetensors`` (any architecture).

``rsae_config.json`` is ``{"format": "rsae.native", "version": 1, "config": SAEConfig.to_dict()}``;
``rsae.safetensors`` holds the module's state dict under its own names (``W_enc``, ``b_enc``,
``W_dec``, ``b_dec``, and ``gate.threshold`` or ``gate.a``, ``gate.b``, ``gate.c_in``,
``gate.c_out``) in their own dtypes, so a save / load round trip is bitwise.  Written by
:func:`rsae.saving.save_rsae`.
"""

from __future__ import annotations

from pathlib import Path

from rsae.loading.base import CheckpointError, Loader, assemble_sae, dir_with, read_json, read_safetensors
from rsae.sae import SAE, SAEConfig

__all__ = [
    "CONFIG_FILENAME",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LOADER",
    "WEIGHTS_FILENAME",
    "load_native",
]

CONFIG_FILENAME = "rsae_config.json"
WEIGHTS_FILENAME = "rsae.safetensors"
FORMAT_NAME = "rsae.native"
FORMAT_VERSION = 1


def load_native(path: Path) -> SAE:
    """Load a directory written by :func:`rsae.saving.save_rsae`."""
    path = Path(path)
    cfg_path = path / CONFIG_FILENAME
    raw = read_json(cfg_path)
    if raw.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{cfg_path}: `format` is {raw.get('format')!r}, expected {FORMAT_NAME!r}")
    if raw.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{cfg_path}: format version {raw.get('version')!r} is not supported ({FORMAT_VERSION})"
        )
    if not isinstance(raw.get("config"), dict):
        raise CheckpointError(f"{cfg_path}: missing `config` object")
    try:
        cfg = SAEConfig.from_dict({**raw["config"], "device": "cpu"})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path}: invalid config ({exc})") from None
    tensors = read_safetensors(path / WEIGHTS_FILENAME)
    return assemble_sae(cfg, tensors, path / WEIGHTS_FILENAME)


LOADER = Loader(
    "native",
    f"rsae native directory ({CONFIG_FILENAME} + {WEIGHTS_FILENAME})",
    dir_with(CONFIG_FILENAME),
    load_native,
)
