"""The rational (safe-Padé) gate as a torch module.

.. math::

    z = C_\\mathrm{out}\\, \\max\\bigl(g(h / C_\\mathrm{in}), 0\\bigr), \\qquad
    r(t) = \\frac{a_0 + a_1 t + \\dots + a_p t^p}{1 + |b_1 t + \\dots + b_q t^q|},

with ``g = r`` on ``[-1, 1]``, ``g = 0`` below ``-1`` and ``g = r(1) + (t - 1)`` above ``1``
(the full specification, including the ``sign(0) = 0`` kink convention, is the docstring of
:mod:`rsae.kernels.rational_gate.naive`).  The denominator is at least 1, so the gate has no
poles (Molina, Schramowski & Kersting 2020, "Padé activation units"; Delfosse et al. 2021).

The coefficients ``(a, b, C_in, C_out)`` are *shared* by all latents: a handful of scalars per
autoencoder.  They are float32 parameters by default; inputs may be float32, bfloat16 or float64
(arithmetic in float32, float64 for float64 input; output in the input dtype).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rsae.kernels.rational_gate.function import BACKENDS, rational_gate

__all__ = ["RationalGate"]


def _to_floats(values: Any, name: str) -> list[float]:
    """Numbers, decimal strings, ``mpf``/``Decimal``/``Fraction``/numpy scalars -> Python floats."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"`{name}` must be a sequence of numbers, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        try:
            x = float(v)  # str, mpf, Decimal, Fraction, numpy scalars all support float()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`{name}[{i}]` is not a number: {v!r}") from exc
        if x != x or x in (float("inf"), float("-inf")):
            raise ValueError(f"`{name}[{i}]` is not finite: {v!r}")
        out.append(x)
    return out


def _scalar(value: Any, name: str) -> float:
    (x,) = _to_floats([value], name)
    return x


class RationalGate(nn.Module):
    """Shared-coefficient safe-Padé gate ``z = C_out * max(g(h / C_in), 0)``.

    Parameters
    ----------
    p, q : int
        Degrees of the numerator ``P`` (``p + 1`` coefficients) and of ``B`` (``q`` coefficients,
        no constant term); the type of ``r`` is ``(p, q)``.
    backend : {"auto", "torch", "triton"} or None
        Kernel choice (see :mod:`rsae.kernels.rational_gate.function`); ``None`` defers to the
        module default and the ``RSAE_GATE_BACKEND`` environment variable.
    dtype, device
        Of the parameters (float32 by default).

    Attributes
    ----------
    a : Parameter ``[p + 1]``
        ``a_0 .. a_p`` (ascending powers).
    b : Parameter ``[q]``
        ``b_1 .. b_q``.
    c_in, c_out : Parameter ``[]``
        Input scale (``t = h / C_in``) and output scale.

    Notes
    -----
    A new gate is the identity-like ``r(t) = t`` (``a = [0, 1, 0, ...]``, ``b = 0``,
    ``C_in = C_out = 1``), i.e. ``ReLU`` on ``[-1, inf)`` and 0 below ``-1``.  Use the
    ``from_*`` constructors to load fitted coefficients.
    """

    def __init__(
        self,
        p: int,
        q: int,
        *,
        backend: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        p, q = int(p), int(q)
        if p < 0 or q < 0:
            raise ValueError(f"`p` and `q` must be >= 0, got ({p}, {q})")
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"`backend` must be one of {BACKENDS} or None, got {backend!r}")
        self.backend = backend
        a = torch.zeros(p + 1, dtype=dtype, device=device)
        if p >= 1:
            a[1] = 1.0
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(torch.zeros(q, dtype=dtype, device=device))
        self.c_in = nn.Parameter(torch.ones((), dtype=dtype, device=device))
        self.c_out = nn.Parameter(torch.ones((), dtype=dtype, device=device))

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def from_coefficients(
        cls,
        a: Iterable[Any],
        b: Iterable[Any],
        c_in: Any = 1.0,
        c_out: Any = 1.0,
        **kwargs: Any,
    ) -> RationalGate:
        """Gate with numerator ``a = [a_0..a_p]`` and denominator ``b = [b_1..b_q]``.

        Entries may be floats, ints, decimal strings, ``mpmath.mpf``, ``Decimal`` or ``Fraction``;
        they are rounded to the parameter dtype (float32 by default).  ``C_in`` must be non-zero.
        """
        af, bf = _to_floats(a, "a"), _to_floats(b, "b")
        if not af:
            raise ValueError("`a` must have at least one coefficient (a_0)")
        ci, co = _scalar(c_in, "c_in"), _scalar(c_out, "c_out")
        if ci == 0.0:
            raise ValueError("`c_in` must be non-zero (the gate evaluates r(h / c_in))")
        gate = cls(len(af) - 1, len(bf), **kwargs)
        with torch.no_grad():
            dt = gate.a.dtype
            gate.a.copy_(torch.tensor(af, dtype=torch.float64).to(dt))
            gate.b.copy_(torch.tensor(bf, dtype=torch.float64).to(dt))
            gate.c_in.fill_(ci)
            gate.c_out.fill_(co)
        return gate

    @classmethod
    def from_safe_pade(cls, sp: Any, c_in: Any = 1.0, c_out: Any = 1.0, **kwargs: Any) -> RationalGate:
        """Gate from any object with ``.a`` (``a_0..a_p``) and ``.b`` (``b_1..b_q``) sequences.

        ``ratapprox.pade.SafePade`` is one such object; the representation
        ``P(t) / (1 + |b_1 t + ... + b_q t^q|)`` is the one this gate evaluates, so no conversion
        happens beyond rounding to float32.
        """
        try:
            a, b = sp.a, sp.b
        except AttributeError as exc:
            raise ValueError(
                f"`sp` must have attributes `a` and `b` (safe-Padé coefficients), got {type(sp).__name__}"
            ) from exc
        return cls.from_coefficients(a, b, c_in, c_out, **kwargs)

    @classmethod
    def from_table_entry(cls, entry: Mapping[str, Any], **kwargs: Any) -> RationalGate:
        """Gate from one entry of a ``ratapprox table`` JSON file.

        Read: ``entry["safe_pade"]["a"]`` and ``entry["safe_pade"]["b"]`` (decimal strings or
        numbers, ascending, ``b`` without its constant 1); if there is no ``safe_pade`` object,
        top-level ``a`` / ``b`` keys (the ``ratapprox.table/1`` schema writes ``safe_pade`` with
        ``available``, ``a``, ``b``; ``available: false`` raises ``ValueError`` with the recorded
        ``reason``).  Optional ``c_in`` / ``c_out`` are taken from
        ``entry["safe_pade"]`` or from ``entry`` (default 1).  Everything else (``type``, certificate,
        domain, ...) is ignored: the gate's type is that of the safe-Padé coefficients read.
        """
        if not isinstance(entry, Mapping):
            raise ValueError(f"`entry` must be a mapping (a table entry), got {type(entry).__name__}")
        sp = entry.get("safe_pade", entry)
        if isinstance(sp, Mapping) and sp.get("available") is False:
            reason = sp.get("reason", "no reason recorded")
            raise ValueError(f"table entry {entry.get('id', '?')!r} has no safe-Padé form: {reason}")
        if not isinstance(sp, Mapping) or "a" not in sp or "b" not in sp:
            raise ValueError(
                "table entry has no safe-Padé coefficients: expected keys `safe_pade.a` and "
                f"`safe_pade.b` (or `a`/`b`); found keys {sorted(entry)}"
            )

        def _opt(key: str) -> Any:
            return sp.get(key, entry.get(key, 1.0))

        gate = cls.from_coefficients(sp["a"], sp["b"], _opt("c_in"), _opt("c_out"), **kwargs)
        return gate

    # ---------------------------------------------------------------------------------- module
    @property
    def type(self) -> tuple[int, int]:
        """``(p, q)``: degrees of the numerator and of ``B``."""
        return self.a.numel() - 1, self.b.numel()

    def forward(self, h: Tensor) -> Tensor:
        """Gate ``h`` element-wise: ``[...] -> [...]``, same dtype as ``h``."""
        return rational_gate(h, self.a, self.b, self.c_in, self.c_out, backend=self.backend)

    def extra_repr(self) -> str:
        p, q = self.type
        c_in, c_out = self.c_in.item(), self.c_out.item()
        return f"type=({p}, {q}), c_in={c_in:.6g}, c_out={c_out:.6g}, backend={self.backend}"
