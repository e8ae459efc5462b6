"""The scorecard renders the claims each chapter judged; it decides nothing itself."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from backpropvis.book.record import VERDICTS
from backpropvis.claims.verdicts import CORRECTED, PARTLY

ROOT = Path(__file__).resolve().parents[2]
STEMS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]
NO_CLAIMS = {"05_explorer": "the explorer makes no claim of the paper"}
sys.path.insert(0, str(ROOT / "scripts"))
import scorecard  # noqa: E402


def claim(verdict: str, text: str = "a claim") -> dict[str, str]:
    return {"section": "3", "claim": text, "measured": "0.5", "verdict": verdict}


def test_scorecard_renders_the_chapters_claims_in_order():
    metrics = {
        "04_filter_sweeps": {"claims": {"slope": claim(PARTLY, "a slope")}},
        "02_derivation": {"claims": {"k": claim(CORRECTED, "a constant | with a bar")}},
        "05_explorer": {"size": 64},
    }
    table = scorecard.rows(metrics)
    assert [(r["chapter"], r["verdict"]) for r in table] == [
        ("02_derivation", "corrected"),
        ("04_filter_sweeps", "partly"),
    ]
    page = scorecard.render(table, ["02_derivation", "04_filter_sweeps"])
    assert "a constant \\| with a bar" in page and "**corrected**" in page
    assert "../notebooks/04_filter_sweeps.ipynb" in page
    assert scorecard.verdict_counts(table) == "partly: 1, corrected: 1"


def test_scorecard_has_no_judge_of_its_own():
    source = (ROOT / "scripts" / "scorecard.py").read_text()
    assert not re.search(r"\b(at_least|at_most|versus_paper|near|judge)\(", source)


@pytest.mark.parametrize("stem", STEMS)
def test_every_chapter_states_claims_with_a_valid_verdict(stem):
    baseline = json.loads((ROOT / "tests" / "book" / "baselines" / f"{stem}.json").read_text())
    claims = baseline["reported"].get("claims", {})
    if stem in NO_CLAIMS:
        assert not claims, NO_CLAIMS[stem]
        return
    assert claims, f"{stem} states no claim of the paper"
    for key, c in claims.items():
        assert set(c) == {"section", "claim", "measured", "verdict"}, key
        assert c["verdict"] in VERDICTS, (key, c["verdict"])


def glued(nb: dict, name: str) -> str:
    """The text/markdown that a chapter glued under ``name`` (myst-nb's scrapbook output)."""
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == name:
                data = out["data"]
                return "".join(next(v for k, v in data.items() if k.endswith("text/markdown")))
    raise AssertionError(f"nothing glued as {name!r}")


@pytest.mark.parametrize("stem", [s for s in STEMS if s not in NO_CLAIMS])
def test_chapter_page_and_scorecard_say_the_same_verdicts(
    stem, chapter_runner, smoke_params, tmp_path_factory
):
    workdir = tmp_path_factory.mktemp(f"{stem}_claims")
    metrics = chapter_runner(stem, workdir, **smoke_params[stem])
    nb = json.loads((workdir / f"{stem}.ipynb").read_text())
    page_rows = [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in glued(nb, "claims_table").splitlines()[2:]
    ]
    on_page = [(row[1].replace("\\|", "|"), row[-1]) for row in page_rows]
    on_card = [(r["claim"], r["verdict"]) for r in scorecard.rows({stem: metrics})]
    assert on_page == on_card
    source = (ROOT / "notebooks" / f"{stem}.py").read_text()
    for key in re.findall(r"\{glue:text\}`claims\.([\w-]+)\.verdict`", source):
        assert key in metrics["claims"], f"{stem}: the prose quotes an unknown claim {key!r}"
