"""Images: the photos of the paper's figures, their normalizations and their edges.

Every image is a float32 tensor ``(3, H, W)`` with values in [0, 1] until :func:`preprocess`
normalizes it for a model. scikit-image (about 0.7 s to import) is imported on first use in
each function, so that ``import helpers`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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
    from skimage import color, util  # heavy: first use only (module docstring)

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
        from skimage import data  # heavy: first use only

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
        from skimage import io  # heavy: first use only

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
    from skimage import color, filters  # heavy: first use only

    img = x.detach().cpu().permute(1, 2, 0).numpy()
    return torch.from_numpy(filters.sobel(color.rgb2gray(img)).astype(np.float32))
