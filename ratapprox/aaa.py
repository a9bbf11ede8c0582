r"""AAA and AAA-Lawson rational approximation on a sample (float64), with type control.

AAA (Nakatsukasa, Sète & Trefethen 2018) chooses support points greedily: at step ``k`` it adds
the sample point where the current error is largest and computes the weights as the right singular
vector of the smallest singular value of the Loewner matrix

.. math::

    A_{ij} = \frac{F_i - f_j}{Z_i - z_j}, \qquad \min_{\|w\|_2 = 1} \|A w\|_2,

over the sample points :math:`Z_i` that are not support points.  We let
:class:`scipy.interpolate.AAA` do the greedy part and add what the minimax start needs:

* **type control** -- a type :math:`(m, n)` with :math:`m \ne n` uses :math:`N + 1 = \max(m, n)+1`
  support points and restricts the weights to the null space of the degree constraints
  :math:`\sum_j w_j T_k(\hat z_j) = 0` (:math:`m > n`, lowers :math:`\deg q`) or
  :math:`\sum_j w_j f_j T_k(\hat z_j) = 0` (:math:`m < n`, lowers :math:`\deg p`),
  :math:`k < |m - n|`, with :math:`T_k` Chebyshev polynomials of the support points mapped to
  [-1, 1] (a better-conditioned basis than :math:`z^k` for the same constraints);
* **AAA-Lawson** (Nakatsukasa & Trefethen 2020) -- with the support points fixed, numerator and
  denominator weights :math:`\alpha, \beta` are decoupled,
  :math:`r = \sum_j \frac{\alpha_j}{x - z_j} / \sum_j \frac{\beta_j}{x - z_j}`, and the
  iteratively reweighted least-squares problem
  :math:`\min \sum_i \lambda_i |F_i D(Z_i) - N(Z_i)|^2`, :math:`\|(\alpha,\beta)\|=1`, is solved
  with the Lawson update :math:`\lambda_i \leftarrow \lambda_i |e_i|` (normalised), which drives
  the error towards equioscillation: a start for the Remez exchange (Filip et al. 2018 and
  Chebfun ``minimax`` use exactly this start).

References
----------
.. [1] Y. Nakatsukasa, O. Sète and L. N. Trefethen, "The AAA algorithm for rational
   approximation", SIAM J. Sci. Comput. 40(3), A1494-A1522, 2018. :doi:`10.1137/16M1106122`
.. [2] Y. Nakatsukasa and L. N. Trefethen, "An algorithm for real and complex rational minimax
   approximation", SIAM J. Sci. Comput. 42(5), A3157-A3179, 2020. :doi:`10.1137/19M1281897`
.. [3] S.-I. Filip, Y. Nakatsukasa, L. N. Trefethen and B. Beckermann, "Rational minimax
   approximation via adaptive barycentric representations", SIAM J. Sci. Comput. 40(4), 2018.

Possible issues
---------------
* Both algorithms only see the sample: a sample that does not resolve a singularity (say
  :math:`\sqrt{y}` at 0) gives a start that is good on the sample and poor between its points.
* Lawson converges linearly and slowly; it is meant as a start, not as the minimax answer.
* The result may have spurious poles (Froissart doublets) in the domain; the caller checks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.linalg
from scipy.interpolate import AAA

from .barycentric import BarycentricRational
from .errors import InvalidInputError

__all__ = ["aaa", "aaa_lawson", "degree_constraints"]


def degree_constraints(z: np.ndarray, f: np.ndarray | None, m: int, n: int) -> np.ndarray:
    """Rows ``K`` with ``K @ w = 0`` iff the barycentric weights give type ``(m, n)``.

    For ``N + 1 = max(m, n) + 1`` support points ``z`` (values ``f``):
    ``m > n`` needs ``sum_j w_j T_k(zhat_j) = 0`` and ``m < n`` needs
    ``sum_j w_j f_j T_k(zhat_j) = 0`` for ``k = 0, ..., |m - n| - 1`` (module docstring);
    ``zhat`` maps ``[min z, max z]`` onto ``[-1, 1]``.  Returns a ``(|m-n|, N+1)`` array
    (``(0, N+1)`` when ``m == n``).  The rows are normalised to unit length.
    """
    z = np.asarray(z, dtype=float)
    d = abs(m - n)
    N1 = len(z)
    if d == 0:
        return np.zeros((0, N1))
    lo, hi = float(np.min(z)), float(np.max(z))
    zh = (2 * z - (lo + hi)) / (hi - lo) if hi > lo else np.zeros_like(z)
    T = np.polynomial.chebyshev.chebvander(zh, d - 1).T  # (d, N+1)
    if m < n:
        if f is None:
            raise InvalidInputError("numerator degree constraints need the support values `f`")
        T = T * np.asarray(f, dtype=float)[None, :]
    nrm = np.linalg.norm(T, axis=1, keepdims=True)
    return T / np.where(nrm == 0, 1.0, nrm)


def _check_sample(x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    f = np.asarray(f, dtype=float).ravel()
    if x.shape != f.shape:
        raise InvalidInputError(f"sample points and values need equal lengths, got {x.size} and {f.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(f))):
        raise InvalidInputError("sample points and values must be finite")
    x, idx = np.unique(x, return_index=True)
    return x, f[idx]


def _check_type(type: tuple[int, int]) -> tuple[int, int]:
    try:
        m, n = (int(t) for t in type)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"`type` must be a pair of integers, got {type!r}") from exc
    if m < 0 or n < 0:
        raise InvalidInputError(f"`type` must be non-negative, got {(m, n)}")
    return m, n


def aaa(
    x: np.ndarray,
    f: np.ndarray,
    *,
    type: tuple[int, int] | None = None,
    rtol: float | None = None,
    max_terms: int = 100,
) -> BarycentricRational:
    r"""AAA rational approximation of the data ``(x_i, f_i)`` (Nakatsukasa, Sète & Trefethen 2018).

    Parameters
    ----------
    x, f : array_like
        Real sample points (distinct after :func:`numpy.unique`) and values.
    type : (int, int), optional
        Exact type ``(m, n)``: ``max(m, n) + 1`` support points, chosen greedily, and weights from
        the smallest singular vector of the Loewner matrix restricted to the degree constraints
        (:func:`degree_constraints`).  Without it, plain AAA to ``rtol`` (scipy).
    rtol : float, optional
        Relative tolerance of plain AAA (default ``eps ** 0.75`` as in scipy).  Ignored with
        ``type``.
    max_terms : int
        Maximum number of support points of plain AAA.

    Returns
    -------
    BarycentricRational
        float64 data; ``.type`` is ``type`` (or ``(k, k)`` for ``k + 1`` support points).
    """
    x, f = _check_sample(x, f)
    if type is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = AAA(x, f, rtol=rtol, max_terms=int(max_terms))
        return BarycentricRational(
            np.real(r.support_points), np.real(r.support_values), np.real(r.weights)
        )
    m, n = _check_type(type)
    N1 = max(m, n) + 1
    if x.size < N1 + 1:
        raise InvalidInputError(f"type {(m, n)} needs more than {N1} sample points, got {x.size}")
    if N1 == 1:
        zj = np.array([x[np.argmin(np.abs(f - np.mean(f)))]])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = AAA(x, f, rtol=0.0, max_terms=N1, clean_up=False)
        zj = np.real(np.asarray(r.support_points))
        if zj.size < N1:  # AAA stopped early (data interpolated exactly): add the worst points
            rest = np.setdiff1d(x, zj)
            extra = rest[np.linspace(0, rest.size - 1, N1 - zj.size).round().astype(int)]
            zj = np.concatenate([zj, extra])
    zj = np.sort(zj)
    fj = np.interp(zj, x, f)  # support points are sample points: exact lookup
    keep = ~np.isin(x, zj)
    C = 1.0 / (x[keep, None] - zj[None, :])
    A = (f[keep, None] - fj[None, :]) * C  # Loewner matrix (times -1, irrelevant)
    K = degree_constraints(zj, fj, m, n)
    V = scipy.linalg.null_space(K) if K.shape[0] else np.eye(N1)
    _, _, vh = np.linalg.svd(A @ V, full_matrices=False)
    w = V @ vh[-1].conj()
    return BarycentricRational(zj, fj, w, type=(m, n))


def aaa_lawson(
    x: np.ndarray,
    f: np.ndarray,
    type: tuple[int, int],
    *,
    weight: Callable[[np.ndarray], np.ndarray] | np.ndarray | None = None,
    max_iter: int = 40,
    support_points: np.ndarray | None = None,
    intervals: list[tuple[float, float]] | None = None,
    stop: Callable[[BarycentricRational], bool] | None = None,
    check_every: int = 4,
) -> tuple[BarycentricRational, float]:
    r"""AAA-Lawson near-minimax approximation of type ``(m, n)`` on a sample.

    Support points from typed AAA (:func:`aaa`) unless given; then ``max_iter`` Lawson steps
    (Nakatsukasa & Trefethen 2020, Sec. 4) on the decoupled weights ``alpha, beta``:

    .. math::

        \min_{\|(\alpha, \beta)\|_2 = 1} \sum_i \lambda_i \, \omega_i^2
            \Big| F_i \sum_j \frac{\beta_j}{Z_i - z_j} - \sum_j \frac{\alpha_j}{Z_i - z_j}\Big|^2,
        \qquad \lambda_i \leftarrow \frac{\lambda_i |e_i|}{\sum_k \lambda_k |e_k|},

    with :math:`e_i = \omega_i (F_i - r(Z_i))` the weighted error (``weight`` :math:`\omega`).
    The degree constraints of a type with ``m != n`` apply to ``alpha`` (``m < n``) or ``beta``
    (``m > n``).  The iterate with the smallest max error on the sample is returned, preferring
    iterates whose denominator keeps one sign on the sample (no pole between sample points
    of one interval; ``intervals`` says where the sample has gaps).  ``stop(r)``, checked every
    ``check_every`` steps on pole-free iterates, ends the iteration early and returns that
    iterate (the Remez start stops as soon as the error has enough alternations).

    Returns
    -------
    (BarycentricRational, float)
        The approximation (values :math:`\alpha_j/\beta_j`, weights :math:`\beta_j`) and its max
        weighted error on the sample.
    """
    x, f = _check_sample(x, f)
    m, n = _check_type(type)
    if callable(weight):
        om = np.asarray(weight(x), dtype=float)
    elif weight is None:
        om = np.ones_like(x)
    else:
        om = np.asarray(weight, dtype=float).ravel()
        if om.shape != x.shape:
            raise InvalidInputError("`weight` array must match the sample")
    start = aaa(x, f, type=(m, n)) if support_points is None else None
    zj = np.sort(np.asarray(support_points, dtype=float)) if start is None else start.support_points
    N1 = zj.size
    if N1 != max(m, n) + 1:
        raise InvalidInputError(f"type {(m, n)} needs {max(m, n) + 1} support points, got {N1}")
    keep = ~np.isin(x, zj)
    X, F, W = x[keep], f[keep], om[keep]
    C = 1.0 / (X[:, None] - zj[None, :])
    # unknowns u = (alpha, beta); residual row i: F_i C_i beta - C_i alpha
    M = np.hstack([-C, F[:, None] * C]) * W[:, None]
    # Row scaling: near a support point (or on a sample clustered at 1e-30) the Cauchy rows are
    # huge and would swamp the least-squares problem; unit rows make the residual measure
    # |F D - N| / |(D, N)|, a relative quantity, and the Lawson weights take it from there.
    rn = np.linalg.norm(M, axis=1)
    M = M / np.where(rn == 0, 1.0, rn)[:, None]
    d = abs(m - n)
    if d:
        lo, hi = float(zj.min()), float(zj.max())
        T = np.polynomial.chebyshev.chebvander((2 * zj - lo - hi) / (hi - lo), d - 1).T
        K = np.zeros((d, 2 * N1))
        if m < n:
            K[:, :N1] = T  # numerator degree lowered: constraints on alpha
        else:
            K[:, N1:] = T
        V = scipy.linalg.null_space(K)
    else:
        V = np.eye(2 * N1)
    MV = M @ V
    lam = np.ones(X.size) / X.size
    pieces = [x] if intervals is None else [x[(x >= a) & (x <= b)] for a, b in intervals]

    def key(r: BarycentricRational, emax: float) -> tuple[int, float]:
        poles = sum(r.denominator_sign_changes(p) for p in pieces if p.size > 1)
        return (1 if poles else 0, emax)

    best: tuple[tuple[int, float], BarycentricRational] | None = None
    if start is not None:
        e0 = np.max(np.abs(om * (f - start(x))))
        if np.isfinite(e0):
            best = (key(start, float(e0)), start)
    for it in range(int(max_iter)):
        _, _, vh = np.linalg.svd(np.sqrt(lam)[:, None] * MV, full_matrices=False)
        u = V @ vh[-1]
        alpha, beta = u[:N1], u[N1:]
        if np.any(beta == 0):
            break
        r = BarycentricRational(zj, alpha / beta, beta, type=(m, n))
        e = om * (f - r(x))
        emax = float(np.max(np.abs(e)))
        if not np.isfinite(emax):
            break
        k = key(r, emax)
        if best is None or k < best[0]:
            best = (k, r)
        if stop is not None and (it + 1) % check_every == 0 and k[0] == 0 and stop(r):
            return r, emax
        ek = np.abs(e[keep])
        lam = lam * ek
        s = lam.sum()
        if s == 0 or not np.isfinite(s):
            break
        lam = lam / s
    if best is None:
        raise InvalidInputError("AAA-Lawson produced no finite approximation on this sample")
    return best[1], best[0][1]
