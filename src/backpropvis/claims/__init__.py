"""The paper's claims, judged: the one verdict rule (:mod:`.verdicts`) and, per chapter, the
functions that turn its measurements into ``(measured text, verdict)``.
"""

from . import every_method, verdicts
from .every_method import *  # noqa: F403
from .verdicts import *  # noqa: F403

__all__ = [*verdicts.__all__, *every_method.__all__]
