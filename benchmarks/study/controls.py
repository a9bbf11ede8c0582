"""Same-budget controls: the teacher fine-tuned with its *own* gate.

The control runs :func:`rsae.finetune.finetune` -- the same loop, steps, data order, optimiser,
schedule and L0 controller as the RSAE -- on a copy of the teacher.  What ``rsae.finetune`` lacks
for the two discontinuous gates is added here (written for the study, not part of ``rsae``):

* JumpReLU: the threshold gets the straight-through gradient of Rajamanoharan et al. (2024),
  "Jumping ahead: improving reconstruction fidelity with JumpReLU sparse autoencoders":
  for ``z = h H(h - theta)``, ``dz/dtheta := -(theta / eps) K((h - theta) / eps)`` with the
  rectangle kernel ``K(u) = 1{|u| < 1/2}`` and bandwidth ``eps`` (0.05, SAELens' default, the value
  the teachers were trained with); ``dz/dh = H(h - theta)``.  The objective is the RSAE's
  (MSE + lambda * decoder-weighted L1, lambda from the L0 controller), so the two runs differ only
  in the gate.
* TopK: ``k`` stays the teacher's (L0 is then fixed at ``k``), the l1 weight starts at ~0 and the
  controller leaves it there (the L0 error is 0); dead latents are revived with the AuxK loss of
  Gao et al. (2024), "Scaling and evaluating sparse autoencoders", in SAELens' form: the
  ``k_aux = d_in / 2`` largest pre-activations among latents dead for ``dead_tokens`` tokens
  reconstruct the residual ``e = x - x_hat``; loss ``min(n_dead / k_aux, 1) * ||e - e_hat||^2``.
* ReLU: the gate has no parameters; the control is the plain fine-tune with the same l1
  controller.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

__all__ = ["AuxKLoss", "STEJumpReLUGate", "make_control"]


class _JumpReLUSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, theta: Tensor, eps: float) -> Tensor:
        ctx.save_for_backward(h, theta)
        ctx.eps = eps
        return torch.relu(h) * (h > theta).to(h.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):
        h, theta = ctx.saved_tensors
        eps = ctx.eps
        on = (h > theta).to(h.dtype) * (h > 0).to(h.dtype)
        kernel = (((h - theta) / eps).abs() < 0.5).to(h.dtype)
        d_theta = (g * (-(theta / eps) * kernel)).reshape(-1, h.shape[-1]).sum(0)
        return g * on, d_theta, None


class STEJumpReLUGate(torch.nn.Module):
    """JumpReLU gate (same values as ``rsae.gates.JumpReLUGate``) with a trainable threshold."""

    def __init__(self, threshold: Tensor, eps: float = 0.05) -> None:
        super().__init__()
        self.threshold = torch.nn.Parameter(threshold.detach().clone())
        self.eps = float(eps)

    def forward(self, h: Tensor) -> Tensor:
        return _JumpReLUSTE.apply(h, self.threshold, self.eps)


class AuxKLoss:
    """Stateful AuxK loss (Gao et al. 2024) for :func:`rsae.finetune.finetune`'s ``aux_loss`` hook."""

    def __init__(self, d_sae: int, d_in: int, dead_tokens: int = 100_000, coefficient: float = 1.0) -> None:
        self.since = torch.zeros(d_sae, dtype=torch.long)
        self.k_aux = max(d_in // 2, 1)
        self.dead_tokens = int(dead_tokens)
        self.coefficient = float(coefficient)

    def __call__(self, *, model, x: Tensor, h: Tensor, z: Tensor, x_hat: Tensor) -> Tensor:
        fired = (z.detach() != 0).any(0)
        self.since += len(x)
        self.since[fired] = 0
        dead = self.since >= self.dead_tokens
        n_dead = int(dead.sum())
        if n_dead == 0:
            return x.new_zeros(())
        k = min(self.k_aux, n_dead)
        masked = torch.where(dead, h, torch.full_like(h, -torch.inf))
        vals, idx = torch.topk(masked, k, dim=-1)
        z_aux = torch.zeros_like(h).scatter(-1, idx, vals.relu())
        e = (x - x_hat).detach()
        e_hat = model.decode(z_aux) - model.b_dec
        scale = min(n_dead / self.k_aux, 1.0)
        return self.coefficient * scale * ((e_hat - e) ** 2).sum(-1).mean()


def make_control(teacher, k: int | None = None) -> tuple[torch.nn.Module, object | None, dict]:
    """A trainable copy of ``teacher`` with its own gate, the ``aux_loss`` and FinetuneConfig overrides.

    ``k`` (TopK only) replaces the teacher's ``k`` (frontier sweeps).
    """
    ctrl = copy.deepcopy(teacher)
    ctrl.train()
    arch = ctrl.cfg.architecture
    for p in ctrl.parameters():
        p.requires_grad_(True)
    if arch == "jumprelu":
        ctrl.gate = STEJumpReLUGate(ctrl.gate.threshold)
        return ctrl, None, {}
    if arch == "topk":
        if k is not None:
            ctrl.gate.k = int(k)
            ctrl.cfg.k = int(k)
        return ctrl, AuxKLoss(ctrl.cfg.d_sae, ctrl.cfg.d_in), {"l1_init": 1e-12}
    if arch == "relu":
        return ctrl, None, {}
    raise ValueError(f"no control for architecture {arch!r}")
