"""dictionary_learning (Marks, Karvonen et al.) ``ae.pt`` state dicts.

The file is read with ``torch.load(path, weights_only=True)``: only tensors and plain
containers are unpickled, never arbitrary objects; anything else is refused.  The class is
recognised from the keys (the file holds no class name):

================================  ============================================================
keys                              class, and the formula reproduced
================================  ============================================================
``encoder.weight [d_sae, d_in]``, ``AutoEncoder`` (ReLU): ``z = ReLU(W (x - bias) + b)``,
``encoder.bias``, ``bias [d_in]``, ``x_hat = D z + bias`` with ``D = decoder.weight [d_in, d_sae]``
``decoder.weight``
``encoder.*``, ``decoder.weight``, ``AutoEncoderNew`` (ReLU, April-update): ``z = ReLU(W x + b)``,
``decoder.bias``                  ``x_hat = D z + decoder.bias`` (no input centring)
``W_enc [d_in, d_sae]``, ``b_enc``, ``JumpReluAutoEncoder``: ``z = ReLU(h [h > threshold])`` with
``W_dec``, ``b_dec``,             ``h = x W_enc + b_enc`` (``apply_b_dec_to_input`` is a plain
``threshold``                     attribute, False, not saved), ``x_hat = z W_dec + b_dec``
``encoder.*``, ``decoder.weight``, ``AutoEncoderTopK``: ``z = TopK_k(ReLU(W (x - b_dec) + b))``,
``b_dec``, ``k``, ``threshold``   ``x_hat = D z + b_dec``; or ``BatchTopKSAE`` (see below)
================================  ============================================================

``AutoEncoderTopK`` and ``BatchTopKSAE`` save the same keys.  When a ``config.json`` next to
``ae.pt`` (written by dictionary_learning's trainer) names ``trainer.dict_class ==
"BatchTopKSAE"``, the file is read as BatchTopK, whose inference ``encode`` (``use_threshold=True``)
is ``ReLU(h) * (ReLU(h) > threshold)`` with one global threshold: exactly a JumpReLU SAE with
that threshold on every latent (for ``threshold < 0`` both are plain ReLU).  Otherwise it is
read as ``AutoEncoderTopK`` (``use_threshold=False``, its default).

Older versions of ``JumpReluAutoEncoder`` returned ``z * ||W_dec[j]||`` from ``encode`` and
divided again in ``decode`` (same reconstruction); this loader follows the current code
(no rescaling).  ``GatedAutoEncoder`` and crosscoders are not supported.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rsae.loading.base import CheckpointError, Loader, assemble_sae, file_or_dir_with, make_config, read_json
from rsae.sae import SAE, dtype_to_str

__all__ = ["AE_FILENAME", "LOADER", "load_dictionary_learning"]

AE_FILENAME = "ae.pt"
_LAYOUTS: dict[str, frozenset[str]] = {
    "AutoEncoder": frozenset({"encoder.weight", "encoder.bias", "decoder.weight", "bias"}),
    "AutoEncoderNew": frozenset({"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}),
    "JumpReluAutoEncoder": frozenset({"W_enc", "b_enc", "W_dec", "b_dec", "threshold"}),
    "AutoEncoderTopK": frozenset(
        {"encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "k", "threshold"}
    ),
}
_UNSUPPORTED_MARKERS = {
    "r_mag": "GatedAutoEncoder",
    "gate_bias": "GatedAutoEncoder",
    "encoder.weights": "crosscoder",
}


def _ae_file(path: Path) -> Path:
    return path / AE_FILENAME if path.is_dir() else path


def _read_state_dict(file: Path) -> dict[str, Tensor]:
    if not file.is_file():
        raise CheckpointError(f"{file}: file not found")
    try:
        obj: Any = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{file}: not a plain tensor state dict (torch.load weights_only=True refused it: {first[:200]})"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{file}: corrupt or truncated torch file ({first[:200]})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{file}: expected a state dict (mapping of name -> tensor), got {type(obj).__name__}"
        )
    bad = sorted(str(k) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, Tensor)))
    if bad:
        raise CheckpointError(f"{file}: not a plain tensor state dict; non-tensor entries: {bad[:5]}")
    return dict(obj)


def _dict_class_from_config(file: Path) -> str | None:
    """``trainer.dict_class`` from a dictionary_learning ``config.json`` beside ``ae.pt``, if any."""
    cfg_file = file.parent / "config.json"
    if not cfg_file.is_file():
        return None
    trainer = read_json(cfg_file).get("trainer")
    if isinstance(trainer, dict) and isinstance(trainer.get("dict_class"), str):
        return trainer["dict_class"]
    return None


def _classify(sd: Mapping[str, Tensor], file: Path) -> str:
    keys = frozenset(sd)
    for name, layout in _LAYOUTS.items():
        if keys == layout:
            return name
    for marker, name in _UNSUPPORTED_MARKERS.items():
        if marker in keys:
            raise CheckpointError(f"{file}: looks like a dictionary_learning {name}, which is not supported")
    raise CheckpointError(
        f"{file}: unrecognised dictionary_learning layout, keys {sorted(keys)} "
        f"(supported: {', '.join(_LAYOUTS)})"
    )


def _shape2(t: Tensor, key: str, file: Path) -> tuple[int, int]:
    if t.ndim != 2:
        raise CheckpointError(f"{file}: key {key!r} has shape {list(t.shape)}, expected a matrix")
    return int(t.shape[0]), int(t.shape[1])


def load_dictionary_learning(path: Path) -> SAE:
    """Load a dictionary_learning ``ae.pt`` (a file, or a directory holding one)."""
    file = _ae_file(Path(path))
    sd = _read_state_dict(file)
    cls = _classify(sd, file)
    meta: dict[str, Any] = {"path": str(file), "dict_class": cls}
    k = None
    if cls == "JumpReluAutoEncoder":
        d_in, d_sae = _shape2(sd["W_enc"], "W_enc", file)
        arch, apply_b_dec = "jumprelu", False
        state = {"W_enc": sd["W_enc"], "b_enc": sd["b_enc"], "W_dec": sd["W_dec"], "b_dec": sd["b_dec"]}
        state["gate.threshold"] = sd["threshold"]
    else:
        d_sae, d_in = _shape2(sd["encoder.weight"], "encoder.weight", file)
        dec = sd["decoder.weight"]
        if tuple(dec.shape) != (d_in, d_sae):
            raise CheckpointError(
                f"{file}: key 'decoder.weight' has shape {list(dec.shape)}, expected {[d_in, d_sae]}"
            )
        state = {"W_enc": sd["encoder.weight"].T.contiguous(), "b_enc": sd["encoder.bias"]}
        state["W_dec"] = dec.T.contiguous()
        if cls == "AutoEncoder":
            arch, apply_b_dec = "relu", True
            state["b_dec"] = sd["bias"]
        elif cls == "AutoEncoderNew":
            arch, apply_b_dec = "relu", False
            state["b_dec"] = sd["decoder.bias"]
        else:  # AutoEncoderTopK keys: TopK or BatchTopK
            state["b_dec"] = sd["b_dec"]
            apply_b_dec = True
            if sd["k"].numel() != 1 or sd["threshold"].numel() != 1:
                raise CheckpointError(f"{file}: keys 'k' and 'threshold' must be scalars")
            k = int(sd["k"].item())
            threshold = sd["threshold"].reshape(())
            if _dict_class_from_config(file) == "BatchTopKSAE":
                cls = meta["dict_class"] = "BatchTopKSAE"
                arch = "jumprelu"
                # one global threshold -> the same per-latent threshold everywhere (exact copy)
                state["gate.threshold"] = threshold.to(state["W_enc"].dtype).expand(d_sae).contiguous()
                if not torch.equal(state["gate.threshold"][:1].to(threshold.dtype), threshold.reshape(1)):
                    raise CheckpointError(f"{file}: threshold not representable in the weights' dtype")
                meta["k"] = k
                k = None
            else:
                arch = "topk"
                meta["threshold"] = float(threshold)  # unused by AutoEncoderTopK.encode by default
    cfg = make_config(
        file,
        d_in=d_in,
        d_sae=d_sae,
        architecture=arch,
        apply_b_dec_to_input=apply_b_dec,
        k=k,
        dtype=dtype_to_str(state["W_enc"].dtype),
        source_format="dictionary_learning",
        metadata=meta,
    )
    return assemble_sae(cfg, state, file)


LOADER = Loader(
    "dictionary_learning",
    f"dictionary_learning {AE_FILENAME} state dict (a file or a directory holding one)",
    file_or_dir_with(AE_FILENAME, (".pt", ".pth")),
    load_dictionary_learning,
)
