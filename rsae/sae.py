"""Sparse autoencoders: the teachers (ReLU, JumpReLU, TopK) and the Rational SAE.

All share the SAELens layout and formula (Bricken et al. 2023; SAELens ``StandardSAE``):

.. math::

    h = (x - b_\\mathrm{dec}\\,[\\text{apply\\_b\\_dec\\_to\\_input}]) W_\\mathrm{enc} + b_\\mathrm{enc},
    \\qquad z = \\varphi(h), \\qquad \\hat x = z W_\\mathrm{dec} + b_\\mathrm{dec},

with ``W_enc [d_in, d_sae]``, ``b_enc [d_sae]``, ``W_dec [d_sae, d_in]``, ``b_dec [d_in]``.  Some
formats (Gemma Scope, dictionary_learning's JumpReLU) do *not* subtract ``b_dec`` before encoding:
``SAEConfig.apply_b_dec_to_input`` keeps that flag.

TopK with ``rescale_acts_by_decoder_norm`` (SAELens ``TopKSAE``) selects on ``h * ||W_dec[j]||``
and decodes ``(z * (1 / ||W_dec[j]||)) W_dec``; here :meth:`SAE.pre_acts` returns the rescaled
``h``, so the gate always sees the quantity it thresholds.

Runtime input normalisation (SAELens ``normalize_activations``): ``"none"`` and
``"expected_average_only_in"`` are the identity at inference (SAELens folds the scaling factor
into the weights when it saves); ``"constant_norm_rescale"`` (``x * sqrt(d_in) / ||x||``, undone on
the output) and ``"layer_norm"`` (``(x - mu) / (std + 1e-5)``, undone on the output) are applied by
:meth:`SAE.forward`; :meth:`SAE.encode` applies the input side only.  ``"covariance_whitening"``
is not supported.

Shapes: ``x [..., d_in]``, ``h, z [..., d_sae]``, ``x_hat [..., d_in]``.
"""

from __future__ import annotations

import dataclasses
import operator
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rsae.gates import JumpReLUGate, RationalGate, ReLUGate, TopKGate

__all__ = [
    "ARCHITECTURES",
    "DTYPE_MAP",
    "NORMALIZATIONS",
    "SAE",
    "JumpReLUSAE",
    "RationalSAE",
    "ReLUSAE",
    "SAEConfig",
    "TopKSAE",
    "dtype_from_str",
    "dtype_to_str",
]

ARCHITECTURES: tuple[str, ...] = ("relu", "jumprelu", "topk", "rational")
NORMALIZATIONS: tuple[str, ...] = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")
#: names accepted for ``SAEConfig.dtype`` (SAELens ``str_to_dtype`` spellings included)
DTYPE_MAP: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "torch.float32": torch.float32,
    "float64": torch.float64,
    "torch.float64": torch.float64,
    "float16": torch.float16,
    "torch.float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "torch.bfloat16": torch.bfloat16,
}
_LN_EPS = 1e-5  # SAELens run_time_activation_ln_in default


def dtype_from_str(name: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"torch.bfloat16"``/a ``torch.dtype`` -> ``torch.dtype``."""
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPE_MAP[str(name)]
    except KeyError:
        raise ValueError(f"`dtype` must be one of {sorted(set(DTYPE_MAP))}, got {name!r}") from None


def dtype_to_str(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


@dataclass
class SAEConfig:
    """Configuration of a sparse autoencoder (defaults follow SAELens' ``SAEConfig``).

    Attributes
    ----------
    d_in, d_sae : int
        Input (model) width and dictionary size.
    architecture : {"relu", "jumprelu", "topk", "rational"}
        The gate.
    apply_b_dec_to_input : bool
        Subtract ``b_dec`` from ``x`` before encoding (SAELens default True; Gemma Scope and
        dictionary_learning's JumpReLU: False).
    k : int or None
        Number of latents kept per token: required for ``architecture="topk"``; optional for
        ``"rational"`` (the TopK Rational SAE, :class:`RationalSAE`); refused for the others.
    rescale_acts_by_decoder_norm : bool
        SAELens TopK option: select and decode with activations scaled by ``||W_dec[j]||``.
    normalize_activations : str
        One of :data:`NORMALIZATIONS` (see the module docstring).
    dtype, device : str
        Of the parameters (SAELens keeps these in its config too).
    source_format : str or None
        Where the weights came from (``"saelens"``, ``"gemma_scope"``, ...), for reports.
    metadata : dict
        Free-form provenance (model name, hook, layer, original cfg); JSON-serialisable.
    rational_type : (int, int) or None
        ``(p, q)`` of the rational gate (``architecture="rational"`` only).
    """

    d_in: int
    d_sae: int
    architecture: str = "relu"
    apply_b_dec_to_input: bool = True
    k: int | None = None
    rescale_acts_by_decoder_norm: bool = False
    normalize_activations: str = "none"
    dtype: str = "float32"
    device: str = "cpu"
    source_format: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    rational_type: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("d_in", "d_sae"):
            value = operator.index(getattr(self, name))
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1, got {value}")
            setattr(self, name, value)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"`architecture` must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(
                f"`normalize_activations` must be one of {NORMALIZATIONS}, got {self.normalize_activations!r}"
            )
        self.dtype = dtype_to_str(dtype_from_str(self.dtype))
        self.device = str(self.device)
        if self.architecture == "topk" and self.k is None:
            raise ValueError("`k` is required for architecture 'topk'")
        if self.k is not None:
            if self.architecture not in ("topk", "rational"):
                raise ValueError(
                    f"`k` is a TopK option (architectures 'topk' and 'rational'), "
                    f"not for architecture {self.architecture!r}"
                )
            self.k = operator.index(self.k)
            if not 1 <= self.k <= self.d_sae:
                raise ValueError(f"`k` must be in [1, d_sae={self.d_sae}], got {self.k}")
        if self.rescale_acts_by_decoder_norm and self.architecture != "topk":
            raise ValueError("`rescale_acts_by_decoder_norm` is a TopK option (SAELens TopKSAE)")
        if self.architecture == "rational":
            if self.rational_type is None or len(self.rational_type) != 2:
                raise ValueError("`rational_type` (p, q) is required for architecture 'rational'")
            p, q = self.rational_type
            self.rational_type = (operator.index(p), operator.index(q))

    @property
    def torch_dtype(self) -> torch.dtype:
        return dtype_from_str(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``rational_type`` as a list)."""
        d = dataclasses.asdict(self)
        if d["rational_type"] is not None:
            d["rational_type"] = list(d["rational_type"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SAEConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown SAEConfig keys: {unknown}")
        d = dict(d)
        if d.get("rational_type") is not None:
            d["rational_type"] = tuple(d["rational_type"])
        return cls(**d)


class SAE(nn.Module, ABC):
    """Sparse autoencoder base class: SAELens weights and formula, the gate in :meth:`activation`.

    Subclasses set :attr:`architecture` and build ``self.gate``.  Parameters are created as zeros
    in ``cfg.dtype`` on ``cfg.device``; loaders fill them.
    """

    architecture: ClassVar[str] = ""

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        if cfg.architecture != self.architecture:
            raise ValueError(
                f"{type(self).__name__} needs architecture {self.architecture!r}, "
                f"config says {cfg.architecture!r}"
            )
        self.cfg = cfg
        kw = {"dtype": cfg.torch_dtype, "device": cfg.device}
        self.W_enc = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_sae, **kw))
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae, **kw))
        self.W_dec = nn.Parameter(torch.zeros(cfg.d_sae, cfg.d_in, **kw))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, **kw))
        self.gate: nn.Module = self._make_gate()

    @abstractmethod
    def _make_gate(self) -> nn.Module:
        """The gate module ``phi`` of this architecture (called once, from ``__init__``)."""

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    # -------------------------------------------------------------------------------- encoding
    def _check_input(self, x: Tensor) -> None:
        if x.ndim == 0 or x.shape[-1] != self.cfg.d_in:
            raise ValueError(
                f"d_in mismatch: activations have shape {tuple(x.shape)} (last dimension is the width) "
                f"but this {type(self).__name__} expects d_in={self.cfg.d_in}"
            )

    def _normalize_in(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """SAELens ``run_time_activation_norm_fn_in``; returns the state the output side needs."""
        mode = self.cfg.normalize_activations
        if mode == "constant_norm_rescale":
            coeff = (self.cfg.d_in**0.5) / x.norm(dim=-1, keepdim=True)
            return x * coeff, (coeff,)
        if mode == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            x = x - mu
            std = x.std(dim=-1, keepdim=True)
            return x / (std + _LN_EPS), (mu, std)
        return x, ()

    def _normalize_out(self, x_hat: Tensor, state: tuple[Tensor, ...]) -> Tensor:
        mode = self.cfg.normalize_activations
        if mode == "constant_norm_rescale":
            return x_hat / state[0]
        if mode == "layer_norm":
            return x_hat * state[1] + state[0]
        return x_hat

    def _pre_acts_normalized(self, x: Tensor) -> Tensor:
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        h = x @ self.W_enc + self.b_enc
        if self.cfg.rescale_acts_by_decoder_norm:
            h = h * self.W_dec.norm(dim=-1)
        return h

    def pre_acts(self, x: Tensor) -> Tensor:
        """``h = (x - b_dec) W_enc + b_enc`` (``[..., d_in] -> [..., d_sae]``), in the SAE's dtype.

        Includes the input normalisation and, for TopK with ``rescale_acts_by_decoder_norm``, the
        factor ``||W_dec[j]||``: ``h`` is what the gate acts on.
        """
        self._check_input(x)
        x, _ = self._normalize_in(x.to(self.dtype))
        return self._pre_acts_normalized(x)

    def activation(self, h: Tensor) -> Tensor:
        """The gate ``z = phi(h)`` (element-wise, or per row for TopK)."""
        return self.gate(h)

    def encode(self, x: Tensor) -> Tensor:
        """``z = phi(h(x))``: ``[..., d_in] -> [..., d_sae]``."""
        return self.activation(self.pre_acts(x))

    def decode(self, z: Tensor) -> Tensor:
        """``x_hat = z W_dec + b_dec``: ``[..., d_sae] -> [..., d_in]`` (no output de-normalisation)."""
        if self.cfg.rescale_acts_by_decoder_norm:
            z = z * (1 / self.W_dec.norm(dim=-1))  # SAELens act_times_W_dec: multiply by the reciprocal
        return z @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        """``x_hat = decode(encode(x))``, with the input normalisation undone on the output."""
        self._check_input(x)
        x_n, state = self._normalize_in(x.to(self.dtype))
        z = self.activation(self._pre_acts_normalized(x_n))
        return self._normalize_out(self.decode(z), state)

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"d_in={c.d_in}, d_sae={c.d_sae}, apply_b_dec_to_input={c.apply_b_dec_to_input}, "
            f"dtype={c.dtype}, source_format={c.source_format}"
        )


class ReLUSAE(SAE):
    """``z = max(h, 0)`` (SAELens ``"standard"``, dictionary_learning ``AutoEncoder``)."""

    architecture: ClassVar[str] = "relu"

    def _make_gate(self) -> nn.Module:
        return ReLUGate()


class JumpReLUSAE(SAE):
    """``z = relu(h) * (h > threshold)`` with ``threshold [d_sae]`` (SAELens, Gemma Scope)."""

    architecture: ClassVar[str] = "jumprelu"

    def _make_gate(self) -> nn.Module:
        return JumpReLUGate(self.cfg.d_sae, dtype=self.cfg.torch_dtype, device=self.cfg.device)

    @property
    def threshold(self) -> nn.Parameter:
        """Per-latent threshold ``theta [d_sae]`` (``self.gate.threshold``)."""
        return self.gate.threshold


class TopKSAE(SAE):
    """Keep the ``k`` largest pre-activations per token, ReLU'd (SAELens ``TopKSAE``)."""

    architecture: ClassVar[str] = "topk"

    def _make_gate(self) -> nn.Module:
        return TopKGate(self.cfg.k)

    @property
    def k(self) -> int:
        return self.cfg.k


class RationalSAE(SAE):
    r"""SAE whose gate is the shared-coefficient safe-Padé :class:`~rsae.gates.RationalGate`.

    ``cfg.rational_type = (p, q)`` sizes the gate; ``gate_backend`` is passed to it.

    **TopK Rational SAE** (``cfg.k`` set): ``z = TopK_k(phi(h))``, the rational gate element-wise
    (every gate backend unchanged), then the ``k`` largest outputs of each token are kept and the
    rest zeroed (:class:`~rsae.gates.TopKGate`, i.e. SAELens' topk-then-ReLU; ``phi >= 0`` for
    ``C_out > 0``, so its ReLU changes nothing and zeros stay zeros: ``L0 <= k`` exactly).  Where ``phi`` is
    increasing on its active range (``phi > 0``) the ``k`` largest outputs are the outputs of the
    ``k`` largest pre-activations, so this is the gate applied to the top-``k`` pre-activations,

    .. math::  z_j = \varphi(h_j)\, H\bigl(h_j - \tau_k(x)\bigr),

    with the *per-token* separating threshold ``tau_k(x)`` anywhere between the ``k``-th and
    ``(k+1)``-th largest ``h_j`` of the token: the supplied-threshold TopK of the paper with the
    threshold supplied by the selection itself (Gao et al. 2024 for TopK).  Gradients flow through
    the kept entries only (``torch.topk`` + ``scatter``).  Decoder-norm rescaling is not an RSAE
    option: :func:`rsae.upgrade.upgrade_init` folds a teacher's ``||W_dec[j]||`` into the weights.
    """

    architecture: ClassVar[str] = "rational"

    def __init__(self, cfg: SAEConfig, *, gate_backend: str | None = None):
        self._gate_backend = gate_backend
        super().__init__(cfg)
        # no parameters: the state dict is the same with or without the selection
        self.select: nn.Module | None = TopKGate(cfg.k) if cfg.k is not None else None

    def set_k(self, k: int) -> None:
        """Keep ``k`` latents per token from now on (a TopK RSAE only: its L0 target is its ``k``)."""
        if self.select is None:
            raise ValueError("set_k: this RationalSAE has no TopK selection (cfg.k is None)")
        k = operator.index(k)
        if not 1 <= k <= self.cfg.d_sae:
            raise ValueError(f"`k` must be in [1, d_sae = {self.cfg.d_sae}], got {k}")
        self.cfg.k = self.select.k = k

    def activation(self, h: Tensor) -> Tensor:
        """``z = phi(h)``, then, with ``cfg.k``, the ``k`` largest per token (``L0 <= k``)."""
        z = self.gate(h)
        return z if self.select is None else self.select(z)

    def _make_gate(self) -> nn.Module:
        p, q = self.cfg.rational_type
        # gate scalars stay float32 even for a bf16 SAE: the kernel computes in float32 anyway
        dt = torch.float64 if self.cfg.torch_dtype == torch.float64 else torch.float32
        return RationalGate(p, q, backend=self._gate_backend, dtype=dt, device=self.cfg.device)
