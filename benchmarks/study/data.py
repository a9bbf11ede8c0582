"""Token splits of the host's corpus and cached residual-stream activations.

The host is ``../shared/data/stories260k-hf`` (a 260K-parameter Llama-2-architecture LM trained on
TinyStories; d_model 64, 5 layers, vocabulary 512, BOS = 1, EOS = 2).  Its ``sampled_tokens.npy``
holds 4096 sequences x 256 tokens sampled from the model itself, each starting with BOS.

Splits (by sequence index; disjoint, so no token of the evaluation range is ever seen while
training a teacher, calibrating or fine-tuning an RSAE or a control):

=========  ===============  ============================================================
split      sequences        use
=========  ===============  ============================================================
teacher    [0, 2048)        SAELens teacher training (``train_teachers.py``)
rsae       [2048, 3072)     RSAE calibration + fine-tuning, same-budget controls
eval       [3072, 4096)     held-out evaluation: MSE / EV / L0 / alive / CE, probing
                            (probes are fit on the first half of ``eval``, tested on the
                            second half), feature preservation, gate histograms
=========  ===============  ============================================================

Layer ``L`` is ``hidden_states[L]`` of ``model(ids, output_hidden_states=True)``: the residual
stream after ``L`` blocks (``L < n_layers``), identical to what ``rsae.activations.HostActivations``
captures with its forward hook.  The BOS position 0 is dropped (its residual norm is an outlier,
and SAELens' evaluation excludes it too), so a sequence contributes 255 activation rows, in
row-major order ``(sequence, position)``.

This module needs only numpy, torch and transformers so that the SAELens virtual environment
(``.venv-saelens``) can import it as well as the main one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "ARTIFACTS",
    "HOST",
    "SPLITS",
    "TOKENS",
    "activations",
    "host_model",
    "split_tokens",
]

REPO = Path(__file__).resolve().parents[2]
HOST = Path(os.environ.get("RSAE_STUDY_HOST", REPO.parent / "shared" / "data" / "stories260k-hf"))
TOKENS = HOST / "sampled_tokens.npy"
ARTIFACTS = Path(os.environ.get("RSAE_STUDY_ARTIFACTS", REPO / "benchmarks" / "_artifacts"))

SPLITS: dict[str, tuple[int, int]] = {
    "teacher": (0, 2048),
    "rsae": (2048, 3072),
    "eval": (3072, 4096),
}


def split_tokens(split: str, n_seq: int | None = None, offset: int = 0) -> np.ndarray:
    """Token ids ``[n, 256]`` (int64) of ``split``, optionally the sub-range ``[offset, offset+n_seq)``.

    Raises
    ------
    ValueError
        Unknown split, or a sub-range that leaves the split.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {sorted(SPLITS)}, got {split!r}")
    lo, hi = SPLITS[split]
    n = hi - lo - offset if n_seq is None else int(n_seq)
    if offset < 0 or n < 1 or lo + offset + n > hi:
        raise ValueError(f"sub-range offset={offset}, n_seq={n_seq} leaves split {split!r} {SPLITS[split]}")
    toks = np.load(TOKENS, mmap_mode="r")
    return np.asarray(toks[lo + offset : lo + offset + n], dtype=np.int64)


def host_model():
    """The host LM (``LlamaForCausalLM``, float32, eval mode)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(HOST), dtype=torch.float32)
    return model.eval()


def _harvest(model, ids: np.ndarray, layer: int, seq_batch: int = 64) -> np.ndarray:
    import torch

    n_layers = int(model.config.num_hidden_layers)
    if not 0 <= layer < n_layers:
        # hidden_states[n_layers] is the final-norm output in transformers, not the residual stream
        raise ValueError(f"`layer` must be in [0, {n_layers}), got {layer}")
    out = []
    with torch.no_grad():
        for s in range(0, len(ids), seq_batch):
            hs = model(input_ids=torch.from_numpy(ids[s : s + seq_batch]), output_hidden_states=True,
                       use_cache=False).hidden_states[layer]
            out.append(hs[:, 1:, :].reshape(-1, hs.shape[-1]).to(torch.float32).numpy())
    x = np.concatenate(out)
    if not np.isfinite(x).all():
        raise ValueError(f"non-finite activations at layer {layer}")
    return x


def activations(layer: int, split: str, n_seq: int | None = None, offset: int = 0,
                model=None) -> np.ndarray:
    """Residual-stream activations ``[n_seq * 255, 64]`` float32 of a split, cached on disk.

    The cache lives in ``ARTIFACTS/cache/L{layer}_{split}_{offset}_{n}.npy`` and is written
    atomically; a second call memory-maps it.
    """
    ids = split_tokens(split, n_seq, offset)
    path = ARTIFACTS / "cache" / f"L{layer}_{split}_{offset}_{len(ids)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    x = _harvest(model if model is not None else host_model(), ids, layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    os.close(fd)
    try:
        np.save(tmp, x)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r")
