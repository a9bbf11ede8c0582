"""Gates: the rational (safe-Padé) gate and the teacher gates it replaces (one per file)."""

from rsae.gates.jumprelu import JumpReLUGate
from rsae.gates.rational import RationalGate
from rsae.gates.relu import ReLUGate
from rsae.gates.topk import TopKGate

__all__ = ["JumpReLUGate", "RationalGate", "ReLUGate", "TopKGate"]
