"""The explorer of chapter 5: a widget over every setting of the paper's networks
(:mod:`.model` computes, :mod:`.widget` shows)."""

from .model import ExploreSettings
from .widget import Explorer

__all__ = ["ExploreSettings", "Explorer"]
