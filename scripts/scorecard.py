"""The reproduction scorecard: each claim of the paper, the chapter that tests it, the measured
number and a verdict computed from the chapters' metrics files (no verdict is typed by hand).

`make book` calls `write_scorecard` after executing the chapters; the page is generated into the
staged sources as book/scorecard.md. Run alone: python scripts/scorecard.py _build/metrics out.md
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPRODUCED, PARTLY, NOT_REPRODUCED, CORRECTED, NOT_MEASURED = (
    "reproduced",
    "partly",
    "not reproduced",
    "corrected",
    "not measured",
)
BADGES = {
    REPRODUCED: "✅ reproduced",
    PARTLY: "🟡 partly",
    NOT_REPRODUCED: "❌ not reproduced",
    CORRECTED: "✏️ corrected",
    NOT_MEASURED: "⚪ not measured",
}
CHAPTER_TITLES = {
    "01_observations": "1. Observations",
    "02_derivation": "2. Derivation",
    "03_convnet_vs_fc": "3. Convnet versus FC",
    "04_filter_sweeps": "4. Filter sweeps",
    "05_explorer": "5. Explorer",
    "06_beyond_the_draft": "6. Beyond the draft",
}

Metrics = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """One claim: where the paper makes it, which chapter tests it, and how to judge it.

    ``judge`` maps the chapter's metrics to ``(measured text, verdict)``; a missing key means
    the chapter did not measure it (verdict "not measured").
    """

    section: str
    text: str
    chapter: str
    judge: Callable[[Metrics], tuple[str, str]]


def get(m: Metrics, path: str) -> Any:
    """``get(m, "a.b.c")`` is ``m["a"]["b"]["c"]``; raises KeyError when absent."""
    for part in path.split("."):
        m = m[part]
    return m


def at_least(path: str, good: float, partial: float, fmt: str = "{:.3f}", label: str = ""):
    """Reproduced when the number is >= ``good``, partly when >= ``partial``."""

    def judge(m: Metrics) -> tuple[str, str]:
        v = float(get(m, path))
        verdict = REPRODUCED if v >= good else PARTLY if v >= partial else NOT_REPRODUCED
        return f"{label}{fmt.format(v)}", verdict

    return judge


def at_most(path: str, good: float, partial: float, fmt: str = "{:.3f}", label: str = ""):
    """Reproduced when the number is <= ``good``, partly when <= ``partial``."""

    def judge(m: Metrics) -> tuple[str, str]:
        v = float(get(m, path))
        verdict = REPRODUCED if v <= good else PARTLY if v <= partial else NOT_REPRODUCED
        return f"{label}{fmt.format(v)}", verdict

    return judge


def versus_paper(path: str, paper: float, rel_tol: float, fmt: str = "{:.3f}"):
    """A constant the paper states: reproduced within ``rel_tol``, else corrected."""

    def judge(m: Metrics) -> tuple[str, str]:
        v = float(get(m, path))
        same = math.isclose(v, paper, rel_tol=rel_tol, abs_tol=1e-12)
        return f"{fmt.format(v)} (paper {fmt.format(paper)})", REPRODUCED if same else CORRECTED

    return judge


CLAIMS: list[Claim] = []


def load_metrics(metrics_dir: Path) -> dict[str, Metrics]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(metrics_dir).glob("*.json"))}


def rows(metrics: dict[str, Metrics], claims: list[Claim] | None = None) -> list[dict[str, str]]:
    """One row per claim: section, claim, chapter, measured, verdict."""
    out = []
    for claim in CLAIMS if claims is None else claims:
        try:
            measured, verdict = claim.judge(metrics[claim.chapter])
        except (KeyError, TypeError, ValueError):
            measured, verdict = "—", NOT_MEASURED
        out.append(
            {
                "section": claim.section,
                "claim": claim.text,
                "chapter": claim.chapter,
                "measured": measured,
                "verdict": verdict,
            }
        )
    return out


def render(table: list[dict[str, str]], chapters: list[str]) -> str:
    """The scorecard page in MyST Markdown; links every chapter in ``chapters``."""
    counts = {v: sum(r["verdict"] == v for r in table) for v in BADGES}
    lines = [
        "# Reproduction scorecard",
        "",
        "Every claim of the paper that the book tests, the chapter that tests it, the number it",
        "measured when this book was built, and a verdict computed from that number by the rule",
        "in `scripts/scorecard.py` (no verdict is typed by hand). *Corrected* means the claim's",
        "picture holds but a stated constant or number is wrong; the chapter gives the right one.",
        "",
        "Summary: " + ", ".join(f"{BADGES[v]}: {n}" for v, n in counts.items() if n) + ".",
        "",
        "| § | claim | chapter | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table:
        link = (
            f"[{CHAPTER_TITLES.get(r['chapter'], r['chapter'])}](../notebooks/{r['chapter']}.ipynb)"
        )
        claim = r["claim"].replace("|", "\\|")
        lines.append(
            f"| {r['section']} | {claim} | {link} | {r['measured']} | {BADGES[r['verdict']]} |"
        )
    lines += ["", "## Chapters", ""]
    lines += [f"- [{CHAPTER_TITLES.get(c, c)}](../notebooks/{c}.ipynb)" for c in chapters]
    return "\n".join(lines) + "\n"


def write_scorecard(metrics_dir: Path, out_md: Path, chapters: list[str]) -> list[dict[str, str]]:
    table = rows(load_metrics(metrics_dir))
    out_md.write_text(render(table, chapters))
    return table


if __name__ == "__main__":
    metrics_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    stems = sorted(p.stem for p in metrics_dir.glob("*.json"))
    for row in write_scorecard(metrics_dir, out, stems):
        print(f"{row['verdict']:15s} {row['measured']:30s} {row['claim']}")
