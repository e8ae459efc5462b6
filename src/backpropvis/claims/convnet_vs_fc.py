"""Chapter 3's claim (the paper's Figure 2), judged by the verdict rule (:mod:`.verdicts`):
returns ``(measured text, verdict)`` for :meth:`backpropvis.book.record.Record.claim`.

Threshold: only the convnet's GBP map gives a clean picture when it correlates with its limit
above :data:`CLEAN` (0.8) and the three other maps (plain convnet, GBP and plain FC) stay
within :math:`|\\rho| <` :data:`NOISE` (0.2); partly when the convnet's GBP map merely
correlates more than the other three.
"""

from __future__ import annotations

from collections.abc import Mapping

from .verdicts import judge

__all__ = ["only_conv_gbp_claim"]

CLEAN, NOISE = 0.8, 0.2


def only_conv_gbp_claim(corr_to_limit: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """Figure 2's reading from ``corr_to_limit[net][rule]`` (nets ``conv``, ``fc``; rules
    ``guided``, ``plain``): mean Pearson of each map with its network's limit."""
    conv = corr_to_limit["conv"]["guided"]
    others = [corr_to_limit["fc"]["guided"], corr_to_limit["conv"]["plain"]]
    others.append(corr_to_limit["fc"]["plain"])
    worst = max(abs(o) for o in others)
    measured = f"ρ(limit) GBP-conv {conv:.3f}; others ≤ {worst:.3f}"
    return measured, judge(conv > CLEAN and worst < NOISE, conv > max(others))
