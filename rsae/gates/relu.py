"""ReLU teacher gate ``z = max(h, 0)`` (SAELens ``StandardSAE``; dictionary_learning ``AutoEncoder``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ReLUGate"]


class ReLUGate(nn.Module):
    """``z = h * H(h) = max(h, 0)`` element-wise (``torch.relu``, so ``relu(-0.0) = 0``)."""

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(h)
