"""The paper's claims, judged: the one verdict rule (:mod:`.verdicts`) and, per chapter, the
functions that turn its measurements into ``(measured text, verdict)``.
"""

from . import beyond_the_draft, every_method, explorer, filter_sweeps, verdicts
from .beyond_the_draft import *  # noqa: F403
from .every_method import *  # noqa: F403
from .explorer import *  # noqa: F403
from .filter_sweeps import *  # noqa: F403
from .verdicts import *  # noqa: F403

__all__ = [
    *verdicts.__all__,
    *every_method.__all__,
    *filter_sweeps.__all__,
    *explorer.__all__,
    *beyond_the_draft.__all__,
]
