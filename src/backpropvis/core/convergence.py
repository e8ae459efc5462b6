"""Cosine similarity convergence (CSC), the rank-one test of Sixt, Granz and Landgraf (2020).

Inject ``V`` random relevance vectors at the logits, pass each down by a method's backward rule
and, at a layer of ``C`` channels, compare the ``V`` relevances position by position: at each
spatial position the cosine between the ``C``-vectors of two injections, for every pair. CSC is
the median of ``|cos|`` over pairs and positions (positions where either relevance is zero, a
dead unit, have no cosine and are left out, as in their code). A backward pass whose matrices
multiply to rank one sends every injection to the same direction: CSC 1. Independent directions
give :func:`random_csc`, the median ``|cos|`` of two independent Gaussian vectors in ``R^C``
(``cos^2 ~ Beta(1/2, (C - 1) / 2)``; 0.5 for the input's ``C = 3`` colour channels).
"""

from __future__ import annotations

import math

import torch

from . import streams

__all__ = ["csc", "injections", "random_csc"]

#: The injections: signed (standard normal, Sixt et al.'s) or non-negative (their absolute
#: values, the vectors on which a product of non-negative matrices is sure to converge).
INJECTIONS = ("signed", "nonnegative")


def csc(relevances: torch.Tensor) -> float:
    """Median pairwise ``|cos|`` over channels (module docstring) of ``V >= 2`` relevances of one
    image at one layer, ``(V, C)`` or ``(V, C, *spatial)``; NaN when no position has a cosine."""
    r = torch.as_tensor(relevances).detach().double()
    if r.ndim < 2 or len(r) < 2:
        raise ValueError(f"csc needs V >= 2 relevances (V, C, ...), got shape {tuple(r.shape)}")
    r = r.flatten(2) if r.ndim > 2 else r[..., None]  # (V, C, P)
    norms = r.norm(dim=1)  # (V, P)
    i, j = torch.triu_indices(len(r), len(r), 1)
    cos = (r[i] * r[j]).sum(1) / (norms[i] * norms[j])  # (pairs, P)
    kept = cos[(norms[i] > 0) & (norms[j] > 0)]
    return float(kept.abs().median()) if len(kept) else float("nan")


def random_csc(channels: int) -> float:
    """The median ``|cos|`` of two independent standard normal vectors in ``R^channels``: CSC's
    random baseline at a layer of that many channels."""
    from scipy.stats import beta  # heavy: first use only

    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    if channels == 1:
        return 1.0
    return math.sqrt(float(beta.median(0.5, (channels - 1) / 2)))


def injections(kind: str, n: int, n_logits: int, seed: int) -> torch.Tensor:
    """``n`` relevance vectors ``(n, n_logits)`` to inject at the logits, drawn from ``seed``:
    ``"signed"`` standard normal, ``"nonnegative"`` their absolute values (:data:`INJECTIONS`)."""
    if kind not in INJECTIONS:
        raise ValueError(f"unknown injection {kind!r}; use one of {', '.join(INJECTIONS)}")
    v = streams.INJECTED.randn((n, n_logits), seed)
    return v.abs() if kind == "nonnegative" else v
