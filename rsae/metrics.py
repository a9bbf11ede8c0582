"""SAE evaluation metrics with SAELens' definitions, accumulated over a stream in float64.

For tokens ``x_n`` (n = 1..N), reconstructions ``x_hat_n`` and codes ``z_n``:

.. math::

    \\mathrm{MSE} = \\frac1N \\sum_n \\lVert x_n - \\hat x_n \\rVert_2^2 \\quad
    \\text{(summed over dimensions, averaged over tokens)}

    \\mathrm{EV} = 1 - \\frac{\\frac1N\\sum_n \\lVert x_n - \\hat x_n\\rVert^2}
                        {\\frac1N\\sum_n \\lVert x_n\\rVert^2 - \\lVert \\bar x\\rVert^2}

    L_0 = \\frac1N \\sum_n \\#\\{j : z_{nj} \\ne 0\\} \\quad \\text{(exact non-zeros)}, \\qquad
    \\mathrm{alive} = \\frac{1}{d_\\mathrm{sae}} \\#\\{j : \\exists n,\\ z_{nj} \\ne 0\\}.

The denominator of EV is the total variance ``E||x||^2 - ||E x||^2`` (sum of per-dimension
variances), as in SAELens' ``explained_variance`` (Bloom et al. 2024).  Sums are kept in float64
so that a long stream does not lose digits.  ``alive`` depends on the token count: report
``n_tokens`` with it.

With a host model (:func:`evaluate_host`): next-token cross-entropy of the clean model, with the
SAE's reconstruction spliced into ``hidden_states[L]`` at every position except BOS (unless
``keep_bos``), and with that state zero-ablated at the same positions;
``delta_ce = ce_sae - ce_clean`` and ``loss_recovered = (ce_zero - ce_sae) / (ce_zero - ce_clean)``
(SAELens ``get_recons_loss``; Gao et al. 2024 use the same ratio).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .activations import ActivationError, HostActivations, _as_tensor, check_finite

__all__ = [
    "EVAL_KEYS",
    "HOST_KEYS",
    "ReconstructionAccumulator",
    "evaluate",
    "evaluate_host",
    "splice",
]

EVAL_KEYS = ("mse", "explained_variance", "l0", "alive", "n_tokens")
HOST_KEYS = ("ce_clean", "ce_sae", "ce_zero", "delta_ce", "loss_recovered")


@dataclass
class ReconstructionAccumulator:
    """Streaming sums for MSE, explained variance, L0 and alive (all float64)."""

    d_sae: int
    n: int = 0
    sum_err2: float = 0.0
    sum_x2: float = 0.0
    sum_x: np.ndarray | None = None
    sum_l0: float = 0.0
    fired: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.fired is None:
            self.fired = np.zeros(self.d_sae, dtype=bool)

    def update(self, x: Tensor, x_hat: Tensor, z: Tensor) -> None:
        """Add a batch: ``x, x_hat [B, d_in]``, ``z [B, d_sae]``."""
        x64, xh64 = x.detach().double(), x_hat.detach().double()
        nz = z.detach() != 0
        self.n += int(x.shape[0])
        self.sum_err2 += float(((x64 - xh64) ** 2).sum())
        self.sum_x2 += float((x64**2).sum())
        sx = x64.sum(0).cpu().numpy()
        self.sum_x = sx if self.sum_x is None else self.sum_x + sx
        self.sum_l0 += float(nz.sum(dtype=torch.float64))
        self.fired |= nz.any(0).cpu().numpy()

    def result(self) -> dict[str, float | int]:
        if self.n == 0:
            raise ActivationError("no tokens to evaluate")
        mse = self.sum_err2 / self.n
        mean = self.sum_x / self.n
        total_var = self.sum_x2 / self.n - float(mean @ mean)
        ev = 1.0 - mse / total_var if total_var > 0 else float("nan")
        return {
            "mse": mse,
            "explained_variance": ev,
            "l0": self.sum_l0 / self.n,
            "alive": float(self.fired.mean()),
            "n_tokens": self.n,
        }


def _encode_decode(sae: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(z, x_hat)``; ``x_hat`` in the input's space (run-time normalisation undone, as SAELens)."""
    W = sae.W_enc
    xs = x.to(device=W.device, dtype=W.dtype)
    z = sae.encode(xs)
    cfg = getattr(sae, "cfg", None)
    if getattr(cfg, "normalize_activations", "none") in ("constant_norm_rescale", "layer_norm"):
        return z, sae(xs).to(device=x.device, dtype=x.dtype)  # forward() de-normalises the output
    return z, sae.decode(z).to(device=x.device, dtype=x.dtype)


@torch.no_grad()
def evaluate(
    sae: torch.nn.Module,
    batches: Iterable[Tensor],
    *,
    max_tokens: int | None = None,
) -> dict[str, float | int]:
    """MSE, explained variance, L0, alive and ``n_tokens`` over a stream of ``[B, d_in]`` batches.

    Raises
    ------
    ActivationError
        On NaN/Inf in a batch or a width that differs from the SAE's ``d_in``.
    """
    d_in, d_sae = _dims(sae)
    acc = ReconstructionAccumulator(d_sae)
    for x in batches:
        if x.shape[-1] != d_in:
            raise ActivationError(
                f"d_in mismatch: the SAE expects d_in = {d_in}, activations have {x.shape[-1]}"
            )
        check_finite(x, "evaluation batch")
        if max_tokens is not None and acc.n + len(x) > max_tokens:
            x = x[: max_tokens - acc.n]
        z, x_hat = _encode_decode(sae, x)
        acc.update(x, x_hat, z)
        if max_tokens is not None and acc.n >= max_tokens:
            break
    return acc.result()


def _dims(sae: torch.nn.Module) -> tuple[int, int]:
    W = sae.W_enc
    return int(W.shape[0]), int(W.shape[1])


class splice:
    """Context manager: replace the output of ``module`` at positions ``start:`` by ``fn(out)``.

    ``fn`` maps ``[S, T', d]`` to ``[S, T', d]``; block outputs that are tuples keep their tail.
    """

    def __init__(self, module: torch.nn.Module, fn, start: int) -> None:
        self.module, self.fn, self.start = module, fn, start

    def _hook(self, _mod: torch.nn.Module, _inp: object, out: object) -> object:
        h = _as_tensor(out)
        new = h.clone()
        new[:, self.start :, :] = self.fn(h[:, self.start :, :]).to(h.dtype)
        return (new, *out[1:]) if isinstance(out, tuple) else new

    def __enter__(self) -> splice:
        self.handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def _ce_sum(logits: Tensor, ids: Tensor) -> tuple[float, int]:
    """Sum of next-token cross-entropies over all predicted positions, and their count."""
    lg = logits[:, :-1, :].reshape(-1, logits.shape[-1]).float()
    return float(F.cross_entropy(lg, ids[:, 1:].reshape(-1), reduction="sum").double()), lg.shape[0]


@torch.no_grad()
def evaluate_host(
    sae: torch.nn.Module,
    host: HostActivations,
    *,
    max_seq: int | None = None,
    progress: bool = False,
) -> dict[str, float | int]:
    """Reconstruction metrics on ``hidden_states[L]`` plus CE clean / spliced / zero-ablated.

    Three forward passes per sequence batch.  The reconstruction metrics use the same positions
    as the splice (all but BOS unless ``host.keep_bos``).
    """
    d_in, d_sae = _dims(sae)
    if host.d_in != d_in:
        raise ActivationError(
            f"d_in mismatch: the SAE expects d_in = {d_in}, host layer {host.layer} has {host.d_in}"
        )
    start = 0 if host.keep_bos else 1
    acc = ReconstructionAccumulator(d_sae)
    ce = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    n_pred = 0

    def recon(h: Tensor) -> Tensor:
        flat = h.reshape(-1, d_in).float()
        check_finite(flat, f"host layer {host.layer}")
        z, x_hat = _encode_decode(sae, flat)
        acc.update(flat, x_hat, z)
        return x_hat.reshape(h.shape)

    batches = host.sequence_batches()
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-host.tokens.shape[0] // host.seq_batch), desc="eval (host)")
    for i, ids in enumerate(batches):
        if max_seq is not None and i * host.seq_batch >= max_seq:
            break
        s, n = _ce_sum(host.model(input_ids=ids, use_cache=False).logits, ids)
        ce["clean"] += s
        n_pred += n
        with splice(host.module, recon, start):
            ce["sae"] += _ce_sum(host.model(input_ids=ids, use_cache=False).logits, ids)[0]
        with splice(host.module, torch.zeros_like, start):
            ce["zero"] += _ce_sum(host.model(input_ids=ids, use_cache=False).logits, ids)[0]
    out = acc.result()
    ce_clean, ce_sae, ce_zero = (ce[k] / n_pred for k in ("clean", "sae", "zero"))
    denom = ce_zero - ce_clean
    out.update(
        ce_clean=ce_clean,
        ce_sae=ce_sae,
        ce_zero=ce_zero,
        delta_ce=ce_sae - ce_clean,
        loss_recovered=(ce_zero - ce_sae) / denom if denom != 0 else float("nan"),
    )
    return out
