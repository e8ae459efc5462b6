"""Class invariance: how much a map depends on the logit it explains (the paper's Section 2).

:func:`class_invariance` is the book's one score: for ``T`` maps of one image, each for another
logit, the mean off-diagonal similarity between them (1: the same map for every class). Maps
that are degenerate (all zero, as Grad-CAM can be) have no correlation and are left out.
:func:`class_invariance_by_method` scores every attribution method of the registry at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.attribution import class_targets
from ..core.metrics import is_degenerate, mean_offdiagonal, similarity_matrices
from ..methods import attribution_maps

__all__ = ["class_invariance", "class_invariance_by_method"]


def class_invariance(maps: Any, metric: str = "pearson", sims: dict | None = None) -> float:
    """Mean off-diagonal ``metric`` (``"pearson"``, ``"ssim"``, ``"spearman"``) between ``T``
    maps ``(T, C, H, W)`` of one image; degenerate maps are left out, NaN when fewer than two
    remain. ``sims``: the maps' :func:`~backpropvis.core.metrics.similarity_matrices`, where a
    figure has computed them already."""
    kept = [m for m in maps if not is_degenerate(m)]
    if len(kept) < 2:
        return float("nan")
    if sims is None or len(kept) < len(maps):
        sims = similarity_matrices(kept, (metric,))
    return mean_offdiagonal(sims[metric])


def class_invariance_by_method(
    model: nn.Module,
    xs: torch.Tensor,
    n_logits: int,
    n_top: int,
    logit_seed: int,
    methods: Sequence[str],
    **settings: Any,
) -> dict[str, float]:
    """For each photo ``n_logits`` logits (its ``n_top`` largest, logit 482, random ones drawn
    from ``logit_seed``: :func:`~backpropvis.core.attribution.class_targets`); per method the
    :func:`class_invariance` of their maps, averaged over photos (with ``halves=True`` in
    ``settings`` also each map at half its samples or steps). One batch holds every photo-logit
    pair (photo-major); a photo's logits share its SmoothGrad copies and forward passes."""
    with torch.no_grad():
        tops = model(xs).topk(n_top).indices.tolist()
    targets = [class_targets(t, n_logits, seed=logit_seed) for t in tops]
    rep = xs.repeat_interleave(n_logits, 0)  # (B * T, 3, H, W)
    maps, _ = attribution_maps(
        model, rep, sum(targets, []), methods, **settings, repeats=n_logits
    )  # SmoothGrad and IG: one forward pass per photo and point, one backward per logit
    return {
        k: float(np.mean([class_invariance(c) for c in m.split(n_logits)])) for k, m in maps.items()
    }
