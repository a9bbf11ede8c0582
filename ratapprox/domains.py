"""Approximation domains: an interval, a union of intervals, a finite grid, exclusions.

A :class:`Domain` is a finite union of closed, disjoint intervals, optionally restricted to a
finite set of points (a *grid*).  Endpoints are kept as exact decimal strings, so that the same
domain means the same set at any working precision: ``delta = 1e-3`` is the decimal 0.001 in
mpmath, not the nearest double.  Typical domains:

* ``Domain.interval(-1, 1)`` -- the default;
* ``Domain.sign_domain(delta)`` -- :math:`E_\\delta = [-1,-\\delta] \\cup [\\delta, 1]`, where the
  sign function is approximated (Zolotarev 1877);
* ``Domain.interval(-1, 1).excluding(theta, delta)`` -- the interval without the open
  neighbourhood :math:`(\\theta-\\delta, \\theta+\\delta)` of a jump;
* ``Domain.grid(4001)`` -- 4001 equispaced points on [-1, 1] (the paper's fitting grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from .errors import InvalidInputError

__all__ = ["Domain"]


def _exact(x: float | int | str | Decimal) -> str:
    """Shortest decimal string that names ``x`` (a float's repr is its shortest round-trip form)."""
    if isinstance(x, str):
        s = x.strip()
    elif isinstance(x, (float, np.floating)):
        s = repr(float(x))
    else:
        s = str(x)
    try:
        d = Decimal(s)
    except InvalidOperation as exc:
        raise InvalidInputError(f"`{x!r}` is not a number") from exc
    if not d.is_finite():
        raise InvalidInputError(f"domain endpoints must be finite, got {x!r}")
    return s


@dataclass(frozen=True)
class Domain:
    """A finite union of closed intervals, optionally restricted to a finite grid.

    Parameters
    ----------
    intervals : tuple of (str, str)
        Sorted, disjoint closed intervals ``[a, b]`` with ``a < b``, endpoints as decimal strings.
    grid : tuple (str, str, int) or None
        ``(a, b, n)``: the domain is the set of the ``n`` equispaced points
        ``a + (b - a) k / (n - 1)`` that lie in ``intervals``.
    points : tuple of str or None
        An explicit finite point set (decimal strings); the domain is those of them that lie in
        ``intervals``.  At most one of ``grid`` and ``points`` is given.
    """

    intervals: tuple[tuple[str, str], ...]
    grid: tuple[str, str, int] | None = None
    points: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.intervals:
            raise InvalidInputError("a domain needs at least one interval")
        prev = None
        for a, b in self.intervals:
            if not Decimal(a) < Decimal(b):
                raise InvalidInputError(f"interval [{a}, {b}] is empty or reversed: need a < b")
            if prev is not None and not Decimal(prev) < Decimal(a):
                raise InvalidInputError("intervals must be sorted and disjoint")
            prev = b
        if self.grid is not None and self.points is not None:
            raise InvalidInputError("give a grid or explicit points, not both")
        if self.grid is not None and int(self.grid[2]) < 2:
            raise InvalidInputError(f"a grid needs at least 2 points, got {self.grid[2]}")
        if self.is_discrete and len(self.points_float()) == 0:
            raise InvalidInputError("the grid has no point inside the domain")

    # ----------------------------------------------------------------- constructors
    @classmethod
    def interval(cls, a: float | str = -1, b: float | str = 1) -> Domain:
        """The closed interval ``[a, b]``."""
        return cls(((_exact(a), _exact(b)),))

    @classmethod
    def union(cls, intervals: Sequence[tuple[float | str, float | str]]) -> Domain:
        """A union of closed intervals (given in any order; they must not overlap)."""
        ivs = sorted(((_exact(a), _exact(b)) for a, b in intervals), key=lambda ab: Decimal(ab[0]))
        return cls(tuple(ivs))

    @classmethod
    def sign_domain(cls, delta: float | str, half_width: float | str = 1) -> Domain:
        """:math:`E_\\delta = [-1, -\\delta] \\cup [\\delta, 1]` (scaled by ``half_width``)."""
        d, w = Decimal(_exact(delta)), Decimal(_exact(half_width))
        if not (0 < d < w):
            raise InvalidInputError(f"`delta` must lie in (0, {w}), got {delta}")
        return cls(((str(-w), str(-d)), (str(d), str(w))))

    @classmethod
    def grid_on(cls, n: int, a: float | str = -1, b: float | str = 1) -> Domain:
        """``n`` equispaced points on ``[a, b]`` (the paper fits on ``n = 4001`` over [-1, 1])."""
        n = int(n)
        sa, sb = _exact(a), _exact(b)
        return cls(((sa, sb),), grid=(sa, sb, n))

    @classmethod
    def from_points(cls, points: Sequence[float | str]) -> Domain:
        """A finite point set."""
        pts = sorted({_exact(p) for p in points}, key=Decimal)
        if len(pts) < 2:
            raise InvalidInputError("a point set needs at least 2 distinct points")
        return cls(((pts[0], pts[-1]),), points=tuple(pts))

    def excluding(self, center: float | str, radius: float | str) -> Domain:
        """This domain without the open neighbourhood ``(center - radius, center + radius)``."""
        c, r = Decimal(_exact(center)), Decimal(_exact(radius))
        if r <= 0:
            raise InvalidInputError(f"exclusion radius must be positive, got {radius}")
        lo, hi = c - r, c + r
        out: list[tuple[str, str]] = []
        for a, b in self.intervals:
            da, db = Decimal(a), Decimal(b)
            if db <= lo or da >= hi:
                out.append((a, b))
                continue
            if da < lo:
                out.append((a, str(lo)))
            if db > hi:
                out.append((str(hi), b))
        if not out:
            raise InvalidInputError("the exclusion removes the whole domain")
        return Domain(tuple(out), grid=self.grid, points=self.points)

    # ----------------------------------------------------------------- queries
    @property
    def is_discrete(self) -> bool:
        return self.grid is not None or self.points is not None

    @property
    def lower(self) -> str:
        return self.intervals[0][0]

    @property
    def upper(self) -> str:
        return self.intervals[-1][1]

    def intervals_float(self) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in self.intervals]

    def intervals_mp(self) -> list[tuple[mpmath.mpf, mpmath.mpf]]:
        """Endpoints at the current mpmath precision."""
        return [(mpmath.mpf(a), mpmath.mpf(b)) for a, b in self.intervals]

    def _contains_decimal(self, x: Decimal) -> bool:
        return any(Decimal(a) <= x <= Decimal(b) for a, b in self.intervals)

    def points_mp(self) -> list[mpmath.mpf]:
        """The grid points (discrete domains only) at the current mpmath precision."""
        if self.points is not None:
            return [mpmath.mpf(p) for p in self.points if self._contains_decimal(Decimal(p))]
        if self.grid is None:
            raise InvalidInputError("a continuous domain has no point list; use sample()")
        a, b, n = Fraction(self.grid[0]), Fraction(self.grid[1]), int(self.grid[2])
        ivs = [(Fraction(lo), Fraction(hi)) for lo, hi in self.intervals]
        out = []
        for k in range(n):
            # Exact rational arithmetic decides membership; mpmath rounds the exact value once.
            x = a + (b - a) * k / (n - 1)
            if any(lo <= x <= hi for lo, hi in ivs):
                out.append(mpmath.mpf(x.numerator) / x.denominator)
        return out

    def points_float(self) -> np.ndarray:
        """The grid points (discrete domains only) in float64."""
        if self.points is not None:
            return np.array([float(p) for p in self.points if self._contains_decimal(Decimal(p))])
        if self.grid is None:
            raise InvalidInputError("a continuous domain has no point list; use sample()")
        a, b, n = float(self.grid[0]), float(self.grid[1]), int(self.grid[2])
        x = a + (b - a) * np.arange(n) / (n - 1)
        keep = np.zeros(n, dtype=bool)
        # Membership is decided exactly (as in points_mp): the grid points in [lo, hi] are the
        # k with lo <= a + (b - a) k / (n - 1) <= hi, a contiguous range of k.  A float64 test
        # would drop endpoints such as -0.1 = -1 + 2*9/20, computed as -0.09999999999999998.
        fa, fb = Fraction(self.grid[0]), Fraction(self.grid[1])
        scale = (n - 1) / (fb - fa)
        for lo, hi in self.intervals:
            k0 = max(0, math.ceil((Fraction(lo) - fa) * scale))
            k1 = min(n - 1, math.floor((Fraction(hi) - fa) * scale))
            if k0 <= k1:
                keep[k0:k1 + 1] = True
                x[k0:k1 + 1] = np.clip(x[k0:k1 + 1], float(lo), float(hi))
        return x[keep]

    def contains(self, x: float | np.ndarray) -> np.ndarray:
        """Whether each ``x`` lies in the union of intervals (float64 test)."""
        x = np.asarray(x, dtype=float)
        keep = np.zeros(x.shape, dtype=bool)
        for lo, hi in self.intervals_float():
            keep |= (x >= lo) & (x <= hi)
        return keep

    def sample(self, n: int = 2000) -> np.ndarray:
        """A dense float64 sample: the grid itself, or Chebyshev points of each interval.

        Chebyshev points cluster at the endpoints, where the error of a best approximation on an
        interval usually peaks.  The sample is an *estimate* device, never a certificate.
        """
        if self.is_discrete:
            return self.points_float()
        ivs = self.intervals_float()
        total = sum(b - a for a, b in ivs)
        out = []
        for a, b in ivs:
            k = max(16, int(n * (b - a) / total))
            t = np.cos(np.pi * np.arange(k)[::-1] / (k - 1))
            out.append(a + (b - a) * (t + 1) / 2)
        return np.concatenate(out)

    # ----------------------------------------------------------------- serialisation
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"intervals": [list(ab) for ab in self.intervals]}
        if self.grid is not None:
            d["grid"] = {"a": self.grid[0], "b": self.grid[1], "n": int(self.grid[2])}
        if self.points is not None:
            d["points"] = list(self.points)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Domain:
        grid = d.get("grid")
        return cls(
            tuple((str(a), str(b)) for a, b in d["intervals"]),
            grid=(str(grid["a"]), str(grid["b"]), int(grid["n"])) if grid else None,
            points=tuple(str(p) for p in d["points"]) if d.get("points") else None,
        )

    def __str__(self) -> str:
        s = " U ".join(f"[{a}, {b}]" for a, b in self.intervals)
        if self.grid is not None:
            s += f" (grid of {self.grid[2]} points on [{self.grid[0]}, {self.grid[1]}])"
        elif self.points is not None:
            s += f" ({len(self.points)} points)"
        return s
