"""Chapter 7's study of every attribution method (issue 17), the steps the chapter shows.

:mod:`backpropvis.methods` computes the maps; this module runs the chapter's three questions on
them for every method at once and turns the measurements into the chapter's tables and claims:

- :func:`attribution_settings`: one set of SmoothGrad / Integrated Gradients settings for every
  model, step and photo;
- :func:`class_invariance_by_method`: chapter 1's class-invariance score, one batch of every
  photo-logit pair;
- :func:`randomization_run`: cascading or independent randomization, the per-step curves;
- :func:`resemblance`: a map's centred correlation with the input and its edge score;
- :func:`method_results`: prediction, measurement and the per-method verdict;
- :func:`prediction_claim`, :func:`class_invariance_claim`, :func:`sanity_checks_claim`: the
  chapter's claims as ``(measured text, verdict)`` with the verdict rule of
  :mod:`backpropvis.verdicts`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .attribution import class_targets
from .methods import (
    METHOD_INGREDIENTS,
    METHODS,
    SANITY_CHECKS_INSENSITIVE,
    SanityReference,
    attribution_maps,
    map_class_invariance,
    randomization_study,
)
from .metrics import centered_pearson, edge_score, mean_std
from .verdicts import CLASS_INVARIANT, judge

__all__ = [
    "RandomizationRun",
    "attribution_settings",
    "class_invariance_by_method",
    "class_invariance_claim",
    "implementation_rows",
    "method_list",
    "method_results",
    "prediction_claim",
    "prediction_rows",
    "quiet_attribution_warnings",
    "randomization_run",
    "resemblance",
    "sanity_checks_claim",
    "sanity_references",
    "sanity_rows",
    "verdict_rows",
]

_YES = {True: "yes", False: "no"}
_WORDS = {True: "insensitive", False: "sensitive"}


def quiet_attribution_warnings() -> None:
    """Silence the warnings every attribution pass repeats: a constant map's undefined
    correlation, Captum's note on inputs without gradients, PyTorch's on ReLU backward hooks."""
    warnings.filterwarnings("ignore", message="An input array is constant")
    warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")


def attribution_settings(
    lm: Any, image: torch.Tensor, smoothgrad_samples: int, noise: float, ig_steps: int, seed: int
) -> dict[str, Any]:
    """:func:`~backpropvis.methods.attribution_maps` settings for a loaded model ``lm``:
    SmoothGrad's noise std is ``noise`` times the range of the model's input (one image
    ``(3, H, W)`` in ``[0, 1]`` maps to it), Integrated Gradients start from a black image."""
    x_range = lm.prepare(torch.ones(3, 1, 1)) - lm.prepare(torch.zeros(3, 1, 1))
    return {
        "smoothgrad_samples": smoothgrad_samples,
        "smoothgrad_std": noise * float(x_range.max()),
        "ig_steps": ig_steps,
        "baseline": lm.prepare(torch.zeros_like(image)),  # a black image
        "seed": seed,
    }


def implementation_rows(impl: Mapping[str, str]) -> list[list[str]]:
    """Rows ``[label, implementation]`` of :func:`~backpropvis.methods.method_implementations`."""
    return [[METHODS[m], how] for m, how in impl.items()]


def prediction_rows(methods: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: each method's ingredients and the argument's prediction."""
    header = ["method", "rule h", "× input", "× Grad-CAM", "predicted insensitive"]
    rows = []
    for m in methods:
        ing = METHOD_INGREDIENTS[m]
        flags = (ing.input, ing.gradcam, ing.predicted_insensitive)
        rows.append([METHODS[m], ing.backward] + [_YES[f] for f in flags])
    return header, rows


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
    from ``logit_seed``); per method the mean off-diagonal Pearson correlation of their maps,
    averaged over photos. One batch holds every photo-logit pair (photo-major)."""
    with torch.no_grad():
        tops = model(xs).topk(n_top).indices.tolist()
    targets = [class_targets(t, n_logits, seed=logit_seed) for t in tops]
    rep = xs.repeat_interleave(n_logits, 0)  # (B * T, 3, H, W)
    maps, _ = attribution_maps(model, rep, sum(targets, []), methods, **settings)
    return {
        m: float(np.mean([map_class_invariance(c) for c in maps[m].split(n_logits)]))
        for m in methods
    }


def sanity_references(maps: Mapping[str, torch.Tensor]) -> dict[str, list[SanityReference]]:
    """One :class:`~backpropvis.methods.SanityReference` per method and image."""
    return {m: [SanityReference(x) for x in maps[m]] for m in maps}


@dataclass
class RandomizationRun:
    """One randomization mode for every method: ``steps`` (group labels), ``curves[method]``
    (per step: ``layer`` and the mean/std over photos of each sanity metric), ``example[method]``
    (the first photo's original map, then its map after each step), ``final`` (every method's
    maps after the last step)."""

    steps: list[str] = field(default_factory=list)
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    example: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    final: dict[str, torch.Tensor] = field(default_factory=dict)


def randomization_run(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, Sequence[str]]],
    xs: torch.Tensor,
    orig: Mapping[str, torch.Tensor],
    refs: Mapping[str, Sequence[SanityReference]],
    mode: str,
    **settings: Any,
) -> RandomizationRun:
    """Cascading or independent randomization (:func:`~backpropvis.methods.randomization_study`)
    of every method in ``refs``, collected per step."""
    run = RandomizationRun()
    run.curves = {m: [] for m in refs}
    run.example = {m: [orig[m][0]] for m in refs}
    for label, scores, maps in randomization_study(
        model, donor, groups, xs, dict(refs), mode, **settings
    ):
        run.steps.append(label)
        for m in refs:
            run.curves[m].append({"layer": label} | mean_std(scores[m]))
            run.example[m].append(maps[m][0])
        run.final = maps
    return run


def resemblance(maps: torch.Tensor, xs: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Centred correlation of each map with the (preprocessed) input ``xs`` and the edge score
    against the photos ``images``, mean/std over photos; a one-channel map is compared with
    every channel."""
    return mean_std(
        [
            {
                "corr_input": centered_pearson(m.expand_as(x), x),
                "edges": edge_score(m, image),
            }
            for m, x, image in zip(maps, xs, images, strict=True)
        ]
    )


def method_results(
    methods: Sequence[str],
    class_invariance: Mapping[str, float],
    runs: Mapping[str, RandomizationRun],
    resemble: Mapping[str, Any],
    n_upper: int,
    insensitive_at: float,
) -> dict[str, dict[str, Any]]:
    """Per method: the prediction, the measurement over the first ``n_upper`` cascading steps
    (rank correlation of the absolute maps, insensitive when its mean is at least
    ``insensitive_at``) and the verdict, ``"agree"`` when they match."""
    results = {}
    for m in methods:
        upper_steps = runs["cascading"].curves[m][:n_upper]
        upper = np.nanmean([c["spearman_abs"] for c in upper_steps])
        predicted = METHOD_INGREDIENTS[m].predicted_insensitive
        measured = bool(upper >= insensitive_at)
        results[m] = {
            "class_invariance": class_invariance[m],
            "cascading": runs["cascading"].curves[m],
            "independent": runs["independent"].curves[m],
            "predicted_insensitive": predicted,
            "measured_insensitive": measured,
            "upper_half_spearman_abs": float(upper),
            "upper_half_spearman": float(np.nanmean([c["spearman"] for c in upper_steps])),
            "resemblance": resemble[m],
            "verdict": "agree" if predicted == measured else "disagree",
        }
    return results


def method_list(methods: Sequence[str]) -> str:
    """Labels of ``methods``, comma-separated, or ``"none"``."""
    return ", ".join(METHODS[m] for m in methods) or "none"


def verdict_rows(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list]]:
    """``(header, rows)`` of the verdict table: prediction, measurement, verdict, then the signed
    rank correlation, class invariance and the random network's resemblance to the input."""
    header = ["method", "predicted", "rank ρ of abs, upper half random", "measured"]
    header += ["verdict", "signed rank ρ", "ρ across logits", "ρ(input), random net"]
    rows = [
        [METHODS[m], _WORDS[r["predicted_insensitive"]], r["upper_half_spearman_abs"]]
        + [_WORDS[r["measured_insensitive"]], r["verdict"], r["upper_half_spearman"]]
        + [r["class_invariance"], r["resemblance"]["random"]["corr_input"]]
        for m, r in results.items()
    ]
    return header, rows


def sanity_rows(
    results: Mapping[str, Mapping[str, Any]],
    paper: Mapping[str, bool | None] = SANITY_CHECKS_INSENSITIVE,
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: Adebayo et al.'s finding beside the book's, per method."""
    rows = []
    for m, r in results.items():
        theirs, ours = paper[m], r["measured_insensitive"]
        seen = "not tested" if theirs is None else _WORDS[theirs]
        agree = "—" if theirs is None else _YES[theirs == ours]
        rows.append([METHODS[m], seen, _WORDS[ours], agree])
    return ["method", "sanity checks (2018)", "this book", "agree"], rows


def _off_text(text: str, off: Sequence[str]) -> str:
    return text + (f" (not: {', '.join(off)})" if off else "")


def prediction_claim(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The argument's per-method predictions agree with the measurement: reproduced for every
    method, partly for more than half."""
    off = [m for m, r in results.items() if r["verdict"] != "agree"]
    text = _off_text(f"agrees on {len(results) - len(off)} of {len(results)}", off)
    return text, judge(not off, len(off) < len(results) / 2)


def class_invariance_claim(
    results: Mapping[str, Mapping[str, Any]], at: float = CLASS_INVARIANT
) -> tuple[str, str]:
    """Class invariance (mean correlation across logits at least ``at``) for exactly the guided
    and DeconvNet rules: reproduced; partly when guided backprop is among the invariant ones."""
    invariant = sorted(m for m, r in results.items() if float(r["class_invariance"]) >= at)
    text = f"ρ ≥ {at:g} for " + (", ".join(invariant) or "none")
    holds = invariant == ["deconvnet", "guided_backprop"]
    return text, judge(holds, "guided_backprop" in invariant)


def sanity_checks_claim(
    results: Mapping[str, Mapping[str, Any]],
    paper: Mapping[str, bool | None] = SANITY_CHECKS_INSENSITIVE,
) -> tuple[str, str]:
    """The book's insensitivity against Adebayo et al.'s, for the methods they tested:
    reproduced when every finding is the same, partly for more than half."""
    tested = [m for m in results if paper.get(m) is not None]
    off = [m for m in tested if bool(results[m]["measured_insensitive"]) != paper[m]]
    text = _off_text(f"same finding for {len(tested) - len(off)} of {len(tested)}", off)
    return text, judge(not off, len(off) < len(tested) / 2)
