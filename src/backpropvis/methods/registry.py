"""The registry of attribution methods: one :class:`Method` entry each, and the one function that
computes any of them, :func:`attribution_maps`.

An entry says how the map is computed (``compute``), what it is made of as far as the paper's
argument is concerned (``ingredients``), what it needs beyond the model and the images
(``needs``: SmoothGrad's noise, a baseline, Grad-CAM's feature map), which implementation runs on
a given model (``implementation``), a reference computation for its test where one exists
(``reference``) and what the sanity-checks paper found for it (``sanity_checks``). Adding a
method is one :func:`register` call in the module of its family (:mod:`.gradient`,
:mod:`.modified`, :mod:`.cam`, :mod:`.lrp`) plus its test.

Maps are ``(B, C, H, W)``: ``C = 3`` for input-space maps, 1 for Grad-CAM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.rules import backward_rule

__all__ = [
    "HALF",
    "LRP_RULES",
    "METHODS",
    "Ingredients",
    "Method",
    "MapBatch",
    "attribution_maps",
    "backward_methods",
    "backward_pass",
    "half_key",
    "method_implementations",
    "method_keys",
    "register",
]


#: The rules of layer-wise relevance propagation (:mod:`.lrp`), as :class:`Ingredients` name
#: them: LRP-ε, LRP-z⁺ and LRP-α2β1 at every layer, zennit's two composites.
LRP_RULES = ("epsilon", "zplus", "alpha2beta1", "epsilon-plus-flat", "epsilon-gamma-box")

#: The backward rules whose factor from the upper layers is positive with a mean that does not
#: depend on the weights (:attr:`Ingredients.predicted_insensitive`).
POSITIVE_BACKWARD = ("guided", "deconv", "zplus", "alpha2beta1")


@dataclass(frozen=True)
class Ingredients:
    """What a method's map is made of, as far as the paper's argument is concerned.

    ``backward``: the rule ``h`` at every ReLU (``"plain"``, ``"guided"``, ``"deconv"``), or
    for layer-wise relevance propagation the rule at the layers (:data:`LRP_RULES`);
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
        upper layers, and so does Grad-CAM's channel weighting. LRP-z⁺ and LRP-α2β1 reach the
        upper layers through shares of ``V⁺`` (α2β1: twice those of ``V⁺`` less those of
        ``V⁻``), again a positive factor of the same mean for any weights; LRP-ε carries the
        signed ``V`` as the plain rule does, and so do EpsilonPlusFlat and EpsilonGammaBox, whose
        linear layers use ε."""
        return self.backward in POSITIVE_BACKWARD and not self.gradcam


@dataclass
class MapBatch:
    """One call of :func:`attribution_maps`: the model, the images ``xs`` ``(B, 3, H, W)``, one
    target logit per image (``targets`` ``(B,)``), the settings, and the maps already computed,
    so that methods built on one another (gradient × input on the gradient, Guided Grad-CAM on
    guided backprop and Grad-CAM) share them."""

    model: nn.Module
    xs: torch.Tensor
    targets: torch.Tensor
    settings: dict[str, Any]
    wanted: list[str]
    done: dict[str, torch.Tensor] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)

    def map(self, key: str) -> torch.Tensor:
        """The map of method ``key`` for this batch, computed once."""
        if key not in self.done:
            self.done[key] = METHODS[key].compute(self)
        return self.done[key]

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """A piece several methods share (``make()`` runs at most once per batch)."""
        if name not in self.shared:
            self.shared[name] = make()
        return self.shared[name]

    @property
    def target_list(self) -> list[int]:
        return self.targets.tolist()

    def fresh_input(self) -> torch.Tensor:
        """A copy of the images that requires grad (Captum's attributions take one)."""
        return self.xs.clone().requires_grad_()


@dataclass(frozen=True)
class Method:
    """One attribution method (module docstring).

    ``key``: its name in metrics and settings; ``label``: how the book writes it; ``family``:
    the module of the family that registers it (``"gradient"``, ``"modified"``, ``"cam"``...);
    ``rule``: the book's backward rule ``h`` whose map this method is, where it is one (the
    saliency map is the plain rule, DeconvNet and guided backprop theirs), else ``None``;
    ``compute(batch)``: its map ``(B, C, H, W)`` for a :class:`MapBatch`; ``needs``: the
    settings it reads (``smoothgrad_samples``, ``baseline``, ``cam_layer``...);
    ``implementation(model)``: which implementation runs on ``model``, in words;
    ``reference(model, xs, targets, **settings)``: an independent computation of the same map
    for its test, where one exists; ``sanity_checks``: Adebayo et al. (2018), cascading
    randomization of Inception v3: True where they report the map insensitive (visually
    similar to the original), False where it changes markedly, None where not tested;
    ``mnist_permuted_spearman_abs``: their data randomization test of an MNIST CNN, the rank
    correlation of ``|map|`` between the true-label and the permuted-label model, read off their
    figure (approximate), None where not tested; ``backward(model, xs)``: for a method that is
    one modified backward pass of the logits, other than a rule ``h`` (which ``rule`` names), the
    context in which autograd's backward of ``model`` on ``xs`` is this method's
    (:func:`backward_pass`).
    """

    key: str
    label: str
    family: str
    ingredients: Ingredients
    compute: Callable[[MapBatch], torch.Tensor]
    implementation: Callable[[nn.Module], str]
    rule: str | None = None
    needs: tuple[str, ...] = ()
    reference: Callable[..., torch.Tensor] | None = None
    sanity_checks: bool | None = None
    mnist_permuted_spearman_abs: float | None = None
    backward: Callable[[nn.Module, torch.Tensor], AbstractContextManager] | None = None


#: The suffix of a map at half of SmoothGrad's copies or Integrated Gradients' steps
#: (:func:`attribution_maps` with ``halves=True``): ``"smoothgrad" + HALF``.
HALF = "@half"


def half_key(method: str) -> str:
    """The key of ``method``'s map at half its samples or steps."""
    return method + HALF


def half_of(n: int) -> int:
    """Half of ``n`` noisy copies or steps: ``n // 2``, at least one."""
    return max(1, int(n) // 2)


#: Every registered method, in the order of the book's tables and figures.
METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (its key must be new)."""
    if method.key in METHODS:
        raise ValueError(f"method {method.key!r} is registered twice")
    METHODS[method.key] = method
    return method


def method_keys(*families: str) -> list[str]:
    """The keys of the registered methods of ``families`` (every family when none is named),
    in the registry's order."""
    return [k for k, m in METHODS.items() if not families or m.family in families]


def backward_methods(*families: str) -> list[str]:
    """The keys of :func:`method_keys` whose map is one modified backward pass of the logits
    (a rule ``h`` or a ``backward``): those :func:`backward_pass` can run with any vector."""
    return [k for k in method_keys(*families) if METHODS[k].rule or METHODS[k].backward]


def backward_pass(method: str, model: nn.Module, xs: torch.Tensor) -> AbstractContextManager:
    """The context in which autograd's backward pass of ``model`` on images ``xs`` is
    ``method``'s (:func:`backward_methods`): the rule ``h`` at every ReLU, or the method's
    ``backward`` (LRP's rules at the layers)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    entry = METHODS[method]
    if entry.backward is not None:
        return entry.backward(model, xs)
    if entry.rule is not None:
        return backward_rule(model, entry.rule)
    raise ValueError(
        f"{entry.label} is not one backward pass of the logits; use one of "
        f"{', '.join(backward_methods())}"
    )


def _check_methods(methods: Sequence[str]) -> list[str]:
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; use some of {', '.join(METHODS)}")
    return methods


def _check_repeats(xs: torch.Tensor, repeats: int) -> None:
    if not isinstance(repeats, int) or repeats < 1 or len(xs) % repeats:
        raise ValueError(
            f"repeats must be a whole divisor of the {len(xs)} images, got {repeats!r}"
        )
    runs = xs.reshape(-1, repeats, *xs.shape[1:])
    if repeats > 1 and not torch.equal(runs, runs[:, :1].expand_as(runs)):
        raise ValueError(
            f"repeats={repeats}: the images are not runs of {repeats} identical copies"
        )


def method_implementations(model: nn.Module, methods: Sequence[str] | None = None) -> dict:
    """Which implementation :func:`attribution_maps` uses for each method on ``model``."""
    return {m: METHODS[m].implementation(model) for m in (methods or METHODS)}


def attribution_maps(
    model: nn.Module,
    xs: torch.Tensor,
    targets: torch.Tensor | Sequence[int] | str = "max",
    methods: Sequence[str] | None = None,
    *,
    smoothgrad_samples: int = 8,
    smoothgrad_std: float = 0.3,
    ig_steps: int = 16,
    baseline: torch.Tensor | None = None,
    cam_layer: tuple[nn.Module, bool] | None = None,
    seed: int = 0,
    batch_size: int = 16,
    halves: bool = False,
    repeats: int = 1,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Maps of every method in ``methods`` (default: all of :data:`METHODS`) for images ``xs``
    ``(B, 3, H, W)`` (preprocessed).

    Args:
        targets: ``"max"`` (each image's top logit) or ``(B,)`` logits, one per image.
        smoothgrad_samples, smoothgrad_std: SmoothGrad's noisy copies and the noise's standard
            deviation in the model's input units; the copies are drawn one by one from ``seed``.
        ig_steps: Integrated Gradients' points of the right Riemann sum; ``baseline``: its
            starting point ``(3, H, W)`` or ``(B, 3, H, W)`` (default zeros).
        cam_layer: ``(module, attribute_to_layer_input)``, default
            :func:`~backpropvis.methods.cam.gradcam_layer`.
        batch_size: images per pass of SmoothGrad and Integrated Gradients.
        halves: also return, under :func:`half_key`, the maps of SmoothGrad and Integrated
            Gradients at half the copies and steps, from the same passes (the first half of the
            copies; every second Riemann point), for a convergence check at no extra cost (an odd
            ``ig_steps`` pays for its own half passes).
        repeats: the images come in runs of ``repeats`` identical copies, one per target (the
            logits of class invariance); SmoothGrad and Integrated Gradients then pass each
            distinct image forward once and share its noisy copies among its targets.

    Returns:
        ``(maps, targets)``: ``maps[method]`` ``(B, C, H, W)``, targets ``(B,)``.
    """
    methods = _check_methods(list(METHODS) if methods is None else methods)
    xs = xs.detach()
    if isinstance(targets, str):
        if targets != "max":
            raise ValueError(f"targets must be 'max' or logit indices, got {targets!r}")
        with torch.no_grad():
            targets = model(xs).argmax(1)
    targets = torch.as_tensor(targets, dtype=torch.long, device=xs.device).reshape(-1)
    if len(targets) != len(xs):
        raise ValueError(f"{len(targets)} targets for {len(xs)} images")
    _check_repeats(xs, repeats)
    settings = {
        "smoothgrad_samples": smoothgrad_samples,
        "smoothgrad_std": smoothgrad_std,
        "ig_steps": ig_steps,
        "baseline": baseline,
        "cam_layer": cam_layer,
        "seed": seed,
        "batch_size": batch_size,
        "repeats": repeats,
        "halves": halves,
    }
    batch = MapBatch(model, xs, targets, settings, methods)
    maps = {m: batch.map(m).detach() for m in methods}
    if halves:
        maps |= {half_key(m): batch.shared[half_key(m)].detach() for m in methods
                 if half_key(m) in batch.shared}  # fmt: skip
    return maps, targets
