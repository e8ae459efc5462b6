"""The paper's random convnets: Eq. (1) in 2-D and 1-D, and Eq. (1) with a max pool; the
:class:`BookNetwork` protocol every network of the book follows (Eq. (7) is :mod:`.fc_net`).

Every weight is i.i.d. ``N(0, c^2)`` (``c`` is ``std``), zero biases, drawn from a named stream
of :mod:`backpropvis.streams`, so the same seed gives bitwise identical networks and a smaller
network is a prefix of a larger one with the same seed (the sweeps rely on it). No network is
built with a weight initializer that consumes the global RNG: ``nn.Conv2d`` is built on the meta
device (its default init draws nothing) and its weight replaced by the seeded filters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from . import streams
from .checks import check_logits, check_positive_int, check_seed, check_std, resolve_targets
from .memory import check_memory
from .patches import check_kernel, padding_pixels, patch_grid, patch_matrices

__all__ = [
    "LayerReadouts",
    "MaxPoolConvNet",
    "PatchNet1D",
    "ThreeLayerConvNet",
    "conv_relus",
    "deep_convnet",
]


class BookNetwork(nn.Module):
    """What the map functions of :mod:`backpropvis.core.attribution` ask of a network.

    * :attr:`n_logits`: ``K``, or ``None`` when only a forward pass tells;
    * :meth:`select_logits`: the logits ``f_k(x)`` for ``k`` in ``targets`` only, ``(B, T)``;
      by default all logits, then the chosen columns (the convnet of Eq. 1 computes only the
      chosen ones);
    * :attr:`exact_maps`: ``None``, or a method ``exact_maps(xs, targets, rules)`` giving
      ``{rule: (T, B, 3, H, W)}`` without autograd (the FC net of Eq. 7 stores no weights and
      sums its maps exactly).

    Any other ``nn.Module`` that returns logits takes part through :func:`as_network`.
    """

    n_logits: int | None = None
    exact_maps = None

    def select_logits(self, x: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
        out = check_logits(self(x), len(x))
        return out[:, resolve_targets(targets, None, out.shape[1])]


class Classifier(BookNetwork):
    """Any ``nn.Module`` that returns logits ``(B, K)`` (a torchvision classifier, say), seen
    as a :class:`BookNetwork`; its modules stay the wrapped model's own."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def as_network(model: nn.Module) -> BookNetwork:
    """``model`` itself if it is a :class:`BookNetwork`, else a :class:`Classifier` of it."""
    return model if isinstance(model, BookNetwork) else Classifier(model)


class ThreeLayerConvNet(BookNetwork):
    """The paper's Eq. (1): conv (``k x k x 3 x N``, stride 1) -> ReLU -> fully connected.

    ``f_k(x) = sum_i sum_j V[q_ij, k] * relu(w_i . y_j)`` with ``W`` and ``V`` i.i.d.
    ``N(0, std^2)`` and zero biases. ``padding`` is ``"valid"`` (the paper's analysis; ``J =
    (H - k + 1) (W - k + 1)`` patches) or ``"same"`` (zero padding, ``J = H W``).

    The fully connected weights are never materialized as an ``NJ x K`` matrix: the column of
    logit ``k`` is generated from the seed when it is needed (:meth:`fc_column`). Filters and
    columns are generated in blocks of :attr:`BLOCK` filters, so the net with ``N`` filters is
    exactly the first ``N`` filters (and rows of ``V``) of the same seed's net with more filters.

    Input ``(B, 3, H, W)``; :meth:`forward` returns all ``(B, K)`` logits (generating all ``K``
    columns: slow at 224 x 224 with ``N = 256``); :meth:`select_logits` returns only chosen ones.
    """

    BLOCK = 64

    def __init__(
        self,
        n_filters: int,
        kernel_size: int = 7,
        n_logits: int = 1000,
        std: float = 1.0,
        padding: str = "valid",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.n_filters = check_positive_int(n_filters, "n_filters (N)")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.n_logits = check_positive_int(n_logits, "n_logits (K)")
        self.std = check_std(std, float32=True)
        self.seed = check_seed(seed)
        k, self.padding = self.kernel_size, padding
        pad = padding_pixels(k, padding)
        # The filter bank: generated in blocks, concatenated and scaled (about 3 copies).
        n_alloc = math.ceil(self.n_filters / self.BLOCK) * self.BLOCK
        check_memory(
            3 * 4 * n_alloc * 3 * k * k,
            f"{type(self).__name__}(n_filters={self.n_filters}, kernel_size={k}): the filters",
            "use fewer filters (N) or a smaller kernel",
        )
        # On the meta device nn.Conv2d's own init draws nothing from the global RNG (module doc).
        self.conv = nn.Conv2d(3, self.n_filters, k, padding=pad, bias=False, device="meta")
        self.conv.weight = nn.Parameter(self.filter_bank(self.n_filters, k, seed) * self.std)
        self.relu = nn.ReLU()

    @classmethod
    def filter_bank(cls, n_filters: int, kernel_size: int, seed: int) -> torch.Tensor:
        """Unit-variance filters ``(N, 3, k, k)``; a prefix of the bank of any larger ``N``."""
        shape = (cls.BLOCK, 3, kernel_size, kernel_size)
        blocks = [
            streams.CONV_FILTERS.randn(shape, seed, kernel_size, b)
            for b in range(math.ceil(n_filters / cls.BLOCK))
        ]
        return torch.cat(blocks)[:n_filters].contiguous()

    def patch_grid(self, height: int, width: int) -> tuple[int, int]:
        """``(J_h, J_w)``: the spatial shape of the conv output, ``J = J_h * J_w`` patches."""
        return patch_grid(height, width, self.kernel_size, self.padding)

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected input of shape (B, 3, H, W), got {tuple(x.shape)}")
        check_kernel(x, self.kernel_size, self.padding)
        jh, jw = self.patch_grid(*x.shape[-2:])
        # Activations, ReLU output, their gradients and one generated column of V (float32).
        check_memory(
            4 * self.n_filters * jh * jw * (4 * x.shape[0] + 2),
            f"{type(self).__name__} with N={self.n_filters} on a {tuple(x.shape[-2:])} input",
            "use fewer filters (N) or a smaller image",
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden activations ``relu(w_i . y_j)``: ``(B, 3, H, W)`` -> ``(B, N, J_h, J_w)``."""
        self.check_input(x)
        return self.relu(self.conv(x))

    def fc_column(self, k: int, grid: tuple[int, int], device: Any = None) -> torch.Tensor:
        """The weights ``V[:, k]`` of logit ``k`` as ``(N, J_h, J_w)``, scaled by ``std``."""
        if not 0 <= int(k) < self.n_logits:
            raise ValueError(f"logit {k} is outside the model's {self.n_logits} logits")
        jh, jw = grid
        blocks = [
            streams.CONV_V.randn((self.BLOCK, jh, jw), self.seed, int(k), b)
            for b in range(math.ceil(self.n_filters / self.BLOCK))
        ]
        col = torch.cat(blocks)[: self.n_filters] * self.std
        return col.to(device) if device is not None else col

    def select_logits(self, x: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
        """Logits ``f_k(x)`` for ``k`` in ``targets`` only: ``(B, 3, H, W)`` -> ``(B, T)``."""
        a = self.features(x)
        grid = tuple(a.shape[-2:])
        cols = [(a * self.fc_column(k, grid, a.device)).sum(dim=(1, 2, 3)) for k in targets]
        return torch.stack(cols, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All ``K`` logits ``(B, K)``; generates every column of ``V`` (cost ``K N J``)."""
        return self.select_logits(x, range(self.n_logits))


class MaxPoolConvNet(ThreeLayerConvNet):
    """:class:`ThreeLayerConvNet` with a max pool between the ReLU and the fully connected layer.

    The author's code: ``pool_size x pool_size`` windows (9 x 9), stride 1. The pool pads with
    ``-inf`` by ``pool_size // 2`` (TensorFlow's SAME), so the pooled grid is the conv grid and
    the filters and ``V`` (:meth:`fc_column`) are those of the unpooled net with the same seed:
    the two nets differ by the pool alone. Input ``(B, 3, H, W)``, features ``(B, N, J_h, J_w)``.
    """

    def __init__(
        self,
        n_filters: int,
        kernel_size: int = 7,
        n_logits: int = 1000,
        std: float = 1.0,
        padding: str = "valid",
        seed: int = 0,
        pool_size: int = 9,
    ) -> None:
        super().__init__(n_filters, kernel_size, n_logits, std, padding, seed)
        self.pool_size = check_positive_int(pool_size, "pool_size")
        if self.pool_size % 2 == 0:
            raise ValueError(f"pool_size must be odd (SAME padding), got {pool_size}")
        self.pool = nn.MaxPool2d(self.pool_size, stride=1, padding=self.pool_size // 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled activations ``max_{window} relu(w_i . y_j)``: ``(B, N, J_h, J_w)``."""
        return self.pool(super().features(x))


class PatchNet1D(BookNetwork):
    """Eq. (1) literally, for a 1-D signal: ``f_k(x) = sum_i sum_j V[q_ij, k] relu(w_i . D_j x)``.

    ``W`` is ``(p, N)`` (column ``i`` is filter ``w^(i)``), ``V`` is ``(N J, K)`` with the paper's
    index ``q_ij = (i - 1) J + j`` (0-based: ``i J + j``), ``D`` is :func:`patch_matrices`. All
    weights ``N(0, std^2)``, float64, drawn from ``seed``. Input ``(B, d)`` -> logits ``(B, K)``;
    the ReLU is an ``nn.ReLU`` module, so :func:`backward_rule` applies to it.
    """

    def __init__(
        self,
        d: int,
        p: int = 3,
        stride: int = 1,
        n_filters: int = 4,
        n_logits: int = 2,
        std: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        dd, pp, bb = (check_positive_int(v, n) for v, n in ((d, "d"), (p, "p"), (stride, "stride")))
        check_memory(
            8 * max((dd - pp) // bb + 1, 1) * pp * dd * 2,
            f"PatchNet1D(d={dd}, p={pp}, stride={bb}): the patch matrices D_j (J x p x d)",
            "use a shorter signal",
        )
        self.register_buffer("D", patch_matrices(d, p, stride))
        n, k = check_positive_int(n_filters, "n_filters"), check_positive_int(n_logits, "K")
        std = check_std(std)
        n_patches = self.D.shape[0]
        self.W = nn.Parameter(streams.PATCH_NET.randn((p, n), check_seed(seed), 0).double() * std)
        self.V = nn.Parameter(streams.PATCH_NET.randn((n * n_patches, k), seed, 1).double() * std)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of signals ``(B, d)``."""
        y = torch.einsum("jtd,bd->bjt", self.D, x)  # patches y^(j): (B, J, p)
        act = self.relu(y @ self.W).transpose(1, 2)  # relu(w_i . y_j): (B, N, J)
        return act.reshape(x.shape[0], -1) @ self.V  # row i J + j of V is q_ij


def deep_convnet(depth: int, width: int, size: int, n_logits: int = 10, seed: int = 0):
    """Eq. (1) made deep: ``depth`` times conv ``3 x 3 x N`` (``N = width``, zero padding, no
    bias) -> ReLU, then a fully connected layer ``V`` from all ``N size^2`` units to
    ``n_logits`` logits, for images ``(B, 3, size, size)``. Weights i.i.d. normal, drawn from
    the ``DEEP_CONV`` stream of ``(seed, depth, width, layer)``: ``c^2 = 2 / fan-in`` at the
    convolutions (the activations keep their scale through the ReLUs) and ``1 / fan-in`` at
    ``V``. In eval mode, weights frozen (the maps need input gradients only)."""
    depth, width = check_positive_int(depth, "depth (L)"), check_positive_int(width, "width (N)")
    size, n_logits = check_positive_int(size, "size"), check_positive_int(n_logits, "n_logits")
    seed = check_seed(seed)
    check_memory(4 * width * (9 * width * depth + size * size * n_logits),
                 f"deep_convnet(depth={depth}, width={width}, size={size})",
                 "use fewer layers, fewer channels or a smaller image")  # fmt: skip
    layers: list[nn.Module] = []
    for layer, fan_in in enumerate([3 * 9] + [width * 9] * (depth - 1)):
        conv = nn.Conv2d(fan_in // 9, width, 3, padding=1, bias=False, device="meta")
        w = streams.DEEP_CONV.randn((width, fan_in // 9, 3, 3), seed, depth, width, layer)
        conv.weight = nn.Parameter(w * math.sqrt(2 / fan_in))
        layers += [conv, nn.ReLU()]
    v = nn.Linear(width * size * size, n_logits, bias=False, device="meta")
    w = streams.DEEP_CONV.randn((n_logits, width * size * size), seed, depth, width, depth)
    v.weight = nn.Parameter(w / math.sqrt(width * size * size))
    return nn.Sequential(*layers, nn.Flatten(), v).eval().requires_grad_(False)


def conv_relus(features: nn.Sequential) -> dict[str, int]:
    """VGG-style names of the convolutions in a feature stack, each with the index of the ReLU
    after it: ``{"conv1_1": 1, "conv1_2": 3, "conv2_1": 6, ...}`` (block counted by max pools)."""
    out: dict[str, int] = {}
    block, count, name = 1, 0, None
    for i, module in enumerate(features):
        if isinstance(module, nn.MaxPool2d):
            block, count = block + 1, 0
        elif isinstance(module, nn.Conv2d):
            count += 1
            name = f"conv{block}_{count}"
        elif isinstance(module, nn.ReLU) and name is not None:
            out[name], name = i, None
    return out


class LayerReadouts(nn.Module):
    """Random linear readouts of several depths of a feature stack, as logits ``(B, L)``.

    Logit ``l`` is ``<V_l, a_l(x)>`` with ``a_l`` the output of ``features[: layers[l] + 1]``
    and ``V_l`` i.i.d. ``N(0, 1)`` of ``a_l``'s shape, drawn from the ``READOUTS`` stream of
    ``(seed, layers[l])``: a random logit of Eq. (1) placed after ``layers[l] + 1`` modules.
    One forward pass serves every readout. Read out ReLU outputs (an in-place ReLU must not
    follow a read module).
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        self.layers = [int(i) for i in layers]
        if not self.layers or not all(0 <= i < len(features) for i in self.layers):
            raise ValueError(f"layers must index 0..{len(features) - 1}, got {list(layers)}")
        self.features = features
        self.seed = check_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L)`` of images ``(B, 3, H, W)``."""
        read = {}
        for i, module in enumerate(self.features[: max(self.layers) + 1]):
            x = module(x)
            if i in self.layers:
                v = streams.READOUTS.randn(tuple(x.shape[1:]), self.seed, i).to(x)
                read[i] = (x * v).flatten(1).sum(1)
        return torch.stack([read[i] for i in self.layers], dim=1)
