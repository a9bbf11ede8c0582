"""Writers of tiny checkpoints in each teacher format, from each format's documented layout.

These writers use only numpy / safetensors / torch.save (never rsae), so a loader bug cannot
hide behind a matching writer bug.  Layouts, as documented by the origin libraries:

* SAELens (``sae_lens/saes/sae.py``, ``loading/pretrained_sae_loaders.py``): ``cfg.json`` +
  ``sae_weights.safetensors`` with ``W_enc [d_in, d_sae]``, ``b_enc``, ``W_dec [d_sae, d_in]``,
  ``b_dec``, ``threshold`` (JumpReLU).  6.x cfg: ``architecture``, ``k``,
  ``rescale_acts_by_decoder_norm``, ``metadata.sae_lens_version``; 5.x cfg: ``activation_fn_str``,
  ``activation_fn_kwargs``, ``sae_lens_training_version``.
* Gemma Scope: ``params.npz`` with ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc``,
  ``b_dec``, ``threshold``.
* EleutherAI sparsify (``SparseCoder.save_to_disk``): ``cfg.json`` (``SparseCoderConfig`` fields +
  ``d_in``) + ``sae.safetensors`` with ``encoder.weight [d_sae, d_in]``, ``encoder.bias``,
  ``W_dec [d_sae, d_in]``, ``b_dec``.
* dictionary_learning: ``ae.pt`` = ``torch.save(ae.state_dict())``; ``config.json`` beside it
  with ``{"trainer": {"dict_class": ...}}``.

Weights are *dyadic* (small integers over a power of two) so that every product and partial sum
in encode/decode is exact in float32: any summation order gives the same bits, and loaders can
be compared with an independent numpy formula at ``rtol = 0``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

D_IN, D_SAE, N_TOKENS, K = 12, 24, 32, 5


def dyadic(rng: np.random.Generator, shape: tuple[int, ...], half_range: int, denom: int) -> np.ndarray:
    """float32 array of ``integers in [-half_range, half_range] / denom`` (denom a power of 2)."""
    return (rng.integers(-half_range, half_range + 1, size=shape) / denom).astype(np.float32)


def make_weights(seed: int, d_in: int = D_IN, d_sae: int = D_SAE) -> dict[str, np.ndarray]:
    """SAELens-layout float32 weights with exact arithmetic (see module docstring for the bit budget).

    x: 2 fractional bits, |x| <= 4; W_enc: 5 bits; b_enc: 7 bits -> h has 7 fractional bits and
    |h| < 2^7: 14 significant bits.  W_dec: 4 bits -> z W_dec has 11 fractional bits, |.| < 2^11:
    22 bits < 24 (float32).
    """
    rng = np.random.default_rng(seed)
    return {
        "W_enc": dyadic(rng, (d_in, d_sae), 32, 32),
        "b_enc": dyadic(rng, (d_sae,), 64, 128),
        "W_dec": dyadic(rng, (d_sae, d_in), 16, 16),
        "b_dec": dyadic(rng, (d_in,), 8, 4),
        "threshold": np.abs(dyadic(rng, (d_sae,), 64, 64)),
    }


def make_inputs(seed: int, n: int = N_TOKENS, d_in: int = D_IN) -> np.ndarray:
    return dyadic(np.random.default_rng(seed), (n, d_in), 16, 4)


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=1))


# ----------------------------------------------------------------------------------- SAELens
def write_saelens(
    out: Path,
    weights: dict[str, np.ndarray],
    *,
    architecture: str = "standard",
    layout: int = 6,
    cfg_extra: dict[str, Any] | None = None,
    keys: tuple[str, ...] = ("W_enc", "b_enc", "W_dec", "b_dec"),
) -> Path:
    """A SAELens directory; ``layout`` 6 (``architecture`` key) or 5 (``activation_fn_str``)."""
    out.mkdir(parents=True, exist_ok=True)
    d_in, d_sae = weights["W_enc"].shape
    if layout == 6:
        cfg: dict[str, Any] = {
            "architecture": architecture,
            "d_in": d_in,
            "d_sae": d_sae,
            "dtype": "float32",
            "device": "cpu",
            "apply_b_dec_to_input": True,
            "normalize_activations": "none",
            "reshape_activations": "none",
            "metadata": {
                "sae_lens_version": "6.5.1",
                "model_name": "tiny",
                "hook_name": "blocks.3.hook_resid_post",
            },
        }
    else:
        cfg = {
            "architecture": architecture,
            "d_in": d_in,
            "d_sae": d_sae,
            "dtype": "torch.float32",
            "device": "cpu",
            "model_name": "tiny",
            "hook_name": "blocks.3.hook_resid_post",
            "hook_layer": 3,
            "activation_fn_str": "relu",
            "apply_b_dec_to_input": True,
            "finetuning_scaling_factor": False,
            "normalize_activations": "none",
            "sae_lens_training_version": "5.3.0",
        }
    cfg.update(cfg_extra or {})
    _write_json(out / "cfg.json", cfg)
    save_numpy({k: np.ascontiguousarray(weights[k]) for k in keys}, str(out / "sae_weights.safetensors"))
    return out


# ------------------------------------------------------------------------------- Gemma Scope
def write_gemma_scope(out_dir: Path, weights: dict[str, np.ndarray]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "params.npz"
    np.savez(path, **{k: weights[k] for k in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")})
    return path


# ---------------------------------------------------------------------------------- sparsify
def write_sparsify(
    out: Path, weights: dict[str, np.ndarray], *, k: int = K, cfg_extra: dict[str, Any] | None = None
) -> Path:
    """A sparsify hookpoint directory; the encoder is an ``nn.Linear`` (weight ``[d_sae, d_in]``)."""
    out.mkdir(parents=True, exist_ok=True)
    d_in, d_sae = weights["W_enc"].shape
    cfg = {
        "activation": "topk",
        "expansion_factor": d_sae // d_in,
        "normalize_decoder": True,
        "num_latents": d_sae,
        "k": k,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": d_in,
    }
    cfg.update(cfg_extra or {})
    _write_json(out / "cfg.json", cfg)
    tensors = {
        "encoder.weight": torch.from_numpy(np.ascontiguousarray(weights["W_enc"].T)),
        "encoder.bias": torch.from_numpy(weights["b_enc"].copy()),
        "W_dec": torch.from_numpy(weights["W_dec"].copy()),
        "b_dec": torch.from_numpy(weights["b_dec"].copy()),
    }
    save_torch(tensors, str(out / "sae.safetensors"))
    return out


# ------------------------------------------------------------------------ dictionary_learning
def dictionary_learning_state(
    weights: dict[str, np.ndarray], dict_class: str, *, k: int = K, threshold: float = -1.0
):
    """The ``state_dict()`` a dictionary_learning class would save, built from SAELens-layout weights."""
    t = {key: torch.from_numpy(v.copy()) for key, v in weights.items()}
    if dict_class == "AutoEncoder":
        return {
            "bias": t["b_dec"],
            "encoder.weight": t["W_enc"].T.contiguous(),
            "encoder.bias": t["b_enc"],
            "decoder.weight": t["W_dec"].T.contiguous(),
        }
    if dict_class == "AutoEncoderNew":
        return {
            "encoder.weight": t["W_enc"].T.contiguous(),
            "encoder.bias": t["b_enc"],
            "decoder.weight": t["W_dec"].T.contiguous(),
            "decoder.bias": t["b_dec"],
        }
    if dict_class == "JumpReluAutoEncoder":
        return {k_: t[k_] for k_ in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}
    if dict_class in ("AutoEncoderTopK", "BatchTopKSAE"):
        return {
            "k": torch.tensor(k, dtype=torch.int),
            "threshold": torch.tensor(threshold, dtype=torch.float32),
            "decoder.weight": t["W_dec"].T.contiguous(),
            "encoder.weight": t["W_enc"].T.contiguous(),
            "encoder.bias": t["b_enc"],
            "b_dec": t["b_dec"],
        }
    raise ValueError(dict_class)


def write_dictionary_learning(out_dir: Path, state: dict[str, Any], dict_class: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "ae.pt"
    torch.save(state, path)
    if dict_class is not None:
        _write_json(out_dir / "config.json", {"trainer": {"dict_class": dict_class, "k": K}, "buffer": {}})
    return path


def truncate(path: Path, keep_fraction: float = 0.5) -> None:
    """Cut a file to a fraction of its size (a download that stopped half-way)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
