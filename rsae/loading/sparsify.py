"""EleutherAI sparsify: ``cfg.json`` + ``sae.safetensors`` (a TopK SAE; Gao et al. 2024).

Tensors (``SparseCoder``): ``encoder.weight [d_sae, d_in]`` and ``encoder.bias [d_sae]`` (an
``nn.Linear``), ``W_dec [d_sae, d_in]``, ``b_dec [d_in]``.  ``cfg.json`` holds the
``SparseCoderConfig`` fields plus ``d_in``.  sparsify encodes and decodes as

.. math:: h = \\mathrm{ReLU}((x - b_\\mathrm{dec}) W^\\top + b), \\quad
          z = \\mathrm{TopK}_k(h), \\quad \\hat x = z W_\\mathrm{dec} + b_\\mathrm{dec}

(``SparseCoder.encode``/``decode`` with ``fused_encoder``), so this loader sets
``W_enc = encoder.weight^T``, ``apply_b_dec_to_input=True`` and the TopK gate with ``k`` from
``cfg.json``.  ReLU before or after the top-k selection gives the same values.

Options: ``normalize_decoder`` only constrains training (the decoder rows are renormalised after
each step), so it changes nothing at inference and is accepted; ``multi_topk`` is a training
loss (accepted).  Refused with a clear error: ``activation: "groupmax"``, ``transcode: true``,
``skip_connection: true`` (a ``W_skip`` tensor), ``signed: true`` (an early option without the
ReLU), and any other extra tensor.  Multi-layer checkpoints are directories of such
directories: point at one hookpoint (e.g. ``.../layers.6``).
"""

from __future__ import annotations

from pathlib import Path

from rsae.loading.base import (
    CheckpointError,
    Loader,
    assemble_sae,
    check_keys,
    dir_with,
    json_safe,
    make_config,
    read_json,
    read_safetensors,
)
from rsae.sae import SAE, dtype_to_str

__all__ = ["CFG_FILENAME", "LOADER", "WEIGHTS_FILENAME", "load_sparsify"]

CFG_FILENAME = "cfg.json"
WEIGHTS_FILENAME = "sae.safetensors"
_KEYS = ("encoder.weight", "encoder.bias", "W_dec", "b_dec")


def load_sparsify(path: Path) -> SAE:
    """Load one EleutherAI sparsify SAE directory (see the module docstring)."""
    path = Path(path)
    cfg_path, weights_path = path / CFG_FILENAME, path / WEIGHTS_FILENAME
    raw = read_json(cfg_path)
    if raw.get("activation", "topk") != "topk":
        raise CheckpointError(f"{cfg_path}: activation {raw['activation']!r} is not supported (only 'topk')")
    for flag in ("transcode", "skip_connection", "signed"):
        if raw.get(flag):
            raise CheckpointError(f"{cfg_path}: `{flag}: true` is not supported")
    k = raw.get("k")
    if not isinstance(k, int) or isinstance(k, bool):
        raise CheckpointError(f"{cfg_path}: `k` missing or not an integer")
    tensors = read_safetensors(weights_path)
    check_keys(tensors, _KEYS, weights_path)
    w = tensors["encoder.weight"]
    if w.ndim != 2:
        raise CheckpointError(
            f"{weights_path}: encoder.weight has shape {list(w.shape)}, expected [d_sae, d_in]"
        )
    d_sae, d_in = w.shape
    if isinstance(raw.get("d_in"), int) and raw["d_in"] != d_in:
        raise CheckpointError(f"{cfg_path}: d_in={raw['d_in']} but encoder.weight has shape {list(w.shape)}")
    if raw.get("num_latents") and raw["num_latents"] != d_sae:
        raise CheckpointError(
            f"{cfg_path}: num_latents={raw['num_latents']} but encoder.weight has shape {list(w.shape)}"
        )
    cfg = make_config(
        cfg_path,
        d_in=d_in,
        d_sae=d_sae,
        architecture="topk",
        apply_b_dec_to_input=True,
        k=k,
        dtype=dtype_to_str(w.dtype),
        source_format="sparsify",
        metadata={"path": str(path), "original_cfg": json_safe(raw)},
    )
    state = {
        "W_enc": w.T.contiguous(),
        "b_enc": tensors["encoder.bias"],
        "W_dec": tensors["W_dec"],
        "b_dec": tensors["b_dec"],
    }
    return assemble_sae(cfg, state, weights_path)


LOADER = Loader(
    "sparsify",
    f"EleutherAI sparsify directory ({CFG_FILENAME} + {WEIGHTS_FILENAME})",
    dir_with(CFG_FILENAME, WEIGHTS_FILENAME),
    load_sparsify,
)
