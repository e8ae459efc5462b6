"""The paper's claims, judged: the one verdict rule (:mod:`.verdicts`) and, per chapter, the
functions that turn its measurements into ``(measured text, verdict)``.
"""

from . import convnet_vs_fc, derivation, every_method, observations, verdicts
from .convnet_vs_fc import *  # noqa: F403
from .derivation import *  # noqa: F403
from .every_method import *  # noqa: F403
from .observations import *  # noqa: F403
from .verdicts import *  # noqa: F403

__all__ = [
    *verdicts.__all__,
    *observations.__all__,
    *derivation.__all__,
    *convnet_vs_fc.__all__,
    *every_method.__all__,
]
