"""Chapter 7's study of every attribution method of the registry (:mod:`backpropvis.methods`).

The chapter's three questions (class invariance: :mod:`.invariance`; model randomization:
:mod:`.randomization`; resemblance to the photo) asked of every method at once, and the
measurements turned into the chapter's tables:

- :func:`attribution_settings`: one set of SmoothGrad / Integrated Gradients settings for every
  model, step and photo;
- :func:`resemblance`: a map's centred correlation with the input and its edge score;
- :func:`method_results`: prediction, measurement and the per-method verdict;
- :func:`cascading_verdicts`: class invariance over every logit and the cascading
  randomization, judged per method, in one call (chapter 9's trained CNN);
- :func:`half_settings`, :func:`half_measures`, :func:`rejudged`: the convergence check, the
  methods whose maps depend on SmoothGrad's copies or IG's steps judged again at half of them
  (maps from the same passes: ``halves=True``);
- :func:`implementation_rows`, :func:`prediction_rows`, :func:`verdict_rows`,
  :func:`sanity_rows`: the chapter's tables.

The chapter's claims are judged in :mod:`backpropvis.claims.every_method`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.metrics import centered_pearson, edge_score, mean_std
from ..methods import METHODS, attribution_maps
from ..methods.registry import HALF, half_of
from .invariance import class_invariance
from .randomization import RandomizationRun, randomization_groups, randomization_run

__all__ = [
    "SMOOTHGRAD_SAMPLES",
    "half_measures",
    "half_settings",
    "attribution_settings",
    "cascading_verdicts",
    "implementation_rows",
    "method_list",
    "method_results",
    "prediction_rows",
    "rejudged",
    "resemblance",
    "sanity_checks_2018",
    "sanity_rows",
    "smoothgrad_samples_on",
    "verdict_rows",
]

YES_NO = {True: "yes", False: "no"}
FINDING = {True: "insensitive", False: "sensitive"}


#: SmoothGrad's noisy copies when a chapter leaves the choice to the device: the sanity-checks
#: paper's 50 where a GPU allows, 16 on a CPU.
SMOOTHGRAD_SAMPLES = {"cuda": 50, "cpu": 16}


def smoothgrad_samples_on(device: torch.device) -> int:
    """:data:`SMOOTHGRAD_SAMPLES` for ``device`` (any device but CUDA counts as a CPU)."""
    return SMOOTHGRAD_SAMPLES["cuda" if torch.device(device).type == "cuda" else "cpu"]


def attribution_settings(
    lm: Any,
    image: torch.Tensor,
    smoothgrad_samples: int,
    noise: float,
    ig_steps: int,
    seed: int,
    batch_size: int = 16,
    halves: bool = False,
) -> dict[str, Any]:
    """:func:`~backpropvis.methods.attribution_maps` settings for ``lm``, anything with the
    ``prepare`` of a loaded model (the digits of chapter 8 have one):
    SmoothGrad's noise std is ``noise`` times the range of the model's input (one image
    ``(3, H, W)`` in ``[0, 1]`` maps to it), Integrated Gradients start from a black image;
    ``batch_size`` images go through one forward pass (every photo's noisy copies or
    interpolation steps together); ``halves``: every call also gives the maps at half the
    copies and steps."""
    x_range = lm.prepare(torch.ones(3, 1, 1)) - lm.prepare(torch.zeros(3, 1, 1))
    return {
        "smoothgrad_samples": smoothgrad_samples,
        "smoothgrad_std": noise * float(x_range.max()),
        "ig_steps": ig_steps,
        "baseline": lm.prepare(torch.zeros_like(image)),  # a black image
        "seed": seed,
        "batch_size": batch_size,
        "halves": halves,
    }


def implementation_rows(impl: Mapping[str, str]) -> list[list[str]]:
    """Rows ``[label, implementation]`` of :func:`~backpropvis.methods.method_implementations`."""
    return [[METHODS[m].label, how] for m, how in impl.items()]


def prediction_rows(methods: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: each method's ingredients and the argument's prediction."""
    header = ["method", "rule h", "× input", "× Grad-CAM", "predicted insensitive"]
    rows = []
    for m in methods:
        ing = METHODS[m].ingredients
        flags = (ing.input, ing.gradcam, ing.predicted_insensitive)
        rows.append([METHODS[m].label, ing.backward] + [YES_NO[f] for f in flags])
    return header, rows


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
        results[m] = {
            "cascading": runs["cascading"].curves[m],
            "independent": runs["independent"].curves[m],
            "resemblance": resemble[m],
        } | _judged(m, class_invariance[m], runs["cascading"].curves[m], n_upper, insensitive_at)
    return results


def _judged(
    m: str, class_invariance: float, cascading: Sequence[Mapping], n_upper: int, at: float
) -> dict[str, Any]:
    """Method ``m``'s measurement over the first ``n_upper`` cascading steps and its verdict."""
    upper_steps = cascading[:n_upper]
    upper = np.nanmean([c["spearman_abs"] for c in upper_steps])
    predicted = METHODS[m].ingredients.predicted_insensitive
    measured = bool(upper >= at)
    return {
        "class_invariance": class_invariance,
        "predicted_insensitive": predicted,
        "measured_insensitive": measured,
        "upper_half_spearman_abs": float(upper),
        "upper_half_spearman": float(np.nanmean([c["spearman"] for c in upper_steps])),
        "verdict": "agree" if predicted == measured else "disagree",
    }


def cascading_verdicts(
    model: nn.Module,
    donor: nn.Module,
    xs: torch.Tensor,
    methods: Sequence[str],
    insensitive_at: float,
    **settings: Any,
) -> dict[str, dict[str, Any]]:
    """Chapter 7's protocol for a small classifier, per method: class invariance over all its
    logits (mean over the images ``xs``), the cascading randomization from the logits down
    (layers copied from ``donor``, the same architecture at another seed) and the verdict on
    the first half of its steps, as :func:`method_results` judges them (``cascading``: the
    curves)."""
    with torch.no_grad():
        k = model(xs[:1]).shape[1]
    targets = torch.arange(k).repeat(len(xs))
    every, _ = attribution_maps(model, xs.repeat_interleave(k, 0), targets, methods,
                                **settings, repeats=k)  # fmt: skip
    ci = {m: float(np.mean([class_invariance(c) for c in v.split(k)])) for m, v in every.items()}
    groups = randomization_groups(model)
    orig, _ = attribution_maps(model, xs, "max", methods, **settings)

    def maps_of(net: nn.Module) -> dict[str, torch.Tensor]:
        return attribution_maps(net, xs, "max", methods, **settings)[0]

    run = randomization_run(model, donor, groups, orig, "cascading", maps_of, hog=False)
    n_upper = max(1, len(groups) // 2)
    return {
        m: {"cascading": run.curves[m]} | _judged(m, ci[m], run.curves[m], n_upper, insensitive_at)
        for m in methods
    }


def half_settings(settings: Mapping[str, Any]) -> dict[str, int]:
    """The convergence check's SmoothGrad copies and Integrated Gradients steps: half of
    ``settings``' (at least one each)."""
    return {k: half_of(settings[k]) for k in ("smoothgrad_samples", "ig_steps")}


def half_measures(
    class_invariance: Mapping[str, float], cascading: RandomizationRun
) -> tuple[dict[str, float], RandomizationRun]:
    """The class invariance and cascading curves of the maps at half the samples and steps
    (:func:`~backpropvis.methods.attribution_maps` with ``halves=True``), under their methods'
    own keys, for :func:`rejudged`."""
    ci = {k.removesuffix(HALF): v for k, v in class_invariance.items() if k.endswith(HALF)}
    curves = {k.removesuffix(HALF): v for k, v in cascading.curves.items() if k.endswith(HALF)}
    return ci, RandomizationRun(steps=list(cascading.steps), curves=curves)


def rejudged(
    results: Mapping[str, Mapping[str, Any]],
    class_invariance: Mapping[str, float],
    cascading: RandomizationRun,
    n_upper: int,
    insensitive_at: float,
) -> dict[str, dict[str, Any]]:
    """:func:`method_results` with the methods measured again (``class_invariance`` and the
    first ``n_upper`` ``cascading`` steps, e.g. at half the samples: :func:`half_measures`)
    judged anew, the others as they were."""
    again = dict(results)
    for m, curves in cascading.curves.items():
        again[m] = dict(results[m]) | _judged(
            m, class_invariance[m], curves, n_upper, insensitive_at
        )
    return again


def method_list(methods: Sequence[str]) -> str:
    """Labels of ``methods``, comma-separated, or ``"none"``."""
    return ", ".join(METHODS[m].label for m in methods) or "none"


def verdict_rows(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list]]:
    """``(header, rows)`` of the verdict table: prediction, measurement, verdict, then the signed
    rank correlation, class invariance and the random network's resemblance to the input."""
    header = ["method", "predicted", "rank ρ of abs, upper half random", "measured"]
    header += ["verdict", "signed rank ρ", "ρ across logits", "ρ(input), random net"]
    rows = [
        [METHODS[m].label, FINDING[r["predicted_insensitive"]], r["upper_half_spearman_abs"]]
        + [FINDING[r["measured_insensitive"]], r["verdict"], r["upper_half_spearman"]]
        + [r["class_invariance"], r["resemblance"]["random"]["corr_input"]]
        for m, r in results.items()
    ]
    return header, rows


def sanity_checks_2018(methods: Sequence[str]) -> dict[str, bool | None]:
    """Adebayo et al. (2018) per method: insensitive (True), changes markedly (False), not
    tested (None); the registry's ``sanity_checks``."""
    return {m: METHODS[m].sanity_checks for m in methods}


def sanity_rows(
    results: Mapping[str, Mapping[str, Any]], paper: Mapping[str, bool | None]
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: Adebayo et al.'s finding beside the book's, per method."""
    rows = []
    for m, r in results.items():
        theirs, ours = paper[m], r["measured_insensitive"]
        seen = "not tested" if theirs is None else FINDING[theirs]
        agree = "—" if theirs is None else YES_NO[theirs == ours]
        rows.append([METHODS[m].label, seen, FINDING[ours], agree])
    return ["method", "sanity checks (2018)", "this book", "agree"], rows
