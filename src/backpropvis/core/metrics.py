"""How maps are compared: correlations, SSIM, normalizations, similarity matrices, and the
sanity-check metrics of Adebayo et al. (2018).

A map is ``(3, H, W)`` (or ``(H, W)``), a tensor or an array; every metric returns a Python
float. scipy.stats (about 1.7 s to import) and scikit-image are imported on first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .images import edge_map

__all__ = [
    "better_by_one_sd",
    "border_gain",
    "border_mask",
    "centered_pearson",
    "compare_by_score",
    "edge_score",
    "lag1_autocorrelation",
    "mean_offdiagonal",
    "mean_pearson_with",
    "mean_std",
    "normalize_map",
    "pearson",
    "plus_minus",
    "relative_error",
    "similarity_matrices",
    "ssim",
]


def as_array(a: Any) -> np.ndarray:
    """A map (tensor or array) as a float64 NumPy array of the same shape."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


#: A map whose dynamic range is within this fraction of its largest magnitude is constant up to
#: float32 rounding (about a hundred float32 epsilons): no similarity to it is defined.
DEGENERATE_RTOL = 1e-5


def is_degenerate(m: Any) -> bool:
    """True for a map with nothing to compare: all zero, not finite, or constant up to rounding
    (``max - min <= DEGENERATE_RTOL * max |m|``), such as a Grad-CAM map whose ReLU removed a
    class activation map that is negative everywhere. Similarities to it are undefined (NaN)."""
    a = as_array(m)
    if a.size == 0 or not np.isfinite(a).all():
        return True
    top = float(np.abs(a).max())
    return top == 0 or float(a.max() - a.min()) <= DEGENERATE_RTOL * top


def pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two maps of the same shape (all pixels and channels)."""
    a, b = as_array(a).ravel(), as_array(b).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity (uncentered correlation) of two maps."""
    a, b = as_array(a).ravel(), as_array(b).ravel()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def spearman(a: Any, b: Any, absolute: bool = False) -> float:
    """Spearman rank correlation of two maps; ``absolute`` ranks ``|a|`` and ``|b|``."""
    from scipy.stats import spearmanr  # heavy: first use only (module docstring)

    a, b = as_array(a).ravel(), as_array(b).ravel()
    if absolute:
        a, b = np.abs(a), np.abs(b)
    return float(spearmanr(a, b).statistic)


def normalize_map(m: Any, mode: str = "minmax") -> np.ndarray:
    """Display normalization of a map ``(3, H, W)``.

    ``"minmax"``: the paper's global min-max over all pixels and channels to [0, 1],
    ``(3, H, W)``.
    ``"abs99"``: channel sum of ``|m|`` clipped at its 99th percentile, scaled to [0, 1],
    ``(H, W)``.
    ``"diverging"``: channel sum divided by the 99th percentile of its magnitude, clipped to
    [-1, 1], ``(H, W)``.
    """
    m = as_array(m)
    if mode == "minmax":
        lo, hi = m.min(), m.max()
        return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    if mode == "abs99":
        s = np.abs(m).sum(0)
        q = np.percentile(s, 99)
        return np.clip(s / q, 0, 1) if q > 0 else np.zeros_like(s)
    if mode == "diverging":
        s = m.sum(0)
        q = np.percentile(np.abs(s), 99)
        return np.clip(s / q, -1, 1) if q > 0 else np.zeros_like(s)
    raise ValueError(f"unknown normalization {mode!r}; use 'minmax', 'abs99' or 'diverging'")


def ssim(a: Any, b: Any) -> float:
    """SSIM of two maps after min-max normalization of each to [0, 1] (``data_range=1``).

    Maps ``(3, H, W)`` are compared per channel (``channel_axis=0``); ``(H, W)`` as gray.
    """
    from skimage.metrics import structural_similarity  # heavy: first use only

    a, b = normalize_map(a), normalize_map(b)
    axis = 0 if a.ndim == 3 else None
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=axis))


def relative_error(m: Any, ref: Any) -> float:
    """``||m - a ref|| / ||a ref||`` after the best scalar fit ``a`` (= ``sqrt(1/cos^2 - 1)``)."""
    return noise_to_signal(cosine(m, ref))


def noise_to_signal(rho: float) -> float:
    """``sqrt(1 / rho^2 - 1)``: the noise-to-signal ratio implied by a correlation ``rho > 0``."""
    return math.sqrt(max(1.0 / rho**2 - 1.0, 0.0)) if rho > 0 else float("inf")


def similarity_matrices(
    maps: Sequence[Any], metrics: Sequence[str] = ("pearson", "ssim", "spearman")
) -> dict[str, np.ndarray]:
    """``{metric: (T, T)}`` pairwise similarities of ``T`` maps, several metrics at once.

    Entry ``(i, j)`` is :func:`pearson`, :func:`ssim` or :func:`spearman` (``absolute`` for
    ``"spearman_abs"``) of maps ``i`` and ``j``, computed at once: Pearson is one
    ``np.corrcoef`` of the flattened maps, Spearman one ``np.corrcoef`` of their ranks (each
    map ranked once), SSIM normalizes each map once.
    """
    from scipy.stats import rankdata  # heavy: first use only
    from skimage.metrics import structural_similarity

    known = ("pearson", "ssim", "spearman", "spearman_abs")
    if any(m not in known for m in metrics):
        raise ValueError(f"unknown metric in {list(metrics)}; use some of {list(known)}")
    flat = np.stack([as_array(m).ravel() for m in maps])
    out: dict[str, np.ndarray] = {}
    for metric in metrics:
        if metric == "pearson":
            out[metric] = np.corrcoef(flat)
        elif metric.startswith("spearman"):
            vals = np.abs(flat) if metric == "spearman_abs" else flat
            out[metric] = np.corrcoef(rankdata(vals, axis=1))
        else:
            normed = [normalize_map(m) for m in maps]
            axis = 0 if normed[0].ndim == 3 else None
            mat = np.eye(len(normed))
            for i, j in zip(*np.triu_indices(len(normed), 1), strict=True):
                mat[i, j] = mat[j, i] = structural_similarity(
                    normed[i], normed[j], data_range=1.0, channel_axis=axis
                )
            out[metric] = mat
    return out


def mean_offdiagonal(mat: Any) -> float:
    """Mean of the off-diagonal entries of a square ``(T, T)`` matrix (``T >= 2``)."""
    mat = as_array(mat)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] < 2:
        raise ValueError(f"expected a square matrix of side >= 2, got shape {mat.shape}")
    return float(mat[~np.eye(mat.shape[0], dtype=bool)].mean())


def centered_pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two maps ``(C, H, W)`` after removing each channel's spatial mean.

    A per-channel constant (a colour cast) carries no image and scores 0; ``(H, W)`` maps are
    plain :func:`pearson`.
    """
    a, b = as_array(a), as_array(b)
    if a.ndim == 3:
        a = a - a.mean(axis=(1, 2), keepdims=True)
        b = b - b.mean(axis=(1, 2), keepdims=True)
    return pearson(a, b)


def edge_score(m: Any, image: torch.Tensor, method: str = "spearman") -> float:
    """Correlation of a map's magnitude ``sum_c |m|`` with the Sobel edges of ``image``.

    ``m``: ``(3, H, W)``; ``image``: ``(3, H, W)`` in [0, 1] (:func:`edge_map`). ``method``:
    ``"spearman"`` (ranks: robust to the few huge entries of trained maps) or ``"pearson"``.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    fn = spearman if method == "spearman" else pearson
    return fn(np.abs(as_array(m)).sum(0), edge_map(image))


def lag1_autocorrelation(m: Any) -> float:
    """Correlation of the channel sum of a map with itself shifted by one pixel (both axes).

    About 0 for a map of independent pixels, near 1 for a smooth one. ``(3, H, W)`` or ``(H, W)``.
    """
    s = as_array(m)
    s = s.sum(0) if s.ndim == 3 else s
    s = s - s.mean()
    num = float((s[:, 1:] * s[:, :-1]).sum() + (s[1:] * s[:-1]).sum())
    den = float((s[:, 1:] ** 2).sum() + (s[1:] ** 2).sum())
    return num / den if den > 0 else float("nan")


def sanity_similarity(a: Any, b: Any) -> dict[str, float]:
    """The sanity-check metrics of Adebayo et al. (2018) between maps ``(3, H, W)``.

    ``spearman_abs``: Spearman of the ``"abs99"`` maps (channel sum of ``|m|``, clipped at the
    99th percentile); ``spearman``: of the signed ``"diverging"`` maps; ``ssim``: SSIM of the
    ``"abs99"`` maps (see :func:`normalize_map`). All three are NaN when either map is
    degenerate (:func:`is_degenerate`).
    """
    if is_degenerate(a) or is_degenerate(b):
        return dict.fromkeys(("spearman_abs", "spearman", "ssim"), float("nan"))
    aa, ba = normalize_map(a, "abs99"), normalize_map(b, "abs99")
    ad, bd = normalize_map(a, "diverging"), normalize_map(b, "diverging")
    return {"spearman_abs": spearman(aa, ba), "spearman": spearman(ad, bd), "ssim": ssim(aa, ba)}


def better_by_one_sd(a: Sequence[float], b: Sequence[float], sign: int = 1) -> str:
    """Paired comparison of two methods' scores on the same inputs: ``"first"`` or ``"second"``
    when the mean difference ``sign * (a - b)`` exceeds its standard deviation, else
    ``"comparable"``. ``sign``: 1 when higher is better, -1 when lower is better."""
    diff = sign * (np.asarray(a, np.float64) - np.asarray(b, np.float64))
    if abs(diff.mean()) <= diff.std():
        return "comparable"
    return "first" if diff.mean() > 0 else "second"


def border_mask(shape: tuple[int, int], width: int) -> torch.Tensor:
    """``(H, W)`` bool: True on the frame of ``width`` pixels along the image's edges."""
    mask = torch.zeros(shape, dtype=torch.bool)
    if width > 0:
        mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    return mask


def border_gain(m: torch.Tensor, x: torch.Tensor, border: torch.Tensor) -> float:
    """How strongly a map ``m`` ``(C, H, W)`` weights the border of its input ``x`` ``(C, H, W)``
    relative to the inside: ``(||m|| / ||x||)`` on the ``border`` mask over the same ratio off it
    (1: the border is weighted like the inside)."""
    m, x, border = m.cpu(), x.cpu(), border.cpu()
    band = m[:, border].norm() / x[:, border].norm()
    inside = m[:, ~border].norm() / x[:, ~border].norm()
    return float(band / inside)


def plus_minus(value: float, spread: float, digits: int = 3) -> str:
    """``value ± spread`` with ``digits`` decimals, as the book's tables write a mean and its
    spread (a standard deviation, or 1.96 standard errors)."""
    return f"{value:.{digits}f} ± {spread:.{digits}f}"


def mean_std(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """``{key: mean, key_std: standard deviation}`` over a list of metric dicts (e.g. photos)."""
    out: dict[str, float] = {}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        out[key] = float(vals.mean())
        out[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    return out


def mean_pearson_with(ref: Any, maps: Sequence[Any]) -> float:
    """Pearson correlation of ``ref`` with each of ``maps``, averaged over the maps (chapter 1's
    ``corr_with_input`` and ``corr_with_edges``)."""
    return float(similarity_matrices([ref, *maps], ("pearson",))["pearson"][0, 1:].mean())


SCORES = {  # name: (score of a map against a reference, +1 if higher is better else -1)
    "relative error": (relative_error, -1),
    "Pearson": (pearson, 1),
    "SSIM": (ssim, 1),
}


def compare_by_score(
    first: Sequence[Any],
    second: Sequence[Any],
    references: dict[str, tuple[Sequence[Any], Sequence[Any]]],
    keys: tuple[str, str] = ("first", "second"),
    labels: tuple[str, str] = ("first", "second"),
) -> tuple[dict[str, dict[str, Any]], list[list[Any]]]:
    """Two methods' maps, paired run by run, scored by every score of :data:`SCORES` against
    each reference (``references[r] = (refs of first, refs of second)``, aligned with the maps).

    Returns ``(table, rows)``: ``table["<score> to <r>"] = {keys[0]: mean, keys[1]: mean,
    "better": labels[i] or "comparable"}`` by :func:`better_by_one_sd` (a margin of one standard
    deviation of the paired differences), and ``rows`` for a Markdown table (mean ± std).
    """
    table: dict[str, dict[str, Any]] = {}
    rows: list[list[Any]] = []
    for score, (fn, sign) in SCORES.items():
        for ref, (ref_a, ref_b) in references.items():
            a = [fn(m, r) for m, r in zip(first, ref_a, strict=True)]
            b = [fn(m, r) for m, r in zip(second, ref_b, strict=True)]
            verdict = better_by_one_sd(a, b, sign)
            better = {"first": labels[0], "second": labels[1]}.get(verdict, verdict)
            label = f"{score} to {ref}"
            table[label] = {keys[0]: float(np.mean(a)), keys[1]: float(np.mean(b))}
            table[label]["better"] = better
            spread = [plus_minus(np.mean(v), np.std(v)) for v in (a, b)]
            rows.append([label, *spread, better])
    return table, rows
