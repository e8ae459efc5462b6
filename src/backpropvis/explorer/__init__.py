"""Chapter 5's explorer: :mod:`.model` computes (cached, headless), :mod:`.widget` shows."""

from .model import EXPLORER_NETWORKS, ExploreResult, ExplorerModel, ExploreSettings
from .widget import Explorer

__all__ = ["EXPLORER_NETWORKS", "ExploreResult", "ExploreSettings", "Explorer", "ExplorerModel"]
