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


def versus_paper(path, paper, rel_tol: float, fmt: str = "{:.3f}"):
    """A constant the paper states: reproduced within ``rel_tol``, else corrected.

    ``path`` is a metrics path or a function of the metrics; ``paper`` a number or a function.
    """

    def judge(m: Metrics) -> tuple[str, str]:
        v = float(path(m) if callable(path) else get(m, path))
        paper_v = float(paper(m) if callable(paper) else paper)
        same = math.isclose(v, paper_v, rel_tol=rel_tol, abs_tol=1e-12)
        return f"{fmt.format(v)} (paper {fmt.format(paper_v)})", REPRODUCED if same else CORRECTED

    return judge


def largest(m: Metrics, path: str) -> tuple[str, float]:
    """The entry of the dict at ``path`` with the largest numeric key: ``(key, value)``."""
    d = get(m, path)
    key = max(d, key=float)
    return key, float(d[key])


def converges(path: str, good: float, partial: float, name: str = "N"):
    """Reproduced when the value at the largest ``N`` is >= ``good``."""

    def judge(m: Metrics) -> tuple[str, str]:
        n, v = largest(m, path)
        verdict = REPRODUCED if v >= good else PARTLY if v >= partial else NOT_REPRODUCED
        return f"ρ = {v:.3f} at {name} = {n}", verdict

    return judge


def stays_near_zero(path: str, bound: float):
    """Reproduced when every value of the dict at ``path`` is within ``±bound``."""

    def judge(m: Metrics) -> tuple[str, str]:
        worst = max(abs(float(v)) for v in get(m, path).values())
        return f"max |ρ| = {worst:.3f}", REPRODUCED if worst <= bound else NOT_REPRODUCED

    return judge


def within_se(path: str, target: float, z: float = 4.0):
    """Reproduced when ``path`` is within ``z`` standard errors (``path + "_se"``) of ``target``."""

    def judge(m: Metrics) -> tuple[str, str]:
        v, se = float(get(m, path)), float(get(m, path + "_se"))
        ok = abs(v - target) <= z * se
        return f"{v:.4f} ± {1.96 * se:.4f}", REPRODUCED if ok else NOT_REPRODUCED

    return judge


def slope_near(path: str, target: float, tol: float):
    """A fitted log-log slope: reproduced within ``tol`` of ``target``, partly within 2 ``tol``."""

    def judge(m: Metrics) -> tuple[str, str]:
        v = float(get(m, path))
        err = abs(v - target)
        verdict = REPRODUCED if err <= tol else PARTLY if err <= 2 * tol else NOT_REPRODUCED
        return f"slope {v:.3f} (theory {target:g})", verdict

    return judge


SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
CLAIMS: list[Claim] = [
    # Section 3: the derivation (chapter 2).
    Claim(
        "3, Eq. (2)",
        "Saliency map $= \\sum_j D_j^T \\sum_i h(V_{q_{ij},k})\\tilde w^{(i,j)}$ (max error)",
        "02_derivation",
        at_most("eq2_max_abs_error", 1e-8, 1e-4, fmt="{:.1e}"),
    ),
    Claim(
        "3",
        "Plain gradient: $E[h(V)] = 0$",
        "02_derivation",
        within_se("E_h_plain_over_c", 0.0),
    ),
    Claim(
        "3",
        "Guided backprop: $E[h(V)] = \\sqrt{2/\\pi}\\,c$ (measured $/c$)",
        "02_derivation",
        versus_paper("E_h_guided_over_c", SQRT_2_OVER_PI, 0.05),
    ),
    Claim(
        "3, Eq. (4)",
        "$E[\\tilde w^{(i,j)}] = \\sqrt{2/\\pi}\\,c\\, y^{(j)}/\\|y^{(j)}\\|$ (measured norm $/c$)",
        "02_derivation",
        versus_paper("E_w_tilde_norm_over_c", SQRT_2_OVER_PI, 0.05),
    ),
    Claim(
        "3, Eq. (5)",
        "Scale of the limit is $2c^2N/\\pi$ (fit, in units of $Nc^2/2\\pi$, largest $N$)",
        "02_derivation",
        lambda m: versus_paper("x", 4.0, 0.1)(
            {"x": largest(m, "eq5_scale_over_corrected_guided_by_N")[1]}
        ),
    ),
    Claim(
        "3, Eq. (5)",
        "GBP of a random convnet approaches $\\sum_j D_j^T y^{(j)}/\\|y^{(j)}\\|$ as $N$ grows",
        "02_derivation",
        converges("corr_gbp_limit_by_N", 0.95, 0.8),
    ),
    Claim(
        "3",
        "The plain saliency map of a random convnet carries no image ($s_k \\approx 0$)",
        "02_derivation",
        stays_near_zero("corr_plain_limit_by_N", 0.05),
    ),
    Claim(
        "3, Eq. (6)",
        "$\\sum_j \\mathcal{I}_{p_j} \\approx p I$ (interior coverage, $k = 7$)",
        "02_derivation",
        versus_paper("coverage_interior", lambda m: get(m, "p"), 0.01, fmt="{:.0f}"),
    ),
    Claim(
        "3",
        "Estimate error falls as $N^{-1/2}$ (patch size $p = 27$)",
        "02_derivation",
        slope_near("concentration_slope_p27", -0.5, 0.03),
    ),
    Claim(
        "3",
        "About 2700 filters give error 0.1 for $3\\times3\\times3$ filters",
        "02_derivation",
        versus_paper("N_for_eps_0p1_p27", 2700.0, 0.25, fmt="{:.0f}"),
    ),
]


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
        title = CHAPTER_TITLES.get(r["chapter"], r["chapter"])
        built = r["chapter"] in chapters  # a partial build (--only) links built chapters only
        link = f"[{title}](../notebooks/{r['chapter']}.ipynb)" if built else title
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
