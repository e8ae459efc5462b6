"""The paper's fully connected network, Eq. (7), and its maps as streamed exact sums.

``f_k(x) = sum_i V[i, k] relu(w_i . x)``: no weight is stored. Rows of the first layer and of
``V`` are drawn from the seed (:mod:`backpropvis.core.streams`) in blocks of hidden units and
discarded, so ``N_h = 100000`` hidden units on a 64 x 64 x 3 image (1.2e9 weights) run in bounded
memory, and the net with ``N_h`` units is the first ``N_h`` units of any larger one with the same
seed. Its maps ``sum_i h(V[i, k]) [w_i . x > 0] w_i`` are running sums over those blocks, read at
every size of the sweep over ``N_h`` (the paper's Figure 4): :func:`fc_map_sweep`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import streams
from .checks import check_positive_int, check_seed, check_sizes, check_std, parse_targets
from .memory import check_memory
from .networks import BookNetwork
from .rules import h, parse_rules
from .sweeps import split_at

__all__ = ["FullyConnectedNet", "fc_map_sweep"]


class FullyConnectedNet(BookNetwork):
    """The paper's Eq. (7): ``f_k(x) = sum_i V[i, k] relu(w_i . x)``, weights ``N(0, std^2)``.

    ``in_shape`` is ``(3, H, W)``, ``hidden`` is ``N_h``. No weight is stored: rows of the first
    layer and of ``V`` are generated from the seed in blocks of :attr:`BLOCK` hidden units and
    discarded, so ``hidden = 100000`` on 64 x 64 x 3 (1.2e9 weights) runs in bounded memory and
    the net with ``N_h`` units is the first ``N_h`` units of any larger one with the same seed.
    :func:`backprop_map` uses the exact sums (:meth:`exact_maps`; no autograd graph is kept).
    """

    BLOCK = 256

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: int,
        n_logits: int = 1000,
        std: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in in_shape)
        if len(shape) != 3 or shape[0] != 3 or min(shape) <= 0:
            raise ValueError(f"in_shape must be (3, H, W), got {tuple(in_shape)}")
        self.in_shape = shape
        self.in_dim = int(np.prod(shape))
        self.hidden = check_positive_int(hidden, "hidden (N_h)")
        self.n_logits = check_positive_int(n_logits, "n_logits (K)")
        self.std = check_std(std, float32=True)
        self.seed = check_seed(seed)
        # One block of W and V at a time, drawn then scaled (about 3 copies, float32).
        check_memory(
            3 * 4 * self.BLOCK * (self.in_dim + self.n_logits),
            f"FullyConnectedNet(in_shape={shape}): a block of {self.BLOCK} hidden units",
            "use a smaller image",
        )

    def blocks(
        self, device: Any = None, stop: int | None = None
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(start, W_b (n, d), V_b (n, K))`` for consecutive blocks of hidden units."""
        stop = self.hidden if stop is None else min(stop, self.hidden)
        for b in range(math.ceil(stop / self.BLOCK)):
            start = b * self.BLOCK
            n = min(self.BLOCK, stop - start)
            w = streams.FC_W.randn((self.BLOCK, self.in_dim), self.seed, b)[:n] * self.std
            v = streams.FC_V.randn((self.BLOCK, self.n_logits), self.seed, b)[:n] * self.std
            yield start, w.to(device), v.to(device)

    def dense_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Materialize ``(W (N_h, d), V (N_h, K))``; for small networks and tests only."""
        ws, vs = zip(*[(w, v) for _, w, v in self.blocks()], strict=True)
        return torch.cat(ws), torch.cat(vs)

    def flatten_input(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-3:]) != self.in_shape:
            raise ValueError(f"expected input of shape (B, {self.in_shape}), got {tuple(x.shape)}")
        return x.reshape(-1, self.in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of inputs ``(B, 3, H, W)``, streamed over hidden blocks."""
        xf = self.flatten_input(x)
        out = xf.new_zeros(xf.shape[0], self.n_logits)
        for _, w, v in self.blocks(xf.device):
            out = out + torch.relu(xf @ w.T) @ v
        return out

    def maps(
        self,
        x: torch.Tensor,
        targets: Sequence[int],
        rule: str,
        sizes: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Exact backprop maps ``sum_i h(V[i,k]) [w_i . x > 0] w_i`` from running sums.

        Args:
            x: one image ``(3, H, W)``.
            targets: logits ``k`` (``T`` of them).
            rule: ``"plain"``, ``"guided"`` or ``"deconv"`` (deconv drops the forward mask).
            sizes: hidden sizes ``N_h`` at which to read the running sum (each ``<= hidden``);
                default ``[hidden]``. One pass serves the whole sweep.

        Returns:
            ``(len(sizes), T, 3, H, W)``. (The streaming itself is :func:`fc_map_sweep`.)
        """
        return fc_map_sweep(self, x, sizes, targets, [rule])[:, 0, 0]

    def exact_maps(
        self, xs: torch.Tensor, targets: Sequence[int], rules: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """The :class:`~backpropvis.core.networks.BookNetwork` protocol: ``{rule: (T, B, 3, H,
        W)}`` for images ``xs`` ``(B, 3, H, W)``, by :func:`fc_map_sweep`."""
        out = fc_map_sweep(self, xs, None, targets, rules)[0]  # (R, B, T, 3, H, W)
        return {r: out[i].transpose(0, 1) for i, r in enumerate(rules)}


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
    segs = split_at(start, start + n, todo)
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
    xf = net.flatten_input(x[None] if x.ndim == 3 else x).detach()  # (B, d)
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
