"""Chapter 9's figures: the phase diagram of width against depth, and the rank-one test by
layer. Drawn at the book's width and font (:mod:`.plotting`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .plotting import FIGURE_WIDTH

__all__ = ["plot_layer_curves", "plot_phase_diagram"]


def plot_phase_diagram(
    panels: dict[str, Any], depths: Sequence[int], widths: Sequence[int], label: str
):
    """One heat map per method (``panels``: ``{title: (len(depths), len(widths)) values}``), depth
    ``L`` down and width ``N`` across, four to a row, on one 0-1 color scale named ``label``.
    Returns the matplotlib figure."""
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_c = 4
    n_r = math.ceil(len(panels) / n_c)
    fig, axes = plt.subplots(n_r, n_c, figsize=(FIGURE_WIDTH, 2.0 * n_r + 0.5), squeeze=False)
    image = None
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for i, (ax, (title, values)) in enumerate(zip(axes.flat, panels.items(), strict=False)):
        image = ax.imshow(np.asarray(values, dtype=float), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xticks(range(len(widths)), [str(w) for w in widths] if i >= len(panels) - n_c
                      else [])  # fmt: skip
        ax.set_yticks(range(len(depths)), [str(d) for d in depths] if i % n_c == 0 else [])
        if i % n_c == 0:
            ax.set_ylabel("depth L")
        if i >= len(panels) - n_c:
            ax.set_xlabel("width N")
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    if image is not None:
        cax = fig.add_axes((0.9, 0.15, 0.02, 0.7))
        fig.colorbar(image, cax=cax, label=label)
    return fig


def plot_layer_curves(panels: dict[str, dict[str, Sequence[float]]], random: dict[str, Any]):
    """CSC by depth from the logits, one panel per network (``panels``: ``{network: {method:
    values}}``, a value per level: the logits, every ReLU from the top, the input), the random
    baseline ``random[network]`` dashed, two panels to a row. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_rows = math.ceil((len(panels) + 1) / 2)
    fig, axes = plt.subplots(n_rows, 2, figsize=(FIGURE_WIDTH, 3.0 * n_rows), squeeze=False)
    for ax, (network, lines) in zip(axes.flat, panels.items(), strict=False):
        for method, values in lines.items():
            ax.plot(range(len(values)), values, marker="o", ms=2.5, lw=1.2, label=method)
        ax.plot(range(len(random[network])), random[network], "k--", lw=1, label="random")
        ax.set_title(network)
        ax.set_ylim(0, 1.03)
        ax.set_xlabel("ReLUs from the logits")
        ax.set_ylabel("CSC")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    axes.flat[len(panels)].legend(handles, labels, frameon=False, loc="center", ncol=2)
    fig.tight_layout()
    return fig
