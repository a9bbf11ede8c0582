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

from rsae.dead_latents import AuxKLoss

__all__ = ["AuxKLoss", "STEJumpReLUGate", "fold_jumprelu", "make_control", "refit_control_decoder"]


class _JumpReLUSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, theta: Tensor, eps: Tensor) -> Tensor:
        ctx.save_for_backward(h, theta, eps)
        return torch.relu(h) * (h > theta).to(h.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):
        h, theta, eps = ctx.saved_tensors
        on = (h > theta).to(h.dtype) * (h > 0).to(h.dtype)
        kernel = (((h - theta) / eps).abs() < 0.5).to(h.dtype)
        d_theta = (g * (-(theta / eps) * kernel)).reshape(-1, h.shape[-1]).sum(0)
        return g * on, d_theta, None


class STEJumpReLUGate(torch.nn.Module):
    """JumpReLU gate (same values as ``rsae.gates.JumpReLUGate``) with a trainable threshold.

    ``eps`` is the STE bandwidth: a float, or one value per latent (the folded control).
    """

    def __init__(self, threshold: Tensor, eps: float | Tensor = 0.05) -> None:
        super().__init__()
        self.threshold = torch.nn.Parameter(threshold.detach().clone())
        eps_t = torch.as_tensor(eps, dtype=self.threshold.dtype).detach().clone()
        self.register_buffer("eps", eps_t.expand_as(self.threshold).clone())

    def forward(self, h: Tensor) -> Tensor:
        return _JumpReLUSTE.apply(h, self.threshold, self.eps)


def _set_weights(ctrl, W_enc: Tensor, b_enc: Tensor, W_dec: Tensor) -> None:
    """Copy ``W_enc, b_enc, W_dec`` into ``ctrl`` in place, cast to its dtype (call under no_grad)."""
    dt = ctrl.W_enc.dtype
    ctrl.W_enc.copy_(W_enc.to(dt))
    ctrl.b_enc.copy_(b_enc.to(dt))
    ctrl.W_dec.copy_(W_dec.to(dt))


@torch.no_grad()
def fold_jumprelu(ctrl, kappa: float = 0.5, eps: float = 0.05) -> None:
    """Fold per-latent scales ``c_j = theta_j / kappa`` into a JumpReLU control, in place.

    JumpReLU is jointly homogeneous, ``h H(h - theta) = c (h / c) H(h / c - theta / c)``, so with
    ``W_enc[:, j] / c_j, b_enc[j] / c_j, c_j W_dec[j]`` and threshold ``kappa`` the SAE computes the
    same function (``rsae.upgrade.fold_scales``, the RSAE's own parameterisation).  The STE
    bandwidth becomes ``eps / c_j`` per latent so that the threshold gradient is the same kernel
    in the teacher's units.  Why: ``rsae.finetune`` holds L0 with a *global* ``b_enc`` shift
    (controller actuator and final trim); on the RSAE's folded pre-activations that shift is
    proportional to each latent's threshold, while on the raw JumpReLU it pushes latents with small
    thresholds below them wholesale (measured on the L0~64 teacher, 300 steps: held-out MSE 0.87
    with the raw control against 0.022 without shift or trim).  Latents with ``theta_j <= 0`` keep
    ``c_j = 1``.
    """
    from rsae.upgrade import fold_scales

    theta = ctrl.gate.threshold.detach().double()
    c = torch.where(theta > 0, theta / kappa, torch.ones_like(theta))
    _set_weights(ctrl, *fold_scales(ctrl.W_enc, ctrl.b_enc, ctrl.W_dec, c))
    dt = ctrl.W_enc.dtype
    ctrl.gate = STEJumpReLUGate((theta / c).to(dt), eps=(eps / c).to(dt))


def make_control(
    teacher, k: int | None = None, fold: bool = True
) -> tuple[torch.nn.Module, object | None, dict]:
    """A trainable copy of ``teacher`` with its own gate, the ``aux_loss`` and FinetuneConfig overrides.

    ``k`` (TopK only) replaces the teacher's ``k`` (frontier sweeps).  ``fold`` (JumpReLU only):
    per-latent scales folded as in the RSAE (:func:`fold_jumprelu`).
    """
    ctrl = copy.deepcopy(teacher)
    ctrl.train()
    arch = ctrl.cfg.architecture
    for p in ctrl.parameters():
        p.requires_grad_(True)
    if arch == "jumprelu":
        if ctrl.cfg.rescale_acts_by_decoder_norm:
            raise ValueError("JumpReLU control: rescale_acts_by_decoder_norm is not supported")
        if fold:
            fold_jumprelu(ctrl)
        else:
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


@torch.no_grad()
def refit_control_decoder(ctrl, x: Tensor, ridge: float = 1.0) -> dict:
    """Ridge refit of a control's ``W_dec`` on calibration tokens ``x``, in place (the RSAE's option).

    The same estimator as ``rsae.upgrade.upgrade_init(refit_decoder=True)``
    (``rsae.upgrade.refit_decoder_ridge``, Hoerl & Kennard 1970) with the control's own codes, so
    that a remedy that refits the RSAE's decoder is compared with a control given the same refit.
    A TopK control with ``rescale_acts_by_decoder_norm`` first gets the rescaling folded into its
    weights (``rsae.upgrade.effective_weights``; same function, flag off), because a refit decoder
    would otherwise change the norms the encoder selects on.  Returns the calibration MSE before
    and after.
    """
    from rsae.upgrade import effective_weights, refit_decoder_ridge

    if ctrl.cfg.normalize_activations not in ("none", None):
        raise ValueError("refit_control_decoder: input normalisation is not supported")
    if ctrl.cfg.rescale_acts_by_decoder_norm:
        _set_weights(ctrl, *effective_weights(ctrl))
        ctrl.cfg.rescale_acts_by_decoder_norm = False
    x = x.to(ctrl.W_enc.dtype)
    z = ctrl.encode(x)
    before = float(((ctrl.decode(z) - x) ** 2).sum(-1).mean())
    W = refit_decoder_ridge(z, x, ctrl.W_dec.detach(), ctrl.b_dec.detach(), ridge)
    ctrl.W_dec.copy_(W.to(ctrl.W_dec.dtype))
    after = float(((ctrl.decode(z) - x) ** 2).sum(-1).mean())
    return {"mse_calibration_before": before, "mse_calibration_after": after}
