"""Chapter 5's one judgement: whether the explorer feels live. The chapter states no claim of
the paper; it measures how long the widget takes to update after a change.

Threshold:

- the explorer "meets" its target when its slowest update at the default settings takes at
  most :data:`UPDATE_TARGET_S` (1 s) of wall-clock time, else it "misses" it.
"""

from __future__ import annotations

__all__ = ["UPDATE_TARGET_S", "update_speed_word"]

UPDATE_TARGET_S = 1.0


def update_speed_word(seconds: float) -> str:
    """``"meets"`` if the slowest update, ``seconds``, is within :data:`UPDATE_TARGET_S`, else
    ``"misses"``."""
    return "meets" if seconds <= UPDATE_TARGET_S else "misses"
