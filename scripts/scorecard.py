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
BADGES = {  # plain text: headless and print fonts often lack emoji
    REPRODUCED: "**reproduced**",
    PARTLY: "partly",
    NOT_REPRODUCED: "**not reproduced**",
    CORRECTED: "**corrected**",
    NOT_MEASURED: "not measured",
}
CHAPTER_TITLES = {
    "01_observations": "1. Observations",
    "02_derivation": "2. Derivation",
    "03_convnet_vs_fc": "3. Convnet versus FC",
    "04_filter_sweeps": "4. Filter sweeps",
    "05_explorer": "5. Explorer",
    "06_beyond_the_draft": "6. Beyond the draft",
    "07_every_method": "7. Every gradient method",
}
MODEL_KEYS = ("trained_model", "model")  # where a chapter's metrics name its trained network
MODEL_LABELS = {
    "vgg16": "VGG-16 with torchvision's IMAGENET1K_V1 weights, the paper's network",
    "efficientnet_lite0": "EfficientNet-Lite0 (offline ImageNet checkpoint), standing in for the "
    "paper's VGG-16, whose weights could not be loaded where this build ran",
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


def custom(measure: Callable[[Metrics], tuple[str, bool, bool]]):
    """``measure(m) -> (text, holds, holds_partly)``: for claims that compare several numbers."""

    def judge(m: Metrics) -> tuple[str, str]:
        text, holds, partly = measure(m)
        return text, REPRODUCED if holds else PARTLY if partly else NOT_REPRODUCED

    return judge


def _maxpool_deconv(m: Metrics) -> tuple[str, bool, bool]:
    no_pool = float(get(m, "deconv_maxpool.deconv.no_pool")[-1]["corr_input"])
    pool = float(get(m, "deconv_maxpool.deconv.pool")[-1]["corr_input"])
    return f"ρ(input) {no_pool:.3f} → {pool:.3f}", pool > no_pool + 0.05, pool > no_pool


def _maxpool_gbp(m: Metrics) -> tuple[str, bool, bool]:
    no_pool = float(get(m, "deconv_maxpool.guided.no_pool")[-1]["corr_limit"])
    pool = float(get(m, "deconv_maxpool.guided.pool")[-1]["corr_limit"])
    change = abs(pool - no_pool)
    return f"GBP ρ(limit) {no_pool:.3f} → {pool:.3f}", change < 0.05, change < 0.15


def _logit_layer_randomized(m: Metrics) -> tuple[str, bool, bool]:
    plain = float(get(m, "cascading.plain")[0]["spearman_abs"])
    gbp = float(get(m, "cascading.guided")[0]["spearman_abs"])
    return f"rank ρ plain {plain:.3f}, GBP {gbp:.3f}", plain < 0.8 and gbp > 0.9, gbp > plain


def _adversarial(m: Metrics) -> tuple[str, bool, bool]:
    v = {
        r: float(get(m, f"adversarial.{r}.pgd.spearman_abs")) for r in ("plain", "guided", "deconv")
    }
    text = ", ".join(f"{r} {x:.3f}" for r, x in v.items())
    flipped = float(get(m, "attacks.pgd.flipped"))
    ordered = v["plain"] < v["guided"] < v["deconv"]
    return f"{text} ({flipped:.0%} flipped)", ordered and flipped > 0.5, ordered


def _trained_above_untrained(key: str, label: str) -> Callable[[Metrics], tuple[str, bool, bool]]:
    """Chapter 6's TODO numbers: ``todo.<trained|untrained>.<key>``; holds by a 0.1 margin."""

    def measure(m: Metrics) -> tuple[str, bool, bool]:
        trained = float(get(m, f"todo.trained.{key}"))
        untrained = float(get(m, f"todo.untrained.{key}"))
        text = f"{label} {trained:.3f} vs {untrained:.3f} untrained"
        return text, trained > untrained + 0.1, trained > untrained

    return measure


MODELS = ("trained", "untrained", "vgg16_untrained")


def _invariant(rule: str) -> Callable[[Metrics], tuple[str, bool, bool]]:
    def measure(m: Metrics) -> tuple[str, bool, bool]:
        v = {k: float(get(m, f"class_invariance.{k}.{rule}")) for k in MODELS}
        text = "mean ρ across logits: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items())
        return text, min(v.values()) >= 0.9, max(v.values()) >= 0.9

    return measure


def _whole_image(m: Metrics) -> tuple[str, bool, bool]:
    trained = float(get(m, "corr_with_input.trained.guided"))
    untrained = [float(get(m, f"corr_with_input.{k}.guided")) for k in MODELS[1:]]
    text = f"ρ(input) untrained {min(untrained):.3f}–{max(untrained):.3f}, trained {trained:.3f}"
    return text, min(untrained) > trained, max(untrained) > trained


def _edges(m: Metrics) -> tuple[str, bool, bool]:
    trained = float(get(m, "corr_with_edges.trained.guided"))
    untrained = float(get(m, "corr_with_edges.untrained.guided"))
    return (
        f"ρ(edges) trained {trained:.3f}, untrained twin {untrained:.3f}",
        trained > untrained,
        False,
    )


def _only_conv_gbp(m: Metrics) -> tuple[str, bool, bool]:
    conv = float(get(m, "corr_to_limit.conv.guided"))
    others = [
        float(get(m, f"corr_to_limit.{n}.{r}"))
        for n, r in (("fc", "guided"), ("conv", "plain"), ("fc", "plain"))
    ]
    text = f"ρ(limit) GBP-conv {conv:.3f}; others ≤ {max(abs(o) for o in others):.3f}"
    return text, conv > 0.8 and max(abs(o) for o in others) < 0.2, conv > max(others)


def _monotone(path: str, name: str) -> Callable[[Metrics], tuple[str, bool, bool]]:
    def measure(m: Metrics) -> tuple[str, bool, bool]:
        d = {int(k): float(v) for k, v in get(m, path).items()}
        values = [d[k] for k in sorted(d)]
        rises = sum(b > a for a, b in zip(values, values[1:], strict=False))
        lo, hi = min(d), max(d)
        text = f"ρ {d[lo]:.3f} at {name}={lo} → {d[hi]:.3f} at {name}={hi}"
        return text, rises == len(values) - 1, d[hi] > d[lo]

    return measure


def _fc_vs_conv16(m: Metrics) -> tuple[str, bool, bool]:
    c = get(m, "fc_100000_vs_conv_16")
    full = c["at_full_size"]
    text = (
        f"rel. error at {c['size']}px: FC {c['fc']:.2f} vs conv {c['conv']:.2f}; "
        f"at {full['size']}px: FC {full['fc']:.2f} vs conv {full['conv']:.2f}"
    )
    at_paper_size = bool(c["holds"])
    at_full = full["fc"] > full["conv"]
    return text, at_paper_size, at_full


def _kernel_size(m: Metrics) -> tuple[str, bool, bool]:
    r = get(m, "kernel_error_ratio")
    text = f"error k=11 / k=3: {r['measured']:.2f} (√(p/N) predicts {r['sqrt_p']:.2f})"
    return text, math.isclose(r["measured"], r["sqrt_p"], rel_tol=0.2), False


def _padding(m: Metrics) -> tuple[str, bool, bool]:
    valid = float(get(m, "padding.valid.weight_border_over_inside"))
    same = float(get(m, "padding.same.weight_border_over_inside"))
    text = f"border/inside weight: VALID {valid:.2f}, SAME {same:.2f}"
    return text, abs(same - 1) < abs(valid - 1), False


def _ch7_methods(m: Metrics) -> list[str]:
    return list(get(m, "methods"))


def _ch7_prediction(m: Metrics) -> tuple[str, bool, bool]:
    """Chapter 7: the per-method verdicts (predicted vs measured insensitivity) agree."""
    methods = _ch7_methods(m)
    off = [k for k in methods if get(m, f"{k}.verdict") != "agree"]
    text = f"agrees on {len(methods) - len(off)} of {len(methods)}"
    text += f" (not: {', '.join(off)})" if off else ""
    return text, not off, len(off) < len(methods) / 2


def _ch7_sanity_checks(m: Metrics) -> tuple[str, bool, bool]:
    """Chapter 7 against Adebayo et al.'s findings, for the methods they tested."""
    paper = get(m, "sanity_checks_2018")
    tested = [k for k in _ch7_methods(m) if paper.get(k) is not None]
    off = [k for k in tested if bool(get(m, f"{k}.measured_insensitive")) != paper[k]]
    text = f"same finding for {len(tested) - len(off)} of {len(tested)}"
    text += f" (not: {', '.join(off)})" if off else ""
    return text, not off, len(off) < len(tested) / 2


def _ch7_class_invariance(m: Metrics) -> tuple[str, bool, bool]:
    """Claim (c) of the paper across eight methods: invariant exactly where the rule is guided
    or DeconvNet (mean correlation across logits >= 0.9)."""
    ci = {k: float(get(m, f"{k}.class_invariance")) for k in _ch7_methods(m)}
    invariant = sorted(k for k, v in ci.items() if v >= 0.9)
    text = "ρ ≥ 0.9 for " + (", ".join(invariant) or "none")
    return text, invariant == ["deconvnet", "guided_backprop"], "guided_backprop" in invariant


SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
CLAIMS: list[Claim] = [
    # Section 2: observations (chapter 1).
    Claim(
        "2, Fig. 1",
        "GBP of an untrained VGG-16 shows the image",
        "01_observations",
        at_least("corr_with_input.vgg16_untrained.guided", 0.5, 0.2, label="ρ(input) "),
    ),
    Claim(
        "2, Fig. 1",
        "GBP of the trained network is interpretable (measured: resemblance to the photo)",
        "01_observations",
        at_least("corr_with_input.trained.guided", 0.5, 0.1, label="ρ(input) "),
    ),
    Claim(
        "2",
        "Untrained GBP recovers the image as a whole, more than trained",
        "01_observations",
        custom(_whole_image),
    ),
    Claim(
        "2", "Trained GBP cares more about edges than untrained", "01_observations", custom(_edges)
    ),
    Claim(
        "2", "GBP is invariant to the logit chosen", "01_observations", custom(_invariant("guided"))
    ),
    Claim(
        "2",
        "The plain saliency map is invariant to the logit",
        "01_observations",
        custom(_invariant("plain")),
    ),
    Claim(
        "2", "DeconvNet is invariant to the logit", "01_observations", custom(_invariant("deconv"))
    ),
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
    # Section 4: experiments (chapters 3 and 4).
    Claim(
        "4, Fig. 2",
        "Only GBP in the convnet gives a clean picture; plain maps and FC are noise",
        "03_convnet_vs_fc",
        custom(_only_conv_gbp),
    ),
    Claim(
        "4, Fig. 3",
        "Convnet GBP gets cleaner as N grows",
        "04_filter_sweeps",
        custom(_monotone("conv_sweep", "N")),
    ),
    Claim(
        "4, Fig. 4",
        "FC GBP gets cleaner as $N_h$ grows",
        "04_filter_sweeps",
        custom(_monotone("fc_sweep", "N_h")),
    ),
    Claim(
        "3-4",
        "Convnet error to the limit falls as $N^{-1/2}$",
        "04_filter_sweeps",
        slope_near("conv_error_slope", -0.5, 0.05),
    ),
    Claim(
        "3-4",
        "FC error to the limit falls as $N_h^{-1/2}$",
        "04_filter_sweeps",
        slope_near("fc_error_slope", -0.5, 0.05),
    ),
    Claim(
        "3",
        "The filters needed grow with the patch size p ($\\sqrt{p/N}$)",
        "04_filter_sweeps",
        custom(_kernel_size),
    ),
    Claim(
        "4",
        "Even $N_h = 100000$ FC is worse than a convnet with N = 16",
        "04_filter_sweeps",
        custom(_fc_vs_conv16),
    ),
    Claim(
        "3, fn. 1",
        "SAME padding alleviates the boundary inconsistency",
        "04_filter_sweeps",
        custom(_padding),
    ),
    # The draft's TODO list and the published version's extensions (chapter 6).
    Claim(
        "TODO 1",
        "The plain saliency map of a trained net has structure",
        "06_beyond_the_draft",
        custom(_trained_above_untrained("plain.autocorr", "lag-1 autocorr")),
    ),
    Claim(
        "TODO 2",
        "GBP of a trained convnet captures edges",
        "06_beyond_the_draft",
        custom(_trained_above_untrained("guided.edges_spearman", "edge ρ")),
    ),
    Claim(
        "ICML",
        "Max pooling makes DeconvNet reflect the input",
        "06_beyond_the_draft",
        custom(_maxpool_deconv),
    ),
    Claim("ICML", "Max pooling leaves GBP unaffected", "06_beyond_the_draft", custom(_maxpool_gbp)),
    Claim(
        "Adebayo",
        "Randomizing the logit layer changes saliency maps, barely GBP",
        "06_beyond_the_draft",
        custom(_logit_layer_randomized),
    ),
    Claim(
        "TODO 3, ICML",
        "An adversarial perturbation changes saliency maps most, GBP less, DeconvNet least",
        "06_beyond_the_draft",
        custom(_adversarial),
    ),
    # Every attribution method through the paper's questions (chapter 7).
    Claim(
        "Eq. (2), extended",
        "Maps whose upper layers enter only through $\\sigma$ (GBP, DeconvNet) ignore them; "
        "the others do not (per-method verdicts)",
        "07_every_method",
        custom(_ch7_prediction),
    ),
    Claim(
        "2 (c), extended",
        "Class invariance holds for the guided and DeconvNet rules only, among eight methods",
        "07_every_method",
        custom(_ch7_class_invariance),
    ),
    Claim(
        "Adebayo",
        "GBP and Guided Grad-CAM survive cascading randomization; gradient, gradient × input, "
        "SmoothGrad, IG and Grad-CAM do not",
        "07_every_method",
        custom(_ch7_sanity_checks),
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
        "measured when this book was built, and a verdict computed from that number by the rule",
        "in `scripts/scorecard.py` (no verdict is typed by hand). *Corrected* means the claim's",
        "picture holds but a stated constant or number is wrong; the chapter gives the right one.",
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
