"""Gemma Scope ``params.npz`` (Lieberum et al. 2024, "Gemma Scope"): a JumpReLU SAE.

Arrays: ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc [d_sae]``, ``b_dec [d_in]``,
``threshold [d_sae]``.  The reference implementation (the Gemma Scope tutorial's
``JumpReLUSAE``) computes

.. math:: h = x W_\\mathrm{enc} + b_\\mathrm{enc}, \\quad z = \\mathrm{ReLU}(h)\\,[h > \\theta],
          \\quad \\hat x = z W_\\mathrm{dec} + b_\\mathrm{dec},

i.e. ``b_dec`` is **not** subtracted before encoding (``apply_b_dec_to_input=False``).  Arrays keep
their stored dtype (float32 in the released files); the file is read with
``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from rsae.loading.base import CheckpointError, Loader, assemble_sae, check_keys, file_or_dir_with, make_config
from rsae.sae import SAE, dtype_to_str

__all__ = ["LOADER", "PARAMS_FILENAME", "load_gemma_scope"]

PARAMS_FILENAME = "params.npz"
_KEYS = ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")


def _params_file(path: Path) -> Path:
    return path / PARAMS_FILENAME if path.is_dir() else path


def load_gemma_scope(path: Path) -> SAE:
    """Load a Gemma Scope ``params.npz`` (a file, or a directory that holds one)."""
    file = _params_file(Path(path))
    if not file.is_file():
        raise CheckpointError(f"{file}: file not found")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{file}: corrupt or truncated .npz file ({exc})") from None
    check_keys(arrays, _KEYS, file)
    for key, arr in arrays.items():
        if arr.dtype.kind != "f":
            raise CheckpointError(f"{file}: array {key!r} has dtype {arr.dtype}, expected floating point")
    w_enc = arrays["W_enc"]
    if w_enc.ndim != 2:
        raise CheckpointError(f"{file}: W_enc has shape {list(w_enc.shape)}, expected [d_in, d_sae]")
    d_in, d_sae = w_enc.shape
    tensors = {key: torch.from_numpy(np.ascontiguousarray(arr)) for key, arr in arrays.items()}
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) != 1:
        raise CheckpointError(f"{file}: arrays have mixed dtypes {sorted(map(str, dtypes))}")
    cfg = make_config(
        file,
        d_in=d_in,
        d_sae=d_sae,
        architecture="jumprelu",
        apply_b_dec_to_input=False,
        dtype=dtype_to_str(tensors["W_enc"].dtype),
        source_format="gemma_scope",
        metadata={"path": str(file)},
    )
    state = {
        "W_enc": tensors["W_enc"],
        "b_enc": tensors["b_enc"],
        "W_dec": tensors["W_dec"],
        "b_dec": tensors["b_dec"],
        "gate.threshold": tensors["threshold"],
    }
    return assemble_sae(cfg, state, file)


LOADER = Loader(
    "gemma_scope",
    f"Gemma Scope {PARAMS_FILENAME} (a file or a directory holding one)",
    file_or_dir_with(PARAMS_FILENAME, (".npz",)),
    load_gemma_scope,
)
