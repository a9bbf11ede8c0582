"""Saving SAEs: the native rsae format and a SAELens-loadable directory.

* :func:`save_rsae` writes ``rsae_config.json`` + ``rsae.safetensors`` (see
  :mod:`rsae.loading.native`); any architecture; the round trip through
  :func:`rsae.loading.load_sae` is bitwise.
* :func:`save_saelens` writes a SAELens 6.x directory, ``cfg.json`` + ``sae_weights.safetensors``
  (``W_enc, b_enc, W_dec, b_dec``; ``threshold`` for JumpReLU; ``a, b, c_in, c_out`` and
  ``architecture: "rational"`` with ``rational_type: [p, q]`` for an RSAE, and ``k`` for a TopK
  RSAE).  rsae reads it back
  without SAELens; SAELens reads it after :func:`register_with_saelens`.
* :func:`register_with_saelens` registers ``"rational"`` with SAELens (``register_sae_class`` and
  ``register_sae_training_class``) when ``sae_lens`` is importable.

Both writers refuse an existing ``out_dir`` unless ``force=True`` and write atomically: all files
go to a temporary sibling directory that is renamed into place (``os.replace``), so a crash never
leaves a half-written checkpoint under ``out_dir``.  With ``force=True`` an existing ``out_dir`` is
first renamed aside and deleted after the new one is in place; a crash between those two renames
leaves the old checkpoint in ``.<name>.old-*/d`` next to it (never a mixture of old and new).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rsae.loading.base import json_safe
from rsae.loading.native import CONFIG_FILENAME, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILENAME
from rsae.loading.saelens import CFG_FILENAME as SAELENS_CFG
from rsae.loading.saelens import WEIGHTS_FILENAME as SAELENS_WEIGHTS
from rsae.sae import SAE, dtype_to_str

__all__ = ["register_with_saelens", "save_rsae", "save_saelens"]

_SAELENS_ARCH = {"relu": "standard", "jumprelu": "jumprelu", "topk": "topk", "rational": "rational"}
#: cfg.json layout version written by save_saelens (SAELens reads >= 6 cfgs without 5.x fix-ups)
_SAELENS_LAYOUT_VERSION = "6.0.0"


def _cpu_tensors(sae: SAE) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in sae.state_dict().items()}


def _write_dir_atomically(out_dir: Path, force: bool, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_dir)``, then move ``tmp_dir`` to ``out_dir`` (replacing it only if ``force``)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} already exists; pass force=True to overwrite it")
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write(tmp)
        for f in tmp.iterdir():  # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "d")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")


def _write_safetensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)


def _check_model(model: Any) -> SAE:
    if not isinstance(model, SAE):
        raise TypeError(f"`model` must be an rsae.sae.SAE, got {type(model).__name__}")
    return model


def save_rsae(model: SAE, out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Save ``model`` in the native format (``rsae_config.json`` + ``rsae.safetensors``).

    The config records the dtype of ``W_enc`` and ``device="cpu"`` (tensors are stored on the CPU);
    every tensor keeps its dtype, so :func:`rsae.loading.load_sae` returns identical tensors.

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and ``force`` is False (nothing is written).
    """
    sae = _check_model(model)
    tensors = _cpu_tensors(sae)
    cfg = sae.cfg.to_dict()
    cfg.update(dtype=dtype_to_str(sae.W_enc.dtype), device="cpu")
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": json_safe(cfg)}

    def write(tmp: Path) -> None:
        _write_safetensors(tmp / WEIGHTS_FILENAME, tensors, {"format": "pt", "rsae_format": FORMAT_NAME})
        _write_json(tmp / CONFIG_FILENAME, doc)

    return _write_dir_atomically(Path(out_dir), force, write)


def _saelens_version() -> str:
    try:
        from importlib.metadata import version

        return version("sae-lens")
    except Exception:  # not installed: the layout written is the 6.x one
        return _SAELENS_LAYOUT_VERSION


def save_saelens(model: SAE, out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Save ``model`` as a SAELens 6.x directory (``cfg.json`` + ``sae_weights.safetensors``).

    Architectures: ReLU -> ``"standard"``, JumpReLU -> ``"jumprelu"`` (``threshold``), TopK ->
    ``"topk"`` (``k``, ``rescale_acts_by_decoder_norm``), rational -> ``"rational"`` (extra
    weights ``a [p+1]``, ``b [q]``, ``c_in``, ``c_out``; ``rational_type: [p, q]`` in the cfg, and
    ``k`` for a TopK RSAE, whose SAELens class keeps the ``k`` largest gate outputs too).
    SAELens casts all weights to ``cfg.dtype`` on load, so for a bfloat16 RSAE it rounds the gate
    scalars; rsae's own loader keeps them in float32.
    """
    sae = _check_model(model)
    c = sae.cfg
    state = _cpu_tensors(sae)
    tensors = {k: state[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    cfg: dict[str, Any] = {
        "architecture": _SAELENS_ARCH[c.architecture],
        "d_in": c.d_in,
        "d_sae": c.d_sae,
        "dtype": dtype_to_str(sae.W_enc.dtype),
        "device": "cpu",
        "apply_b_dec_to_input": c.apply_b_dec_to_input,
        "normalize_activations": c.normalize_activations,
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": _saelens_version(),
            "rsae_source_format": c.source_format,
            "rsae_metadata": json_safe({k: v for k, v in c.metadata.items() if k != "original_cfg"}),
        },
    }
    if c.architecture == "jumprelu":
        tensors["threshold"] = state["gate.threshold"]
    elif c.architecture == "topk":
        cfg.update(k=c.k, rescale_acts_by_decoder_norm=c.rescale_acts_by_decoder_norm)
    elif c.architecture == "rational":
        cfg["rational_type"] = list(c.rational_type)
        if c.k is not None:
            cfg["k"] = c.k
        for key in ("a", "b", "c_in", "c_out"):
            tensors[key] = state[f"gate.{key}"]

    def write(tmp: Path) -> None:
        _write_safetensors(tmp / SAELENS_WEIGHTS, tensors, {"format": "pt"})
        _write_json(tmp / SAELENS_CFG, cfg)

    return _write_dir_atomically(Path(out_dir), force, write)


# ------------------------------------------------------------------------------------- SAELens
_SAELENS_CLASSES: dict[str, type] = {}


def _build_saelens_classes() -> dict[str, type]:
    """SAELens-side inference and training classes for ``architecture="rational"`` (lazy import)."""
    if _SAELENS_CLASSES:
        return _SAELENS_CLASSES
    from dataclasses import dataclass, field

    from sae_lens import SAE as _SLSAE
    from sae_lens import SAEConfig as _SLConfig
    from sae_lens.saes.sae import TrainCoefficientConfig, TrainingSAE, TrainingSAEConfig
    from torch import nn

    from rsae.gates import TopKGate
    from rsae.kernels.rational_gate import rational_gate

    def _init_rational(sae: Any) -> None:
        dev = sae.device
        p, q = (int(v) for v in sae.cfg.rational_type)
        sae.b_enc = nn.Parameter(torch.zeros(sae.cfg.d_sae, dtype=sae.dtype, device=dev))
        a = torch.zeros(p + 1, dtype=torch.float32, device=dev)
        if p >= 1:
            a[1] = 1.0
        sae.a = nn.Parameter(a)
        sae.b = nn.Parameter(torch.zeros(q, dtype=torch.float32, device=dev))
        sae.c_in = nn.Parameter(torch.ones((), dtype=torch.float32, device=dev))
        sae.c_out = nn.Parameter(torch.ones((), dtype=torch.float32, device=dev))

    def _hidden_pre(sae: Any, x: Tensor) -> Tensor:
        sae_in = sae.process_sae_in(x)
        return sae.hook_sae_acts_pre(sae_in @ sae.W_enc + sae.b_enc)

    def _acts(sae: Any, h: Tensor) -> Tensor:
        """rsae.RationalSAE.activation: the gate, then (``cfg.k`` set) the ``k`` largest per token."""
        z = rational_gate(h, sae.a, sae.b, sae.c_in, sae.c_out)
        return z if sae.cfg.k is None else TopKGate(sae.cfg.k)(z)

    def _decode(sae: Any, feature_acts: Tensor) -> Tensor:
        out = sae.hook_sae_recons(feature_acts @ sae.W_dec + sae.b_dec)
        out = sae.run_time_activation_norm_fn_out(out)
        return sae.reshape_fn_out(out, sae.d_head)

    @dataclass
    class RationalSAELensConfig(_SLConfig):
        """SAELens config of an RSAE: ``rational_type = [p, q]`` of the shared safe-Padé gate, ``k``
        of a TopK RSAE (``None``: no selection)."""

        rational_type: list[int] = field(default_factory=lambda: [3, 2])
        k: int | None = None

        @classmethod
        def architecture(cls) -> str:
            return "rational"

    class RationalSAELens(_SLSAE[RationalSAELensConfig]):
        """SAELens inference SAE with rsae's rational gate (same encode/decode as rsae.RationalSAE)."""

        def initialize_weights(self) -> None:
            super().initialize_weights()
            _init_rational(self)

        def encode(self, x: Tensor) -> Tensor:
            return self.hook_sae_acts_post(_acts(self, _hidden_pre(self, x)))

        def decode(self, feature_acts: Tensor) -> Tensor:
            return _decode(self, feature_acts)

    @dataclass
    class RationalTrainingSAELensConfig(TrainingSAEConfig):
        """Training config: an L1 penalty on ``z * ||W_dec||`` as SAELens' standard SAE."""

        rational_type: list[int] = field(default_factory=lambda: [3, 2])
        k: int | None = None
        l1_coefficient: float = 1.0
        l1_warm_up_steps: int = 0

        @classmethod
        def architecture(cls) -> str:
            return "rational"

    class RationalTrainingSAELens(TrainingSAE[RationalTrainingSAELensConfig]):
        """SAELens training SAE with the rational gate (all gate scalars trainable)."""

        def initialize_weights(self) -> None:
            super().initialize_weights()
            _init_rational(self)

        def get_coefficients(self) -> dict[str, Any]:
            return {
                "l1": TrainCoefficientConfig(
                    value=self.cfg.l1_coefficient, warm_up_steps=self.cfg.l1_warm_up_steps
                )
            }

        def encode_with_hidden_pre(self, x: Tensor) -> tuple[Tensor, Tensor]:
            h = _hidden_pre(self, x)
            return self.hook_sae_acts_post(_acts(self, h)), h

        def decode(self, feature_acts: Tensor) -> Tensor:
            return _decode(self, feature_acts)

        def calculate_aux_loss(
            self, step_input: Any, feature_acts: Tensor, hidden_pre: Tensor, sae_out: Tensor
        ):
            sparsity = (feature_acts * self.W_dec.norm(dim=1)).norm(p=1, dim=-1)
            return {"l1_loss": (step_input.coefficients["l1"] * sparsity).mean()}

    _SAELENS_CLASSES.update(
        inference=RationalSAELens,
        inference_config=RationalSAELensConfig,
        training=RationalTrainingSAELens,
        training_config=RationalTrainingSAELensConfig,
    )
    return _SAELENS_CLASSES


def register_with_saelens() -> bool:
    """Register ``architecture="rational"`` with SAELens; ``False`` if ``sae_lens`` is not installed.

    Idempotent: a second call (or a registration already made by this function) is a no-op.
    Raises ``ValueError`` if SAELens already has a *different* class registered as ``"rational"``.
    """
    try:
        import sae_lens  # noqa: F401
        from sae_lens.registry import SAE_CLASS_REGISTRY, SAE_TRAINING_CLASS_REGISTRY
    except ImportError:
        return False
    classes = _build_saelens_classes()
    from sae_lens import register_sae_class, register_sae_training_class

    for registry, cls, cfg_cls, register in (
        (SAE_CLASS_REGISTRY, classes["inference"], classes["inference_config"], register_sae_class),
        (
            SAE_TRAINING_CLASS_REGISTRY,
            classes["training"],
            classes["training_config"],
            register_sae_training_class,
        ),
    ):
        if "rational" in registry:
            if registry["rational"][0] is not cls:
                raise ValueError(
                    "SAELens already has a different class registered for architecture 'rational'"
                )
            continue
        register("rational", cls, cfg_cls)
    return True
