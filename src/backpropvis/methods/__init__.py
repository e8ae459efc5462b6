"""Attribution methods, one registry (:mod:`.registry`): the gradient family (:mod:`.gradient`),
modified backpropagation (:mod:`.modified`), class activation maps (:mod:`.cam`) and layer-wise
relevance propagation through zennit (:mod:`.lrp`); any vector at the logits passed down by one
backward pass (:mod:`.injection`). Importing
the package registers every method, in the order of the book's tables."""

import warnings

# isort: off
# Each module registers its methods; this order is the order of the book's tables.
from . import gradient  # noqa: F401
from . import modified  # noqa: F401
from . import cam  # noqa: F401
from . import lrp  # noqa: F401

# isort: on
from .injection import injected
from .lrp import conservation
from .registry import (
    METHODS,
    attribution_maps,
    backward_methods,
    method_implementations,
    method_keys,
)

__all__ = [
    "METHODS",
    "attribution_maps",
    "backward_methods",
    "conservation",
    "injected",
    "method_implementations",
    "method_keys",
    "quiet_attribution_warnings",
]


def quiet_attribution_warnings() -> None:
    """Silence the warnings every attribution pass repeats: a constant map's undefined
    correlation, Captum's note on inputs without gradients, PyTorch's on ReLU backward hooks."""
    warnings.filterwarnings("ignore", message="An input array is constant")
    warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
