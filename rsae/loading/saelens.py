"""SAELens directories: ``cfg.json`` + ``sae_weights.safetensors`` (SAELens 5.x and 6.x layouts).

Weights (SAELens layout, the one :class:`rsae.sae.SAE` uses): ``W_enc [d_in, d_sae]``,
``b_enc [d_sae]``, ``W_dec [d_sae, d_in]``, ``b_dec [d_in]``, plus ``threshold [d_sae]`` for
JumpReLU (older training checkpoints store ``log_threshold``: converted by ``exp`` as SAELens'
``JumpReLUTrainingSAE.process_state_dict_for_loading`` does; SAELens' inference loader refuses
such files).  Every tensor is cast to ``cfg["dtype"]``,
as SAELens' ``read_sae_components_from_disk`` does.

Configuration, read as SAELens' ``handle_config_defaulting`` reads it (SAELens 6.x,
``sae_lens/loading/pretrained_sae_loaders.py``):

* 6.x (``sae_lens_version`` >= 6, at top level or in ``metadata``): ``architecture`` is one of
  ``"standard"`` (ReLU), ``"jumprelu"``, ``"topk"`` (``k``, ``rescale_acts_by_decoder_norm``);
  SAELens saves a trained BatchTopK SAE as ``"jumprelu"`` with a constant threshold, so that case
  is the JumpReLU one.  ``"rational"`` is the RSAE written by :func:`rsae.saving.save_saelens`
  (with ``k``: a TopK RSAE).
* 5.x (no version, or < 6): ``activation_fn_str``/``activation_fn`` ``"topk"`` with
  ``activation_fn_kwargs.k`` means TopK; ``architecture`` defaults to ``"standard"``;
  ``normalize_activations`` may be a bool (True = ``"expected_average_only_in"``).
* ``apply_b_dec_to_input`` defaults to True; ``normalize_activations`` ``"none"`` /
  ``"expected_average_only_in"`` (identity at inference: the factor is folded into the weights
  on save) / ``"constant_norm_rescale"`` / ``"layer_norm"``; ``"covariance_whitening"`` is refused.
* A ``scaling_factor`` tensor of all ones is dropped (SAELens does the same); any other value
  (``finetuning_scaling_factor``) is refused: SAELens 6 cannot load it either.

Not supported (``CheckpointError`` naming the value): gated, abstopk, matching-pursuit,
transcoders, temporal SAEs, other activation functions (e.g. ``tanh-relu``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

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
from rsae.sae import SAE, dtype_from_str

__all__ = ["CFG_FILENAME", "LOADER", "WEIGHTS_FILENAME", "load_saelens"]

CFG_FILENAME = "cfg.json"
WEIGHTS_FILENAME = "sae_weights.safetensors"
_ARCH_MAP = {"standard": "relu", "jumprelu": "jumprelu", "topk": "topk", "rational": "rational"}
_GATE_KEYS = ("a", "b", "c_in", "c_out")


def _major_version(cfg: dict[str, Any]) -> int | None:
    version = cfg.get("sae_lens_version")
    if not version and isinstance(cfg.get("metadata"), dict):
        version = cfg["metadata"].get("sae_lens_version")
    if not version:
        return None
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def _normalization(value: Any, path: Path) -> str:
    if value is None or value is False:
        return "none"
    if value is True:  # SAELens 5.x boolean flag
        return "expected_average_only_in"
    if value in ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm"):
        return value
    raise CheckpointError(f"{path}: normalize_activations={value!r} is not supported")


def _architecture_and_k(cfg: dict[str, Any], path: Path) -> tuple[str, int | None]:
    """(rsae architecture, k) from a 5.x or 6.x cfg."""
    arch = cfg.get("architecture", "standard")
    k = cfg.get("k")
    if (_major_version(cfg) or 0) < 6:
        act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
        kwargs = cfg.get("activation_fn_kwargs") or {}
        if act == "topk":
            arch, k = "topk", kwargs.get("k", k)
        elif arch == "standard" and act not in ("relu", None):
            raise CheckpointError(f"{path}: activation function {act!r} is not supported (relu or topk)")
    if arch == "batchtopk":
        raise CheckpointError(
            f"{path}: architecture 'batchtopk' is a SAELens training checkpoint; SAELens saves the "
            "inference SAE as 'jumprelu' (load that one)"
        )
    if arch not in _ARCH_MAP:
        raise CheckpointError(
            f"{path}: SAELens architecture {arch!r} is not supported (supported: {sorted(_ARCH_MAP)})"
        )
    arch = _ARCH_MAP[arch]
    if arch == "topk" and k is None:
        raise CheckpointError(f"{path}: TopK SAE without `k` in its cfg")
    if arch in ("topk", "rational") and k is not None:  # rational: a TopK RSAE (rsae.saving)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not float(k).is_integer():
            raise CheckpointError(f"{path}: TopK `k`={k} is not an integer")
        k = int(k)
    else:
        k = None
    return arch, k


def load_saelens(path: Path) -> SAE:
    """Load a SAELens SAE directory (see the module docstring for what is read)."""
    path = Path(path)
    cfg_path, weights_path = path / CFG_FILENAME, path / WEIGHTS_FILENAME
    raw = read_json(cfg_path)
    arch, k = _architecture_and_k(raw, cfg_path)
    for key in ("d_in", "d_sae"):
        if not isinstance(raw.get(key), int):
            raise CheckpointError(f"{cfg_path}: `{key}` missing or not an integer")
    if raw.get("reshape_activations", "none") not in ("none", "hook_z", None):
        raise CheckpointError(f"{cfg_path}: reshape_activations={raw['reshape_activations']!r} not supported")
    try:
        dtype = dtype_from_str(raw.get("dtype", "float32"))
    except ValueError as exc:
        raise CheckpointError(f"{cfg_path}: {exc}") from None
    tensors = read_safetensors(weights_path)

    # --- the SAELens-side fix-ups, in SAELens' order
    # (the rational gate's scalars keep their stored float32: casting them to a bf16 SAE dtype
    # would round the coefficients; SAELens itself casts everything)
    tensors = {
        key: t if (arch == "rational" and key in _GATE_KEYS) else t.to(dtype) for key, t in tensors.items()
    }
    if "scaling_factor" in tensors:
        sf = tensors.pop("scaling_factor")
        if not bool(torch.all(sf == 1)):
            raise CheckpointError(
                f"{weights_path}: a non-trivial `scaling_factor` (finetuning_scaling_factor) is not supported"
            )
    if arch == "jumprelu" and "log_threshold" in tensors and "threshold" not in tensors:
        tensors["threshold"] = torch.exp(tensors.pop("log_threshold"))

    core = ("W_enc", "b_enc", "W_dec", "b_dec")
    extra = {"jumprelu": ("threshold",), "rational": _GATE_KEYS}.get(arch, ())
    check_keys(tensors, core + extra, weights_path)
    state: dict[str, Tensor] = {key: tensors[key] for key in core}
    rational_type = None
    if arch == "jumprelu":
        state["gate.threshold"] = tensors["threshold"]
    elif arch == "rational":
        # gate scalars: RationalSAE keeps them float32 (float64 for a float64 SAE); assemble_sae
        # accepts only value-preserving conversions
        for key in _GATE_KEYS:
            if not tensors[key].is_floating_point():
                raise CheckpointError(f"{weights_path}: gate key {key!r} is not a floating tensor")
            state[f"gate.{key}"] = tensors[key]
        rt = raw.get("rational_type")
        if not (isinstance(rt, list) and len(rt) == 2):
            raise CheckpointError(f"{cfg_path}: architecture 'rational' needs `rational_type` [p, q]")
        rational_type = (int(rt[0]), int(rt[1]))
    cfg = make_config(
        cfg_path,
        d_in=raw["d_in"],
        d_sae=raw["d_sae"],
        architecture=arch,
        apply_b_dec_to_input=bool(raw.get("apply_b_dec_to_input", True)),
        k=k,
        rescale_acts_by_decoder_norm=bool(raw.get("rescale_acts_by_decoder_norm", False)) and arch == "topk",
        normalize_activations=_normalization(raw.get("normalize_activations"), cfg_path),
        dtype=dtype,
        device="cpu",
        source_format="saelens",
        metadata={"path": str(path), "original_cfg": json_safe(raw)},
        rational_type=rational_type,
    )
    return assemble_sae(cfg, state, weights_path)


LOADER = Loader(
    "saelens",
    f"SAELens directory ({CFG_FILENAME} + {WEIGHTS_FILENAME})",
    dir_with(CFG_FILENAME, WEIGHTS_FILENAME),
    load_saelens,
)
