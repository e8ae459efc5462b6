"""A network in evaluation mode computes the same function with each BatchNorm folded into the
convolution before it: ``gamma (W * x + b - mu) / sqrt(var + eps) + beta`` is one convolution
with weights ``W gamma / sqrt(var + eps)`` and a new bias. :func:`folded_for_maps` makes that
copy (and lays it out channels-last, the fast layout of CPU convolutions), so every map that
needs many backward passes (SmoothGrad's copies, Integrated Gradients' steps, a randomization
test's models) pays for half as many layers. Maps and logits agree with the original's to
float32 rounding; BatchNorm's own backward and forward are a quarter of an EfficientNet's time.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["folded_for_maps"]

_BATCHNORM = nn.BatchNorm2d  # exactly: a subclass may carry an activation of its own


def _conv_batchnorm_pairs(
    model: nn.Module, example: torch.Tensor
) -> tuple[list[tuple[str, str]], torch.Tensor]:
    """``(conv name, batchnorm name)`` for every BatchNorm whose input, in one forward pass of
    ``example``, is exactly the output of a convolution (the same tensor object, not modified
    in place since, as an in-place ReLU would)."""
    names = {m: n for n, m in model.named_modules()}
    made_by: dict[int, tuple[str, int]] = {}
    kept: list[torch.Tensor] = []  # alive until the end, so that no two outputs share an id
    pairs: list[tuple[str, str]] = []

    def conv_out(module, inputs, output):
        kept.append(output)
        made_by[id(output)] = (names[module], output._version)

    def bn_in(module, inputs):
        conv, version = made_by.get(id(inputs[0]), (None, None))
        if conv is not None and inputs[0]._version == version:
            pairs.append((conv, names[module]))

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_out))
        elif type(m) is _BATCHNORM:
            hooks.append(m.register_forward_pre_hook(bn_in))
    try:
        with torch.no_grad():
            logits = model(example)
    finally:
        for h in hooks:
            h.remove()
    return list(dict.fromkeys(pairs)), logits


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight = nn.Parameter(conv.weight * scale.reshape(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def folded_for_maps(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (in ``eval()`` mode) with every convolution-BatchNorm pair folded into
    one convolution and the BatchNorm replaced by ``nn.Identity``, parameters without gradients,
    weights channels-last. ``example``: one input batch ``(B, 3, H, W)``, traced once to find
    which BatchNorm reads which convolution's output. The copy's logits and input gradients are
    the original's to float32 rounding (the logits are checked on ``example[:1]``, to 1e-3);
    ``model`` itself is unchanged.

    Raises:
        ValueError: ``model`` is in training mode (BatchNorm then uses the batch's statistics,
            which no convolution can hold), or the folded copy's logits differ from the
            original's (a convolution's output also used elsewhere than by its BatchNorm).
    """
    if model.training:
        raise ValueError("fold BatchNorm in eval() mode only: in training it uses batch stats")
    fast = copy.deepcopy(model).requires_grad_(False)
    with torch.no_grad():
        pairs, want = _conv_batchnorm_pairs(fast, example[:1])  # the logits before folding
        for conv_name, bn_name in pairs:
            conv, bn = fast.get_submodule(conv_name), fast.get_submodule(bn_name)
            if bn.affine and bn.track_running_stats and conv.out_channels == bn.num_features:
                _fold(conv, bn)
                _replace(fast, bn_name, nn.Identity())
        fast = fast.to(memory_format=torch.channels_last)
        got = fast(example[:1])
    if not torch.allclose(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max())):
        raise ValueError(
            f"folding BatchNorm changed {type(model).__name__}'s logits by "
            f"{float((got - want).abs().max()):.3g}; use the model unfolded"
        )
    return fast
