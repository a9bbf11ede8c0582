"""TopK teacher gate (Makhzani & Frey 2013; Gao et al. 2024, "Scaling and evaluating sparse autoencoders").

Per row (last dimension), keep the ``k`` largest pre-activations, apply ReLU to them, and zero the
rest -- SAELens' ``TopK`` activation (``torch.topk`` then ``relu`` then ``scatter``).  EleutherAI
sparsify and dictionary_learning apply ReLU *before* ``topk``; the values are the same (ReLU is
monotone, so the set of the ``k`` largest is the same up to ties, and ties at the boundary only
move which of two equal values is kept).
"""

from __future__ import annotations

import operator

import torch
from torch import Tensor, nn

__all__ = ["TopKGate"]


class TopKGate(nn.Module):
    """``z = scatter(topk(h, k).indices, relu(topk(h, k).values))`` along the last dimension."""

    def __init__(self, k: int):
        super().__init__()
        k = operator.index(k)
        if k < 1:
            raise ValueError(f"`k` must be >= 1, got {k}")
        self.k = k

    def forward(self, h: Tensor) -> Tensor:
        if h.shape[-1] < self.k:
            raise ValueError(f"TopK gate with `k`={self.k} applied to only {h.shape[-1]} latents")
        values, indices = torch.topk(h, k=self.k, dim=-1, sorted=False)
        return torch.zeros_like(h).scatter_(-1, indices, values.relu())

    def extra_repr(self) -> str:
        return f"k={self.k}"
