"""Dead latents during fine-tuning: per-latent revival (the default) and the AuxK loss.

**Why latents die.**  A latent that fires rarely sits just above the edge of its gate's zero set.
Below that edge the gate is exactly 0 and so is every gradient the latent receives (from the MSE,
the l1 term and, for an edge-placed jump gate, the jump itself, which no gradient sees): a latent
pushed below the edge on every token is never pushed back.  Adam makes the push large: a latent
with a gradient on one batch in tens gets steps of about ``lr`` per coordinate of its encoder
column in the sign direction of that rare gradient (the moment estimates are normalised by a
second moment that decays between firings), so a few firings move a rare latent by a sizeable
fraction of its pre-activation range.  Dead is absorbing; alive is not; rare latents drift into
the absorbing state.  Measured on the study's SAELens teachers (stories260k, 300 steps, lr 1e-3;
docs/rsae.md, "Dead latents"): with the l1 weight at ~0 and neither the controller's shift nor
the trim acting, the JumpReLU L0~64 RSAE still went from 0.883 to 0.49 alive; a 10x lower rate
(1e-4) kept 0.76 alive but gave back most of the MSE gain.

**Revival** (:class:`LatentReviver`, ``FinetuneConfig.revive_after``).  Each latent counts the
training tokens since it last fired.  When the count reaches ``dead_tokens`` (and the latent was
alive at the start or has fired since), its own ``b_enc[j]``
is raised by the least amount that makes it fire on its ``m``-th best token of the current batch:

.. math::

    \\Delta b_j = \\frac{1}{s_j}\\Bigl(\\operatorname{m\\text{-}th\\,min}_n
        \\bigl(\\max(e_j, \\ell_n) - h_{nj}\\bigr) + \\varepsilon\\Bigr),

with ``e_j`` the edge of the (element-wise) gate's firing set, found by bisection on the gate
itself, ``ell_n`` the token's selection level (its ``k``-th largest pre-activation for TopK SAEs,
``-inf`` otherwise), ``s_j = ||W_dec[j]||`` for TopK with ``rescale_acts_by_decoder_norm``
(1 otherwise) and ``eps`` a margin of ``1e-3`` times the spread of the batch's pre-activations.
It is the global shift actuator of :class:`rsae.finetune.L0Controller` made per-latent and
one-sided the other way: it only ever re-opens latents, the L0 controller takes back the few
actives this adds.  The revived latent then receives gradients again and the objective decides
whether it stays.  The same idea, re-initialising dead neurons so that they fire on inputs the
model reconstructs badly, is the resampling of Bricken et al. (2023), "Towards monosemanticity";
this version touches only ``b_enc[j]`` (the encoder direction and decoder row the teacher
learnt are kept).

**AuxK** (:class:`AuxKLoss`): the auxiliary loss of Gao et al. (2024), "Scaling and evaluating
sparse autoencoders", for TopK SAEs, whose dead latents may have positive pre-activations that
the selection ignores.  It is of no use to gates with a zero set (ReLU, JumpReLU, the RSAE):
there a dead latent's pre-activations are below the edge, ``relu`` of them is 0 and so is the
loss's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .gates import TopKGate

__all__ = ["AuxKLoss", "LatentReviver", "Reduce", "gate_edge", "revival_shift"]

Reduce = Callable[[Tensor, str], Tensor]
"""``reduce(t, op)`` over the processes that hold parts of a batch's rows (data parallelism):
``op = "sum"`` or ``"max"`` element-wise over the processes, ``"cat"`` their ``t`` (of equal shapes)
concatenated along dim 0 in process order; every process gets the same result.
``None`` where a function takes one: the rows are all here (one process)."""


def _elementwise_gate(model: torch.nn.Module) -> torch.nn.Module | None:
    """The element-wise part of the gate (``None`` for SAELens TopK, whose gate is ReLU after TopK)."""
    return None if isinstance(model.gate, TopKGate) else model.gate


def _topk(model: torch.nn.Module) -> int | None:
    """``k`` of a per-token TopK selection (TopK SAE or TopK Rational SAE), else ``None``."""
    if isinstance(model.gate, TopKGate):
        return model.gate.k
    select = getattr(model, "select", None)
    return select.k if isinstance(select, TopKGate) else None


@torch.no_grad()
def gate_edge(model: torch.nn.Module, lo: float, hi: float, iters: int = 32) -> Tensor:
    """Per latent, the least pre-activation at which the element-wise gate is non-zero, ``[d_sae]``.

    Bisection on the gate itself (its parameters may change during training) between ``lo``
    (must not fire) and ``hi`` (must fire), assuming the firing set is ``[e_j, inf)`` near the
    edge -- true for ReLU, JumpReLU and the fitted rational gates (zero below ``t = -1`` or on
    an enforced zero region, positive above it).  Returns the upper end of the final bracket, so
    the gate fires at the value returned; 32 halvings take a bracket of the pre-activations'
    range below float32 resolution.  SAELens TopK (ReLU after the selection): 0.
    """
    d_sae = model.b_enc.shape[-1]
    dev, dt = model.b_enc.device, model.dtype
    gate = _elementwise_gate(model)
    if gate is None:
        return torch.zeros(d_sae, device=dev, dtype=dt)
    a = torch.full((1, d_sae), float(lo), device=dev, dtype=dt)
    b = torch.full((1, d_sae), float(hi), device=dev, dtype=dt)
    if bool((gate(a) != 0).any()) or not bool((gate(b) != 0).all()):
        raise ValueError(f"gate_edge: [{lo}, {hi}] does not bracket the gate's edge")
    for _ in range(iters):
        c = 0.5 * (a + b)
        on = gate(c) != 0
        b = torch.where(on, c, b)
        a = torch.where(on, a, c)
    return b[0]


@torch.no_grad()
def revival_shift(
    model: torch.nn.Module, h: Tensor, dead: Tensor, m: int = 1, reduce: Reduce | None = None
) -> Tensor:
    """``Delta b_enc`` (``[d_sae]``, 0 where not ``dead``) that makes each dead latent fire on its
    ``m``-th best token of the batch with pre-activations ``h [B, d_sae]``; see the module docstring.

    With ``reduce`` (see :data:`Reduce`), ``h`` is this process's rows of a batch split over
    processes and every batch-wide quantity is taken over all of them: the spread (two-pass,
    summed moments in float64), the largest ``|h|``, the row count and the ``m``-th smallest gap
    (the ``m`` smallest of each process's rows, concatenated, contain the ``m`` smallest of all).
    Every process then returns the same ``Delta``: that of the whole batch on one process, up to
    the rounding of the spread.  ``dead`` must be the same on every process.
    """
    delta = torch.zeros_like(model.b_enc)
    if not bool(dead.any()):
        return delta
    h = h.detach().to(model.dtype)
    if reduce is None:
        spread = float(h.std())
        span = 1.0 + float(h.abs().max())
        n_rows = h.shape[0]
    else:
        hd = h.double()
        n_rows = int(reduce(torch.tensor([h.shape[0]], device=h.device), "sum"))
        n_all = n_rows * h.shape[1]
        mean = float(reduce(hd.sum().reshape(1), "sum")) / n_all
        ss = float(reduce(((hd - mean) ** 2).sum().reshape(1), "sum"))
        spread = math.sqrt(ss / max(n_all - 1, 1))
        span = 1.0 + float(reduce(h.abs().max().reshape(1), "max"))
    # the edge lies inside the pre-activations' range for every gate we fit; widen until bracketed
    lo, hi = -span, span
    gate = _elementwise_gate(model)
    if gate is not None:

        def fires(v: float) -> Tensor:
            return gate(torch.full_like(model.b_enc, v)[None])[0] != 0

        for _ in range(30):  # 4^30 x the batch's range; a gate still unbracketed has no edge
            if not bool(fires(lo).any()) and bool(fires(hi).all()):
                break
            lo, hi = 4 * lo, 4 * hi
        else:
            return delta  # e.g. C_out = 0: nothing fires anywhere, no raise can revive it
    need = gate_edge(model, lo, hi)[None, :].expand_as(h)  # [B, d_sae]
    k = _topk(model)
    if k is not None:
        level = torch.topk(h, k, dim=-1).values[:, -1:]  # the token's k-th largest pre-activation
        need = torch.maximum(need, level)
    gap = (need - h)[:, dead]  # [B, n_dead]
    m = min(int(m), n_rows)
    if reduce is not None:
        gap = reduce(torch.topk(gap, min(m, gap.shape[0]), dim=0, largest=False).values, "cat")
    gap_m = torch.kthvalue(gap, m, dim=0).values.clamp_min(0.0) + 1e-3 * spread
    if model.cfg.rescale_acts_by_decoder_norm:  # h = (x W_enc + b_enc) ||W_dec[j]||
        gap_m = gap_m / model.W_dec.norm(dim=-1)[dead]
    delta[dead] = gap_m
    return delta


@dataclass
class LatentReviver:
    """Tokens since each latent last fired, and the revival of those silent for ``dead_tokens``.

    Only latents that were alive at the start (:meth:`mark_alive` on a sample of training rows)
    or have fired since are revived (``ever``): the mechanism keeps the latents the fine-tune would
    kill, it does not resurrect latents the teacher never used.
    Those have untrained encoder and decoder rows; revived, the gradient turned them into dense
    latents (the five dead latents of the study's JumpReLU L0~8 layer-1 teacher ended firing on
    14-21% of tokens each, 10% of the L0 budget, and the controller's global shift took that from
    the trained latents: held-out MSE 1.0073 instead of 0.9750, teacher 1.0105).

    Call :meth:`step` after each optimiser step with the step's batch; it returns the number of
    latents revived.  The state (``since``, ``ever``) is part of a fine-tune checkpoint.
    """

    dead_tokens: int
    revive_tokens: int = 1
    since: Tensor | None = field(default=None, repr=False)
    ever: Tensor | None = field(default=None, repr=False)

    def _init(self, d_sae: int) -> None:
        if self.since is None:
            self.since = torch.zeros(d_sae, dtype=torch.long)
            self.ever = torch.zeros(d_sae, dtype=torch.bool)

    @torch.no_grad()
    def mark_alive(self, model: torch.nn.Module, xs: list[Tensor], reduce: Reduce | None = None) -> None:
        """Count the latents that fire on any row of the batches ``xs`` as alive (revivable).

        With ``reduce`` (:data:`Reduce`), ``xs`` is this process's part of the rows and a latent
        firing on any process's part counts (a ``max`` over processes)."""
        self._init(model.b_enc.shape[-1])
        fired = torch.zeros_like(self.ever)
        for x in xs:
            fired |= (model.encode(x.to(device=model.W_enc.device, dtype=model.dtype)) != 0).any(0).cpu()
        if reduce is not None:
            fired = reduce(fired.to(device=model.b_enc.device, dtype=torch.uint8), "max").cpu().bool()
        self.ever |= fired

    @torch.no_grad()
    def step(self, model: torch.nn.Module, x: Tensor, reduce: Reduce | None = None) -> int:
        """Count the tokens of batch ``x`` and revive the latents silent for ``dead_tokens``.

        With ``reduce`` (:data:`Reduce`), ``x`` is this process's part of the batch: the firing
        mask is the ``max`` and the token count the sum over processes, and
        :func:`revival_shift` takes the batch-wide quantities over all of them, so every process
        applies the same raises (its replica stays equal to the others).
        """
        x = x.to(device=model.W_enc.device, dtype=model.dtype)
        h = model.pre_acts(x)
        fired = (model.activation(h) != 0).any(0)
        n_tokens = x.shape[0]
        if reduce is not None:
            fired = reduce(fired.to(torch.uint8), "max").bool()
            n_tokens = int(reduce(torch.tensor([n_tokens], device=h.device), "sum"))
        fired = fired.cpu()
        self._init(fired.shape[0])
        self.since += n_tokens
        self.since[fired] = 0
        self.ever |= fired
        dead = (self.since >= self.dead_tokens) & self.ever
        n = int(dead.sum())
        if n:
            model.b_enc.add_(revival_shift(model, h, dead.to(h.device), self.revive_tokens, reduce))
            self.since[dead] = 0
        return n

    def state_dict(self) -> dict[str, Any]:
        return {
            "dead_tokens": self.dead_tokens,
            "revive_tokens": self.revive_tokens,
            "since": self.since,
            "ever": self.ever,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.dead_tokens, self.revive_tokens = d["dead_tokens"], d["revive_tokens"]
        self.since, self.ever = d["since"], d["ever"]


class AuxKLoss:
    """Stateful AuxK loss (Gao et al. 2024) for :func:`rsae.finetune.finetune`'s ``aux_loss`` hook.

    SAELens' form: the ``k_aux = d_in / 2`` largest pre-activations among latents dead for
    ``dead_tokens`` tokens reconstruct the residual ``e = x - x_hat``; the loss is
    ``coefficient * min(n_dead / k_aux, 1) * ||e - e_hat||^2`` (mean over tokens).
    """

    def __init__(self, d_sae: int, d_in: int, dead_tokens: int = 100_000, coefficient: float = 1.0) -> None:
        self.since = torch.zeros(d_sae, dtype=torch.long)
        self.k_aux = max(d_in // 2, 1)
        self.dead_tokens = int(dead_tokens)
        self.coefficient = float(coefficient)

    def __call__(self, *, model, x: Tensor, h: Tensor, z: Tensor, x_hat: Tensor) -> Tensor:
        fired = (z.detach() != 0).any(0).cpu()
        self.since += len(x)
        self.since[fired] = 0
        dead = self.since >= self.dead_tokens
        n_dead = int(dead.sum())
        if n_dead == 0:
            return x.new_zeros(())
        k = min(self.k_aux, n_dead)
        masked = torch.where(dead.to(h.device), h, torch.full_like(h, -torch.inf))
        vals, idx = torch.topk(masked, k, dim=-1)
        z_aux = torch.zeros_like(h).scatter(-1, idx, vals.relu())
        e = (x - x_hat).detach()
        e_hat = model.decode(z_aux) - model.b_dec
        scale = min(n_dead / self.k_aux, 1.0)
        return self.coefficient * scale * ((e_hat - e) ** 2).sum(-1).mean()
