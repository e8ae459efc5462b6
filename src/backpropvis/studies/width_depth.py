"""Width or depth: the paper's explanation of class invariance against the rank-one one.

The paper (Eqs. 3-5): in one hidden layer the average over ``N`` filters makes ``h(V)`` a
constant, so GBP's map tends to the image as the width ``N`` grows. Sixt et al. (2020): a
product of non-negative backward matrices converges to rank one as the depth ``L`` grows, and
the layers above, the class included, stop mattering. :func:`phase_diagram` measures both on
random convnets of every depth and width (:func:`~backpropvis.core.networks.deep_convnet`);
:func:`layer_convergence` runs the rank-one test at every ReLU of a real network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.convergence import csc, injections, random_csc
from ..core.metrics import centered_pearson
from ..core.networks import deep_convnet
from ..methods.injection import injected
from .invariance import class_invariance

__all__ = ["GRID_MEASURES", "layer_convergence", "passes_at", "phase_diagram"]

#: What the phase diagram measures per method, depth and width.
GRID_MEASURES = ("class_invariance", "csc_signed", "csc_nonnegative", "corr_input")


def _pooled(rel: torch.Tensor, n_images: int) -> torch.Tensor:
    """Relevances ``(B * V, C, ...)``, image-major, as ``(V, C, B, P)``: every image's positions
    pooled for one median, as Sixt et al. pool them."""
    v = len(rel) // n_images
    return rel.reshape(n_images, v, rel.shape[1], -1).permute(1, 2, 0, 3)


def phase_point(
    model: nn.Module, x: torch.Tensor, methods: Sequence[str], n_vectors: int, seed: int
) -> dict[str, dict[str, float]]:
    """Per method, for one image ``x`` ``(3, H, W)``: class invariance over all ``K`` logits
    (one-hot at each), CSC at the input of ``n_vectors`` signed and of ``n_vectors``
    non-negative injections, and the top logit's map's centred correlation with the input. One
    backward pass per method carries every vector."""
    with torch.no_grad():
        logits = model(x[None])[0]
    k = len(logits)
    vectors = torch.cat(
        [
            torch.eye(k),
            *(injections(kind, n_vectors, k, seed) for kind in ("signed", "nonnegative")),
        ]
    )
    out = {}
    for m in methods:
        rel, _ = injected(model, x[None].expand(len(vectors), -1, -1, -1), vectors, m)
        maps, signed, nonneg = rel.split([k, n_vectors, n_vectors])
        out[m] = {
            "class_invariance": class_invariance(maps),
            "csc_signed": csc(signed),
            "csc_nonnegative": csc(nonneg),
            "corr_input": centered_pearson(maps[int(logits.argmax())], x),
        }
    return out


def phase_diagram(
    depths: Sequence[int],
    widths: Sequence[int],
    xs: torch.Tensor,
    methods: Sequence[str],
    n_vectors: int = 3,
    n_logits: int = 10,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """The grid: for every depth ``L`` and width ``N``, one random convnet per image of ``xs``
    ``(S, 3, H, W)`` (net ``s`` drawn from seed ``s``, with its own injections), every
    :data:`GRID_MEASURES` of :func:`phase_point` as ``{"mean", "spread"}`` over the ``S`` seeds
    (spread: their standard deviation). ``progress(iterable)`` wraps the loop (tqdm)."""
    cells = [(d, w) for d in depths for w in widths]
    rows = []
    for depth, width in progress(cells) if progress else cells:
        points = [
            phase_point(deep_convnet(depth, width, xs.shape[-1], n_logits, seed=s), x, methods,
                        n_vectors, seed=s)
            for s, x in enumerate(xs)
        ]  # fmt: skip
        for m in methods:
            row: dict[str, Any] = {"method": m, "depth": depth, "width": width}
            for key in GRID_MEASURES:
                vals = np.array([p[m][key] for p in points], dtype=np.float64)
                spread = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
                row[key] = {"mean": float(np.nanmean(vals)), "spread": spread}
            rows.append(row)
    return rows


def layer_convergence(
    model: nn.Module, xs: torch.Tensor, methods: Sequence[str], n_vectors: int = 5, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """The rank-one test at every ReLU of ``model``, from the logits down, as Sixt et al. plot
    it: ``n_vectors`` signed injections at the logits of each image of ``xs`` ``(B, 3, H, W)``;
    per method a list from the logits (``depth`` 0, the injections themselves) through every
    ReLU (``depth`` 1, 2... counted from the top) to the input, each with the ``layer`` name,
    its ``channels``, ``csc`` (pooled over images and positions) and ``random`` (the random
    baseline, :func:`~backpropvis.core.convergence.random_csc`)."""
    with torch.no_grad():
        k = model(xs[:1]).shape[1]
    vectors = injections("signed", n_vectors, k, seed)
    rep = xs.repeat_interleave(n_vectors, 0)
    out = {}
    for m in methods:
        rel, hidden = injected(model, rep, vectors.repeat(len(xs), 1), m, layers=True)
        levels = [("logits", vectors.repeat(len(xs), 1)), *reversed(hidden), ("input", rel)]
        out[m] = [
            {"depth": d, "layer": name, "channels": int(r.shape[1]),
             "csc": csc(_pooled(r, len(xs))), "random": random_csc(int(r.shape[1]))}
            for d, (name, r) in enumerate(levels)
        ]  # fmt: skip
    return out


def passes_at(levels: Sequence[dict[str, Any]], at: float) -> dict[str, Any] | None:
    """The first level from the logits down (after the injections) whose CSC is at least
    ``at`` and stays so below, or None."""
    below = levels[1:]
    for i, level in enumerate(below):
        if all(lv["csc"] >= at for lv in below[i:]):
            return level
    return None
