"""Figures: the grid of maps every chapter draws."""

from __future__ import annotations

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
