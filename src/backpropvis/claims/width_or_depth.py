"""Chapter 9's claims: the paper's width explanation of class invariance against Sixt et al.'s
depth (rank-one) explanation, judged by the verdict rule (:mod:`.verdicts`). Each ``*_claim``
returns ``(measured text, verdict)`` for :meth:`backpropvis.book.record.Record.claim`; the
LRP family's randomization test is judged by chapter 7's
:func:`~backpropvis.claims.every_method.prediction_claim`.

The predictions are read off the registry, not typed per method:

* width (the paper, Eqs. 3-5): the average over ``N`` filters makes ``h(V)`` a constant when
  ``h`` gives a positive factor of the same mean for any weights
  (:attr:`~backpropvis.methods.registry.Ingredients.predicted_insensitive`), so class
  invariance grows with ``N``; with ``E[h(V)] = 0`` (the plain rule, LRP-ε) it does not;
* depth (Sixt et al.'s theorem): a product of non-negative backward matrices converges to rank
  one, so class invariance and CSC grow with ``L``, for the rules whose matrices at the
  convolutions are non-negative (:data:`NONNEGATIVE_CONV`); LRP-ε, the plain gradient and the
  γ rule (``w + 0.25 w⁺``, signed) are outside the theorem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..methods.registry import METHODS, POSITIVE_BACKWARD
from ..studies.width_depth import passes_at
from .verdicts import CLASS_INVARIANT, judge

__all__ = [
    "EFFECT",
    "RANK_ONE_AT",
    "depth_claim",
    "explains",
    "grid_cell",
    "predictions",
    "real_network_claim",
    "width_claim",
]

#: The backward rules whose matrices at the convolutions are non-negative: the guided and
#: DeconvNet rules, LRP-z⁺ and LRP-α2β1 (as Sixt et al. count them), and EpsilonPlusFlat (z⁺ at
#: every convolution, the flat rule at the first; ε only at the linear layer on top).
NONNEGATIVE_CONV = (*POSITIVE_BACKWARD, "epsilon-plus-flat")
#: Rules neither inside Sixt et al.'s theorem nor among their exceptions (LRP-z, which is
#: LRP-ε, and the gradient): the γ rule at EpsilonGammaBox's convolutions.
OUTSIDE = ("epsilon-gamma-box",)
#: CSC at or above which the relevances count as rank one (Sixt et al.'s 0.99).
RANK_ONE_AT = 0.99
#: A change of class invariance of at least this much, across the grid's range of width or
#: of depth, counts as an effect of that variable.
EFFECT = 0.2


def grid_cell(grid: Sequence[Mapping[str, Any]], method: str, depth: int, width: int) -> dict:
    """The phase diagram's row of ``method`` at ``depth`` and ``width``."""
    for row in grid:
        if (row["method"], row["depth"], row["width"]) == (method, depth, width):
            return dict(row)
    raise KeyError(f"no grid cell for {method!r} at depth {depth}, width {width}")


def effects(grid: Sequence[Mapping[str, Any]], method: str, key: str = "class_invariance"):
    """``{"base", "width", "depth", "both"}``: ``key``'s mean at the shallowest and narrowest
    net, and its change from there with the width alone (shallowest net, widest), the depth
    alone (narrowest, deepest) and both; ``share_width`` and ``share_depth``: the part of the
    gap from ``base`` to 1 that each closes alone."""
    depths = sorted({r["depth"] for r in grid})
    widths = sorted({r["width"] for r in grid})

    def at(d: int, w: int) -> float:
        return grid_cell(grid, method, d, w)[key]["mean"]

    base = at(depths[0], widths[0])
    out = {
        "base": base,
        "width": at(depths[0], widths[-1]) - base,
        "depth": at(depths[-1], widths[0]) - base,
        "both": at(depths[-1], widths[-1]) - base,
    }
    gap = 1.0 - base
    out["share_width"] = out["width"] / gap if gap > 0 else float("nan")
    out["share_depth"] = out["depth"] / gap if gap > 0 else float("nan")
    return out


def predictions(method: str) -> dict[str, bool | None]:
    """What each explanation predicts for ``method`` (module docstring): ``{"width": class
    invariance grows with N, "depth": it and CSC grow with L}``; ``None`` where the theorem
    says nothing (the γ rule)."""
    backward = METHODS[method].ingredients.backward
    depth = True if backward in NONNEGATIVE_CONV else None if backward in OUTSIDE else False
    return {"width": backward in POSITIVE_BACKWARD, "depth": depth}


#: Which explanations predict a method's measured width and depth effects right.
RIGHT = {(True, True): "both", (True, False): "width only", (False, True): "depth only"}


def explains(grid: Sequence[Mapping[str, Any]], method: str) -> dict[str, Any]:
    """For ``method``: what each explanation predicts (class invariance grows with width, with
    depth), whether it does (a change of at least :data:`EFFECT`), and ``right``: which
    explanations predict what was measured, growth or none (``"both"``, ``"width only"``,
    ``"depth only"``, ``"neither"``; a prediction of ``None`` is never right)."""
    eff = effects(grid, method)
    predicted = predictions(method)
    measured = {v: eff[v] >= EFFECT for v in ("width", "depth")}
    key = tuple(predicted[v] == measured[v] for v in ("width", "depth"))
    return {
        "predicted_width": predicted["width"],
        "predicted_depth": predicted["depth"],
        "grows_with_width": measured["width"],
        "grows_with_depth": measured["depth"],
        "right": RIGHT.get(key, "neither"),
    } | eff


def width_claim(grid: Sequence[Mapping[str, Any]], method: str = "guided_backprop"):
    """The paper's explanation: at one hidden layer, ``method``'s class invariance grows with
    ``N`` to at least :data:`~.verdicts.CLASS_INVARIANT` at the widest net (reproduced); partly
    when it grows by :data:`EFFECT` without getting there."""
    depth = min(r["depth"] for r in grid)
    row = sorted((r for r in grid if r["method"] == method and r["depth"] == depth),
                 key=lambda r: r["width"])  # fmt: skip
    ci = [r["class_invariance"]["mean"] for r in row]
    grows = all(b >= a for a, b in zip(ci, ci[1:], strict=False))
    text = ", ".join(f"N = {r['width']}: {c:.2f}" for r, c in zip(row, ci, strict=True))
    return f"depth {depth}; {text}", judge(
        grows and ci[-1] >= CLASS_INVARIANT, ci[-1] - ci[0] >= EFFECT
    )


def depth_claim(grid: Sequence[Mapping[str, Any]], methods: Sequence[str]):
    """Sixt et al.'s explanation: at the narrowest width, the deepest net's CSC at the input
    (signed injections) reaches :data:`RANK_ONE_AT` for every method their theorem covers
    (:data:`NONNEGATIVE_CONV`) and stays below it for their exceptions; partly when it holds
    for at least half. A method whose CSC at the input is that high at one layer already (the
    flat rule's relevance is the same in every channel) tells nothing about depth: left out,
    and so are methods outside the theorem."""
    depths, width = sorted({r["depth"] for r in grid}), min(r["width"] for r in grid)
    ok, parts, left = [], [], []
    for m in methods:
        shallow, deep = (grid_cell(grid, m, d, width)["csc_signed"]["mean"]
                         for d in (depths[0], depths[-1]))  # fmt: skip
        predicted = predictions(m)["depth"]
        if predicted is None or shallow >= RANK_ONE_AT:
            left.append(METHODS[m].label)
            continue
        ok.append((deep >= RANK_ONE_AT) == predicted)
        parts.append(f"{METHODS[m].label} {deep:.3f}")
    text = f"L = {depths[-1]}, N = {width}: " + ", ".join(parts)
    text += f" (not judged: {', '.join(left)})" if left else ""
    return text, judge(all(ok), sum(ok) >= len(ok) / 2)


def real_network_claim(levels: Mapping[str, Sequence[Mapping[str, Any]]], network: str):
    """Sixt et al. on VGG-16: the methods their theorem covers reach CSC :data:`RANK_ONE_AT`
    at some layer and keep it down to the input (:func:`passes_at`), their exceptions (LRP-z,
    here LRP-ε; the gradient) do not. Measured on ``network``: reproduced when every method
    does as predicted, partly for at least half (methods outside the theorem left out)."""
    ok, parts = [], []
    for m, lv in levels.items():
        predicted = predictions(m)["depth"]
        if predicted is None:
            continue
        level = passes_at(lv, RANK_ONE_AT)
        ok.append((level is not None) == predicted)
        parts.append(f"{METHODS[m].label} " + (f"from ReLU {level['depth']}" if level
                                               else f"never ({lv[-1]['csc']:.2f})"))  # fmt: skip
    return f"{network}: " + ", ".join(parts), judge(all(ok), sum(ok) >= len(ok) / 2)
