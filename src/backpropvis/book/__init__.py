"""The book layer: glue (numbers, tables and figures into the pages), one record per chapter,
papermill parameters, and the figures.
"""

from . import depth_plots, glue, params, plotting, record
from .depth_plots import *  # noqa: F403
from .glue import *  # noqa: F403
from .params import *  # noqa: F403
from .plotting import *  # noqa: F403
from .record import *  # noqa: F403

__all__ = [*glue.__all__, *record.__all__, *params.__all__, *plotting.__all__, *depth_plots.__all__]
