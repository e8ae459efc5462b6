"""Images: the photos of the paper's figures, their normalizations and their edges.

Every image is a float32 tensor ``(3, H, W)`` with values in [0, 1] until :func:`preprocess`
normalizes it for a model. scikit-image (about 0.7 s to import) is imported on first use in
each function, so that ``import helpers`` stays fast.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .checks import InputWarning, as_int
from .memory import TooLargeError, check_memory

__all__ = ["edge_map", "load_image", "load_images", "preprocess"]

#: Photos bundled in scikit-image's and scikit-learn's wheels (no download): the natural photos
#: first (``chelsea`` is the paper's tabby; ``motorcycle`` is the left view of scikit-image's
#: stereo pair; ``china`` and ``flower`` are scikit-learn's), then a drawing (``colorwheel``) and
#: two gray photos. :data:`NATURAL_PHOTOS` is the set the chapters average over.
NATURAL_PHOTOS: tuple[str, ...] = (
    "chelsea",
    "astronaut",
    "coffee",
    "rocket",
    "motorcycle",
    "china",
    "flower",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
SAMPLE_PHOTOS: tuple[str, ...] = (*NATURAL_PHOTOS, "colorwheel", "camera", "coins")


def _bundled_photo(name: str) -> np.ndarray:
    """The array of bundled photo ``name`` (one of :data:`SAMPLE_PHOTOS`), as its library ships
    it."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image  # heavy: first use only

        return load_sample_image(f"{name}.jpg")
    from skimage import data  # heavy: first use only

    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


MIN_IMAGE_SIZE = 8

#: Per-channel normalizations, ``(mean, std)`` applied to an image in [0, 1].
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # torchvision's ImageNet models (VGG-16 IMAGENET1K_V1).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # EfficientNet-Lite0's TF-Lite convention (x * 255 - 127) / 128.
    "efficientnet": ((127 / 255,) * 3, (128 / 255,) * 3),
    # The author's code: RGB minus the VGG mean [123.68, 116.779, 103.939] (in [0, 1] units).
    "centered": ((123.68 / 255, 116.779 / 255, 103.939 / 255), (1.0, 1.0, 1.0)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def _to_rgb_float(img: np.ndarray, name: str) -> np.ndarray:
    """Any image array (H, W) or (H, W, 1-4), bool/uint8/uint16/float -> (H, W, 3) in [0, 1].

    An alpha channel (gray + alpha, RGBA) is composited on white, as a viewer shows it.
    """
    from skimage import color, util  # heavy: first use only (module docstring)

    if img.ndim == 3 and img.shape[2] == 2:  # gray + alpha: as RGBA
        img = np.dstack([img[..., 0]] * 3 + [img[..., 1]])
    if img.ndim == 3 and img.shape[2] == 4:
        img = color.rgba2rgb(img)  # composite on white
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


#: A decoded image is reduced (box filter, before any float conversion) when its center square
#: is more than this many times the output side: huge photos and uploads stay cheap.
_REDUCE_ABOVE = 4


#: EXIF orientation -> the transposition that shows the photo upright (ImageOps.exif_transpose).
_EXIF_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


def _not_an_image(name: str, head: bytes) -> str:
    """Why a file that Pillow cannot identify is not an image, in words."""
    text = head.lstrip().lower()
    if not head:
        return "the file is empty"
    if text.startswith(b"<?xml") or b"<svg" in text[:512]:
        return "it is an SVG drawing (vector graphics); export it as PNG or JPEG"
    if text.startswith((b"<!doctype html", b"<html")):
        return "it is an HTML page (a download link saved instead of the image?)"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "it is not in an image format Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP)"


def _decode(fp: Any, name: str, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an image file (path or file object) with Pillow as a person sees it: EXIF
    orientation applied, palette/CMYK/16-bit/alpha converted, center square reduced while
    still 8-bit when it is much larger than ``size``. Returns the center square (uint8, uint16
    or float32 array, (S, S) or (S, S, 1-4)) and the photo's ``(H, W)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size guard below replaces Pillow's bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"image file {name} is too large to decode: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        if hasattr(fp, "seek"):
            fp.seek(0)
            head = fp.read(1024)
        else:
            with open(fp, "rb") as f:
                head = f.read(1024)
        raise ValueError(f"cannot read image file {name}: {_not_an_image(name, head)}") from None
    with im, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        w, h = im.size
        bands = len(im.getbands())
        depth = 4 if im.mode in ("I", "F") else 2 if im.mode.startswith("I;16") else 1
        check_memory(
            2 * w * h * bands * depth,
            f"decoding image {name} ({w} x {h} pixels)",
            "use a smaller file",
        )
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            warnings.warn(
                f"image {name} has {frames} frames (animation or pages); using the first",
                InputWarning,
                stacklevel=4,
            )
        side = min(w, h)
        full = (w, h)
        if im.format == "JPEG" and side > _REDUCE_ABOVE * size:
            # Decode at a reduced scale (1/2, 1/4, 1/8), keeping the square >= 2 size.
            reduce = side / (2 * size)
            im.draft(None, (math.ceil(w / reduce), math.ceil(h / reduce)))
        try:
            im.load()
        except Exception as exc:  # noqa: BLE001 - a truncated or corrupt file
            raise ValueError(f"cannot read image file {name}: {exc}") from None
        scale = full[0] / im.size[0]  # > 1 after a JPEG draft
        orientation = im.getexif().get(0x0112, 1)  # EXIF: how the camera was held
        mode = im.mode
        if mode in ("P", "PA", "1"):  # palette and 1-bit: no averaging before conversion
            transparent = mode == "PA" or "transparency" in im.info
            im = im.convert("L" if mode == "1" else "RGBA" if transparent else "RGB")
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        shape = (round(h * scale), round(w * scale))
        if side > _REDUCE_ABOVE * size and im.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
            # Box-average the center square while still 8-bit: no full-size copy.
            f = side // (2 * size)
            cut = side // f * f
            t2, l2 = top + (side - cut) // 2, left + (side - cut) // 2
            im = im.reduce(f, box=(l2, t2, l2 + cut, t2 + cut))
        elif w != h:
            im = im.crop((left, top, left + side, top + side))
        if im.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            im = im.convert("RGB")  # CMYK (print shops): Pillow's conversion, Adobe inversion
        elif im.mode in ("RGBa", "La"):
            im = im.convert(im.mode.upper())
        if orientation in _EXIF_TRANSPOSE:  # as ImageOps.exif_transpose, on the small square
            im = im.transpose(_EXIF_TRANSPOSE[orientation])
            if orientation >= 5:
                shape = shape[::-1]
        arr = np.asarray(im)
    if mode == "I" or mode.startswith("I;16"):
        arr = arr.astype(np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"image {name} has 32-bit integer pixels outside 0..65535")
        arr = arr.astype(np.uint16)  # 16-bit gray: 0..65535
    return arr, shape


def _warn_resized(name: str, shape: tuple[int, int], side: int, size: int) -> None:
    """Say when a photo was much cropped (extreme aspect) or upscaled."""
    h, w = shape
    notes = []
    if max(h, w) > 2 * min(h, w):
        kept = 100 * min(h, w) / max(h, w)
        notes.append(f"center-cropped to {side} x {side} ({kept:.2g}% of the image kept)")
    if side < size:
        notes.append(f"upscaled {size / side:.3g}x from {side} x {side} to {size} x {size}")
    if notes:
        warnings.warn(
            f"image {name} is {w} x {h} pixels: {' and '.join(notes)}; the maps of such an "
            "image show the stretched pixels",
            InputWarning,
            stacklevel=3,
        )


def _check_size(size: Any) -> int:
    v = as_int(size)
    if v is None or v < MIN_IMAGE_SIZE:
        raise ValueError(f"image size must be an integer >= {MIN_IMAGE_SIZE}, got {size!r}")
    # The output and the resized copy, float32.
    check_memory(
        2 * 3 * 4 * v * v,
        f"an image of size {v} ({v} x {v} x 3, float32)",
        "use a smaller size (224 is the paper's)",
    )
    return v


def load_image(source: str | os.PathLike, size: int = 224) -> torch.Tensor:
    """Load a photo as a float32 tensor of shape ``(3, size, size)`` with values in [0, 1].

    Args:
        source: a name from :data:`SAMPLE_PHOTOS` (scikit-image's bundled photos, no download)
            or the path of an image file. Files are decoded with Pillow as a viewer shows them:
            EXIF orientation applied; grayscale, palette, CMYK and 16-bit converted; alpha
            composited on white; animations give their first frame (with a warning).
        size: side of the square output; the photo is center-cropped to a square and resized
            with antialiasing. An image much larger than ``size`` is reduced while decoding.
            A warning says when the photo was upscaled or cropped to a small part (an extreme
            aspect ratio).

    Raises:
        FileNotFoundError: ``source`` looks like a path and no such file exists.
        ValueError: unknown sample name, unreadable file (naming the file and why), or
            ``size`` below 8; :class:`~backpropvis.guards.TooLargeError` (a ``ValueError``)
            when decoding the file or the output would exceed the memory available.
    """
    size = _check_size(size)
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"image source must be a sample name or a file path, got {source!r}")
    name = os.fspath(source)
    if name in SAMPLE_PHOTOS:
        img = _bundled_photo(name)
        shape = img.shape[:2]
        h, w = shape
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top : top + side, left : left + side]
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
        img, shape = _decode_file(path, name, size)
    return _finish(img, name, shape, size)


def load_images(sources: Sequence[str | os.PathLike], size: int = 224) -> torch.Tensor:
    """The photos ``sources`` (names or paths, as :func:`load_image`) as one batch
    ``(B, 3, size, size)`` in [0, 1], in their order."""
    if isinstance(sources, (str, os.PathLike)) or not len(sources):
        raise ValueError(f"give a list of one or more photos, got {sources!r}")
    return torch.stack([load_image(s, size) for s in sources])


def _decode_file(fp: Any, name: str, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``(center square array, (H, W) of the photo)`` of a file path or file object."""
    if isinstance(fp, Path) and fp.stat().st_size == 0:
        raise ValueError(f"cannot read image file {name}: the file is empty")
    return _decode(fp, name, size)


def decode_image(data: bytes, name: str, size: int = 224) -> torch.Tensor:
    """The bytes of an image file (an upload) -> ``(3, size, size)`` in [0, 1], as
    :func:`load_image` (same conversions, warnings and errors naming ``name``); a large image is
    reduced while still 8-bit, so a 12000 x 12000 PNG costs its decoded bytes, not GBs."""
    size = _check_size(size)
    if not data:
        raise ValueError(f"cannot read image file {name}: the file is empty")
    img, shape = _decode_file(io.BytesIO(bytes(data)), name, size)
    return _finish(img, name, shape, size)


def _finish(img: np.ndarray, name: str, shape: tuple[int, int], size: int) -> torch.Tensor:
    """Center square array -> ``(3, size, size)`` float32 in [0, 1]."""
    if img.dtype == object or img.ndim < 2 or min(img.shape[:2]) == 0:
        raise ValueError(f"cannot read image file {name}: not a single still image")
    _warn_resized(name, shape, min(shape), size)
    img = _to_rgb_float(img, name)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    if img.shape[0] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x[0].clamp(0.0, 1.0).contiguous()


def preprocess(x: torch.Tensor, kind: str = "imagenet") -> torch.Tensor:
    """Normalize an image ``(3, H, W)`` (or a batch ``(B, 3, H, W)``) in [0, 1] for a model.

    ``kind`` is ``"imagenet"`` (torchvision mean/std), ``"efficientnet"`` ((255x - 127) / 128),
    ``"centered"`` (minus the VGG mean, as in the author's code) or ``"none"``.
    """
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown preprocessing {kind!r}; use one of {sorted(NORMALIZATIONS)}")
    mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in NORMALIZATIONS[kind])
    return (x - mean[:, None, None]) / std[:, None, None]


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the grayscale image: ``(3, H, W)`` -> ``(H, W)``."""
    from skimage import color, filters  # heavy: first use only

    img = x.detach().cpu().permute(1, 2, 0).numpy()
    return torch.from_numpy(filters.sobel(color.rgb2gray(img)).astype(np.float32))
