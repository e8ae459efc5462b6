"""The paper's theory: Eq. (2) term by term, its large-``N`` limits (Eqs. 3-5 and 7), and how
fast the maps approach them.

Eq. (2) writes the map of logit ``k`` as ``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)`` with
``w~(i, j) = w_i 1[w_i . y_j > 0]`` (:func:`eq2_sum` in 1-D, :func:`eq2_map_conv` in 2-D; ``h``
is :func:`backpropvis.rules.h`). Since ``V`` is independent of the forward pass (Eq. 3(b)),
each term averages to ``E[h(V)] E[w~]`` with ``E[h(V)] = c / sqrt(2 pi)`` for guided backprop and
``E[w~] = c / sqrt(2 pi) y_j / ||y_j||`` (Eq. 4), so the map tends to ``N c^2 / (2 pi)`` times
``sum_j D_j^T y_j / ||y_j||`` (Eq. 5, :func:`gbp_limit`); for the fully connected net of Eq. (7)
the limit is ``x / ||x||`` (:func:`gbp_limit_fc`). The Monte Carlo checks of these expectations
are in :mod:`backpropvis.concentration`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_image, model_device
from .metrics import pearson
from .patches import check_kernel, patch_norms
from .rules import check_rule, h

__all__ = [
    "eq2_map_conv",
    "eq2_sum",
    "eq5_fitted_scale",
    "expected_w_tilde_norm",
    "filter_terms",
    "gbp_limit",
    "gbp_limit_fc",
    "last_layer_alignment",
    "limit_weight",
    "predicted_relative_error",
]


def gbp_limit(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """Closed form of Eq. (5)'s sum, ``sum_j D_j^T y_j / ||y_j||``, for ``k x k x 3`` patches.

    The large-``N`` limit of guided backprop in :class:`ThreeLayerConvNet`, up to the scalar
    ``N c^2 / (2 pi)``: each pixel of ``x`` weighted by the sum of ``1 / ||y_j||`` over the patches
    that cover it. Zero patches contribute nothing. ``x``: ``(3, H, W)`` -> ``(3, H, W)``.
    """
    return x * limit_weight(x, kernel_size, padding)


def gbp_limit_fc(x: torch.Tensor) -> torch.Tensor:
    """The fully connected counterpart (Eq. 7): ``x / ||x||``, ``(3, H, W)`` -> ``(3, H, W)``."""
    x = check_image(x)
    return x / x.norm().clamp_min(torch.finfo(x.dtype).tiny)


def expected_h(rule: str, c: float = 1.0) -> float:
    """``E[h(V)]`` for ``V ~ N(0, c^2)``: 0 (plain) or ``c / sqrt(2 pi)`` (guided, deconv)."""
    return 0.0 if check_rule(rule) == "plain" else c / math.sqrt(2 * math.pi)


def expected_w_tilde_norm(c: float = 1.0) -> float:
    """``||E[w~]||`` for ``w ~ N(0, c^2 I)``: ``c / sqrt(2 pi)``, along ``y / ||y||``."""
    return c / math.sqrt(2 * math.pi)


def eq2_sum(
    D: torch.Tensor, W: torch.Tensor, v: torch.Tensor, x: torch.Tensor, rule: str
) -> torch.Tensor:
    """Eq. (2)'s right side ``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)`` for a 1-D signal.

    ``D``: ``(J, p, d)``; ``W``: ``(p, N)``; ``v``: ``(N J,)`` = ``V[:, k]``; ``x``: ``(d,)``.
    ``w~(i, j) = w_i 1[w_i . y_j > 0]``; the deconv rule drops that mask. Returns ``(d,)``.
    """
    n_patches, n = D.shape[0], W.shape[1]
    mask = (D @ x) @ W > 0  # (J, N): w_i . y_j > 0
    g = h(v.reshape(n, n_patches).T, rule, mask)  # h(V[q_ij, k]) 1[w_i . y_j > 0]: (J, N)
    return torch.einsum("jtd,jt->d", D, g @ W.T)  # sum_j D_j^T (sum_i g_ij w_i)


def eq2_map_conv(
    x: torch.Tensor, weight: torch.Tensor, v_col: torch.Tensor, rule: str, padding: str = "valid"
) -> torch.Tensor:
    """Eq. (2) for the 2-D convnet: ``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)``.

    ``x``: ``(3, H, W)``; ``weight``: the filters ``(N, 3, k, k)``; ``v_col``: ``V[:, k]`` as
    ``(N, J_h, J_w)`` (:meth:`ThreeLayerConvNet.fc_column`). ``D_j`` is ``unfold`` (im2col) and
    ``sum_j D_j^T`` is its adjoint ``fold``. Returns ``(3, H, W)``.
    """
    k, pad = check_kernel(x, weight.shape[-1], padding)
    wf = weight.reshape(weight.shape[0], -1)  # (N, p), p = 3 k^2
    y = F.unfold(x[None], k, padding=pad)[0]  # (p, J): columns y^(j)
    g = h(v_col.reshape(wf.shape[0], -1), rule, wf @ y > 0)  # (N, J)
    return F.fold((wf.T @ g)[None], tuple(x.shape[-2:]), k, padding=pad)[0]


def filter_terms(
    x: torch.Tensor,
    weight: torch.Tensor,
    v_col: torch.Tensor,
    ref: torch.Tensor,
    rule: str = "guided",
    padding: str = "valid",
    chunk: int = 256,
) -> torch.Tensor:
    """Each filter's share ``t_i`` of ``<s_k, ref>``, the map's projection on ``ref``: ``(N,)``.

    ``t_i = sum_j h(V[q_ij, k]) 1[w_i . y_j > 0] w_i . (D_j ref)`` (arguments as in
    :func:`eq2_map_conv`). The ``t_i`` are i.i.d. over filters, so ``sum_i t_i`` (the fitted
    scale of the map on ``ref``, times ``||ref||^2``) gets a standard error from their spread.
    """
    k, pad = check_kernel(x, weight.shape[-1], padding)
    y = F.unfold(x[None], k, padding=pad)[0]
    r = F.unfold(ref[None], k, padding=pad)[0]
    wf, vf = weight.reshape(weight.shape[0], -1), v_col.reshape(weight.shape[0], -1)
    out = []
    for lo in range(0, wf.shape[0], chunk):
        wb = wf[lo : lo + chunk]
        g = h(vf[lo : lo + chunk], rule, wb @ y > 0)
        out.append((g * (wb @ r)).sum(1))
    return torch.cat(out)


def limit_weight(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """The local-contrast weight of Eq. (5): ``sum_{j covers pixel} 1 / ||y^(j)||``, ``(H, W)``.

    :func:`gbp_limit` is ``x`` times this map (patches of norm 0 contribute nothing).
    """
    x = check_image(x)
    k, pad = check_kernel(x, kernel_size, padding)
    norms = patch_norms(x, k, padding)
    inv = torch.where(norms > 0, 1.0 / norms.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    return F.conv_transpose2d(inv[None, None], x.new_ones(1, 1, k, k), padding=pad)[0, 0]


def predicted_relative_error(
    x: torch.Tensor, n: Any, kernel_size: int | None = None, padding: str = "valid"
) -> Any:
    """Leading-order relative error of the GBP map to its limit, ``pi sqrt(P / (N ||L||^2))``.

    Each of the ``N J`` terms ``h(V[q_ij, k]) D_j^T w~(i, j)`` of Eq. (2) has mean
    ``c^2 / (2 pi) D_j^T y_j / ||y_j||`` (so the signal is ``N c^2 / (2 pi) L`` with ``L`` =
    :func:`gbp_limit`) and mean square ``E[relu(V)^2] E||D_j^T w~||^2 = c^4 p_j / 4``, ``p_j``
    the patch's entries inside the image. Treating the terms as uncorrelated, the noise has
    norm ``c^2 sqrt(N P) / 2`` with ``P = sum_j p_j`` over nonzero patches, and the ratio is
    ``pi sqrt(P / (N ||L||^2))``, whatever ``c``. Fully connected (``kernel_size=None``):
    ``J = 1``, ``P = d``, ``||L|| = 1``, so ``pi sqrt(d / N_h)``.

    ``x``: ``(3, H, W)``; ``n``: ``N`` (or ``N_h``), a number or an array. Returns the same.
    """
    x = check_image(x).double()
    if kernel_size is None:
        return math.pi * np.sqrt(x.numel() / np.asarray(n, dtype=np.float64))
    k, pad = check_kernel(x, kernel_size, padding)
    box = x.new_ones(1, 1, k, k)
    nonzero = (F.conv2d((x * x).sum(0)[None, None], box, padding=pad) > 0).double()
    total = 3 * float(F.conv_transpose2d(nonzero, box, padding=pad).sum())  # P = sum_j p_j
    lim = gbp_limit(x, k, padding)
    return math.pi * np.sqrt(total / (np.asarray(n, dtype=np.float64) * float((lim**2).sum())))


def last_layer_alignment(model: nn.Module, xs: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the top class's weights with the features they multiply, ``(B,)``.

    Step (b) of Eq. (3) factorizes ``E[h(V) w~] = E[h(V)] E[w~]`` because ``V`` is independent of
    the forward pass. For the last ``nn.Linear`` of ``model`` (logit ``k = argmax``, weight row
    ``V[k]``, input features ``a(x)``) this returns ``pearson(V[k], a(x))`` per image: about 0
    for random weights, positive where training aligned ``V`` with the features. ``xs``:
    preprocessed images ``(B, 3, H, W)``.
    """
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer")
    fc, seen = linear[-1], {}
    hook = fc.register_forward_hook(lambda _m, inp, _out: seen.update(a=inp[0].detach()))
    try:
        with torch.no_grad():
            top = model(xs.to(model_device(model, xs.device))).argmax(1)
    finally:
        hook.remove()
    rows = fc.weight.detach()[top]
    return torch.tensor([pearson(rows[b], seen["a"][b]) for b in range(len(top))])


def eq5_fitted_scale(
    terms: torch.Tensor, limit: torch.Tensor, n_values: list[int], c: float = 1.0
) -> dict[int, tuple[float, float]]:
    """The least-squares scale ``a = <s_k, L> / ||L||^2`` of the map of the first ``N`` filters
    (``N`` in ``n_values``), in units of Eq. (5)'s corrected constant ``N c^2 / (2 pi)``, with its
    standard error: ``{N: (a / unit, se / unit)}``. ``terms`` are the i.i.d. filter terms
    ``t_i`` of :func:`filter_terms` (``<s_k, L> = sum_i t_i``); ``limit`` is ``L``."""
    t, norm2 = terms.double(), (limit.double() ** 2).sum()
    out = {}
    for n in n_values:
        unit = norm2 * n * c**2 / (2 * math.pi)
        out[n] = (float(t[:n].sum() / unit), float(t[:n].std() * math.sqrt(n) / unit))
    return out
