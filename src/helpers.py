"""Helpers for the book *Why gradient visualizations look interpretable in untrained networks*.

The one module the chapters import (``import helpers as H``): the public names of the package
:mod:`backpropvis`, layer by layer, each written once, in its module's ``__all__``. Notation
follows the paper: ``N`` filters, ``J`` patches, ``p`` patch size (``3 * k * k`` for ``k x k x 3``
filters), ``c`` the weight scale (``std`` here), ``D_j`` patch extraction and ``h`` the backward
rule applied at each ReLU.

Every random construct takes a seed; the same seed gives bitwise identical tensors
(:mod:`backpropvis.core.streams`).
"""

from backpropvis import book, claims, core, methods, studies
from backpropvis.book import *  # noqa: F403
from backpropvis.claims import *  # noqa: F403
from backpropvis.core import *  # noqa: F403
from backpropvis.methods import *  # noqa: F403
from backpropvis.studies import *  # noqa: F403

__all__ = [*core.__all__, *methods.__all__, *studies.__all__, *claims.__all__, *book.__all__]
