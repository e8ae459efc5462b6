"""Attribution methods beyond the paper's three rules, for chapter 7 (issue 17).

Eight maps of one logit per image, from Captum where its implementation is correct for the model
and from the book's backward rules where it is not:

==========================  =============================================================
``saliency``                the gradient ``df_k/dx`` (Captum ``Saliency``, ``abs=False``)
``input_x_gradient``        ``x * df_k/dx`` (the saliency gradient times the input; equals
                            Captum ``InputXGradient``)
``smoothgrad``              mean gradient at ``x + eps``, ``eps ~ N(0, sigma^2)`` (Captum
                            ``NoiseTunnel(Saliency)``, seeded)
``integrated_gradients``    ``(x - x0) * mean_a grad f_k(x0 + a (x - x0))`` (Captum
                            ``IntegratedGradients``, Gauss-Legendre steps)
``deconvnet``               backward ``h = sigma(R)`` at every ReLU
``guided_backprop``         backward ``h = [z > 0] sigma(R)``
``gradcam``                 ``relu(sum_c alpha_c A_c)``, ``alpha_c`` the spatial mean of
                            ``df_k/dA_c`` at the last feature map ``A`` (Captum
                            ``LayerGradCam``), upsampled bilinearly to the input
``guided_gradcam``          guided backprop times the upsampled Grad-CAM
==========================  =============================================================

Captum's ``GuidedBackprop`` and ``Deconvolution`` hook ``nn.ReLU`` modules only: on a network
with ``nn.ReLU6`` (the offline EfficientNet-Lite0) they silently return the plain gradient. There
DeconvNet, guided backprop and the guided factor of Guided Grad-CAM use the book's rules
(:func:`~backpropvis.rules.switchable_rules`), which cover ``nn.ReLU`` and ``nn.ReLU6`` and serve
both rules from one forward pass. Maps are ``(B, 3, H, W)``, Grad-CAM ``(B, 1, H, W)``.

The sanity-check metrics of Adebayo et al. (2018) against one original map are computed by a
:class:`SanityReference`, which normalizes and ranks the original once; :func:`randomization_study`
runs cascading or independent randomization for every method at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .metrics import is_degenerate, normalize_map, pearson, ssim
from .randomization import randomizations
from .rules import switchable_rules

__all__ = [
    "METHODS",
    "METHOD_INGREDIENTS",
    "SANITY_CHECKS_INSENSITIVE",
    "Ingredients",
    "SanityReference",
    "attribution_maps",
    "average_ranks",
    "captum_rules_apply",
    "gradcam_layer",
    "hog_features",
    "map_class_invariance",
    "method_implementations",
    "randomization_study",
    "rule_maps",
    "weight_changes",
]

#: ``key: label`` of every method, in the order of the chapter's tables and figures.
METHODS: dict[str, str] = {
    "saliency": "saliency",
    "input_x_gradient": "gradient × input",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "deconvnet": "DeconvNet",
    "guided_backprop": "guided backprop",
    "gradcam": "Grad-CAM",
    "guided_gradcam": "Guided Grad-CAM",
}


@dataclass(frozen=True)
class Ingredients:
    """What a method's map is made of, as far as the paper's argument is concerned.

    ``backward``: the rule ``h`` at every ReLU (``"plain"``, ``"guided"``, ``"deconv"``);
    ``gradcam``: the map is multiplied by (or is) Grad-CAM, whose channel weights are the plain
    gradient at the last feature map; ``input``: the map is multiplied by the input.
    """

    backward: str
    gradcam: bool = False
    input: bool = False

    @property
    def predicted_insensitive(self) -> bool:
        """The paper's argument (Eq. 2): with ``h = sigma`` the layers above reach the map only
        through ``sigma(V)``, a positive factor whose mean is the same for any weights, so the
        map is a function of the lower layers and the image. Any factor computed with the plain
        rule (``E[h(V)] = 0``: its sign and size follow the weights) makes the map follow the
        upper layers, and so does Grad-CAM's channel weighting."""
        return self.backward in ("guided", "deconv") and not self.gradcam


METHOD_INGREDIENTS: dict[str, Ingredients] = {
    "saliency": Ingredients("plain"),
    "input_x_gradient": Ingredients("plain", input=True),
    "smoothgrad": Ingredients("plain"),
    "integrated_gradients": Ingredients("plain", input=True),
    "deconvnet": Ingredients("deconv"),
    "guided_backprop": Ingredients("guided"),
    "gradcam": Ingredients("plain", gradcam=True),
    "guided_gradcam": Ingredients("guided", gradcam=True),
}

#: Adebayo et al. (2018), cascading randomization of Inception v3: True where they report the
#: map insensitive (visually similar to the original), False where it changes markedly, None
#: where the method was not tested.
SANITY_CHECKS_INSENSITIVE: dict[str, bool | None] = {
    "saliency": False,
    "input_x_gradient": False,
    "smoothgrad": False,
    "integrated_gradients": False,
    "deconvnet": None,
    "guided_backprop": True,
    "gradcam": False,
    "guided_gradcam": True,
}


def _check_methods(methods: Sequence[str]) -> list[str]:
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; use some of {', '.join(METHODS)}")
    return methods


def captum_rules_apply(model: nn.Module) -> bool:
    """True when Captum's ``GuidedBackprop`` / ``Deconvolution`` are correct for ``model``: its
    activations are ``nn.ReLU`` modules (which Captum hooks), none ``nn.ReLU6`` or other
    activation modules (which it silently leaves plain). Functional ``F.relu`` calls cannot be
    seen here; the models of this book use modules."""
    relus, others = 0, 0
    for m in model.modules():
        if type(m) is nn.ReLU:
            relus += 1
        elif isinstance(m, (nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish)):
            others += 1
    return relus > 0 and others == 0


def gradcam_layer(model: nn.Module) -> tuple[nn.Module, bool]:
    """``(module, attribute_to_layer_input)``: where Grad-CAM reads the last feature map ``A``.

    EfficientNet: the input of its global average pool (after the head's ReLU6); VGG-style
    ``features``/``avgpool`` networks: the input of ``avgpool`` (after the last ReLU and max
    pool, as torchvision's VGG-16); an ``nn.Sequential``: the output of its last ReLU.
    """
    for name in ("_avg_pooling", "avgpool"):
        if isinstance(getattr(model, name, None), nn.Module):
            return getattr(model, name), True
    if isinstance(model, nn.Sequential):
        acts = [m for m in model if isinstance(m, (nn.ReLU, nn.ReLU6))]
        if acts:
            return acts[-1], False
    raise ValueError(f"no Grad-CAM layer known for {type(model).__name__}; pass cam_layer")


def method_implementations(model: nn.Module) -> dict[str, str]:
    """Which implementation :func:`attribution_maps` uses for each method on ``model``."""
    captum = captum_rules_apply(model)
    guided = "Captum GuidedBackprop" if captum else "the book's guided rule"
    return {
        "saliency": "Captum Saliency",
        "input_x_gradient": "Captum Saliency × input (= Captum InputXGradient)",
        "smoothgrad": "Captum NoiseTunnel(Saliency)",
        "integrated_gradients": "Captum IntegratedGradients",
        "deconvnet": "Captum Deconvolution" if captum else "the book's deconv rule",
        "guided_backprop": guided,
        "gradcam": "Captum LayerGradCam + LayerAttribution.interpolate",
        "guided_gradcam": f"{guided} × Captum's upsampled Grad-CAM",
    }


def rule_maps(
    model: nn.Module, xs: torch.Tensor, targets: torch.Tensor, rules: Sequence[str]
) -> dict[str, torch.Tensor]:
    """The book's backward rules with one target per image, all rules from one forward pass.

    ``targets``: ``(B,)`` logit indices; returns ``{rule: (B, 3, H, W)}``.
    """
    out: dict[str, torch.Tensor] = {}
    with torch.enable_grad(), switchable_rules(model) as state:
        xg = xs.detach().clone().requires_grad_(True)
        sel = model(xg).gather(1, targets[:, None].to(xg.device)).sum()
        for i, rule in enumerate(rules):
            state["rule"] = rule
            out[rule] = torch.autograd.grad(sel, xg, retain_graph=i < len(rules) - 1)[0]
    return out


def attribution_maps(
    model: nn.Module,
    xs: torch.Tensor,
    targets: torch.Tensor | Sequence[int] | str = "max",
    methods: Sequence[str] = tuple(METHODS),
    *,
    smoothgrad_samples: int = 8,
    smoothgrad_std: float = 0.3,
    ig_steps: int = 16,
    baseline: torch.Tensor | None = None,
    cam_layer: tuple[nn.Module, bool] | None = None,
    seed: int = 0,
    batch_size: int = 16,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Maps of every method in ``methods`` for images ``xs`` ``(B, 3, H, W)`` (preprocessed).

    Args:
        targets: ``"max"`` (each image's top logit) or ``(B,)`` logits, one per image.
        smoothgrad_samples, smoothgrad_std: SmoothGrad's noisy copies and the noise's standard
            deviation in the model's input units; the noise is drawn from ``seed``.
        ig_steps: Integrated Gradients' Gauss-Legendre points; ``baseline``: its starting point
            ``(3, H, W)`` or ``(B, 3, H, W)`` (default zeros).
        cam_layer: ``(module, attribute_to_layer_input)``, default :func:`gradcam_layer`.
        batch_size: images per pass of SmoothGrad and Integrated Gradients.

    Returns:
        ``(maps, targets)``: ``maps[method]`` ``(B, C, H, W)``, targets ``(B,)``.
    """
    from captum.attr import (
        Deconvolution,
        GuidedBackprop,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Saliency,
    )

    methods = _check_methods(methods)
    xs = xs.detach()
    if isinstance(targets, str):
        if targets != "max":
            raise ValueError(f"targets must be 'max' or logit indices, got {targets!r}")
        with torch.no_grad():
            targets = model(xs).argmax(1)
    targets = torch.as_tensor(targets, dtype=torch.long, device=xs.device).reshape(-1)
    if len(targets) != len(xs):
        raise ValueError(f"{len(targets)} targets for {len(xs)} images")
    tgt, want, maps = targets.tolist(), set(methods), {}
    if want & {"saliency", "input_x_gradient"}:  # one gradient serves both
        grad = Saliency(model).attribute(xs.clone().requires_grad_(), target=tgt, abs=False)
        maps["saliency"], maps["input_x_gradient"] = grad, grad * xs
    if "smoothgrad" in want:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            maps["smoothgrad"] = NoiseTunnel(Saliency(model)).attribute(
                xs.clone().requires_grad_(),
                nt_type="smoothgrad",
                nt_samples=int(smoothgrad_samples),
                nt_samples_batch_size=max(1, batch_size // len(xs)),
                stdevs=float(smoothgrad_std),
                target=tgt,
                abs=False,
            )
    if "integrated_gradients" in want:
        base = torch.zeros_like(xs) if baseline is None else baseline.expand_as(xs).to(xs)
        maps["integrated_gradients"] = IntegratedGradients(model).attribute(
            xs.clone().requires_grad_(),
            baselines=base,
            target=tgt,
            n_steps=int(ig_steps),
            internal_batch_size=max(batch_size, len(xs)),
        )
    rules = [r for r, m in (("guided", "guided_backprop"), ("deconv", "deconvnet")) if m in want]
    if "guided_gradcam" in want and "guided" not in rules:
        rules.insert(0, "guided")
    if rules and captum_rules_apply(model):
        cls = {"guided": GuidedBackprop, "deconv": Deconvolution}
        by_rule = {
            r: cls[r](model).attribute(xs.clone().requires_grad_(), target=tgt) for r in rules
        }
    elif rules:
        by_rule = rule_maps(model, xs, targets, rules)
    if "guided_backprop" in want:
        maps["guided_backprop"] = by_rule["guided"]
    if "deconvnet" in want:
        maps["deconvnet"] = by_rule["deconv"]
    if want & {"gradcam", "guided_gradcam"}:
        layer, to_input = cam_layer or gradcam_layer(model)
        cam = LayerGradCam(model, layer).attribute(
            xs.clone().requires_grad_(),
            target=tgt,
            attribute_to_layer_input=to_input,
            relu_attributions=True,
        )
        maps["gradcam"] = LayerAttribution.interpolate(cam, tuple(xs.shape[-2:]), "bilinear")
        if "guided_gradcam" in want:
            maps["guided_gradcam"] = by_rule["guided"] * maps["gradcam"]
    return {m: maps[m].detach() for m in methods}, targets


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks ``1..n`` of the entries of ``a`` (flattened), ties sharing their average rank: the
    same as ``scipy.stats.rankdata`` (method ``"average"``), in one sort."""
    a = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(a, kind="stable")
    s = a[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    out = np.empty(len(a))
    out[order] = np.repeat(avg, ends - starts)
    return out


def hog_features(m: np.ndarray, cell: int = 16) -> np.ndarray:
    """HOG features (scikit-image: 9 orientations, ``cell`` x ``cell``-pixel cells, 3 x 3-cell
    blocks) of a 2-D map, e.g. its ``"abs99"`` image."""
    from skimage.feature import hog

    cell = min(cell, max(1, min(m.shape) // 3))  # at least one block on small maps
    return hog(m, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(3, 3))


class SanityReference:
    """One original map with what the sanity-check metrics need of it, computed once.

    :meth:`compare` gives, for a new map, the metrics of Adebayo et al. (2018): ``spearman_abs``
    (Spearman of the ``"abs99"`` maps), ``spearman`` (of the ``"diverging"`` maps), ``ssim`` (of
    the ``"abs99"`` maps), as :func:`~backpropvis.metrics.sanity_similarity` computes them, and
    ``hog`` (Spearman of the HOG features of the ``"abs99"`` maps), and ``degenerate``: 1.0
    where the new map is degenerate (:func:`~backpropvis.metrics.is_degenerate`). Every
    similarity is NaN (undefined) where either map is degenerate.
    """

    def __init__(self, m: Any) -> None:
        self.degenerate = is_degenerate(m)
        self.abs = normalize_map(m, "abs99")
        self._abs_ranks = average_ranks(self.abs)
        self._div_ranks = average_ranks(normalize_map(m, "diverging"))
        self._hog_ranks = average_ranks(hog_features(self.abs))

    def compare(self, m: Any) -> dict[str, float]:
        if self.degenerate or is_degenerate(m):
            undefined = dict.fromkeys(("spearman_abs", "spearman", "ssim", "hog"), float("nan"))
            return undefined | {"degenerate": float(is_degenerate(m))}
        new = normalize_map(m, "abs99")
        return {
            "spearman_abs": pearson(self._abs_ranks, average_ranks(new)),
            "spearman": pearson(self._div_ranks, average_ranks(normalize_map(m, "diverging"))),
            "ssim": ssim(self.abs, new),
            "hog": pearson(self._hog_ranks, average_ranks(hog_features(new))),
            "degenerate": 0.0,
        }


def map_class_invariance(maps: torch.Tensor) -> float:
    """Chapter 1's class-invariance score of ``T`` maps ``(T, C, H, W)`` of one image: the mean
    off-diagonal Pearson correlation. Pairs with a degenerate map (an all-zero Grad-CAM, say:
    :func:`~backpropvis.metrics.is_degenerate`) have no correlation and are left out; NaN when
    no pair is left."""
    flat = maps.detach().flatten(1).double().cpu().numpy()
    ok = np.array([not is_degenerate(m) for m in flat])
    flat = flat - flat.mean(1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1)
    if ok.sum() < 2:
        return float("nan")
    unit = flat[ok] / norms[ok, None]
    corr = unit @ unit.T
    return float(corr[~np.eye(len(corr), dtype=bool)].mean())


def weight_changes(model: nn.Module, other: nn.Module) -> set[str]:
    """Names of the parameters and buffers whose values differ between two copies of one
    architecture (the state dicts' keys)."""
    theirs = other.state_dict()
    return {k for k, v in model.state_dict().items() if not torch.equal(v, theirs[k])}


def randomization_study(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, Sequence[str]]],
    xs: torch.Tensor,
    references: dict[str, Sequence[SanityReference]],
    mode: str = "cascading",
    **settings: Any,
) -> Iterator[tuple[str, dict[str, list[dict[str, float]]], dict[str, torch.Tensor]]]:
    """Model randomization (:func:`~backpropvis.randomization.randomizations`) for every method.

    For each step, from the logits down, yields ``(label, scores, maps)``: ``scores[method]`` one
    :meth:`SanityReference.compare` dict per image (the map of the randomized model's own top
    class against ``references[method][b]``, with ``degenerate``: 1.0 where the new map is
    degenerate and the similarities undefined), ``maps[method]`` the maps ``(B, C, H, W)``.
    ``settings`` go to :func:`attribution_maps`.
    """
    for label, net in randomizations(model, donor, groups, mode):
        maps, _ = attribution_maps(
            net.requires_grad_(False), xs, "max", list(references), **settings
        )
        scores = {
            m: [ref.compare(maps[m][b]) for b, ref in enumerate(refs)]
            for m, refs in references.items()
        }
        yield label, scores, maps
        del net
