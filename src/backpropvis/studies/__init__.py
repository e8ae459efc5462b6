"""Experiments built on the core and the methods: class invariance, the sanity metrics, model
randomization, adversarial attacks, chapter 7's study of every method, the explorer, training
(chapter 8) and width against depth (chapter 9).
"""

from . import (
    attacks,
    every_method,
    explorer,
    invariance,
    randomization,
    sanity,
    training,
    width_depth,
)
from .attacks import *  # noqa: F403
from .every_method import *  # noqa: F403
from .explorer import *  # noqa: F403
from .invariance import *  # noqa: F403
from .randomization import *  # noqa: F403
from .sanity import *  # noqa: F403
from .training import *  # noqa: F403
from .width_depth import *  # noqa: F403

__all__ = [
    *invariance.__all__,
    *sanity.__all__,
    *randomization.__all__,
    *attacks.__all__,
    *every_method.__all__,
    *explorer.__all__,
    *training.__all__,
    *width_depth.__all__,
]
