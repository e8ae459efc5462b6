"""Class activation maps: Grad-CAM and Guided Grad-CAM.

``gradcam`` is ``relu(sum_c alpha_c A_c)``, ``alpha_c`` the spatial mean of ``df_k/dA_c`` at the
last feature map ``A`` (Captum ``LayerGradCam``), upsampled bilinearly to the input (Captum
``LayerAttribution.interpolate``); ``guided_gradcam`` is guided backprop times that upsampled
map. Grad-CAM maps are ``(B, 1, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .modified import captum_rules_apply
from .registry import Ingredients, MapBatch, Method, register

__all__ = ["gradcam_layer"]


def gradcam_layer(model: nn.Module) -> tuple[nn.Module, bool]:
    """``(module, attribute_to_layer_input)``: where Grad-CAM reads the last feature map ``A``.

    EfficientNet: the input of its global average pool (after the head's ReLU6); VGG-style
    ``features``/``avgpool`` networks: the input of ``avgpool`` (after the last ReLU and max
    pool, as torchvision's VGG-16); an ``nn.Sequential``: the output of its last ReLU before
    the first ``nn.Flatten`` (the last feature map with positions, not a fully connected layer).
    """
    for name in ("_avg_pooling", "avgpool"):
        if isinstance(getattr(model, name, None), nn.Module):
            return getattr(model, name), True
    if isinstance(model, nn.Sequential):
        layers = list(model)
        flat = [i for i, m in enumerate(layers) if isinstance(m, nn.Flatten)]
        layers = layers[: flat[0]] if flat else layers
        acts = [m for m in layers if isinstance(m, (nn.ReLU, nn.ReLU6))]
        if acts:
            return acts[-1], False
    raise ValueError(f"no Grad-CAM layer known for {type(model).__name__}; pass cam_layer")


def _gradcam(batch: MapBatch) -> torch.Tensor:
    from captum.attr import LayerAttribution, LayerGradCam

    layer, to_input = batch.settings["cam_layer"] or gradcam_layer(batch.model)
    cam = LayerGradCam(batch.model, layer).attribute(
        batch.fresh_input(),
        target=batch.target_list,
        attribute_to_layer_input=to_input,
        relu_attributions=True,
    )
    return LayerAttribution.interpolate(cam, tuple(batch.xs.shape[-2:]), "bilinear")


def _gradcam_by_hand(model, xs, targets, cam_layer=None, **_) -> torch.Tensor:
    """``alpha_c`` = spatial mean of ``df/dA_c``, ``relu(sum_c alpha_c A_c)``, bilinear."""
    layer, to_input = cam_layer or gradcam_layer(model)
    store = {}
    hook = (
        layer.register_forward_pre_hook(lambda m, i: store.__setitem__("A", i[0]))
        if to_input
        else layer.register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    )
    try:
        out = model(xs.clone().requires_grad_(True))
    finally:
        hook.remove()
    a = store["A"]
    (da,) = torch.autograd.grad(out.gather(1, torch.as_tensor(targets)[:, None]).sum(), a)
    cam = F.relu((da.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    return F.interpolate(cam, size=tuple(xs.shape[-2:]), mode="bilinear").detach()


def _captum_guided_gradcam(model, xs, targets, cam_layer=None, **_) -> torch.Tensor:
    from captum.attr import GuidedGradCam

    layer, _to_input = cam_layer or gradcam_layer(model)
    return GuidedGradCam(model, layer).attribute(
        xs.clone(), target=list(targets), interpolate_mode="bilinear"
    )


def _guided_implementation(model: nn.Module) -> str:
    guided = "Captum GuidedBackprop" if captum_rules_apply(model) else "the book's guided rule"
    return f"{guided} × Captum's upsampled Grad-CAM"


register(
    Method(
        "gradcam",
        "Grad-CAM",
        "cam",
        Ingredients("plain", gradcam=True),
        _gradcam,
        lambda model: "Captum LayerGradCam + LayerAttribution.interpolate",
        needs=("cam_layer",),
        reference=_gradcam_by_hand,
        sanity_checks=False,
        mnist_permuted_spearman_abs=0.02,
    )
)
register(
    Method(
        "guided_gradcam",
        "Guided Grad-CAM",
        "cam",
        Ingredients("guided", gradcam=True),
        lambda batch: batch.map("guided_backprop") * batch.map("gradcam"),
        _guided_implementation,
        needs=("cam_layer",),
        reference=_captum_guided_gradcam,
        sanity_checks=True,
        mnist_permuted_spearman_abs=0.57,
    )
)
