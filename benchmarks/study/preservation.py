"""Feature preservation: does latent ``j`` of the upgraded SAE still encode teacher latent ``j``?

The upgrade keeps the latent index (weights are copied, per-latent scales folded), so the natural
correspondence is the identity.  For every latent we measure

* the Pearson correlation of the two activations ``z_j`` over held-out tokens (invariant to the
  per-latent scale ``c_j`` that the init folds in);
* the cosine of the decoder rows ``W_dec[j]`` (also scale-invariant).

A latent counts as "the same feature" when both are at least ``THRESHOLD = 0.9``.  A latent that
never fires in either model on the evaluation tokens has no defined correlation; it is counted as
not preserved (and reported separately as ``n_undefined``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["THRESHOLD", "preservation"]

THRESHOLD = 0.9


@torch.no_grad()
def preservation(teacher, student, x: torch.Tensor, threshold: float = THRESHOLD) -> dict:
    """Per-latent correspondence summary (medians, fraction "same feature")."""
    zt = teacher.encode(x).double()
    zs = student.encode(x).double()
    zt, zs = zt - zt.mean(0), zs - zs.mean(0)
    den = zt.norm(dim=0) * zs.norm(dim=0)
    corr = torch.where(den > 0, (zt * zs).sum(0) / den.clamp_min(1e-300), torch.nan)
    Wt, Ws = teacher.W_dec.double(), student.W_dec.double()
    cos = (Wt * Ws).sum(1) / (Wt.norm(dim=1) * Ws.norm(dim=1)).clamp_min(1e-300)
    corr_np, cos_np = corr.numpy(), cos.numpy()
    defined = np.isfinite(corr_np)
    same = defined & (np.nan_to_num(corr_np, nan=-1) >= threshold) & (cos_np >= threshold)
    return {
        "threshold": threshold,
        "median_corr": float(np.nanmedian(corr_np)) if defined.any() else float("nan"),
        "median_cos": float(np.median(cos_np)),
        "frac_corr_above": float((np.nan_to_num(corr_np, nan=-1) >= threshold).mean()),
        "frac_cos_above": float((cos_np >= threshold).mean()),
        "frac_same": float(same.mean()),
        "n_undefined": int((~defined).sum()),
        "n_latents": len(cos_np),
        "n_tokens": len(x),
    }
