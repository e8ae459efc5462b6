"""Layer-wise relevance propagation (Bach et al. 2015), through zennit's rules and composites.

A rule passes the relevance ``R_j`` of a layer's outputs ``z_j = sum_i w_ji x_i + b_j`` down to
its inputs (``s(z) = z + eps sign z``, ``+`` and ``-`` the parts of one sign):

* LRP-ε: ``R_i = x_i sum_j w_ji R_j / s(z_j)``; with ``eps -> 0`` on a network without biases
  it is gradient × input over the logit;
* LRP-z⁺ (α1β0): ``R_i = x_i sum_j w⁺_ji R_j / s(sum_i x_i w⁺_ji + b⁺_j)`` for ``x >= 0``, the
  positive contributions only;
* LRP-α2β1: ``2`` times the positive contributions' share minus ``1`` times the negative ones';
* EpsilonPlusFlat: z⁺ at the convolutions, ε at the linear layers, the flat rule
  (``R_i = sum_j R_j / n_j``, every input of a unit alike) at the first layer;
* EpsilonGammaBox: γ (``w + 0.25 w⁺``) at the convolutions, ε at the linear layers, the box rule
  at the first layer, with each image's smallest and largest value as its bounds.

ReLUs pass relevance unchanged (a dead unit's input is zero, so the rule below gives it none),
max pools route it to their maximum (their gradient), and batch norms are merged into the layer
before them (zennit's ``SequentialMergeBatchNorm``); a torchvision ResNet gets zennit's
``ResNetCanonizer``, which also makes its residual sums explicit so that relevance splits over
the two branches instead of passing whole to both. Other residual architectures (the offline
EfficientNet-Lite0) have no canonizer in zennit: relevance is not conserved there. zennit's
defaults throughout (``eps = 1e-6``, ``gamma = 0.25``). The map is the relevance at the input, of
the target logit given relevance 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from zennit import composites, rules
from zennit.canonizers import Canonizer, SequentialMergeBatchNorm
from zennit.torchvision import ResNetCanonizer
from zennit.types import Convolution

from .registry import Ingredients, MapBatch, Method, register

__all__ = ["COMPOSITES", "composite_context", "conservation", "relevance"]


def _canonizers(model: nn.Module) -> list[Canonizer]:
    """Batch norms merged into the layer before them; a torchvision ResNet's residual sums made
    explicit (module docstring)."""
    from torchvision.models.resnet import ResNet  # heavy: first use only

    return [ResNetCanonizer()] if isinstance(model, ResNet) else [SequentialMergeBatchNorm()]


Builder = Callable[[nn.Module, torch.Tensor], composites.Composite]


def _everywhere(rule: Callable[[], rules.BasicHook]) -> Builder:
    """One rule at every convolution and linear layer."""

    def composite(model: nn.Module, xs: torch.Tensor) -> composites.Composite:
        layers = [(Convolution, rule()), (nn.Linear, rule())]
        base = composites.layer_map_base() + layers
        return composites.LayerMapComposite(base, _canonizers(model))

    return composite


def _bounded(model: nn.Module, xs: torch.Tensor) -> composites.Composite:
    """EpsilonGammaBox with each image's smallest and largest value as the box rule's bounds."""
    per_image = xs.flatten(1)
    low = per_image.amin(1).view(-1, 1, 1, 1).expand_as(xs)
    high = per_image.amax(1).view(-1, 1, 1, 1).expand_as(xs)
    return composites.EpsilonGammaBox(low=low, high=high, canonizers=_canonizers(model))


#: The zennit composite of each method, built for a model and a batch of images.
COMPOSITES: dict[str, Builder] = {
    "lrp_epsilon": _everywhere(rules.Epsilon),
    "lrp_zplus": _everywhere(rules.ZPlus),
    "lrp_alpha2beta1": _everywhere(lambda: rules.AlphaBeta(alpha=2.0, beta=1.0)),
    "epsilon_plus_flat": lambda model, xs: composites.EpsilonPlusFlat(
        canonizers=_canonizers(model)
    ),
    "epsilon_gamma_box": _bounded,
}


def composite_context(method: str, model: nn.Module, xs: torch.Tensor):
    """The context in which autograd's backward pass of ``model`` on ``xs`` is LRP ``method``'s
    (the model's modules hooked by its composite, restored on exit)."""
    if method not in COMPOSITES:
        raise ValueError(f"unknown LRP method {method!r}; use one of {', '.join(COMPOSITES)}")
    return COMPOSITES[method](model, xs.detach()).context(model)


def relevance(model: nn.Module, xs: torch.Tensor, targets: torch.Tensor, method: str):
    """The relevance at the input ``(B, 3, H, W)`` of logit ``targets[b]`` of image ``b`` under
    ``method``'s composite (:data:`COMPOSITES`)."""
    x = xs.detach().clone().requires_grad_()
    with torch.enable_grad(), composite_context(method, model, xs) as modified:
        out = modified(x)
        if targets.shape != (len(xs),) or not bool(
            ((targets >= 0) & (targets < out.shape[1])).all()
        ):
            raise ValueError(
                f"targets must be one of the {out.shape[1]} logits per image, "
                f"got {targets.tolist()}"
            )
        onehot = torch.zeros_like(out).scatter_(1, targets.to(out.device)[:, None], 1.0)
        (rel,) = torch.autograd.grad(out, x, onehot)
    return rel.detach()


def conservation(model: nn.Module, xs: torch.Tensor, method: str) -> float:
    """The relevance at the input of each image's top logit under ``method``, summed over the
    input and averaged over images, per unit of relevance given to the logit: 1 where the rule
    conserves relevance (LRP-z⁺ on a network without biases, canonized)."""
    with torch.no_grad():
        top = model(xs).argmax(1)
    return float(relevance(model, xs, top, method).flatten(1).sum(1).mean())


def _compute(method: str) -> Callable[[MapBatch], torch.Tensor]:
    return lambda batch: relevance(batch.model, batch.xs, batch.targets, method)


def _implementation(name: str) -> Callable[[nn.Module], str]:
    return lambda model: f"zennit {name}"


# (key, label, rule, times the input at the first layer, zennit's name for it)
for key, label, backward, times_input, zennit_name in (
    ("lrp_epsilon", "LRP-ε", "epsilon", True, "Epsilon at every layer"),
    ("lrp_zplus", "LRP-z⁺", "zplus", True, "ZPlus at every layer"),
    ("lrp_alpha2beta1", "LRP-α2β1", "alpha2beta1", True, "AlphaBeta(2, 1) at every layer"),
    ("epsilon_plus_flat", "LRP EpsilonPlusFlat", "epsilon-plus-flat", False, "EpsilonPlusFlat"),
    ("epsilon_gamma_box", "LRP EpsilonGammaBox", "epsilon-gamma-box", False, "EpsilonGammaBox"),
):
    register(
        Method(
            key,
            label,
            "lrp",
            Ingredients(backward, input=times_input),
            _compute(key),
            _implementation(zennit_name),
            backward=lambda model, xs, key=key: composite_context(key, model, xs),
        )
    )
