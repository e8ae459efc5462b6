"""Chapter 8's studies of networks the book trains on the digits.

- :func:`checkpoint_measures`: one checkpoint of a network of Eq. (1) or (7), measured as the
  earlier chapters measure a random one: GBP against its limit (Eq. 5), class invariance of the
  plain, DeconvNet and guided rules over all logits, the plain map's correlation with the input
  and its lag-1 autocorrelation, and step (b) itself (:func:`~backpropvis.core.step_b_departure`);
- :func:`data_randomization`: the data randomization test of Adebayo et al. (2018), every
  method's map of the true-label model against the permuted-label model's, by the sanity
  metrics (:class:`~backpropvis.studies.sanity.SanityReference`);
- :func:`mnist_2018`, :func:`data_randomization_rows`: their MNIST figure, judged by the same
  rule, and the comparison table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.metrics import (
    centered_pearson,
    is_degenerate,
    lag1_autocorrelation,
    pearson,
    plus_minus,
)
from ..core.step_b import step_b_departure
from ..methods import METHODS, attribution_maps
from .every_method import FINDING, YES_NO
from .invariance import class_invariance
from .sanity import SCORES, SanityReference

__all__ = [
    "checkpoint_measures",
    "data_randomization",
    "data_randomization_rows",
    "mnist_2018",
]

#: The backward rules followed over training, as methods of the registry.
CURVE_RULES = ("saliency", "deconvnet", "guided_backprop")
#: The backward rules ``h`` whose step (b) is measured.
STEP_B_RULES = ("plain", "guided")


def _maps_for_every_logit(model: nn.Module, xs: torch.Tensor, n_classes: int) -> dict:
    """``{method: (B, K, 3, H, W)}``: each image's map for every logit ``k``."""
    rep = xs.repeat_interleave(n_classes, 0)
    targets = torch.arange(n_classes).repeat(len(xs))
    maps, _ = attribution_maps(model, rep, targets, CURVE_RULES, repeats=n_classes)
    return {m: v.reshape(len(xs), n_classes, *v.shape[1:]) for m, v in maps.items()}


def _mean(values) -> float:
    return float(np.mean(list(values)))


def checkpoint_measures(
    model: nn.Module,
    xs: torch.Tensor,
    labels: torch.Tensor,
    limit: Callable[[torch.Tensor], torch.Tensor],
    n_classes: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """One checkpoint (module docstring), mean over the images ``xs`` (the model's input) with
    their ``labels``; ``limit(x)`` is GBP's large-width limit of one image (Eq. 5: ``gbp_limit``
    for the convnet, ``gbp_limit_fc`` for the fully connected net). Maps are for each image's
    label (step b's ``k``); class invariance compares the maps of all ``n_classes`` logits."""
    model = model.eval().requires_grad_(False)
    every = _maps_for_every_logit(model, xs, n_classes)
    own = {m: v[torch.arange(len(xs)), labels] for m, v in every.items()}  # for each label
    pairs = {m: list(zip(v, xs, strict=True)) for m, v in own.items()}
    gbp = own["guided_backprop"]
    return {
        "corr_limit": _mean(pearson(m, limit(x)) for m, x in zip(gbp, xs, strict=True)),
        "class_invariance": {m: _mean(map(class_invariance, v)) for m, v in every.items()},
        "corr_input": {m: _mean(centered_pearson(a, x) for a, x in p) for m, p in pairs.items()},
        "autocorr": {m: _mean(map(lag1_autocorrelation, v)) for m, v in own.items()},
        "step_b": {r: step_b_departure(model, xs, labels, r, seed=seed) for r in STEP_B_RULES},
    }


def data_randomization(
    true_model: nn.Module,
    permuted_model: nn.Module,
    xs: torch.Tensor,
    methods: Sequence[str],
    insensitive_at: float,
    **settings: Any,
) -> dict[str, dict[str, Any]]:
    """The data randomization test: for every method, the maps of ``true_model`` and of
    ``permuted_model`` on the same images ``xs``, each for its own model's top class, compared
    by the four sanity metrics. Per method: each metric's mean and ``_std`` over the images
    where neither map is degenerate, ``n`` of them and ``degenerate`` (the share where one
    is); ``predicted_insensitive`` (the argument, as in chapter 7), ``measured_insensitive``
    (mean rank correlation of ``|map|`` at least ``insensitive_at``) and ``verdict``."""
    maps = [
        attribution_maps(model.eval().requires_grad_(False), xs, "max", methods, **settings)[0]
        for model in (true_model, permuted_model)
    ]
    out = {}
    for m in methods:
        pairs = list(zip(maps[0][m], maps[1][m], strict=True))
        bad = [is_degenerate(a) or is_degenerate(b) for a, b in pairs]
        kept = [SanityReference(a).compare(b) for (a, b), d in zip(pairs, bad, strict=True)
                if not d]  # fmt: skip
        res: dict[str, Any] = {"n": len(kept), "degenerate": float(np.mean(bad))}
        for s in SCORES:
            vals = np.array([r[s] for r in kept], dtype=np.float64)
            res[s] = float(vals.mean()) if len(vals) else float("nan")
            res[f"{s}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        predicted = METHODS[m].ingredients.predicted_insensitive
        measured = bool(res["spearman_abs"] >= insensitive_at)
        res |= {"predicted_insensitive": predicted, "measured_insensitive": measured}
        res["verdict"] = "agree" if predicted == measured else "disagree"
        out[m] = res
    return out


def mnist_2018(methods: Sequence[str], insensitive_at: float) -> dict[str, bool | None]:
    """Adebayo et al.'s data randomization of an MNIST CNN, judged by the book's rule: True
    where their rank correlation of ``|map|`` is at least ``insensitive_at``, None where they
    did not test the method."""
    paper = {m: METHODS[m].mnist_permuted_spearman_abs for m in methods}
    return {m: None if v is None else v >= insensitive_at for m, v in paper.items()}


def data_randomization_rows(
    results: Mapping[str, Mapping[str, Any]], paper: Mapping[str, bool | None]
) -> tuple[list[str], list[list[Any]]]:
    """``(header, rows)``: per method the argument's prediction, the measured rank correlation
    of ``|map|`` and of the signed map, SSIM and HOG (mean ± std), the rank correlation read
    off Adebayo et al.'s MNIST figure, and whether the book's finding is theirs."""
    header = ["method", "predicted", "rank ρ of abs", "signed rank ρ", "SSIM", "HOG"]
    header += ["MNIST (2018)", "same finding"]
    rows = []
    for m, r in results.items():
        theirs = METHODS[m].mnist_permuted_spearman_abs
        same = "—" if paper[m] is None else YES_NO[paper[m] == r["measured_insensitive"]]
        row = [METHODS[m].label, FINDING[r["predicted_insensitive"]]]
        row += [plus_minus(r[s], r[f"{s}_std"], 2) for s in SCORES]
        rows.append(row + ["—" if theirs is None else f"{theirs:.2f}", same])
    return header, rows
