"""The paper's objects: photos, patches, the random networks of Eqs. (1) and (7), trained
classifiers, the backward rule ``h``, the maps it gives, the theory of Eqs. (2)-(7), the
sweeps and measures built on them, and the rank-one test of Sixt et al. (2020).
"""

from . import (
    attribution,
    concentration,
    convergence,
    digits,
    fc_net,
    folding,
    images,
    metrics,
    models,
    networks,
    patches,
    rules,
    step_b,
    sweeps,
    theory,
    trainable,
)
from .attribution import *  # noqa: F403
from .concentration import *  # noqa: F403
from .convergence import *  # noqa: F403
from .digits import *  # noqa: F403
from .fc_net import *  # noqa: F403
from .folding import *  # noqa: F403
from .images import *  # noqa: F403
from .metrics import *  # noqa: F403
from .models import *  # noqa: F403
from .networks import *  # noqa: F403
from .patches import *  # noqa: F403
from .rules import *  # noqa: F403
from .step_b import *  # noqa: F403
from .sweeps import *  # noqa: F403
from .theory import *  # noqa: F403
from .trainable import *  # noqa: F403

__all__ = [
    *images.__all__,
    *digits.__all__,
    *patches.__all__,
    *networks.__all__,
    *fc_net.__all__,
    *trainable.__all__,
    *models.__all__,
    *folding.__all__,
    *rules.__all__,
    *attribution.__all__,
    *theory.__all__,
    *step_b.__all__,
    *concentration.__all__,
    *convergence.__all__,
    *sweeps.__all__,
    *metrics.__all__,
]
