"""The chapters read like a paper with working code: short cells, code that fits its box, and
every glued number findable from the prose."""

from __future__ import annotations

import ast
import re
import statistics
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
RUFF = (ROOT / "notebooks" / "ruff.toml").read_text()
LINE_LENGTH = int(re.search(r"^line-length = (\d+)", RUFF, re.MULTILINE).group(1))
MAX_CELL, MEDIAN_CELL = 20, 10  # lines of a code cell a reader sees
HIDDEN = {"remove-cell", "remove-input"}


def visible_code_cells(path: Path) -> list[list[str]]:
    nb = jupytext.read(path)
    return [
        [line for line in c.source.splitlines() if line.strip()]
        for c in nb.cells
        if c.cell_type == "code" and not HIDDEN & set(c.metadata.get("tags", []))
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_code_box(path):
    long = [line for cell in visible_code_cells(path) for line in cell if len(line) > LINE_LENGTH]
    assert not long, f"{path.stem}: code lines over {LINE_LENGTH} characters: {long[:3]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_cells_are_short(path):
    sizes = [len(cell) for cell in visible_code_cells(path)]
    assert max(sizes) <= MAX_CELL, f"{path.stem}: a code cell of {max(sizes)} lines"
    assert statistics.median(sizes) <= MEDIAN_CELL, f"{path.stem}: median {sizes}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_glue_names_are_literal(path):
    """A name built at run time (``glue(f"adv_{r}")``) cannot be found from the prose."""
    code = path.read_text()
    built = re.findall(r"""(?:glue|rec|rec\.claim|rec\.table|rec\.figure)\(\s*f["']""", code)
    assert not built, f"{path.stem}: glue names built with f-strings: {len(built)}"


# A cell a reader sees shows science; one made only of recording calls is bookkeeping and is
# hidden (``remove-input``/``remove-cell`` where its output is glued or absent, ``hide-input``
# to fold it). ``rec.claim`` is not: the verdict is decided where the reader sees it, nor is
# ``rec.figure``, whose cell draws the figure.
FOLDED = HIDDEN | {"hide-input", "hide-cell"}
BOOKKEEPING = {"rec", "rec.quote", "rec.update", "rec.table", "rec.save"}


def call_name(stmt: ast.stmt) -> str | None:
    """``rec`` / ``rec.quote`` ... for a statement that is one such call (or assigns one)."""
    value = getattr(stmt, "value", None)
    if not isinstance(stmt, (ast.Expr, ast.Assign)) or not isinstance(value, ast.Call):
        return None
    return ast.unparse(value.func)


def bookkeeping_only_cells(path: Path) -> list[str]:
    """The first line of each visible code cell whose statements are all recording calls."""
    found = []
    for c in jupytext.read(path).cells:
        if c.cell_type != "code" or FOLDED & set(c.metadata.get("tags", [])):
            continue
        body = ast.parse(c.source).body
        if body and all(call_name(s) in BOOKKEEPING for s in body):
            found.append(c.source.splitlines()[0])
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_visible_cell_is_only_bookkeeping(path):
    found = bookkeeping_only_cells(path)
    assert not found, f"{path.stem}: visible cells that only record numbers: {found}"


def test_a_cell_of_recording_calls_counts_as_bookkeeping(tmp_path):
    chapter = tmp_path / "99_probe.py"
    chapter.write_text(
        "# %%\nrec('a', 1)\nrec.quote('a')\n\n"
        "# %% tags=[\"remove-input\"]\nrec('b', 2)\n\n"
        "# %%\nx = rec('c', 3 * 2)\nplot(x)\n\n"
        "# %%\nrec.claim('k', '2', 'text', *judged)\n"
    )
    assert bookkeeping_only_cells(chapter) == ["rec('a', 1)"]
