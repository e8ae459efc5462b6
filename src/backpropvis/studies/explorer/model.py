"""The explorer's computation (chapter 5): settings -> maps, limits and correlations, cached.

Free of widgets, so it runs headless (tests, benchmarks); :mod:`backpropvis.explorer.widget`
puts the ipywidgets front end on top. Images are ``(3, H, W)`` in [0, 1], maps ``(T, 3, H, W)``
for the ``T`` (1 or 2) logits shown.
"""

from __future__ import annotations

import difflib
import hashlib
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any

import numpy as np
import torch
from torch import nn

from ...core.attribution import backprop_map, class_targets
from ...core.checks import InputWarning, check_positive_int, check_seed, resolve_targets
from ...core.fc_net import FullyConnectedNet
from ...core.images import MIN_IMAGE_SIZE, decode_image, load_image, preprocess
from ...core.metrics import similarity_matrices
from ...core.models import default_device, imagenet_categories, load_model
from ...core.networks import ThreeLayerConvNet
from ...core.rules import check_rule
from ...core.theory import gbp_limit, gbp_limit_fc

#: The explorer's networks, ``key: label``: the paper's two, then ImageNet classifiers, any
#: :func:`~backpropvis.models.load_model` name (slow ones labelled; large ``N`` or ``N_h`` are
#: slower too).
EXPLORER_NETWORKS: dict[str, str] = {
    "convnet": "three-layer convnet, Eq. (1)",
    "fc": "fully connected, Eq. (7)",
    "vgg16_untrained": "VGG-16, untrained (slower)",
    "resnet18_untrained": "ResNet-18, untrained",
    "mobilenet_v2_untrained": "MobileNet-V2, untrained (ReLU6)",
    "densenet121_untrained": "DenseNet-121, untrained (slow)",
    "trained": "trained ('auto' loader)",
    "resnet50": "ResNet-50, trained (slow: 98 MB download)",
}
#: The networks of the paper's analysis; every other key is an ImageNet classifier.
_PAPER_NETWORKS = ("convnet", "fc")
#: ImageNet classifiers that are slow above 128 px on a CPU.
_SLOW_ABOVE_128 = ("vgg16_untrained", "densenet121_untrained")


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
    that ran, ``slow`` why the setting is slower ("" if it is not), ``seconds`` the time taken,
    ``notes`` what was changed to make the input usable (an upload upscaled or converted).
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
    notes: list[str] = field(default_factory=list)


def _decode_upload(data: bytes, name: str, size: int) -> torch.Tensor:
    """Uploaded bytes -> ``(3, size, size)`` as :func:`load_image` (same conversions and
    errors, naming the upload); a large upload is reduced while decoding (no GB of floats)."""
    return decode_image(data, name, size)


#: The smallest side the deep networks take (five 2x2 poolings in VGG-16, strided convs in
#: EfficientNet-Lite0); smaller images fail inside the network.
MIN_DEEP_SIZE = 32


def _centered(x: torch.Tensor) -> torch.Tensor:
    """The author's preprocessing (minus the VGG mean) for the paper's random networks."""
    return preprocess(x, "centered")


class ExplorerModel:
    """Chapter 5's playground without widgets: :meth:`explore` (settings -> result, cached).

    Least-recently-used caches hold images per (photo, size), networks per setting, all logits
    per (network, image) (for ``"max"``), maps per (network, image, rule, logit) and limits, so
    a change recomputes only what it touches, and results per setting (a revisit is free);
    ``computed`` counts the maps computed.
    ``light_threads`` (``None``: torch's setting) is the thread count of light updates.
    """

    LIMITS = {"image": 16, "model": 4, "logits": 32, "maps": 256, "limit": 32, "result": 64}

    def __init__(
        self, defaults: ExploreSettings | None = None, device: Any = None, light_threads: int = 1
    ) -> None:
        self.defaults, self.light_threads = defaults or ExploreSettings(), light_threads
        self.device = torch.device(device) if device is not None else default_device()
        self.categories = imagenet_categories()
        self._cache: dict[str, OrderedDict] = {k: OrderedDict() for k in self.LIMITS}
        self.computed = 0

    def _cached(self, kind: str, key: Any, make: Any) -> Any:
        """The ``kind`` cache's entry for ``key``, made by ``make()`` on a miss (LRU order)."""
        cache = self._cache[kind]
        if key in cache:
            cache.move_to_end(key)
        else:
            cache[key] = make()
            while len(cache) > self.LIMITS[kind]:
                cache.popitem(last=False)
        return cache[key]

    def _image(self, s: ExploreSettings) -> tuple[torch.Tensor, tuple]:
        """``(image (3, size, size), cache key)`` of the setting's photo or upload."""
        if isinstance(s.photo, (bytes, bytearray, memoryview)):
            data = bytes(s.photo)
            key = ("upload", hashlib.sha1(data).hexdigest(), s.size)
            make = partial(_decode_upload, data, s.upload_name, s.size)
        else:
            key, make = (s.photo, s.size), partial(load_image, s.photo, s.size)

        def decode() -> tuple[torch.Tensor, list[str]]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                img = make()
            return img, [str(w.message) for w in caught]

        img, notes = self._cached("image", key, decode)
        for note in notes:  # said again for every setting that shows this image
            warnings.warn(note, InputWarning, stacklevel=2)
        return img, key

    def _model(self, s: ExploreSettings) -> tuple[nn.Module, Any, str, tuple]:
        """``(module, preprocessing function, name, cache key)`` of the setting's network."""
        if s.network == "convnet":
            key = ("convnet", s.n, s.kernel_size, s.padding, s.seed)

            def make() -> tuple[nn.Module, Any, str]:
                net = ThreeLayerConvNet(s.n, s.kernel_size, 1000, 1.0, s.padding, s.seed)
                net.fc_column = lru_cache(maxsize=4)(net.fc_column)  # V[:, k] kept across rules
                k = f"{s.kernel_size}x{s.kernel_size}"
                return net, _centered, f"three-layer convnet, N={s.n}, {k}, {s.padding}"
        elif s.network == "fc":
            key = ("fc", s.n, s.size, s.seed)

            def make() -> tuple[nn.Module, Any, str]:
                net = FullyConnectedNet((3, s.size, s.size), s.n, 1000, 1.0, s.seed)
                return net, _centered, f"fully connected, N_h={s.n}"
        elif s.network in EXPLORER_NETWORKS:
            key = (s.network, s.seed if s.network.endswith("_untrained") else 0)

            def make() -> tuple[nn.Module, Any, str]:
                m = load_model("auto" if s.network == "trained" else s.network, seed=s.seed)
                return m.model, m.prepare, m.name
        else:
            raise ValueError(f"unknown network {s.network!r}; use one of {list(EXPLORER_NETWORKS)}")

        def load() -> tuple[nn.Module, Any, str]:
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
            return resolve_targets([int(text)], None, len(self.categories))[0]
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
        if s.network in _SLOW_ABOVE_128 and s.size > 128:
            return f"{EXPLORER_NETWORKS[s.network].split(',')[0]} at {s.size} x {s.size}"
        if s.network not in _PAPER_NETWORKS and not any(
            key[0] == s.network for key in self._cache["model"]
        ):
            return f"first use: loading the {EXPLORER_NETWORKS[s.network]} network"
        return ""

    def explore(self, s: ExploreSettings, progress: Any = None) -> ExploreResult:
        """The callback, free of widgets: settings -> :class:`ExploreResult`.

        Bad input (``ValueError``, ``FileNotFoundError``: an unreadable upload, ``N = 0``, an
        unknown class name, a kernel larger than the image, work too large for the memory...)
        and a network that cannot run the setting (``RuntimeError``) set ``error`` instead of
        raising; warnings about the input (an upload upscaled...) go to ``notes``.
        ``progress(message)`` is called before each long step. Light settings (no
        :meth:`slow_reason`) run on ``light_threads`` threads: small ops on few shared cores
        lose more to thread synchronization than they gain.
        """
        start = time.perf_counter()
        try:
            slow = self.slow_reason(s)
        except Exception:  # noqa: BLE001 - a bad setting: check() names it below
            slow = ""
        if s in self._cache["result"]:  # seen before: nothing to compute
            hit = self._cached("result", s, None)
            return replace(hit, slow=slow, seconds=time.perf_counter() - start)
        threads = torch.get_num_threads()
        if self.light_threads and not slow:
            torch.set_num_threads(min(self.light_threads, threads))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = ExploreResult(s, slow=slow)
                out = self._compute(s, out, progress or (lambda msg: None))
            out.notes = list(dict.fromkeys(str(w.message) for w in caught))
            self._cached("result", s, lambda: out)
        except (ValueError, FileNotFoundError, ConnectionError) as exc:  # also: no download
            out = ExploreResult(s, slow=slow, error=str(exc))
        except TypeError as exc:  # a setting of the wrong type (a string for n...)
            out = ExploreResult(s, slow=slow, error=f"invalid setting: {exc}")
        except (RuntimeError, MemoryError) as exc:  # the network could not run the setting
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            out = ExploreResult(
                s,
                slow=slow,
                error=f"the {s.network} network cannot run this setting (size {s.size}): {first}",
            )
        finally:
            torch.set_num_threads(threads)
        out.seconds = time.perf_counter() - start
        return out

    def check(self, s: ExploreSettings) -> None:
        """Refuse a setting no network can run, naming the setting and what it allows (``N``
        and ``k`` are checked by the networks, in the paper's notation)."""
        if s.network not in EXPLORER_NETWORKS:
            raise ValueError(
                f"network: unknown network {s.network!r}; use one of {list(EXPLORER_NETWORKS)}"
            )
        check_rule(s.rule)
        check_seed(s.seed)
        size = check_positive_int(s.size, "size")
        low = MIN_IMAGE_SIZE if s.network in _PAPER_NETWORKS else MIN_DEEP_SIZE
        if size < low:
            raise ValueError(f"size: the {s.network} network needs size >= {low}, got {size}")

    def _compute(self, s: ExploreSettings, out: ExploreResult, say: Any) -> ExploreResult:
        """Fill ``out`` for ``s``; ``say(message)`` before each long step."""
        rule = check_rule(s.rule)
        out.image, ikey = self._image(s)
        self.check(s)
        net, prep, out.model, mkey = self._model(s)
        x = prep(out.image)
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
        named = s.network not in _PAPER_NETWORKS
        for v, k in zip(specs, out.logits, strict=True):
            label = str(k) if str(v).strip() == str(k) else f"{str(v).strip()} = {k}"
            out.labels.append(f"{label} ({self.categories[k]})" if named else label)
        return out
