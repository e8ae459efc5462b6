"""The sanity-check metrics of Adebayo et al. (2018), one implementation.

A :class:`SanityReference` holds one original map with what the metrics need of it (normalized
and ranked once); :meth:`SanityReference.compare` scores a new map against it: ``spearman_abs``
(Spearman of the ``"abs99"`` maps: channel sum of ``|m|`` clipped at its 99th percentile),
``spearman`` (of the signed ``"diverging"`` maps), ``ssim`` (of the ``"abs99"`` maps) and
``hog`` (Spearman of their HOG features), with ``degenerate``: 1.0 where the new map is
degenerate (:func:`~backpropvis.core.metrics.is_degenerate`). Every similarity is NaN
(undefined) where either map is degenerate. :func:`sanity_similarity` compares two maps once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.metrics import is_degenerate, normalize_map, pearson, ssim

__all__ = ["SanityReference", "sanity_references", "sanity_similarity"]

SCORES = ("spearman_abs", "spearman", "ssim", "hog")


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks ``1..n`` of the entries of ``a`` (flattened), ties sharing their average rank: the
    same as ``scipy.stats.rankdata`` (method ``"average"``), in one sort."""
    a = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(a, kind="stable")
    s = a[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    out = np.empty(len(a))
    out[order] = np.repeat(avg, ends - starts)
    return out


def hog_features(m: np.ndarray, cell: int = 16) -> np.ndarray:
    """HOG features (scikit-image: 9 orientations, ``cell`` x ``cell``-pixel cells, 3 x 3-cell
    blocks) of a 2-D map, e.g. its ``"abs99"`` image."""
    from skimage.feature import hog

    cell = min(cell, max(1, min(m.shape) // 3))  # at least one block on small maps
    return hog(m, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(3, 3))


class SanityReference:
    """One original map with what the sanity-check metrics need of it, computed once (module
    docstring); ``hog=False`` leaves the HOG score out."""

    def __init__(self, m: Any, hog: bool = True) -> None:
        self.hog = hog
        self.degenerate = is_degenerate(m)
        self.abs = normalize_map(m, "abs99")
        self._abs_ranks = average_ranks(self.abs)
        self._div_ranks = average_ranks(normalize_map(m, "diverging"))
        if hog:
            self._hog_ranks = average_ranks(hog_features(self.abs))

    def compare(self, m: Any) -> dict[str, float]:
        """The metrics of map ``m`` against the original."""
        keys = SCORES if self.hog else SCORES[:3]
        if self.degenerate or is_degenerate(m):
            return dict.fromkeys(keys, float("nan")) | {"degenerate": float(is_degenerate(m))}
        new = normalize_map(m, "abs99")
        out = {
            "spearman_abs": pearson(self._abs_ranks, average_ranks(new)),
            "spearman": pearson(self._div_ranks, average_ranks(normalize_map(m, "diverging"))),
            "ssim": ssim(self.abs, new),
        }
        if self.hog:
            out["hog"] = pearson(self._hog_ranks, average_ranks(hog_features(new)))
        return out | {"degenerate": 0.0}


def sanity_similarity(a: Any, b: Any) -> dict[str, float]:
    """``spearman_abs``, ``spearman`` and ``ssim`` of map ``b`` against map ``a`` (module
    docstring); NaN when either is degenerate."""
    scores = SanityReference(a, hog=False).compare(b)
    del scores["degenerate"]
    return scores


def sanity_references(maps: dict[str, Any], hog: bool = True) -> dict[str, list[SanityReference]]:
    """One :class:`SanityReference` per key (method or rule) and image of ``maps``
    ``{key: (B, C, H, W)}``."""
    return {k: [SanityReference(m, hog=hog) for m in v] for k, v in maps.items()}
