"""The reproduction scorecard: each claim of the paper, the chapter that tests it, the measured
number and its verdict, rendered from the chapters' metrics files.

Each chapter states its claims and judges them once (``Record.claim`` with the verdict rule
of ``backpropvis.claims.verdicts``) and writes them into ``<chapter>.json`` under ``"claims"``;
this page only renders them, so the chapter's prose and the scorecard cannot disagree.
`make book` calls `write_scorecard` after executing the chapters; the page is generated into the
staged sources as book/scorecard.md. Run alone: python scripts/scorecard.py _build/metrics out.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from backpropvis.claims.verdicts import CORRECTED, NOT_REPRODUCED, PARTLY, REPRODUCED

BADGES = {  # plain text: headless and print fonts often lack emoji
    REPRODUCED: "**reproduced**",
    PARTLY: "partly",
    NOT_REPRODUCED: "**not reproduced**",
    CORRECTED: "**corrected**",
}

CHAPTER_TITLES = {
    "01_observations": "1. Observations",
    "02_derivation": "2. Derivation",
    "03_convnet_vs_fc": "3. Convnet versus FC",
    "04_filter_sweeps": "4. Filter sweeps",
    "05_explorer": "5. Explorer",
    "06_beyond_the_draft": "6. Beyond the draft",
    "07_every_method": "7. Every gradient method",
    "08_training": "8. What training changes",
    "09_width_or_depth": "9. Width or depth?",
}
MODEL_KEYS = ("trained_model", "model")  # where a chapter's metrics name its trained network
MODEL_LABELS = {
    "vgg16": "VGG-16 with torchvision's IMAGENET1K_V1 weights, the paper's network",
    "efficientnet_lite0": "EfficientNet-Lite0 (offline ImageNet checkpoint), standing in for the "
    "paper's VGG-16, whose weights could not be loaded where this build ran",
}

Metrics = dict[str, Any]


def load_metrics(metrics_dir: Path) -> dict[str, Metrics]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(metrics_dir).glob("*.json"))}


def rows(metrics: dict[str, Metrics]) -> list[dict[str, str]]:
    """One row per claim, chapter by chapter: section, claim, chapter, measured, verdict."""
    return [
        {**claim, "chapter": chapter}
        for chapter, m in sorted(metrics.items())
        for claim in m.get("claims", {}).values()
    ]


def trained_models(
    metrics: dict[str, Metrics], chapters: list[str] | None = None
) -> dict[str, list[str]]:
    """Which trained network each chapter used: ``{model name: [chapter stems]}``, over the
    ``chapters`` given (those built; metrics of other chapters may be left from earlier runs)."""
    used: dict[str, list[str]] = {}
    for chapter, m in metrics.items():
        if chapters is not None and chapter not in chapters:
            continue
        name = next((m[k] for k in MODEL_KEYS if isinstance(m.get(k), str)), None)
        if name is not None:
            used.setdefault(name, []).append(chapter)
    return used


def model_statement(used: dict[str, list[str]]) -> str:
    """One sentence naming the trained network(s) this build used, and where."""
    if not used:
        return "No chapter that uses a trained network was executed in this build."
    parts = []
    for name, chapters in used.items():
        numbers = [CHAPTER_TITLES.get(c, c).split(". ", 1)[0] for c in chapters]
        where = f"chapter {numbers[0]}" if len(numbers) == 1 else f"chapters {', '.join(numbers)}"
        parts.append(f"**{MODEL_LABELS.get(name, name)}** ({where})")
    return "Trained network in this build: " + "; ".join(parts) + "."


def verdict_counts(table: list[dict[str, str]]) -> str:
    """``"reproduced: 18, partly: 4, ..."``: how many claims got each verdict."""
    counts = {v: sum(r["verdict"] == v for r in table) for v in BADGES}
    return ", ".join(f"{v}: {n}" for v, n in counts.items() if n)


def render(
    table: list[dict[str, str]], chapters: list[str], used: dict[str, list[str]] | None = None
) -> str:
    """The scorecard page in MyST Markdown; links every chapter in ``chapters`` and names the
    trained network(s) in ``used`` (:func:`trained_models`)."""
    lines = [
        "# Reproduction scorecard",
        "",
        "Every claim of the paper that the book tests, the chapter that tests it, the number it",
        "measured when this book was built, and the verdict the chapter computed from that number",
        "by the rule in `src/backpropvis/claims/verdicts.py` (no verdict is typed by hand).",
        "*Corrected* means the claim's picture holds but a stated constant or number is wrong; the",
        "chapter gives the right one.",
        "",
        f"Summary: {verdict_counts(table)}.",
        "",
        model_statement(used or {}),
        "",
        "| § | claim | chapter | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table:
        title = CHAPTER_TITLES.get(r["chapter"], r["chapter"])
        built = r["chapter"] in chapters  # a partial build (--only) links built chapters only
        link = f"[{title}](../notebooks/{r['chapter']}.ipynb)" if built else title
        claim, measured = (r[k].replace("|", "\\|") for k in ("claim", "measured"))
        lines.append(f"| {r['section']} | {claim} | {link} | {measured} | {BADGES[r['verdict']]} |")
    lines += ["", "## Chapters", ""]
    lines += [f"- [{CHAPTER_TITLES.get(c, c)}](../notebooks/{c}.ipynb)" for c in chapters]
    return "\n".join(lines) + "\n"


def write_scorecard(
    metrics_dir: Path, out_md: Path, chapters: list[str]
) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    """Write the page; returns its rows and :func:`trained_models` of ``chapters``."""
    metrics = load_metrics(metrics_dir)
    table, used = rows(metrics), trained_models(metrics, chapters)
    out_md.write_text(render(table, chapters, used))
    return table, used


if __name__ == "__main__":
    metrics_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    stems = sorted(p.stem for p in metrics_dir.glob("*.json"))
    for row in write_scorecard(metrics_dir, out, stems)[0]:
        print(f"{row['verdict']:15s} {row['measured']:30s} {row['claim']}")
