"""Figures: the grid of maps every chapter draws."""

from __future__ import annotations

import pytest

import helpers as H


def test_plot_grid():
    x = H.load_image("coffee", 16)
    fig = H.plot_grid([[x, x[0]], [None, x]], row_labels=["a", "b"], col_labels=["c", "d"])
    assert len(fig.axes) == 4


def test_the_book_style_draws_at_the_column_width_with_readable_text():
    import matplotlib.pyplot as plt

    from backpropvis.book.plotting import FIGURE_WIDTH, FONT_PT

    fig, ax = plt.subplots()
    ax.set(title="t", xlabel="x", ylabel="y")
    ax.plot([0, 1], label="a")
    ax.legend()
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_text()]
    sizes += [t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert fig.get_figwidth() == FIGURE_WIDTH and min(sizes) >= FONT_PT
    plt.close(fig)


def test_randomization_curves_show_every_band_and_put_the_legend_in_the_spare_panel():
    import matplotlib.pyplot as plt

    step = {"spearman_abs": 0.9, "spearman": -0.6, "spearman_std": 0.1, "ssim": float("nan")}
    curves = {"GBP": [step, step], "saliency": [step | {"spearman": 0.2}, step]}
    fig = H.plot_randomization(curves, ["_fc", "_blocks.15"], ("spearman_abs", "spearman", "ssim"))
    panels = fig.axes[:3]
    assert all(ax.get_ylim()[0] <= -0.7 for ax in panels)  # the lowest band, -0.6 - 0.1
    assert fig.axes[3].get_legend() is not None and not fig.legends
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["fc", "block 15"]
    plt.close(fig)
    two = H.plot_randomization(curves, ["_fc", "_blocks.15"], ("spearman_abs", "spearman"))
    assert two.legends and all(ax.get_ylim()[0] == pytest.approx(-0.75) for ax in two.axes)
    plt.close(two)
