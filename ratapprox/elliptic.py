r"""Complete elliptic integrals, Jacobi elliptic functions and theta functions (mpmath wrappers).

Conventions
-----------
Everything here takes the **parameter** :math:`m = k^2` (``k`` is the modulus), as mpmath does;
mpmath's ``ellipfun(kind, u, m=...)`` and ``ellipk(m)`` take ``m``, **not** ``k``.  Formulas in
the literature that are written with a modulus (Akhiezer 1990; Nakatsukasa & Freund 2016, who
write ``sn(u; k)``) must be called here with ``m = k**2``.

* complementary parameter :math:`m' = 1 - m`, complementary modulus :math:`k' = \sqrt{1 - m}`;
* :math:`K(m) = \int_0^{\pi/2} (1 - m \sin^2\theta)^{-1/2}\, d\theta = \pi / (2\,\mathrm{agm}(1, k'))`;
* :math:`K'(m) = K(1 - m) = \pi / (2\,\mathrm{agm}(1, k))`.  It is computed by the second form:
  for a tiny ``m`` (``m = delta**2 = 1e-24`` in Zolotarev's problem) the difference ``1 - m``
  would lose ``log10(1/m)`` digits, the arithmetic-geometric mean of ``(1, k)`` loses none;
* nome :math:`q(m) = e^{-\pi K'(m)/K(m)}`, complementary nome
  :math:`q'(m) = e^{-\pi K(m)/K'(m)} = q(1 - m)`;
* theta functions at argument 0: :math:`\vartheta_j(q) =` ``mpmath.jtheta(j, 0, q)``, and
  Jacobi's formulas :math:`k = \vartheta_2^2(q)/\vartheta_3^2(q)`,
  :math:`k' = \vartheta_4^2(q)/\vartheta_3^2(q)` (Whittaker & Watson 1927, sec. 21.7; DLMF 22.2.2);
* Jacobi elliptic functions :math:`\mathrm{sn}(u\,|\,m), \mathrm{cn}(u\,|\,m), \mathrm{dn}(u\,|\,m)`
  with :math:`\mathrm{sn}(K|m) = 1`, :math:`\mathrm{cn}(K|m) = 0`, :math:`\mathrm{dn}(K|m) = k'`
  (DLMF 22.5); ``sc = sn/cn``.

For a parameter close to 1 (the complementary parameter :math:`1 - \delta^2` of Zolotarev's
problem) pass the complementary parameter ``mc`` exactly: the functions below then raise the
working precision by the digits that ``1 - mc`` costs.

Examples
--------
Legendre's relation :math:`E K' + E' K - K K' = \pi/2` and the theta-function form of ``k``:

>>> import mpmath
>>> m = mpmath.mpf("0.3")
>>> abs(ellipk(m) - mpmath.pi / (2 * mpmath.agm(1, mpmath.sqrt(1 - m)))) < 1e-14
True
>>> k, kc = modulus_from_nome(nome(m))
>>> abs(k**2 - m) < 1e-14 and abs(kc**2 - (1 - m)) < 1e-14
True
"""

from __future__ import annotations

from typing import Any

import mpmath

from .errors import InvalidInputError

__all__ = [
    "cn",
    "complementary_nome",
    "dn",
    "ellipk",
    "ellipkp",
    "modulus_from_nome",
    "nome",
    "sc",
    "sn",
]


def _check_m(m: Any) -> Any:
    m = mpmath.mpf(m)
    if not 0 <= m < 1:
        raise InvalidInputError(f"the parameter `m` must lie in [0, 1), got {m}")
    return m


def ellipk(m: Any) -> Any:
    r""":math:`K(m)`, the complete elliptic integral of the first kind (parameter ``m = k**2``)."""
    return mpmath.ellipk(_check_m(m))


def ellipkp(m: Any) -> Any:
    r""":math:`K'(m) = K(1 - m) = \pi / (2\,\mathrm{agm}(1, \sqrt m))`, without forming ``1 - m``."""
    m = mpmath.mpf(m)
    if not 0 < m <= 1:
        raise InvalidInputError(f"`m` must lie in (0, 1] for K'(m), got {m}")
    return mpmath.pi / (2 * mpmath.agm(1, mpmath.sqrt(m)))


def nome(m: Any) -> Any:
    r"""Jacobi's nome :math:`q = \exp(-\pi K'(m)/K(m))`."""
    m = _check_m(m)
    if m == 0:
        return mpmath.mpf(0)
    return mpmath.exp(-mpmath.pi * ellipkp(m) / ellipk(m))


def complementary_nome(m: Any) -> Any:
    r""":math:`q' = \exp(-\pi K(m)/K'(m))`, the nome of ``1 - m`` (small when ``m`` is small)."""
    m = _check_m(m)
    if m == 0:
        return mpmath.mpf(1)
    return mpmath.exp(-mpmath.pi * ellipk(m) / ellipkp(m))


def modulus_from_nome(q: Any) -> tuple[Any, Any]:
    r"""``(k, k')`` from the nome: :math:`k = \vartheta_2^2/\vartheta_3^2`,
    :math:`k' = \vartheta_4^2/\vartheta_3^2` (Jacobi; Whittaker & Watson 1927, 21.7)."""
    q = mpmath.mpf(q)
    if not 0 <= q < 1:
        raise InvalidInputError(f"the nome must lie in [0, 1), got {q}")
    t2, t3, t4 = (mpmath.jtheta(j, 0, q) for j in (2, 3, 4))
    return (t2 / t3) ** 2, (t4 / t3) ** 2


def _param(m: Any, mc: Any) -> tuple[Any, int]:
    """Parameter and extra digits: with ``mc`` given, ``m = 1 - mc`` at raised precision."""
    if mc is None:
        return _check_m(m), 0
    mc = mpmath.mpf(mc)
    if not 0 < mc <= 1:
        raise InvalidInputError(f"the complementary parameter `mc` must lie in (0, 1], got {mc}")
    extra = int(max(0, -mpmath.log10(mc))) + 10
    return None, extra


def _jacobi(kind: str, u: Any, m: Any, mc: Any) -> Any:
    mm, extra = _param(m, mc)
    if mm is not None:
        return mpmath.ellipfun(kind, u, m=mm)
    with mpmath.extradps(extra):
        return +mpmath.ellipfun(kind, mpmath.mpf(u), m=1 - mpmath.mpf(mc))


def sn(u: Any, m: Any = None, *, mc: Any = None) -> Any:
    r""":math:`\mathrm{sn}(u\,|\,m)`; give ``mc = 1 - m`` instead of ``m`` when ``m`` is near 1."""
    return _jacobi("sn", u, m, mc)


def cn(u: Any, m: Any = None, *, mc: Any = None) -> Any:
    r""":math:`\mathrm{cn}(u\,|\,m)`; give ``mc = 1 - m`` instead of ``m`` when ``m`` is near 1."""
    return _jacobi("cn", u, m, mc)


def dn(u: Any, m: Any = None, *, mc: Any = None) -> Any:
    r""":math:`\mathrm{dn}(u\,|\,m)`; give ``mc = 1 - m`` instead of ``m`` when ``m`` is near 1."""
    return _jacobi("dn", u, m, mc)


def sc(u: Any, m: Any = None, *, mc: Any = None) -> Any:
    r""":math:`\mathrm{sc}(u\,|\,m) = \mathrm{sn}/\mathrm{cn}`."""
    mm, extra = _param(m, mc)
    with mpmath.extradps(extra):
        par = mm if mm is not None else 1 - mpmath.mpf(mc)
        return +(mpmath.ellipfun("sn", u, m=par) / mpmath.ellipfun("cn", u, m=par))
