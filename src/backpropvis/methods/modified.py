"""Modified backpropagation: DeconvNet and guided backprop, the paper's backward rules ``h``.

``deconvnet`` passes ``h = sigma(R)`` down at every ReLU, ``guided_backprop`` ``[z > 0]
sigma(R)`` (:mod:`backpropvis.core.rules`). Captum's ``GuidedBackprop`` and ``Deconvolution``
hook ``nn.ReLU`` modules only: on a network with ``nn.ReLU6`` (the offline EfficientNet-Lite0)
they silently return the plain gradient. There the book's rules
(:func:`~backpropvis.core.attribution.backprop_maps`), which cover ``nn.ReLU``, ``nn.ReLU6``
and ``F.relu``, compute every rule a batch needs from one forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.attribution import backprop_maps
from .registry import Ingredients, MapBatch, Method, register

__all__ = ["captum_rules_apply"]

#: The book's rule behind each method of this family, and the methods that use it.
RULE_OF = {"guided_backprop": "guided", "deconvnet": "deconv", "guided_gradcam": "guided"}


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


def rule_map(batch: MapBatch, rule: str) -> torch.Tensor:
    """The map of the book's ``rule`` for the batch: Captum where it is correct for the model,
    else every rule the batch's methods need from one forward pass of the book's rules."""
    if captum_rules_apply(batch.model):
        from captum.attr import Deconvolution, GuidedBackprop

        cls = {"guided": GuidedBackprop, "deconv": Deconvolution}[rule]
        return batch.once(f"captum {rule}", lambda: cls(batch.model).attribute(
            batch.fresh_input(), target=batch.target_list
        ))  # fmt: skip
    rules = list(dict.fromkeys(RULE_OF[m] for m in batch.wanted if m in RULE_OF))
    maps = batch.once(
        "book rules", lambda: backprop_maps(batch.model, batch.xs, rules, per_image=batch.targets)
    )
    return maps[0][rule]


def _implementation(rule: str):
    def describe(model: nn.Module) -> str:
        if captum_rules_apply(model):
            return {"guided": "Captum GuidedBackprop", "deconv": "Captum Deconvolution"}[rule]
        return f"the book's {rule} rule"

    return describe


def _one_map_per_image(rule: str):
    """The reference: :func:`~backpropvis.core.attribution.backprop_maps` one image at a time."""

    def reference(model, xs, targets, **_) -> torch.Tensor:
        return torch.cat(
            [
                backprop_maps(model, x[None], rule, int(k))[0][rule]
                for x, k in zip(xs, targets, strict=True)
            ]
        )

    return reference


register(
    Method(
        "deconvnet",
        "DeconvNet",
        "modified",
        Ingredients("deconv"),
        lambda batch: rule_map(batch, "deconv"),
        _implementation("deconv"),
        rule="deconv",
        reference=_one_map_per_image("deconv"),
        sanity_checks=None,
    )
)
register(
    Method(
        "guided_backprop",
        "guided backprop",
        "modified",
        Ingredients("guided"),
        lambda batch: rule_map(batch, "guided"),
        _implementation("guided"),
        rule="guided",
        reference=_one_map_per_image("guided"),
        sanity_checks=True,
        mnist_permuted_spearman_abs=0.57,
    )
)
