"""Chapter 6's claims (the draft's TODO notes, its ICML version, and the sanity checks of
Adebayo et al.), judged by the verdict rule (:mod:`.verdicts`). Each ``*_claim`` returns
``(measured text, verdict)`` for :meth:`backpropvis.book.record.Record.claim`.

Thresholds:

- max pooling makes DeconvNet reflect the input when its centred correlation with the input
  rises by more than :data:`MAXPOOL_MARGIN` (0.05; partly when it rises at all);
- max pooling leaves GBP unaffected when GBP's correlation with its limit moves by less than
  :data:`MAXPOOL_MARGIN` (partly by less than :data:`MAXPOOL_GBP_PARTLY`, 0.15);
- randomizing the logit layer changes the saliency map but barely GBP when, after that first
  cascading step, the saliency map's rank correlation is below :data:`LOGIT_PLAIN_BELOW` (0.8)
  and GBP's above :data:`LOGIT_GBP_ABOVE` (0.9); partly when GBP's is above the saliency map's;
- an adversarial perturbation changes saliency most, GBP less, DeconvNet least when the rank
  correlations after the attack are in that strict order and the attack flips more than
  :data:`FLIPPED_ABOVE` (one half) of the photos; partly when only the order holds;
- a trained network's map has more of a property (structure, edges) than its untrained twin's
  when its score exceeds the untrained one's by more than :data:`TODO_MARGIN` (0.1; partly
  when it exceeds it at all).
"""

from __future__ import annotations

from collections.abc import Mapping

from .verdicts import judge

__all__ = [
    "MAXPOOL_GBP_PARTLY",
    "MAXPOOL_MARGIN",
    "TODO_MARGIN",
    "adversarial_claim",
    "logit_layer_claim",
    "maxpool_deconv_claim",
    "maxpool_gbp_claim",
    "trained_above_claim",
]

MAXPOOL_MARGIN, MAXPOOL_GBP_PARTLY = 0.05, 0.15
LOGIT_PLAIN_BELOW, LOGIT_GBP_ABOVE = 0.8, 0.9
FLIPPED_ABOVE = 0.5
TODO_MARGIN = 0.1


def maxpool_deconv_claim(no_pool: float, pool: float) -> tuple[str, str]:
    """DeconvNet's centred correlation with the input without and with the max pool."""
    measured = f"ρ(input) {no_pool:.3f} → {pool:.3f}"
    return measured, judge(pool > no_pool + MAXPOOL_MARGIN, pool > no_pool)


def maxpool_gbp_claim(no_pool: float, pool: float) -> tuple[str, str]:
    """GBP's correlation with its limit without and with the max pool."""
    change = abs(pool - no_pool)
    measured = f"GBP ρ(limit) {no_pool:.3f} → {pool:.3f}"
    return measured, judge(change < MAXPOOL_MARGIN, change < MAXPOOL_GBP_PARTLY)


def logit_layer_claim(plain: float, guided: float) -> tuple[str, str]:
    """Rank correlations of the saliency map and of GBP after randomizing the logit layer."""
    measured = f"rank ρ plain {plain:.3f}, GBP {guided:.3f}"
    holds = plain < LOGIT_PLAIN_BELOW and guided > LOGIT_GBP_ABOVE
    return measured, judge(holds, guided > plain)


def adversarial_claim(after: Mapping[str, float], flipped: float) -> tuple[str, str]:
    """``after``: each rule's (``plain``, ``guided``, ``deconv``) rank correlation after the
    attack, in the order the text lists them; ``flipped``: the fraction of photos whose top
    class the attack changed."""
    ordered = after["plain"] < after["guided"] < after["deconv"]
    measured = ", ".join(f"{r} {v:.3f}" for r, v in after.items())
    measured += f" ({flipped:.0%} flipped)"
    return measured, judge(ordered and flipped > FLIPPED_ABOVE, ordered)


def trained_above_claim(trained: float, untrained: float, label: str) -> tuple[str, str]:
    """A score (named ``label`` in the text) of the trained network against its untrained
    twin's."""
    measured = f"{label} {trained:.3f} vs {untrained:.3f} untrained"
    return measured, judge(trained > untrained + TODO_MARGIN, trained > untrained)
