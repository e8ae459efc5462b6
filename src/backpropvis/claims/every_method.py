"""Chapter 7's claims, judged by the verdict rule (:mod:`.verdicts`) from the per-method results
of :func:`backpropvis.studies.every_method.method_results`. Each returns ``(measured text,
verdict)`` for :meth:`backpropvis.book.record.Record.claim`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .verdicts import CLASS_INVARIANT, judge

__all__ = [
    "class_invariance_claim",
    "convergence_rows",
    "prediction_claim",
    "sanity_checks_claim",
    "settings_verdicts",
]


def _off_text(text: str, off: Sequence[str]) -> str:
    return text + (f" (not: {', '.join(off)})" if off else "")


def prediction_claim(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The argument's per-method predictions agree with the measurement: reproduced for every
    method, partly for more than half."""
    off = [m for m, r in results.items() if r["verdict"] != "agree"]
    text = _off_text(f"agrees on {len(results) - len(off)} of {len(results)}", off)
    return text, judge(not off, len(off) < len(results) / 2)


def class_invariance_claim(
    results: Mapping[str, Mapping[str, Any]], at: float = CLASS_INVARIANT
) -> tuple[str, str]:
    """Class invariance (mean correlation across logits at least ``at``) for exactly the guided
    and DeconvNet rules: reproduced; partly when guided backprop is among the invariant ones."""
    invariant = sorted(m for m, r in results.items() if float(r["class_invariance"]) >= at)
    text = f"ρ ≥ {at:g} for " + (", ".join(invariant) or "none")
    holds = invariant == ["deconvnet", "guided_backprop"]
    return text, judge(holds, "guided_backprop" in invariant)


def sanity_checks_claim(
    results: Mapping[str, Mapping[str, Any]],
    paper: Mapping[str, bool | None],
) -> tuple[str, str]:
    """The book's insensitivity against Adebayo et al.'s, for the methods they tested:
    reproduced when every finding is the same, partly for more than half."""
    tested = [m for m in results if paper.get(m) is not None]
    off = [m for m in tested if bool(results[m]["measured_insensitive"]) != paper[m]]
    text = _off_text(f"same finding for {len(tested) - len(off)} of {len(tested)}", off)
    return text, judge(not off, len(off) < len(tested) / 2)


def settings_verdicts(
    results: Mapping[str, Mapping[str, Any]],
    paper: Mapping[str, bool | None],
    at: float = CLASS_INVARIANT,
) -> dict[str, tuple[str, str]]:
    """Every claim of the chapter, ``key: (measured text, verdict)``, judged from ``results``
    (the same rules as :func:`prediction_claim`, :func:`class_invariance_claim` and
    :func:`sanity_checks_claim`)."""
    return {
        "every_method_prediction": prediction_claim(results),
        "every_method_class_invariance": class_invariance_claim(results, at),
        "every_method_sanity_checks": sanity_checks_claim(results, paper),
    }


def convergence_rows(
    default: Mapping[str, tuple[str, str]], half: Mapping[str, tuple[str, str]]
) -> tuple[list[str], list[list[str]], str]:
    """``(header, rows, sentence)``: each claim's verdict and measurement at the chapter's
    settings and at half the SmoothGrad copies and IG steps, and whether any verdict moved."""
    header = ["claim", "verdict", "measured", "verdict at half", "measured at half"]
    rows = [[k, default[k][1], default[k][0], half[k][1], half[k][0]] for k in default]
    moved = [k for k in default if default[k][1] != half[k][1]]
    shifted = [k for k in default if default[k][0] != half[k][0] and k not in moved]
    sentence = (
        "no verdict depends on the settings"
        if not moved
        else "the verdicts of " + ", ".join(moved) + " depend on the settings"
    )
    if shifted:
        sentence += "; the measured findings of " + ", ".join(shifted) + " do"
    return header, rows, sentence
