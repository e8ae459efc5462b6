"""Every number the prose quotes was glued by the executed chapter (one number, one name)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_glue_reference_is_glued(chapter, chapter_runner, smoke_params, tmp_path_factory):
    """Each {glue:...} role or directive of the chapter names a key the executed chapter
    glued, and every glued figure is a PNG."""
    workdir = tmp_path_factory.mktemp(f"{chapter}_glue")
    chapter_runner(chapter, workdir, **smoke_params[chapter])
    text = (ROOT / "notebooks" / f"{chapter}.py").read_text()
    used = set(re.findall(r"\{glue(?::\w+)?\}`([\w.]+)", text))
    used |= set(re.findall(r"```\{glue:\w+\} ([\w.]+)", text))
    nb = json.loads((workdir / f"{chapter}.ipynb").read_text())
    outputs = [out for cell in nb["cells"] for out in cell.get("outputs", [])]
    glued = {
        out["metadata"]["scrapbook"]["name"]: out
        for out in outputs
        if "scrapbook" in out.get("metadata", {})
    }
    assert used and used <= set(glued), sorted(used - set(glued))
    figures = [out for name, out in glued.items() if name.startswith("fig_")]
    assert all("image/png" in out["data"] for out in figures)
