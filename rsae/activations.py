"""Activation sources: where the vectors ``x`` that an SAE encodes come from.

Three sources, one protocol (:class:`ActivationSource`): ``d_in`` and ``iter_batches(batch_size)``
yielding float32 tensors ``[B, d_in]``.  None of them holds the whole set in memory.

* :class:`HostActivations` -- a Hugging Face causal LM directory, a layer index ``L`` and a token
  file ``.npy [n_seq, seq_len]``.  Layer ``L`` means ``hidden_states[L]`` of
  ``model(..., output_hidden_states=True)``: ``L = 0`` is the embedding output, ``1 <= L < n_layers``
  the residual stream after ``L`` blocks, and ``L = n_layers`` is, in ``transformers``, the output
  of the *final norm* (not the raw residual stream).  We read it with a forward hook on the module
  that produces it (:func:`residual_module`) and stop the forward pass there, so layers above ``L``
  are never run.  The BOS position (position 0) is excluded by default: its residual norm is an
  outlier in most LMs and SAELens' evaluation excludes it too.
* :class:`ArrayActivations` -- a cached file: ``.npy`` (memory-mapped) or ``.safetensors`` with a
  2-D tensor named ``x`` (safetensors' ``safe_open`` reads slices lazily).
* :class:`SyntheticFeatures` -- sparse non-negative combinations of known unit directions plus
  Gaussian noise (the toy model of superposition, Elhage et al. 2022), with the ground truth kept
  for the demo and tests.

Every source checks its rows for NaN/Inf (:class:`ActivationError`, a ``ValueError``).
:class:`BatchSampler` gives a training order that depends only on ``(seed, step)``, which is what
makes a resumed fine-tune reproduce an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from ._io import write_atomic

__all__ = [
    "ActivationError",
    "ActivationSource",
    "ArrayActivations",
    "BatchSampler",
    "HostActivations",
    "SyntheticFeatures",
    "check_finite",
    "harvest_to_npy",
    "load_host",
    "load_tokens",
    "open_activations",
    "residual_module",
]


class ActivationError(ValueError):
    """Bad activations: missing file, wrong shape, NaN/Inf, d_in mismatch, layer out of range."""


@runtime_checkable
class ActivationSource(Protocol):
    """Anything that streams ``[B, d_in]`` float32 batches."""

    d_in: int

    def iter_batches(self, batch_size: int) -> Iterator[Tensor]: ...


def check_finite(x: Tensor, where: str) -> Tensor:
    """Raise :class:`ActivationError` if ``x`` has a NaN or Inf (naming the first bad row)."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        row = int(bad.any(dim=-1).nonzero()[0, 0]) if x.dim() > 1 else int(bad.nonzero()[0, 0])
        kind = "NaN" if bool(torch.isnan(x).any()) else "Inf"
        raise ActivationError(f"activations contain {kind} values ({where}, first bad row {row})")
    return x


# --------------------------------------------------------------------------- cached arrays
class ArrayActivations:
    """A 2-D activation array on disk, read in slices.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (opened with ``mmap_mode="r"``) or ``.safetensors`` holding a 2-D tensor ``x``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ActivationError(f"activations file not found: {self.path}")
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            try:
                self._arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ActivationError(f"cannot read activations {self.path}: {exc}") from exc
            shape = self._arr.shape
            self._st = None
        elif suffix == ".safetensors":
            from safetensors import safe_open

            try:
                self._st = safe_open(str(self.path), framework="pt")
                keys = list(self._st.keys())
            except Exception as exc:  # safetensors raises its own error types
                raise ActivationError(f"cannot read activations {self.path}: {exc}") from exc
            if "x" not in keys:
                raise ActivationError(f"{self.path} has no tensor named `x` (found {keys})")
            self._sl = self._st.get_slice("x")
            shape = tuple(self._sl.get_shape())
            self._arr = None
        else:
            raise ActivationError(f"activations must be .npy or .safetensors, got {self.path.name}")
        if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
            raise ActivationError(f"activations must be a non-empty 2-D array [n_tokens, d_in], got {shape}")
        self.n_tokens, self.d_in = int(shape[0]), int(shape[1])

    def __len__(self) -> int:
        return self.n_tokens

    def rows(self, start: int, stop: int) -> Tensor:
        """Rows ``[start, stop)`` as float32, checked for NaN/Inf."""
        if self._arr is not None:
            x = torch.from_numpy(np.array(self._arr[start:stop], dtype=np.float32))
        else:
            x = self._sl[start:stop].to(torch.float32)
        return check_finite(x, f"{self.path.name} rows {start}..{stop}")

    def take(self, index: np.ndarray) -> Tensor:
        """Rows at ``index`` (any order), float32, checked."""
        index = np.asarray(index, dtype=np.int64)
        if self._arr is not None:
            # Sorted gather is much faster on a memory map; undo the sort afterwards.
            order = np.argsort(index, kind="stable")
            x_sorted = np.asarray(self._arr[index[order]], dtype=np.float32)
            x = np.empty_like(x_sorted)
            x[order] = x_sorted
            x = torch.from_numpy(x)
        else:
            x = torch.stack([self._sl[int(i) : int(i) + 1][0] for i in index]).to(torch.float32)
        return check_finite(x, f"{self.path.name} sampled rows")

    def iter_batches(self, batch_size: int) -> Iterator[Tensor]:
        for s in range(0, self.n_tokens, batch_size):
            yield self.rows(s, min(s + batch_size, self.n_tokens))


# --------------------------------------------------------------------------- HF host
def load_host(model_dir: str | os.PathLike, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """``AutoModelForCausalLM.from_pretrained(model_dir)`` from disk only (no network), in eval mode."""
    p = Path(model_dir)
    if not (p / "config.json").is_file():
        raise ActivationError(f"host model directory not found or has no config.json: {p}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True, dtype=dtype)
    except Exception as exc:  # transformers raises many types for a broken directory
        raise ActivationError(f"cannot load host model from {p}: {exc}") from exc
    model.eval()
    return model


def _decoder_layers(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.ModuleList]:
    """(base model, list of blocks) for the common causal-LM layouts."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else model
    for attr in ("layers", "h", "blocks"):
        blocks = getattr(base, attr, None)
        if isinstance(blocks, torch.nn.ModuleList):
            return base, blocks
    raise ActivationError(f"cannot find the transformer blocks of {type(model).__name__}")


def n_layers_of(model: torch.nn.Module) -> int:
    """Number of transformer blocks (``hidden_states`` has ``n_layers + 1`` entries)."""
    return len(_decoder_layers(model)[1])


def residual_module(model: torch.nn.Module, layer: int) -> torch.nn.Module:
    """The module whose output is ``hidden_states[layer]``.

    ``0`` -> the token embedding; ``1..n-1`` -> block ``layer - 1``; ``n`` -> the final norm
    (``transformers`` appends the *normed* state last; checked against ``output_hidden_states``
    in the tests).
    """
    base, blocks = _decoder_layers(model)
    n = len(blocks)
    if not 0 <= layer <= n:
        raise ActivationError(f"layer {layer} out of range: this model has hidden states 0..{n}")
    if layer == 0:
        return model.get_input_embeddings()
    if layer < n:
        return blocks[layer - 1]
    for attr in ("norm", "ln_f", "final_layer_norm"):
        mod = getattr(base, attr, None)
        if isinstance(mod, torch.nn.Module):
            return mod
    raise ActivationError(f"cannot find the final norm of {type(model).__name__} for layer {layer}")


def load_tokens(path: str | os.PathLike, vocab_size: int | None = None) -> np.ndarray:
    """Token ids ``[n_seq, seq_len]`` from a ``.npy`` file (memory-mapped), range-checked."""
    p = Path(path)
    if not p.is_file():
        raise ActivationError(f"tokens file not found: {p}")
    try:
        toks = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ActivationError(f"cannot read tokens {p}: {exc}") from exc
    if toks.ndim != 2 or toks.shape[1] < 2 or not np.issubdtype(toks.dtype, np.integer):
        raise ActivationError(
            f"tokens must be an integer array [n_seq, seq_len >= 2], got {toks.shape} {toks.dtype}"
        )
    if vocab_size is not None and toks.size and int(toks.max()) >= vocab_size:
        raise ActivationError(f"token id {int(toks.max())} >= vocabulary size {vocab_size}")
    return toks


class _StopForward(Exception):
    pass


def _as_tensor(out: object) -> Tensor:
    return out[0] if isinstance(out, tuple) else out  # blocks of older transformers return tuples


class HostActivations:
    """Residual-stream activations of a causal LM, computed on the fly.

    Parameters
    ----------
    model : torch.nn.Module or path
        A loaded causal LM or its directory (loaded with :func:`load_host`).
    layer : int
        ``hidden_states[layer]`` (see the module docstring).
    tokens : np.ndarray or path
        ``[n_seq, seq_len]`` token ids.
    keep_bos : bool
        Include position 0 (default: excluded).
    seq_batch : int
        Sequences per forward pass.
    n_seq : int, optional
        Use only the first ``n_seq`` sequences.
    """

    def __init__(
        self,
        model: torch.nn.Module | str | os.PathLike,
        layer: int,
        tokens: np.ndarray | str | os.PathLike,
        *,
        keep_bos: bool = False,
        seq_batch: int = 16,
        n_seq: int | None = None,
    ) -> None:
        self.model = model if isinstance(model, torch.nn.Module) else load_host(model)
        self.layer = int(layer)
        self.module = residual_module(self.model, self.layer)
        vocab = getattr(getattr(self.model, "config", None), "vocab_size", None)
        self.tokens = tokens if isinstance(tokens, np.ndarray) else load_tokens(tokens, vocab)
        if n_seq is not None:
            self.tokens = self.tokens[: int(n_seq)]
        self.keep_bos = bool(keep_bos)
        self.seq_batch = int(seq_batch)
        self.d_in = int(self.model.config.hidden_size)
        per_seq = self.tokens.shape[1] - (0 if self.keep_bos else 1)
        self.n_tokens = int(self.tokens.shape[0]) * per_seq

    def sequence_batches(self) -> Iterator[Tensor]:
        """Token-id batches ``[S, T]`` (int64)."""
        for s in range(0, self.tokens.shape[0], self.seq_batch):
            yield torch.from_numpy(np.asarray(self.tokens[s : s + self.seq_batch], dtype=np.int64))

    @torch.no_grad()
    def hidden(self, ids: Tensor) -> Tensor:
        """``hidden_states[layer]`` for ``ids [S, T]`` -> ``[S, T, d_in]``; stops the forward there."""
        captured: dict[str, Tensor] = {}

        def hook(_mod: torch.nn.Module, _inp: object, out: object) -> None:
            captured["h"] = _as_tensor(out)
            raise _StopForward

        handle = self.module.register_forward_hook(hook)
        try:
            self.model(input_ids=ids, use_cache=False)
        except _StopForward:
            pass
        finally:
            handle.remove()
        return captured["h"].to(torch.float32)

    def iter_batches(self, batch_size: int | None = None) -> Iterator[Tensor]:
        """Flattened ``[S * T', d_in]`` per sequence batch (``batch_size`` ignored: one forward each)."""
        start = 0 if self.keep_bos else 1
        for ids in self.sequence_batches():
            h = self.hidden(ids)[:, start:, :].reshape(-1, self.d_in)
            yield check_finite(h, f"host layer {self.layer}")


# --------------------------------------------------------------------------- synthetic
@dataclass
class SyntheticFeatures:
    """Sparse non-negative combinations of known unit directions plus noise.

    ``x = sum_i c_i f_i + sigma * eps`` with unit directions ``f_i`` (rows of ``features``), each
    coefficient active independently with probability ``p_i`` (Zipf-like frequencies, as features
    in LMs are) and magnitude ``c_i ~ Uniform(0.5, 1.5) * scale_i``; ``eps ~ N(0, I)``.  Rows are
    generated in chunks whose random stream depends only on ``(seed, chunk)``, so any slice is
    reproducible without generating what precedes it.
    """

    d_in: int = 32
    n_features: int = 128
    mean_active: float = 6.0
    noise: float = 0.05
    seed: int = 0
    chunk: int = 1024

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.n_features < 1 or not 0 < self.mean_active <= self.n_features:
            raise ValueError("`d_in`, `n_features` must be >= 1 and 0 < `mean_active` <= `n_features`")
        g = np.random.default_rng([self.seed, 0xFEA7])
        f = g.standard_normal((self.n_features, self.d_in))
        self.features = f / np.linalg.norm(f, axis=1, keepdims=True)
        w = 1.0 / np.arange(1, self.n_features + 1) ** 0.5
        g.shuffle(w)
        self.probs = np.minimum(w / w.sum() * self.mean_active, 1.0)
        self.scales = g.uniform(0.5, 2.0, self.n_features)

    def _chunk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        g = np.random.default_rng([self.seed, 0xC0DE, k])
        on = g.random((self.chunk, self.n_features)) < self.probs
        c = on * g.uniform(0.5, 1.5, (self.chunk, self.n_features)) * self.scales
        x = c @ self.features + self.noise * g.standard_normal((self.chunk, self.d_in))
        return x.astype(np.float32), c.astype(np.float32)

    def sample(self, n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[offset, offset + n)``: ``(x [n, d_in], codes [n, n_features])``."""
        xs, cs = [], []
        k0, k1 = offset // self.chunk, (offset + n - 1) // self.chunk
        for k in range(k0, k1 + 1):
            x, c = self._chunk(k)
            lo = max(offset - k * self.chunk, 0)
            hi = min(offset + n - k * self.chunk, self.chunk)
            xs.append(x[lo:hi])
            cs.append(c[lo:hi])
        return np.concatenate(xs), np.concatenate(cs)

    def iter_batches(self, batch_size: int, n_tokens: int = 8192) -> Iterator[Tensor]:
        for s in range(0, n_tokens, batch_size):
            yield torch.from_numpy(self.sample(min(batch_size, n_tokens - s), s)[0])

    def write_npy(self, path: str | os.PathLike, n_tokens: int, offset: int = 0) -> Path:
        """Write rows ``[offset, offset + n_tokens)`` to ``path`` (atomically), chunk by chunk."""
        return harvest_to_npy(
            (torch.from_numpy(self.sample(min(self.chunk, n_tokens - s), offset + s)[0])
             for s in range(0, n_tokens, self.chunk)),
            path, n_tokens, self.d_in,
        )


# --------------------------------------------------------------------------- helpers
def harvest_to_npy(batches: Iterator[Tensor], path: str | os.PathLike, n_rows: int, d_in: int) -> Path:
    """Stream ``batches`` into an ``.npy`` file ``[n_rows, d_in]`` float32, written atomically."""

    def fill(tmp: str) -> None:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_rows, d_in))
        pos = 0
        for b in batches:
            b = b.detach().cpu().numpy()
            take = min(len(b), n_rows - pos)
            arr[pos : pos + take] = b[:take]
            pos += take
            if pos >= n_rows:
                break
        if pos < n_rows:
            raise ActivationError(f"source gave {pos} rows, {n_rows} requested")
        arr.flush()
        del arr

    return write_atomic(path, fill, suffix=".npy")


def open_activations(path: str | os.PathLike, d_in: int | None = None) -> ArrayActivations:
    """Open a cached activation file and check its width against ``d_in``."""
    src = ArrayActivations(path)
    if d_in is not None and src.d_in != d_in:
        raise ActivationError(
            f"d_in mismatch: the SAE expects d_in = {d_in}, activations {src.path.name} have {src.d_in}"
        )
    return src


class BatchSampler:
    """Training order as a pure function of ``(seed, step)``.

    The stream is the concatenation of permutations of ``range(n_rows)``, one per epoch, epoch
    ``e`` drawn from ``default_rng([seed, e])``; batch ``s`` is positions ``[s*B, (s+1)*B)`` of it.
    No state, so a resumed run sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, n_rows: int, batch_size: int, seed: int = 0) -> None:
        if n_rows < 1 or batch_size < 1:
            raise ValueError("`n_rows` and `batch_size` must be >= 1")
        self.n_rows, self.batch_size, self.seed = int(n_rows), int(batch_size), int(seed)
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)
        return self._cache[epoch]

    def indices(self, step: int) -> np.ndarray:
        start = step * self.batch_size
        out = []
        while len(out) < self.batch_size:
            e, o = divmod(start, self.n_rows)
            take = min(self.batch_size - len(out), self.n_rows - o)
            out.extend(self._perm(e)[o : o + take].tolist())
            start += take
        return np.asarray(out, dtype=np.int64)


def describe(src: object) -> dict[str, object]:
    """A small JSON-able description of a source (for run records)."""
    if isinstance(src, ArrayActivations):
        return {"kind": "file", "path": str(src.path), "n_tokens": src.n_tokens, "d_in": src.d_in}
    if isinstance(src, HostActivations):
        return {"kind": "host", "layer": src.layer, "n_tokens": src.n_tokens, "d_in": src.d_in,
                "keep_bos": src.keep_bos}
    return {"kind": type(src).__name__}

