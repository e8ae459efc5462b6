"""A chapter run outside the book (Colab, JupyterLab, VS Code: no myst-nb) still shows its
results: tables rendered and glued numbers readable next to the cell that computes them."""

from __future__ import annotations

import json
import os

STEM = "03_convnet_vs_fc"  # cheap, and it glues tables as well as numbers


def test_chapter_without_myst_nb_shows_tables_and_numbers(
    tmp_path, monkeypatch, fresh_chapter_run, smoke_params
):
    shadow = tmp_path / "no_myst_nb"
    shadow.mkdir()
    (shadow / "myst_nb.py").write_text("raise ImportError('myst-nb is absent here')\n")
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)  # the kernel imports this stand-in first
    fresh_chapter_run(STEM, tmp_path / "run", **smoke_params[STEM])
    nb = json.loads((tmp_path / "run" / f"{STEM}.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    markdown = [
        "".join(o["data"]["text/markdown"]) for o in outputs if "text/markdown" in o.get("data", {})
    ]
    assert any(m.startswith("| ") and "|---|" in m for m in markdown), "no table rendered"
    assert any(" = **" in m for m in markdown), "no glued number shown"
    for o in outputs:
        plain = "".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", ""))
        rich = set(o.get("data", {})) - {"text/plain"}
        assert not (" object>" in plain and not rich), f"a bare repr reaches the reader: {plain}"
        assert "{glue" not in plain
