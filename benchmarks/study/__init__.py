"""Helpers for the real-LM study (``benchmarks/reproduce_paper.py``, ``benchmarks/train_teachers.py``).

Modules
-------
data        disjoint token splits of the host's sample corpus and cached residual-stream activations
            (numpy + torch + transformers only, so the SAELens venv can import it too)
probing     offline binary tasks from the token stream and k-sparse probes (Gurnee et al. 2023)
preservation per-latent teacher-vs-student correspondence (activation correlation, decoder cosine)
controls    same-budget fine-tunes of the teacher with its own gate
report      tables, win counts and the markdown report

Nothing here is imported by ``rsae``; the study imports ``rsae``'s public API.
"""
