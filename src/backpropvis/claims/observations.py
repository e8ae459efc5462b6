"""Chapter 1's claims (the paper's Section 2 and Figure 1), judged by the verdict rule
(:mod:`.verdicts`). Each ``*_claim`` returns ``(measured text, verdict)`` for
:meth:`backpropvis.book.record.Record.claim`.

Thresholds:

- class invariance (claim (c)): a rule is class-invariant on a network when its mean
  correlation across logits is at least :data:`~.verdicts.CLASS_INVARIANT` (0.9); the claim is
  reproduced when that holds on every network, partly on at least one;
- a GBP map "shows the image" (claim (a)) at Pearson :data:`SHOWS_PHOTO` (0.5) or more with the
  input the network sees; partly from :data:`SHOWS_PHOTO_PARTLY` (0.2) for an untrained network
  and from :data:`SHOWS_PHOTO_PARTLY_TRAINED` (0.1) for a trained one, whose map is sparse;
- the "whole image" and "edges" halves of claim (b) compare correlations, no threshold.
"""

from __future__ import annotations

from collections.abc import Mapping

from .verdicts import CLASS_DEPENDENT, CLASS_INVARIANT, at_least, judge

__all__ = [
    "edges_claim",
    "invariance_word",
    "logit_invariance_claim",
    "shows_photo_claim",
    "whole_image_claim",
]

SHOWS_PHOTO = 0.5
SHOWS_PHOTO_PARTLY = 0.2
SHOWS_PHOTO_PARTLY_TRAINED = 0.1


def invariance_word(rho: float) -> str:
    """The book's word for a mean correlation across logits: class-invariant from
    :data:`~.verdicts.CLASS_INVARIANT`, class-dependent below
    :data:`~.verdicts.CLASS_DEPENDENT`, partly class-dependent between."""
    if rho >= CLASS_INVARIANT:
        return "class-invariant"
    return "partly class-dependent" if rho >= CLASS_DEPENDENT else "class-dependent"


def logit_invariance_claim(rho_by_network: Mapping[str, float]) -> tuple[str, str]:
    """Claim (c) for one backward rule: its mean correlation across logits on each network
    (``{network: rho}``). Reproduced when class-invariant on all, partly on at least one."""
    measured = "mean ρ across logits: " + ", ".join(
        f"{k} {x:.3f}" for k, x in rho_by_network.items()
    )
    rhos = rho_by_network.values()
    return measured, judge(min(rhos) >= CLASS_INVARIANT, max(rhos) >= CLASS_INVARIANT)


def shows_photo_claim(rho_input: float, trained: bool = False) -> tuple[str, str]:
    """Claim (a) for one network: its GBP map correlates with the input at ``rho_input``
    (:data:`SHOWS_PHOTO`; partly from :data:`SHOWS_PHOTO_PARTLY`, or
    :data:`SHOWS_PHOTO_PARTLY_TRAINED` for a ``trained`` network)."""
    partly = SHOWS_PHOTO_PARTLY_TRAINED if trained else SHOWS_PHOTO_PARTLY
    return f"ρ(input) {rho_input:.3f}", at_least(rho_input, SHOWS_PHOTO, partly)


def whole_image_claim(trained: float, untrained: float, vgg16_untrained: float) -> tuple[str, str]:
    """Claim (b), "whole image" half, from each network's GBP correlation with the input:
    reproduced when both untrained networks exceed the trained one, partly when one does."""
    low, high = sorted([untrained, vgg16_untrained])
    measured = f"ρ(input) untrained {low:.3f}–{high:.3f}, trained {trained:.3f}"
    return measured, judge(low > trained, high > trained)


def edges_claim(trained: float, untrained_twin: float) -> tuple[str, str]:
    """Claim (b), "edges" half, trained network against its own untrained twin (the paper's
    like-for-like comparison): reproduced when the trained GBP magnitude correlates more with
    the Sobel edges."""
    measured = f"ρ(edges) trained {trained:.3f}, untrained twin {untrained_twin:.3f}"
    return measured, judge(trained > untrained_twin)
