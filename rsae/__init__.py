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
from rsae.sae import SAE as SAE
from rsae.sae import JumpReLUSAE, RationalSAE, ReLUSAE, SAEConfig, TopKSAE

__all__ = [
    "SAE",
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
    "rational_gate",
    "registry",
]

for _cls in (ReLUSAE, JumpReLUSAE, TopKSAE, RationalSAE):
    registry.register_sae_class(_cls.architecture, _cls)
_GATES = (("relu", ReLUGate), ("jumprelu", JumpReLUGate), ("topk", TopKGate), ("rational", RationalGate))
for _name, _gate in _GATES:
    registry.register_gate(_name, _gate)
del _cls, _name, _gate
