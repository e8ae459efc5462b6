"""The book layer: metrics files and glue (the book build itself is tests/book/test_book.py)."""

from __future__ import annotations

import numpy as np
import torch

import helpers as H
from backpropvis.book.glue import glue, markdown_table, save_metrics
from backpropvis.claims.verdicts import (
    CORRECTED,
    NOT_REPRODUCED,
    PARTLY,
    at_least,
    at_most,
    versus_paper,
)


def test_metrics_file(tmp_path):
    path = save_metrics(tmp_path, "demo", {"a": np.float32(1.5), 2: torch.tensor([1.0])})
    assert path.read_text().count('"a": 1.5') == 1


def test_glue_shows_nothing_twice(capsys):
    # A cell ending in a glue call must not display the value again as the cell's result.
    assert glue("answer", 42) is None
    assert capsys.readouterr().out in ("", "answer = 42\n")  # printed only without myst-nb


def test_glue_without_myst_nb_shows_tables_rendered_and_numbers_readable(monkeypatch):
    import sys

    from IPython.display import Markdown

    shown = []
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    glue("law_table", Markdown(markdown_table(["a", "b"], [[1, 0.5]])))
    glue("slope", -0.50123456)
    assert shown[0]._repr_markdown_().startswith("| a | b |")
    assert shown[1]._repr_markdown_() == "`slope` = **-0.5012**"


def test_record_stores_under_the_glued_name_and_saves_claims(tmp_path, monkeypatch):
    import json
    import sys

    monkeypatch.setitem(sys.modules, "myst_nb", None)
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    rec = H.Record("demo", tmp_path)
    assert rec("fc_vs_conv.fc", 1.5) == 1.5
    rec.update(n_photos=3)
    verdict = at_most(1.5, 1.0, 2.0)
    rec.claim("fc", "4", "FC is worse", "1.50", verdict)
    rec.save()
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["fc_vs_conv"] == {"fc": 1.5} and saved["n_photos"] == 3
    assert saved["claims"]["fc"]["verdict"] == "partly"
    for bad in ("maybe", "Reproduced"):
        try:
            rec.claim("other", "4", "x", "1", bad)
        except ValueError as err:
            assert "verdict must be one of" in str(err)
        else:
            raise AssertionError(f"verdict {bad!r} accepted")


def test_the_verdict_rule():
    assert at_least(0.95, 0.9, 0.5) == H.REPRODUCED
    assert at_least(0.6, 0.9, 0.5) == PARTLY
    assert at_least(0.4, 0.9, 0.5) == NOT_REPRODUCED
    assert at_most(0.2, 0.1) == NOT_REPRODUCED
    assert H.near(-0.47, -0.5, 0.05) == H.REPRODUCED
    assert H.near(-0.42, -0.5, 0.05, 0.1) == PARTLY
    assert versus_paper(0.399, 0.798, 0.05) == CORRECTED
    assert versus_paper(0.80, 0.798, 0.05) == H.REPRODUCED


def test_papermill_list_parameters():
    assert H.as_list('["chelsea", "coffee"]', "photos", str) == ["chelsea", "coffee"]
    assert H.as_list("[4, 64]", "n_values", int) == [4, 64]
    for value, name, message in [
        ("chelsea", "photos", "-y 'photos: [chelsea]'"),
        (64, "n_values", "-y 'n_values: [64]'"),
        ("[1.5]", "n_values", "list of int"),
    ]:
        try:
            H.as_list(value, name, int if name == "n_values" else str)
        except TypeError as err:
            assert name in str(err) and message in str(err), err
        else:
            raise AssertionError(f"{name}={value!r} accepted")


def test_claims_keep_the_order_they_were_stated(tmp_path):
    import json

    save_metrics(tmp_path, "demo", {"b": 1, "a": {"z": 1, "y": 2}, "claims": {"z": 1, "a": 2}})
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert list(saved) == ["a", "b", "claims"] and list(saved["a"]) == ["y", "z"]
    assert list(saved["claims"]) == ["z", "a"]


def test_glue_passes_numpy_and_tensor_scalars_as_python_numbers(monkeypatch):
    import sys
    import types

    got = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=False: got.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("a", np.float64(0.25))
    glue("b", torch.tensor(3))
    assert type(got["a"]) is float and type(got["b"]) is int  # {glue:text}`a:.2f` formats them
