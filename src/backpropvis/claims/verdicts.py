"""The verdict rule: how a measured number becomes the verdict on one of the paper's claims.

Every claim of the book is judged once, in the chapter that measures it, with these functions;
the chapter's prose and the scorecard both show that one verdict (:class:`backpropvis.record.Record`
stores it in the chapter's metrics, the scorecard only renders it).

Verdicts:

- ``reproduced``: the claim holds as stated;
- ``partly``: it holds in part (a weaker margin, one of two conditions, one setting of two);
- ``not reproduced``: it does not hold;
- ``corrected``: the claim's picture holds but a constant or number the paper states is wrong,
  and the chapter gives the right one.
"""

from __future__ import annotations

import math

__all__ = [
    "CLASS_DEPENDENT",
    "CLASS_INVARIANT",
    "REPRODUCED",
    "judge",
    "near",
]

REPRODUCED = "reproduced"
PARTLY = "partly"
NOT_REPRODUCED = "not reproduced"
CORRECTED = "corrected"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, CORRECTED)

# Class invariance (chapters 1 and 7): the mean pairwise correlation of maps across logits at
# or above which a rule counts as class-invariant, and below which as class-dependent (between
# the two: partly class-dependent). Read as a variance share, 0.9 leaves a tenth of a map to
# the logit.
CLASS_INVARIANT = 0.9
CLASS_DEPENDENT = 0.5


def judge(holds: bool, partly: bool = False) -> str:
    """``reproduced`` if ``holds``, else ``partly`` if ``partly``, else ``not reproduced``."""
    return REPRODUCED if holds else PARTLY if partly else NOT_REPRODUCED


def at_least(value: float, good: float, partial: float | None = None) -> str:
    """Reproduced when ``value >= good``, partly when ``value >= partial``."""
    return judge(value >= good, partial is not None and value >= partial)


def at_most(value: float, good: float, partial: float | None = None) -> str:
    """Reproduced when ``value <= good``, partly when ``value <= partial``."""
    return judge(value <= good, partial is not None and value <= partial)


def near(value: float, target: float, tol: float, partial_tol: float | None = None) -> str:
    """Reproduced when ``|value - target| <= tol``, partly within ``partial_tol``."""
    err = abs(value - target)
    return judge(err <= tol, partial_tol is not None and err <= partial_tol)


def versus_paper(value: float, paper: float, rel_tol: float) -> str:
    """A constant the paper states: reproduced within ``rel_tol`` (relative), else corrected."""
    same = math.isclose(value, paper, rel_tol=rel_tol, abs_tol=1e-12)
    return REPRODUCED if same else CORRECTED
