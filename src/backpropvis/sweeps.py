"""Nested sweeps over ``N`` and ``N_h`` (the paper's Figures 3 and 4) at the cost of the largest.

The net with ``N`` filters (``N_h`` hidden units) is a prefix of the same seed's larger net
(:mod:`backpropvis.networks`), so Eq. (2)'s sum over filters is one running sum, read at every
size of the sweep. Both sweeps apply the rule through :func:`backpropvis.rules.h`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import streams
from ._checks import check_image, check_sizes, parse_targets
from .networks import FullyConnectedNet, ThreeLayerConvNet
from .rules import h, parse_rules


def _split_at(lo: int, hi: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
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
    net._check_input(x[None])
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
                for lo, hi in _split_at(start, stop, todo):
                    a, z = lo - start, hi - start
                    acc[r_i] += F.conv_transpose2d(g[None, a:z], w[a:z], padding=pad)[0]
                    for s_i, s in enumerate(sizes):
                        if s == hi:
                            out[r_i, s_i] = acc[r_i]
    return out[0] if single else out


def _fc_block_sums(
    net: FullyConnectedNet,
    b: int,
    xf: torch.Tensor,
    idx: list[int],
    rules: list[str],
    todo: list[int],
    rows: int = 8,
) -> list[tuple[int, torch.Tensor]]:
    """Block ``b``'s share of :func:`fc_map_sweep`'s running sums, split at the sizes ``todo``.

    Rows of ``W`` are used ``rows`` at a time while they are in cache, and drawn from the
    block's generator in pieces of at most about 1 MB (fast in a core's cache). Every piece is
    a multiple of 16 floats, which gives the same numbers as one draw of the whole block (the
    tests check it). Returns ``[(hi, (R B T, d) sum over units [lo, hi))]`` with ``std = 1``.
    """
    start = b * net.BLOCK
    n = min(net.BLOCK, todo[-1] - start)
    v = streams.FC_V.randn((net.BLOCK, net.n_logits), net.seed, b)[:n, idx].to(xf.device)  # (n, T)
    segs = _split_at(start, start + n, todo)
    sums = [xf.new_zeros(len(rules) * xf.shape[0] * len(idx), net.in_dim) for _ in segs]
    gen = streams.FC_W.generator(net.seed, b)
    step = 16 // math.gcd(net.in_dim, 16)  # rows per piece: a multiple of 16 floats
    piece = max(step, min(rows, (1 << 18) // net.in_dim) // step * step)
    rows = max(rows // piece, 1) * piece
    buf = torch.empty(rows, net.in_dim)
    for r0 in range(0, n, rows):
        for p0 in range(0, rows, piece):
            torch.randn((piece, net.in_dim), generator=gen, out=buf[p0 : p0 + piece])
        m = min(rows, n - r0)
        w = buf[:m].to(xf.device)
        pos = (w @ xf.T > 0).to(w.dtype)[:, :, None]  # (m, B, 1)
        gs = [h(v[r0 : r0 + m, None, :], r, pos) for r in rules]  # (m, B or 1, T) each
        g = torch.stack([g.expand(-1, xf.shape[0], -1) for g in gs], 1).reshape(m, -1)
        for s_i, (lo, hi) in enumerate(segs):
            a, z = max(lo - start, r0), min(hi - start, r0 + m)
            if a < z:
                sums[s_i].addmm_(g[a - r0 : z - r0].T, w[a - r0 : z - r0])
    return [(hi, s) for (_, hi), s in zip(segs, sums, strict=True)]


def fc_map_sweep(
    net: FullyConnectedNet,
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    targets: Sequence[int] = (0,),
    rules: Sequence[str] = ("guided",),
    workers: int = 2,
    progress: bool = False,
) -> torch.Tensor:
    """:meth:`FullyConnectedNet.maps` for a batch of images and several rules in one stream.

    The same exact running sums ``sum_{i <= N_h} h(V[i,k]) [w_i . x > 0] w_i`` (the net with
    ``N_h`` units is the first ``N_h`` units of ``net``), but each weight is drawn once for all
    images, rules and targets and used while it is in cache, ``workers`` threads work on
    consecutive blocks (their sums are added in block order, so results do not depend on
    ``workers`` or timing), and ``std`` is applied once at the end (``h`` is positively
    homogeneous). Torch runs on one intra-op thread per worker during the call (restored after).

    Args:
        net: the network (its seed, ``std``, ``in_shape``; ``hidden`` bounds ``sizes``).
        x: one image ``(3, H, W)`` or a batch ``(B, 3, H, W)``.
        sizes: the ``N_h`` to report (each ``<= net.hidden``); default ``[net.hidden]``.
        targets: logits ``k`` (``T`` of them); rules: ``R`` backward rules.
        workers: threads (0: all in the calling thread).
        progress: a text progress bar over weight blocks (tqdm, on stderr).

    Returns:
        ``(S, R, B, T, 3, H, W)``; equals ``net.maps`` up to float rounding.
    """
    rules, _ = parse_rules(rules)
    sizes = [net.hidden] if sizes is None else check_sizes(sizes, "N_h")
    if max(sizes) > net.hidden:
        raise ValueError(f"sizes must lie in 1..{net.hidden}, got {sizes}")
    xf = net._flat(x[None] if x.ndim == 3 else x).detach()  # (B, d)
    idx, _ = parse_targets(targets, net.n_logits, allow_max=False)
    todo = sorted(set(sizes))
    n_blocks = math.ceil(todo[-1] / net.BLOCK)
    work = partial(_fc_block_sums, net, xf=xf, idx=idx, rules=rules, todo=todo)
    acc = xf.new_zeros(len(rules) * xf.shape[0] * len(idx), net.in_dim)
    out = xf.new_zeros(len(sizes), *acc.shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small products: extra intra-op threads only spin
    pool = ThreadPoolExecutor(workers) if workers > 0 else None
    ahead = [pool.submit(work, b) for b in range(min(2 * workers, n_blocks))] if pool else []
    try:
        for b in tqdm(range(n_blocks), disable=not progress, desc="FC blocks", mininterval=5):
            part = ahead.pop(0).result() if pool else work(b)
            if pool and b + 2 * workers < n_blocks:  # at most 2 workers blocks in flight
                ahead.append(pool.submit(work, b + 2 * workers))
            for hi, s in part:
                acc += s
                for s_i, size in enumerate(sizes):
                    if size == hi:
                        out[s_i] = acc
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
    out = out * (net.std * net.std)
    return out.reshape(len(sizes), len(rules), xf.shape[0], len(idx), *net.in_shape)
