"""JumpReLU teacher gate with a per-latent threshold (Rajamanoharan et al. 2024, Gemma Scope).

.. math:: z_j = \\mathrm{ReLU}(h_j)\\, H(h_j - \\theta_j), \\qquad H(0) = 0 .

This is SAELens' ``JumpReLUSAE.encode`` (``relu(h) * (h > threshold)``); Gemma Scope's reference
(``mask * relu(pre_acts)``) and dictionary_learning's ``JumpReluAutoEncoder``
(``relu(h * (h > threshold))``) give the same values: all three zero the latent when
``h <= theta`` and when ``h <= 0``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["JumpReLUGate"]


class JumpReLUGate(nn.Module):
    """``z = relu(h) * (h > threshold)``; ``threshold`` is a parameter of shape ``[d_sae]``."""

    def __init__(
        self, d_sae: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ):
        super().__init__()
        self.threshold = nn.Parameter(torch.zeros(d_sae, dtype=dtype, device=device))

    def forward(self, h: Tensor) -> Tensor:
        base = torch.relu(h)
        # SAELens casts the boolean mask to the activation dtype and multiplies (exact: 0 or 1).
        return base * (h > self.threshold).to(base.dtype)
