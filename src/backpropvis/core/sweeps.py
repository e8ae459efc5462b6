"""The nested sweep over ``N`` (the paper's Figure 3) at the cost of its largest member.

The net with ``N`` filters is a prefix of the same seed's larger net
(:mod:`backpropvis.core.networks`), so Eq. (2)'s sum over filters is one running sum, read at
every size of the sweep; the rule is applied through :func:`backpropvis.core.rules.h`. The
sweep over ``N_h`` (Figure 4) is the FC network's own streamed sum,
:func:`backpropvis.core.fc_net.fc_map_sweep`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from . import streams
from .checks import check_image, check_sizes, parse_targets
from .networks import ThreeLayerConvNet
from .rules import h, parse_rules

__all__ = ["conv_map_sweep"]


def split_at(lo: int, hi: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` at the cut points inside it."""
    edges = [lo] + [c for c in cuts if lo < c < hi] + [hi]
    return list(zip(edges[:-1], edges[1:], strict=False))


def conv_map_sweep(
    x: torch.Tensor,
    sizes: Sequence[int],
    kernel_size: int = 7,
    target: int = 0,
    rule: str | Sequence[str] = "guided",
    std: float = 1.0,
    padding: str = "valid",
    seed: int = 0,
    n_logits: int = 1000,
) -> torch.Tensor:
    """Backprop maps of :class:`ThreeLayerConvNet` for every ``N`` in ``sizes`` in one pass.

    The net with ``N`` filters is the first ``N`` filters (and rows of ``V``) of the same seed's
    net with ``max(sizes)`` filters, so Eq. (2)'s sum ``sum_i sum_j D_j^T h(V[q_ij, k]) w~(i,j)``
    is accumulated block by block of :attr:`ThreeLayerConvNet.BLOCK` filters: for filters
    ``a:b``, ``g = h(V[a:b, k]) * [w_i . y_j > 0]`` and ``conv_transpose2d(g, W[a:b])`` is added,
    the running sum being read at each size. Total cost: one backward pass of the largest
    member; memory: one block of ``(BLOCK, J_h, J_w)``.

    Args:
        x: one preprocessed image ``(3, H, W)``.
        sizes: the ``N`` to report (any order, repeats allowed).
        kernel_size, std, padding, seed, n_logits: as in :class:`ThreeLayerConvNet`.
        target: the logit ``k``.
        rule: one rule, or a sequence of rules sharing the forward pass.

    Returns:
        ``(S, 3, H, W)`` for one rule, ``(R, S, 3, H, W)`` for a sequence; row ``s`` equals
        ``backprop_map(ThreeLayerConvNet(sizes[s], ...), x, target, rule)`` up to float rounding.
    """
    x = check_image(x).detach()
    rules, single = parse_rules(rule)
    sizes = check_sizes(sizes, "N")
    net = ThreeLayerConvNet(1, kernel_size, n_logits, std, padding, seed)  # checks the arguments
    net.check_input(x[None])
    (target,), one = parse_targets(target, net.n_logits, allow_max=False)
    if not one:
        raise ValueError(f"targets: conv_map_sweep takes one logit index, got {target!r}")
    todo = sorted(set(sizes))
    bank = net.filter_bank(todo[-1], net.kernel_size, net.seed).to(x.device) * net.std
    pad, grid = net.conv.padding, net.patch_grid(*x.shape[-2:])
    acc = x.new_zeros(len(rules), *x.shape)
    out = x.new_zeros(len(rules), len(sizes), *x.shape)
    with torch.no_grad():
        for blk in range(math.ceil(todo[-1] / net.BLOCK)):
            start = blk * net.BLOCK
            stop = min(start + net.BLOCK, todo[-1])
            w = bank[start:stop]
            mask = F.conv2d(x[None], w, padding=pad)[0] > 0  # w_i . y_j > 0: (n, J_h, J_w)
            col = streams.CONV_V.randn((net.BLOCK, *grid), net.seed, target, blk)[: stop - start]
            col = col.to(x.device) * net.std  # V[q_ij, k] of these filters (fc_column)
            for r_i, r in enumerate(rules):
                g = h(col, r, mask)
                for lo, hi in split_at(start, stop, todo):
                    a, z = lo - start, hi - start
                    acc[r_i] += F.conv_transpose2d(g[None, a:z], w[a:z], padding=pad)[0]
                    for s_i, s in enumerate(sizes):
                        if s == hi:
                            out[r_i, s_i] = acc[r_i]
    return out[0] if single else out
