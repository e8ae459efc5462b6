"""The book layer: metrics files and glue (the book build itself is tests/test_book.py)."""

from __future__ import annotations

import numpy as np
import torch

import helpers as H


def test_metrics_file(tmp_path):
    path = H.save_metrics(tmp_path, "demo", {"a": np.float32(1.5), 2: torch.tensor([1.0])})
    assert path.read_text().count('"a": 1.5') == 1


def test_glue_shows_nothing_twice(capsys):
    # A cell ending in a glue call must not display the value again as the cell's result.
    assert H.glue("answer", 42) is None
    assert capsys.readouterr().out in ("", "answer = 42\n")  # printed only without myst-nb
