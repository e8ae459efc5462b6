"""Model randomization, the sanity check of Adebayo et al. (2018).

:func:`randomization_groups` lists a network's layers in groups; :func:`randomizations`
re-initializes them from the logits down, cascading or one at a time, with the architecture's
own initialization (a donor model); :func:`randomization_run` compares the maps of every step
with the original maps, for backward rules and attribution methods alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.metrics import mean_std
from .sanity import SanityReference

__all__ = ["randomization_groups", "randomization_run"]


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


def weight_changes(model: nn.Module, other: nn.Module) -> set[str]:
    """Names of the parameters and buffers whose values differ between two copies of one
    architecture (the state dicts' keys)."""
    theirs = other.state_dict()
    return {k for k, v in model.state_dict().items() if not torch.equal(v, theirs[k])}


@dataclass
class RandomizationRun:
    """One randomization mode: ``steps`` (group labels, from the logits down),
    ``curves[key]`` (per step: ``layer`` and the mean and ``_std`` over photos of each sanity
    metric and of ``degenerate``, the share of photos whose map is degenerate),
    ``example[key]`` (the first photo's original map, then its map after each step),
    ``final`` (every map after the last step). ``key`` is a backward rule or a method."""

    steps: list[str] = field(default_factory=list)
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    example: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    final: dict[str, torch.Tensor] = field(default_factory=dict)


def randomization_run(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, Sequence[str]]],
    original: Mapping[str, torch.Tensor],
    mode: str,
    maps_of: Callable[[nn.Module], Mapping[str, torch.Tensor]],
    references: Mapping[str, Sequence[SanityReference]] | None = None,
    hog: bool = True,
) -> RandomizationRun:
    """The model-randomization test of Adebayo et al. (2018), one step per group.

    At each step of :func:`randomizations` (``mode`` "cascading" or "independent"),
    ``maps_of(net)`` gives the randomized model's maps ``{key: (B, C, H, W)}`` for its own top
    class (the backward rules of :func:`~backpropvis.core.attribution.backprop_maps`, or the
    methods of :func:`~backpropvis.methods.attribution_maps`), each compared with ``original``
    (``{key: (B, C, H, W)}``) by :class:`~backpropvis.studies.sanity.SanityReference`
    (``references``: the originals already prepared, else made here; ``hog``: with the HOG
    score).
    """
    refs = references or {k: [SanityReference(m, hog=hog) for m in v] for k, v in original.items()}
    run = RandomizationRun()
    run.curves = {k: [] for k in refs}
    run.example = {k: [original[k][0]] for k in refs}
    for label, net in randomizations(model, donor, groups, mode):
        maps = maps_of(net.requires_grad_(False))  # the maps need input gradients only
        run.steps.append(label)
        for k, kref in refs.items():
            scores = [ref.compare(m) for ref, m in zip(kref, maps[k], strict=True)]
            run.curves[k].append({"layer": label} | mean_std(scores))
            run.example[k].append(maps[k][0])
        run.final = dict(maps)
        del net
    return run
