"""Figures: grids of maps, sweeps, similarity heat maps, bars and convergence curves.

Maps ``(3, H, W)`` are shown as RGB after :func:`normalize_map`, ``(H, W)`` as gray. Every
function returns its matplotlib figure or axes; matplotlib.pyplot (about 0.7 s to import) is
imported on first use.

The book's figure style is set when this module is imported (:data:`BOOK_RC`): figures are
drawn at the content column's width, :data:`FIGURE_WIDTH`, and every text at
:data:`FONT_PT` or more, so that it reads at 9 CSS px or more on a 1280 px window and 7 px or
more on a phone.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np

from ..core.concentration import loglog_fit
from ..core.metrics import as_array, mean_offdiagonal, normalize_map

__all__ = [
    "label_axes",
    "layer_label",
    "plot_convergence",
    "plot_grid",
    "plot_grouped_bars",
    "plot_heatmaps",
    "plot_randomization",
    "plot_sweep",
    "plot_training_curves",
    "plot_two_displays",
]

#: Inches. The book glues figures as PNG at 100 dpi; its content column is 688 CSS px wide at a
#: 1280 px window (342 px on a 390 px phone), so a figure this wide is shown at its drawn size.
FIGURE_WIDTH = 6.9
#: Points: the smallest text of a figure. 10.5 pt at 100 dpi is 14.6 px, shown at 14.6 CSS px at
#: 1280 px and, a 690 px figure scaled to the phone's 342 px column, at 7.2 px.
FONT_PT = 10.5
BOOK_RC = {
    "figure.figsize": (FIGURE_WIDTH, 3.4),
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "legend.title_fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1,
}
matplotlib.rcParams.update(BOOK_RC)


def _wrapped(text: str, width_in: float) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at the book's font size."""
    per_line = max(6, int(width_in * 72 / (0.6 * FONT_PT)))
    lines = text.split("\n")
    return "\n".join(textwrap.fill(line, per_line, break_long_words=False) for line in lines)


def _as_display(img: Any, mode: str) -> np.ndarray:
    arr = as_array(img)
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = normalize_map(arr, mode)
        return arr.transpose(1, 2, 0) if arr.ndim == 3 else arr
    return normalize_map(arr[None], "minmax")[0] if arr.ndim == 2 else arr


def plot_grid(
    rows: Sequence[Sequence[Any]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    mode: str = "minmax",
    cell: float = 2.0,
    title: str | None = None,
):
    """A grid of images/maps. ``rows[r][c]`` is ``(3, H, W)`` (shown as RGB after ``mode``
    normalization, see :func:`normalize_map`) or ``(H, W)`` (gray); ``None`` leaves a blank.
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_r, n_c = len(rows), max(len(r) for r in rows)
    cell = min(cell, FIGURE_WIDTH / n_c)  # never wider than the column it is shown in
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell * n_c, cell * n_r), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_c):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            img = row[c] if c < len(row) else None
            if img is not None:
                shown = _as_display(img, mode)
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
            if r == 0 and col_labels is not None and c < len(col_labels):
                ax.set_title(_wrapped(col_labels[c], cell))
            if c == 0 and row_labels is not None and r < len(row_labels):
                ax.set_ylabel(_wrapped(row_labels[r], cell))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sweep(image: Any, maps: Sequence[Any], labels: Sequence[str], rows: int = 2):
    """The input, then one map per sweep member, over ``rows`` rows titled ``labels``.

    ``image`` and each map are ``(3, H, W)``; ``labels`` names the maps (``len(maps)`` of them).
    Returns the matplotlib figure (Figures 3 and 4 of the paper).
    """
    panels, titles = [image, *maps], ["input", *labels]
    per_row = math.ceil(len(panels) / rows)
    fig = plot_grid([panels[r * per_row : (r + 1) * per_row] for r in range(rows)], cell=1.9)
    for ax, title in zip(fig.axes, titles, strict=False):
        ax.set_title(_wrapped(title, ax.get_position().width * fig.get_figwidth()))
    fig.tight_layout()
    return fig


def plot_heatmaps(
    mats: Sequence[Sequence[Any]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    tick_labels: Sequence[str] | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cell: float = 2.4,
    title: str | None = None,
    cbar_label: str = "",
):
    """A grid of ``(T, T)`` similarity matrices ``mats[r][c]`` as heat maps on one color scale.

    Each panel is titled with its mean off-diagonal value; ``tick_labels`` name the ``T`` rows
    and columns (shown on the left column and bottom row). Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_r, n_c = len(mats), max(len(r) for r in mats)
    cell = min(cell, (FIGURE_WIDTH - 0.8) / n_c)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell * n_c + 0.8, cell * n_r + 0.4), squeeze=False)
    image = None
    for r in range(n_r):
        for c in range(n_c):
            ax = axes[r][c]
            if c >= len(mats[r]) or mats[r][c] is None:
                ax.axis("off")
                continue
            mat = as_array(mats[r][c])
            image = ax.imshow(mat, cmap="RdBu_r", vmin=vmin, vmax=vmax)
            ax.set_title(_wrapped(f"{col_labels[c]}\nmean {mean_offdiagonal(mat):.3f}", cell))
            ticks = range(mat.shape[0])
            show_y, show_x = c == 0 and tick_labels, r == n_r - 1 and tick_labels
            ax.set_yticks(ticks, list(tick_labels) if show_y else [])
            ax.set_xticks(ticks, list(tick_labels) if show_x else [], rotation=90)
            if c == 0:
                ax.set_ylabel(_wrapped(row_labels[r], cell))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.84, 1))  # the color bar and its label fit the width
    if image is not None:
        cax = fig.add_axes((0.86, 0.15, 0.02, 0.7))
        fig.colorbar(image, cax=cax, label=cbar_label)
    return fig


def plot_grouped_bars(
    values: dict[str, dict[str, Sequence[float]]],
    ax: Any = None,
    ylabel: str = "",
    title: str | None = None,
):
    """Grouped bars: ``values[group][series]`` is a list of samples (one per photo, say); each
    bar is their mean and the samples are drawn as dots. Groups share the order of series.
    Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    width = 0.8 / max(len(series), 1)
    for s_i, s in enumerate(series):
        pos = np.arange(len(groups)) + (s_i - (len(series) - 1) / 2) * width
        samples = [np.asarray(values[g].get(s, [np.nan]), dtype=float) for g in groups]
        ax.bar(pos, [v.mean() for v in samples], width, label=s, alpha=0.8)
        for p, v in zip(pos, samples, strict=True):
            ax.plot(np.full(v.shape, p), v, "k.", ms=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_convergence(
    ax: Any,
    n: Sequence[float],
    errors: Any,
    label: str,
    predicted: Any = None,
    fit_min: float | None = None,
    color: Any = None,
) -> float:
    """Log-log curve of ``errors`` (runs, S) against ``n`` (S,): mean +- std band over runs.

    Adds the least-squares slope over runs (fitted on ``n >= fit_min``) to the label and draws
    ``predicted`` (S,) dashed in the same color. Returns the slope of the mean curve.
    """
    n, err = np.asarray(n, dtype=float), np.asarray(errors, dtype=float).reshape(-1, len(n))
    mean, std = err.mean(0), err.std(0)
    keep = n >= (fit_min if fit_min is not None else n.min())
    slope, _ = loglog_fit(n[keep], mean[keep])
    (line,) = ax.plot(n, mean, "o-", ms=3, color=color, label=f"{label}: slope {slope:.2f}")
    ax.fill_between(n, np.maximum(mean - std, 1e-12), mean + std, color=line.get_color(), alpha=0.2)
    if predicted is not None:
        ax.plot(n, np.asarray(predicted, dtype=float), "--", color=line.get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return slope


def layer_label(name: str) -> str:
    """A layer's module name as a short tick label: no leading underscore, ``_`` read as a
    space, ``blocks.`` as ``block``: ``"_blocks.11-14"`` -> ``"block 11-14"``, ``"_conv_head"``
    -> ``"conv head"``, ``"features.28"`` -> ``"features 28"``."""
    short = name.lstrip("_").replace("blocks.", "block ").replace("_", " ")
    return short.replace(".", " ")


def plot_randomization(
    curves: dict[str, Sequence[dict[str, float]]],
    labels: Sequence[str],
    metrics: Sequence[str] = ("spearman_abs", "spearman", "ssim"),
    title: str | None = None,
):
    """Similarity to the original map per randomization step, in the style of Adebayo et al.

    ``curves[rule]``: one dict per step with ``metric`` and ``metric_std`` (:func:`mean_std`);
    ``labels``: the step names (x axis, shortened by :func:`layer_label`). One panel per
    metric, two panels to a row, the legend in the empty panel (or below them); mean with a
    +- std band, the y axis down to the lowest band. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_rows = math.ceil(len(metrics) / 2)
    spare = len(metrics) % 2 == 1  # an empty panel holds the legend
    height = 3.4 * n_rows + (0 if spare else 0.3 * math.ceil(len(curves) / 3))
    fig, axes = plt.subplots(n_rows, 2, figsize=(FIGURE_WIDTH, height), squeeze=False)
    steps = np.arange(len(labels))
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    lows = np.array(
        [r[m] - r.get(f"{m}_std", 0.0) for rows in curves.values() for r in rows for m in metrics],
        dtype=float,
    )
    low = float(np.nanmin(lows)) if np.isfinite(lows).any() else 0.0
    bottom = max(-1.05, min(-0.3, low - 0.05))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for rule, rows in curves.items():
            mean = np.array([r[metric] for r in rows])
            std = np.array([r.get(f"{metric}_std", 0.0) for r in rows])
            ax.plot(steps, mean, marker="o", ms=3, label=rule)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xticks(steps)
        ax.set_xticklabels([layer_label(s) for s in labels], rotation=60, ha="right")
        ax.set_ylim(bottom, 1.05)
        ax.set_title(metric.replace("_", " "))
    for row in axes:
        row[0].set_ylabel("similarity to\nthe original map")
    handles, names = axes.flat[0].get_legend_handles_labels()
    if title:
        fig.suptitle(title)
    if spare:
        axes.flat[len(metrics)].legend(handles, names, loc="center", frameon=False)
        fig.tight_layout()
        return fig
    fig.tight_layout(rect=(0, 0.1 * math.ceil(len(curves) / 3) / n_rows, 1, 1))
    fig.legend(handles, names, loc="lower center", ncol=3, frameon=False)
    return fig


def plot_two_displays(
    rows: Sequence[Sequence[Any]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cell: float = 2.0,
    keep: int = 1,
):
    """The grid :func:`plot_grid` draws, twice: block (a) with every map min-max normalized over
    all pixels and channels (the paper's display), block (b) with each map as ``sum_c |m_c|``
    clipped at its 99th percentile (``normalize_map(m, "abs99")``, the display of Adebayo et al.,
    2018), which shows a sparse map that a few large values flatten to grey under (a). The first
    ``keep`` columns (the inputs) are drawn the same in both. Row labels get "(a)"/"(b)" (the
    caption says which display is which: a longer label would not fit a row's height).
    """
    clipped = [
        [*row[:keep], *(None if m is None else normalize_map(m, "abs99") for m in row[keep:])]
        for row in rows
    ]
    labels = [f"(a) {r}" for r in row_labels] + [f"(b) {r}" for r in row_labels]
    return plot_grid([*rows, *clipped], row_labels=labels, col_labels=col_labels, cell=cell)


def label_axes(axes: Sequence[Any], labels: Sequence[tuple[str, str, str]]) -> None:
    """Set ``(xlabel, ylabel, title)`` on each of ``axes``, with a small title and legend."""
    for ax, (xlabel, ylabel, title) in zip(axes, labels, strict=True):
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_title(title)
        ax.legend()


def plot_training_curves(
    panels: Sequence[tuple[str, dict[str, Any]]],
    steps: Sequence[int],
    epoch: int | None = None,
):
    """Measures over training, one panel per ``(title, {label: values})``, two panels to a row;
    ``values`` per step of ``steps`` (optimizer steps, a symmetric-log axis), or ``(values,
    errors)`` for a band of +- one error; a dotted line marks one ``epoch`` of steps. Returns the
    matplotlib figure."""
    import matplotlib.pyplot as plt  # heavy: first use only (module docstring)

    n_rows = math.ceil(len(panels) / 2)
    fig, axes = plt.subplots(n_rows, 2, figsize=(FIGURE_WIDTH, 3.0 * n_rows), squeeze=False)
    x = np.asarray(steps, dtype=float)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, lines) in zip(axes.flat, panels, strict=False):
        for label, values in lines.items():
            mean, err = values if isinstance(values, tuple) else (values, None)
            mean = np.asarray(mean, dtype=float)
            (line,) = ax.plot(x, mean, marker="o", ms=3, label=label)
            if err is not None:
                err = np.asarray(err, dtype=float)
                ax.fill_between(x, mean - err, mean + err, color=line.get_color(), alpha=0.25)
        if epoch:
            ax.axvline(epoch, color="gray", ls=":", lw=1)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks([0] + [10**e for e in range(int(np.log10(max(x.max(), 1))) + 1)])
        ax.set_xlim(-0.2, x.max() * 1.1)
        ax.set_title(title)
        ax.legend(frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel("optimizer steps")
    fig.tight_layout()
    return fig
