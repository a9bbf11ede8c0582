"""rsae: Rational Sparse Autoencoders.

Upgrade a pre-trained ReLU / JumpReLU / TopK sparse autoencoder to one whose gate is a shared
safe-Padé rational ``phi(h) = C_out * max(r(h / C_in), 0)`` with coefficients from
:mod:`ratapprox`.  This module re-exports the public classes and performs every registry
registration (architectures, gates, checkpoint formats), as SAELens does in its package init.
"""

from __future__ import annotations

from rsae import registry
from rsae.gates import JumpReLUGate, RationalGate, ReLUGate, TopKGate
from rsae.kernels.rational_gate import RationalGateFunction, rational_gate
from rsae.loading import FORMATS, CheckpointError, load_sae
from rsae.sae import SAE as SAE
from rsae.sae import JumpReLUSAE, RationalSAE, ReLUSAE, SAEConfig, TopKSAE
from rsae.saving import register_with_saelens, save_rsae, save_saelens

__all__ = [
    "SAE",
    "CheckpointError",
    "JumpReLUGate",
    "JumpReLUSAE",
    "RationalGate",
    "RationalGateFunction",
    "RationalSAE",
    "ReLUGate",
    "ReLUSAE",
    "SAEConfig",
    "TopKGate",
    "TopKSAE",
    "load_sae",
    "rational_gate",
    "register_with_saelens",
    "registry",
    "save_rsae",
    "save_saelens",
]

for _cls in (ReLUSAE, JumpReLUSAE, TopKSAE, RationalSAE):
    registry.register_sae_class(_cls.architecture, _cls)
_GATES = (("relu", ReLUGate), ("jumprelu", JumpReLUGate), ("topk", TopKGate), ("rational", RationalGate))
for _name, _gate in _GATES:
    registry.register_gate(_name, _gate)
# checkpoint formats, in detection order
for _loader in FORMATS:
    registry.register_loader(_loader.name, _loader)
del _cls, _name, _gate, _loader
