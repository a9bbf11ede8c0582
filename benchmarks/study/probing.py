"""Offline sparse-probing tasks from the token stream and k-sparse probes.

No tokenizer is needed: every task is a binary label computed from the token ids themselves, for
the activation row of token ``t`` at position ``p`` (``p = 1 .. T-1``; BOS excluded as in
:mod:`study.data`):

* ``frequent_token`` -- ``t`` is one of the 20 most frequent ids of the ``teacher`` split;
* ``next_is_boundary`` -- the next token is a story boundary, EOS (id 2) or BOS (id 1: llama2.c's
  TinyStories samples start each new story with BOS; EOS alone is too rare for balanced probes,
  ~0.1% of tokens); the last position has no next token and is left out of this task;
* ``late_position`` -- ``p >= 128`` (position bucket);
* ``early_position`` -- ``p < 16`` (position bucket);
* ``seen_before`` -- ``t`` occurred at an earlier position of the same sequence (BOS excluded).

A k-sparse probe (Gurnee et al. 2023, "Finding neurons in a haystack"; SAEBench, Karvonen et al.
2025) picks the ``k`` latents with the largest absolute difference of class means on the probe's
training rows, then fits an L2-regularised logistic regression on those ``k`` (standardised)
latent activations; the score is the accuracy on disjoint test rows.  Both classes are balanced
by subsampling, so chance is 0.5.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["TASKS", "k_sparse_probe", "make_tasks", "probe_sae"]

TASKS = ("frequent_token", "next_is_boundary", "late_position", "early_position", "seen_before")
BOUNDARY_IDS = (1, 2)  # BOS, EOS


def make_tasks(tokens: np.ndarray, frequent_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Labels ``[n_seq * (T-1)]`` (int8: 1, 0, or -1 = not part of the task) per task.

    Rows follow the activation layout of :mod:`study.data`: sequence-major, positions ``1..T-1``.
    """
    tokens = np.asarray(tokens)
    n, T = tokens.shape
    cur = tokens[:, 1:]
    pos = np.broadcast_to(np.arange(1, T), cur.shape)
    nxt = np.full_like(cur, -1)
    nxt[:, :-1] = tokens[:, 2:]
    seen = np.zeros(cur.shape, dtype=bool)
    for i in range(n):  # first occurrence per (sequence, id); a later one is "seen before"
        _, first = np.unique(cur[i], return_index=True)
        mask = np.ones(T - 1, dtype=bool)
        mask[first] = False
        seen[i] = mask
    out = {
        "frequent_token": np.isin(cur, frequent_ids).astype(np.int8),
        "next_is_boundary": np.where(nxt < 0, -1, np.isin(nxt, BOUNDARY_IDS)).astype(np.int8),
        "late_position": (pos >= 128).astype(np.int8),
        "early_position": (pos < 16).astype(np.int8),
        "seen_before": seen.astype(np.int8),
    }
    return {k: v.reshape(-1) for k, v in out.items()}


def balanced_rows(labels: np.ndarray, n_per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n_per_class`` positives and negatives (fewer if a class is smaller)."""
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    m = min(n_per_class, len(pos), len(neg))
    if m < 20:
        raise ValueError(f"too few examples per class ({m}) for a probe")
    return np.sort(np.concatenate([rng.choice(pos, m, replace=False), rng.choice(neg, m, replace=False)]))


def _logreg(X: torch.Tensor, y: torch.Tensor, l2: float = 1e-3, iters: int = 100) -> torch.Tensor:
    """L2-regularised logistic regression by L-BFGS; returns weights ``[k + 1]`` (bias last)."""
    Xb = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)
    w = torch.zeros(Xb.shape[1], dtype=X.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Xb @ w, y) + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def k_sparse_probe(z_tr: torch.Tensor, y_tr: torch.Tensor, z_te: torch.Tensor, y_te: torch.Tensor,
                   k: int) -> float:
    """Test accuracy of a logistic probe on the ``k`` latents with the largest mean difference."""
    diff = (z_tr[y_tr == 1].mean(0) - z_tr[y_tr == 0].mean(0)).abs()
    idx = torch.topk(diff, k).indices
    mu, sd = z_tr[:, idx].mean(0), z_tr[:, idx].std(0).clamp_min(1e-6)
    w = _logreg((z_tr[:, idx] - mu) / sd, y_tr)
    Xte = torch.cat([(z_te[:, idx] - mu) / sd, torch.ones(len(z_te), 1, dtype=z_te.dtype)], 1)
    return float(((Xte @ w > 0).to(y_te.dtype) == y_te).double().mean())


@torch.no_grad()
def probe_sae(sae, x: np.ndarray, labels: dict[str, np.ndarray], n_train_rows: int,
              ks: tuple[int, ...] = (1, 2, 5, 20), n_per_class: int = 2000, seed: int = 0) -> dict:
    """Accuracy per task and ``k`` for ``sae`` on rows ``x`` (first ``n_train_rows`` fit, rest test).

    Returns ``{task: {k: accuracy}}`` plus ``"mean": {k: mean over tasks}``.
    """
    out: dict = {}
    for task in TASKS:
        lab = labels[task]
        rng = np.random.default_rng([seed, TASKS.index(task)])
        tr = balanced_rows(lab[:n_train_rows], n_per_class, rng)
        te = n_train_rows + balanced_rows(lab[n_train_rows:], n_per_class, rng)
        z_tr = sae.encode(torch.from_numpy(np.asarray(x[tr]))).double()
        z_te = sae.encode(torch.from_numpy(np.asarray(x[te]))).double()
        y_tr = torch.from_numpy(lab[tr].astype(np.float64))
        y_te = torch.from_numpy(lab[te].astype(np.float64))
        with torch.enable_grad():
            out[task] = {k: k_sparse_probe(z_tr, y_tr, z_te, y_te, k) for k in ks}
    out["mean"] = {k: float(np.mean([out[t][k] for t in TASKS])) for k in ks}
    return out
