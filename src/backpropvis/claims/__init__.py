"""The paper's claims, judged: the one verdict rule (:mod:`.verdicts`) and, per chapter, the
functions that turn its measurements into ``(measured text, verdict)`` with their thresholds:
chapter 1 (:mod:`.observations`), 2 (:mod:`.derivation`), 3 (:mod:`.convnet_vs_fc`),
4 (:mod:`.filter_sweeps`), 5 (:mod:`.explorer`), 6 (:mod:`.beyond_the_draft`),
7 (:mod:`.every_method`), 8 (:mod:`.training`) and 9 (:mod:`.width_or_depth`).
"""

from . import (
    beyond_the_draft,
    convnet_vs_fc,
    derivation,
    every_method,
    explorer,
    filter_sweeps,
    observations,
    training,
    verdicts,
    width_or_depth,
)
from .beyond_the_draft import *  # noqa: F403
from .convnet_vs_fc import *  # noqa: F403
from .derivation import *  # noqa: F403
from .every_method import *  # noqa: F403
from .explorer import *  # noqa: F403
from .filter_sweeps import *  # noqa: F403
from .observations import *  # noqa: F403
from .training import *  # noqa: F403
from .verdicts import *  # noqa: F403
from .width_or_depth import *  # noqa: F403

__all__ = [
    *verdicts.__all__,
    *observations.__all__,
    *derivation.__all__,
    *convnet_vs_fc.__all__,
    *filter_sweeps.__all__,
    *explorer.__all__,
    *beyond_the_draft.__all__,
    *every_method.__all__,
    *training.__all__,
    *width_or_depth.__all__,
]
