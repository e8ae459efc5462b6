"""Figures: the grid of maps every chapter draws."""

from __future__ import annotations

import helpers as H


def test_plot_grid():
    x = H.load_image("coffee", 16)
    fig = H.plot_grid([[x, x[0]], [None, x]], row_labels=["a", "b"], col_labels=["c", "d"])
    assert len(fig.axes) == 4
