"""Deeper readouts and model randomization (the sanity checks of Adebayo et al., 2018).

:class:`LayerReadouts` places the random logit of Eq. (1) after a chosen layer of a deep
network; :func:`randomizations` re-initializes a trained network's layers from the logits down,
cascading or one at a time, with the architecture's own initialization (a donor model).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import streams
from ._checks import check_seed
from .attribution import backprop_maps
from .metrics import is_degenerate, mean_std, sanity_similarity


def conv_relus(features: nn.Sequential) -> dict[str, int]:
    """VGG-style names of the convolutions in a feature stack, each with the index of the ReLU
    after it: ``{"conv1_1": 1, "conv1_2": 3, "conv2_1": 6, ...}`` (block counted by max pools)."""
    out: dict[str, int] = {}
    block, count, name = 1, 0, None
    for i, module in enumerate(features):
        if isinstance(module, nn.MaxPool2d):
            block, count = block + 1, 0
        elif isinstance(module, nn.Conv2d):
            count += 1
            name = f"conv{block}_{count}"
        elif isinstance(module, nn.ReLU) and name is not None:
            out[name], name = i, None
    return out


class LayerReadouts(nn.Module):
    """Random linear readouts of several depths of a feature stack, as logits ``(B, L)``.

    Logit ``l`` is ``<V_l, a_l(x)>`` with ``a_l`` the output of ``features[: layers[l] + 1]``
    and ``V_l`` i.i.d. ``N(0, 1)`` of ``a_l``'s shape, drawn from the ``READOUTS`` stream of
    ``(seed, layers[l])``: a random logit of Eq. (1) placed after ``layers[l] + 1`` modules.
    One forward pass serves every readout. Read out ReLU outputs (an in-place ReLU must not
    follow a read module).
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        self.layers = [int(i) for i in layers]
        if not self.layers or not all(0 <= i < len(features) for i in self.layers):
            raise ValueError(f"layers must index 0..{len(features) - 1}, got {list(layers)}")
        self.features = features
        self.seed = check_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L)`` of images ``(B, 3, H, W)``."""
        read = {}
        for i, module in enumerate(self.features[: max(self.layers) + 1]):
            x = module(x)
            if i in self.layers:
                v = streams.READOUTS.randn(tuple(x.shape[1:]), self.seed, i).to(x)
                read[i] = (x * v).flatten(1).sum(1)
        return torch.stack([read[i] for i in self.layers], dim=1)


def randomization_groups(model: nn.Module) -> list[tuple[str, list[str]]]:
    """The layers of ``model`` in forward order, as ``(label, module names)`` to re-initialize.

    Modules with parameters inside ``nn.Sequential`` / ``nn.ModuleList`` containers are listed
    one by one; a batch norm joins the group before it; consecutive EfficientNet blocks with the
    same output width (a stage) form one group. VGG-16: 13 conv and 3 linear layers;
    EfficientNet-Lite0: stem, 7 stages, head, classifier. Labels are the first module's name
    (``"_blocks.5-7"`` for a stage of blocks 5 to 7).
    """
    units: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            if next(child.parameters(), None) is None:
                continue
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                visit(f"{prefix}{name}.", child)
            else:
                units.append((f"{prefix}{name}", child))

    visit("", model)
    groups: list[tuple[list[str], Any]] = []
    for name, module in units:
        width = getattr(getattr(module, "_block_args", None), "output_filters", None)
        if groups and isinstance(module, nn.modules.batchnorm._BatchNorm):
            groups[-1][0].append(name)
        elif groups and width is not None and groups[-1][1] == width:
            groups[-1][0].append(name)
        else:
            groups.append(([name], width))

    def label(names: list[str]) -> str:
        blocks = [n for n in names if n.rsplit(".", 1)[-1].isdigit()]
        if len(blocks) > 1:
            return f"{blocks[0]}-{blocks[-1].rsplit('.', 1)[-1]}"
        return names[0]

    return [(label(names), names) for names, _ in groups]


def randomized_copy(model: nn.Module, donor: nn.Module, names: Sequence[str]) -> nn.Module:
    """A deep copy of ``model`` whose modules ``names`` hold ``donor``'s parameters and buffers.

    ``donor`` has the same architecture (e.g. ``load_model("efficientnet_lite0_untrained",
    seed)``), so re-initialization is the architecture's own, seeded by the donor's seed.
    """
    out = copy.deepcopy(model)
    mods, donors = dict(out.named_modules()), dict(donor.named_modules())
    for name in names:
        if name not in mods or name not in donors:
            raise ValueError(f"module {name!r} is not in both models")
        mods[name].load_state_dict(donors[name].state_dict())
    return out


def randomizations(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, Sequence[str]]],
    mode: str = "cascading",
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(label, model with layers re-initialized)`` from the logits down.

    ``groups``: :func:`randomization_groups` (input to output). ``"cascading"``: the top group,
    then the top two, ... down to every group (Adebayo et al., 2018); ``"independent"``: each
    group alone, top first. One copy of ``model`` at a time.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    for k in range(len(groups) - 1, -1, -1):
        chosen = groups[k:] if mode == "cascading" else [groups[k]]
        yield groups[k][0], randomized_copy(model, donor, [n for _, ns in chosen for n in ns])


def randomization_curves(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, list[str]]],
    mode: str,
    xs: torch.Tensor,
    original: dict[str, torch.Tensor],
    rules: Sequence[str],
) -> tuple[dict[str, list[dict[str, Any]]], list[str], dict[str, list[torch.Tensor]]]:
    """The model-randomization test of Adebayo et al. (2018), one step per group.

    At each step of :func:`randomizations` (``mode`` "cascading" or "independent") the maps of
    ``rules`` for the current model's top class are compared with ``original`` (``{rule: (B, 3,
    H, W)}``) by :func:`~backpropvis.metrics.sanity_similarity`. Returns ``(curves, steps,
    example)``: ``curves[rule]`` one dict per step (``layer``, ``degenerate_maps``: the
    fraction of photos whose map is degenerate, zero or constant (its similarities are NaN:
    :func:`~backpropvis.metrics.is_degenerate`), and each metric's mean and ``_std`` over photos),
    ``steps`` the step labels, ``example[rule]`` the first photo's original map, then its map
    after each step.
    """
    curves: dict[str, list[dict[str, Any]]] = {r: [] for r in rules}
    example = {r: [original[r][0]] for r in rules}
    steps: list[str] = []
    for label, randomized in randomizations(model, donor, groups, mode):
        maps, _ = backprop_maps(randomized, xs, rules)
        steps.append(label)
        for r in rules:
            pairs = zip(original[r], maps[r], strict=True)
            row = mean_std([sanity_similarity(a, b) for a, b in pairs])
            dead = np.mean([is_degenerate(m) for m in maps[r]])
            curves[r].append({"layer": label, "degenerate_maps": float(dead)} | row)
            example[r].append(maps[r][0])
    return curves, steps, example
