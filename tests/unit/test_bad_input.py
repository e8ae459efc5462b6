"""Bad input gets a clear error or a clear warning, never a silently wrong map.

ONE table, :data:`CASES`: every bad input a new user meets (photos from a phone or a print
shop, their own models, papermill from the shell, the explorer's upload button), with the entry
point, the input, what must happen and a phrase of the message. ``expect`` is an exception class
(the call must raise it), a warning class (the call must warn and still return), or ``OK`` (a
case accepted rather than refused: the call returns ``True`` when the result is right). Rows
with ``limit`` run with ``BACKPROPVIS_MEMORY_LIMIT`` set to that many bytes, so the size guard
is tested the same on every machine. Grow the table with each new entry point.
"""

from __future__ import annotations

import io
import tracemalloc
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import helpers as H
from backpropvis.core.checks import InputWarning
from backpropvis.core.images import decode_image
from backpropvis.core.memory import TooLargeError
from backpropvis.studies.explorer.model import ExplorerModel

OK = "accepted"


@dataclass(frozen=True)
class Case:
    entry: str  # the entry point
    bad: str  # the bad input, in words
    call: Any  # call(env) -> result; env: files, models, explorers (fixture below)
    expect: Any  # exception class, warning class, or OK
    phrase: str  # a phrase of the message (for OK: what is checked)
    limit: float | None = None  # BACKPROPVIS_MEMORY_LIMIT for the call


class Small(nn.Module):
    """conv -> activation -> linear, 10 logits; ``act`` is a module or a function."""

    def __init__(self, act: Any = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 8 * 8, 10)
        self.act = act if isinstance(act, nn.Module) else nn.ReLU()
        self.fn = None if isinstance(act, nn.Module) else act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        a = self.fn(a) if self.fn is not None else self.act(a)
        return self.fc(a.flatten(1))


class Pair(Small):
    def forward(self, x):  # a model returning a tuple (logits, features)
        return super().forward(x), x


X = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(0))


def same_as_relu(act: Any) -> bool:
    """The guided and deconv maps of a model with ``act`` equal those with ``nn.ReLU``."""
    ref, other = Small(), Small(act)
    other.load_state_dict(ref.state_dict(), strict=False)
    return all(
        torch.equal(H.backprop_map(ref, X, 3, r), H.backprop_map(other, X, 3, r)) for r in H.RULES
    )


def bn_unchanged() -> bool:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
    model = nn.Sequential(model, nn.Flatten(), nn.Linear(256, 5))  # training mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a, b = H.backprop_map(model, X, 0, "guided"), H.backprop_map(model, X, 0, "guided")
    same = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    return same and torch.equal(a, b) and model.training


def upload_memory(env: dict) -> bool:
    """A large PNG upload is reduced before any float conversion: the traced (NumPy, torch)
    memory stays far below the float image (3000 x 3000 x 3 float32 = 108 MB)."""
    ex = env["explorer_model"]
    tracemalloc.start()
    try:
        r = ex.explore(H.ExploreSettings(photo=env["big_png"], upload_name="big.png", n=4, size=32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return r.error is None and r.image.shape == (3, 32, 32) and peak < 20e6


def cmyk_as_rgb(env: dict, upload: bool) -> bool:
    ref = H.load_image(env["rgb.png"], 64)
    if upload:
        r = env["explorer_model"].explore(
            H.ExploreSettings(photo=env["cmyk_bytes"], upload_name="c.jpg", n=4, size=64)
        )
        x = r.image
    else:
        x = H.load_image(env["cmyk.jpg"], 64)
    return float((x - ref).abs().max()) < 0.05 and float(x.max()) < 0.99


def offline_vgg(env: dict) -> Any:
    return H.load_model("vgg16", timeout=1)


CASES: list[Case] = [
    # --- images: modes a phone or a print shop produces (accepted: the photo a person sees)
    Case("load_image", "CMYK JPEG", lambda e: cmyk_as_rgb(e, False), OK, "close to the RGB"),
    Case("explorer upload", "CMYK JPEG", lambda e: cmyk_as_rgb(e, True), OK, "close to RGB"),
    Case(
        "load_image", "palette PNG", lambda e: H.load_image(e["p.png"], 64).shape[0] == 3, OK, "RGB"
    ),
    Case(
        "load_image",
        "gray + alpha PNG",
        lambda e: torch.allclose(H.load_image(e["la.png"], 32), H.load_image(e["l.png"], 32)),
        OK,
        "alpha composited on white",
    ),
    Case(
        "load_image",
        "16-bit PNG",
        lambda e: torch.allclose(H.load_image(e["i16.png"], 32), H.load_image(e["l.png"], 32)),
        OK,
        "as the 8-bit gray",
    ),
    # --- images: not images, tiny or extreme
    Case(
        "load_image",
        "text file named .png",
        lambda e: H.load_image(e["t.png"]),
        ValueError,
        "t.png: it is a text file",
    ),
    Case(
        "load_image",
        "empty file",
        lambda e: H.load_image(e["e.png"]),
        ValueError,
        "e.png: the file is empty",
    ),
    Case(
        "load_image",
        "SVG renamed .png",
        lambda e: H.load_image(e["s.png"]),
        ValueError,
        "SVG drawing",
    ),
    Case(
        "explorer upload",
        "text bytes",
        lambda e: (
            e["explorer_model"]
            .explore(H.ExploreSettings(photo=b"hello", upload_name="notes.png"))
            .error.startswith("cannot read image file notes.png: it is a text file")
        ),
        OK,
        "error field names it",
    ),
    Case(
        "load_image",
        "1 x 1 image",
        lambda e: H.load_image(e["one.png"]),
        InputWarning,
        "upscaled 224x",
    ),
    Case(
        "load_image",
        "2 x 600 strip",
        lambda e: H.load_image(e["strip.png"]),
        InputWarning,
        "center-cropped to 2 x 2",
    ),
    Case(
        "load_image",
        "size=4",
        lambda e: H.load_image("chelsea", 4),
        ValueError,
        "image size must be an integer >= 8, got 4",
    ),
    Case(
        "load_image",
        "size=True",
        lambda e: H.load_image("chelsea", True),
        ValueError,
        "image size must be an integer",
    ),
    Case(
        "load_image",
        "size=numpy.int64(40)",
        lambda e: H.load_image("chelsea", np.int64(40)).shape == (3, 40, 40),
        OK,
        "as int",
    ),
    Case(
        "load_image",
        "size=10000 beyond memory",
        lambda e: H.load_image("chelsea", 10000),
        TooLargeError,
        "would need about 2.4 GB",
        limit=1e9,
    ),
    Case(
        "load_image",
        "photo '[' (papermill string)",
        lambda e: H.load_image("["),
        ValueError,
        "unknown sample photo '['",
    ),
    Case("explorer upload", "12000 x 12000-class PNG", upload_memory, OK, "reduced while 8-bit"),
    Case(
        "explorer upload",
        "decoded PNG beyond memory",
        lambda e: decode_image(e["big_png"], "big.png", 64),
        TooLargeError,
        "decoding image big.png (3000 x 3000",
        limit=3e7,
    ),
    # --- targets and rules
    Case(
        "backprop_maps",
        "targets=-1",
        lambda e: H.backprop_maps(Small(), X[None], targets=-1),
        ValueError,
        "target -1 is outside",
    ),
    Case(
        "backprop_maps",
        "targets=9.7",
        lambda e: H.backprop_maps(Small(), X[None], targets=9.7),
        ValueError,
        "int logit index or 'max', got 9.7",
    ),
    Case(
        "backprop_maps",
        "targets=12, 10 logits",
        lambda e: H.backprop_maps(Small(), X[None], targets=12),
        ValueError,
        "target 12 is outside the model's logits 0..9",
    ),
    Case(
        "backprop_map",
        "target='3' (a string)",
        lambda e: H.backprop_map(Small(), X, "3"),
        ValueError,
        "not the string '3'",
    ),
    Case(
        "backprop_maps",
        "rules='guided'",
        lambda e: list(H.backprop_maps(Small(), X[None], "guided")[0]) == ["guided"],
        OK,
        "one rule, not g, u, i...",
    ),
    Case(
        "backprop_map",
        "target = 0-d tensor",
        lambda e: torch.equal(
            H.backprop_map(Small(), X, torch.tensor(3)), H.backprop_map(Small(), X, 3)
        ),
        OK,
        "as int 3",
    ),
    Case(
        "backprop_map",
        "target = numpy.int64",
        lambda e: H.backprop_map(Small(), X, np.int64(3)).shape == X.shape,
        OK,
        "as int",
    ),
    Case(
        "backprop_map",
        "target=True",
        lambda e: H.backprop_map(Small(), X, True),
        ValueError,
        "got True",
    ),
    # --- activations
    Case(
        "backprop_map",
        "F.relu in forward",
        lambda e: same_as_relu(F.relu),
        OK,
        "true guided/deconv rule",
    ),
    Case(
        "backprop_map",
        "torch.relu_ in forward",
        lambda e: same_as_relu(lambda a: torch.relu_(a)),
        OK,
        "true rule, in place",
    ),
    Case(
        "backprop_map",
        "Tensor.relu() in forward",
        lambda e: same_as_relu(lambda a: a.relu()),
        OK,
        "true rule",
    ),
    Case(
        "backprop_map",
        "reused in-place nn.ReLU",
        lambda e: same_as_relu(nn.ReLU(inplace=True)),
        OK,
        "true rule",
    ),
    Case(
        "backprop_map",
        "LeakyReLU, guided",
        lambda e: H.backprop_map(Small(nn.LeakyReLU()), X),
        ValueError,
        "uses LeakyReLU",
    ),
    Case(
        "backprop_map",
        "GELU, deconv",
        lambda e: H.backprop_map(Small(nn.GELU()), X, 0, "deconv"),
        ValueError,
        "uses GELU",
    ),
    Case(
        "backprop_maps",
        "SiLU, guided",
        lambda e: H.backprop_maps(Small(nn.SiLU()), X[None]),
        ValueError,
        "uses SiLU",
    ),
    Case(
        "backprop_map",
        "Hardswish, guided",
        lambda e: H.backprop_map(Small(nn.Hardswish()), X),
        ValueError,
        "uses Hardswish",
    ),
    Case(
        "backprop_map",
        "F.gelu in forward, guided",
        lambda e: H.backprop_map(Small(lambda a: F.gelu(a)), X),
        ValueError,
        "uses torch.nn.functional.gelu",
    ),
    Case(
        "backprop_map",
        "GELU, plain",
        lambda e: H.backprop_map(Small(nn.GELU()), X, 0, "plain").shape == X.shape,
        OK,
        "the gradient is defined for any model",
    ),
    Case(
        "backprop_map",
        "no ReLU at all, guided",
        lambda e: H.backprop_map(nn.Sequential(nn.Flatten(), nn.Linear(300, 4)), X),
        ValueError,
        "needs ReLU activations",
    ),
    # --- models: training mode, outputs, dtypes
    Case(
        "backprop_map",
        "model in training mode (dropout, BN)",
        lambda e: bn_unchanged(),
        InputWarning,
        "the attribution runs in eval mode",
    ),
    Case(
        "backprop_map",
        "model returning a tuple",
        lambda e: H.backprop_map(Pair(), X),
        ValueError,
        "it returned a tuple",
    ),
    Case(
        "backprop_map",
        "float64 image",
        lambda e: H.backprop_map(Small(), X.double(), 0),
        InputWarning,
        "converted x to float32",
    ),
    Case(
        "backprop_maps",
        "float16 images",
        lambda e: H.backprop_maps(Small(), X[None].half()),
        InputWarning,
        "xs is float16",
    ),
    Case(
        "backprop_maps",
        "uint8 images",
        lambda e: H.backprop_maps(Small(), (X[None] * 255).to(torch.uint8)),
        ValueError,
        "x.float() / 255",
    ),
    Case(
        "backprop_map",
        "a NumPy (H, W, 3) array",
        lambda e: H.backprop_map(Small(), X.permute(1, 2, 0).numpy()),
        ValueError,
        "must be a torch.Tensor",
    ),
    Case("load_model", "vgg16 offline, not cached", offline_vgg, ConnectionError, "pass weights="),
    Case(
        "load_model",
        "weights= for an untrained model",
        lambda e: H.load_model("vgg16_untrained", weights="w.pth"),
        ValueError,
        "weights= is for the trained models",
    ),
    Case(
        "load_model",
        "VGG-16 beyond memory",
        lambda e: H.load_model("vgg16_untrained"),
        TooLargeError,
        "138 M float32 weights",
        limit=1e8,
    ),
    # --- the paper's networks
    Case(
        "ThreeLayerConvNet",
        "std=1e300",
        lambda e: H.ThreeLayerConvNet(4, std=1e300),
        ValueError,
        "would overflow to inf/NaN",
    ),
    Case(
        "ThreeLayerConvNet",
        "std=1e-30",
        lambda e: H.ThreeLayerConvNet(4, std=1e-30),
        ValueError,
        "would underflow to 0",
    ),
    Case(
        "ThreeLayerConvNet",
        "std=True",
        lambda e: H.ThreeLayerConvNet(4, std=True),
        ValueError,
        "std (the weight scale c) must be a positive number, got True",
    ),
    Case(
        "ThreeLayerConvNet",
        "std=numpy.float32(0.5), N=numpy.int64(4), 0-d tensor seed",
        lambda e: (
            H.ThreeLayerConvNet(np.int64(4), std=np.float32(0.5), seed=torch.tensor(1)).std == 0.5
        ),
        OK,
        "as numbers",
    ),
    Case(
        "ThreeLayerConvNet",
        "n_filters=True",
        lambda e: H.ThreeLayerConvNet(True),
        ValueError,
        "n_filters (N) must be a positive integer, got True",
    ),
    Case(
        "ThreeLayerConvNet",
        "seed=numpy.bool_",
        lambda e: H.ThreeLayerConvNet(4, seed=np.True_),
        ValueError,
        "seed must be a non-negative integer",
    ),
    Case(
        "ThreeLayerConvNet",
        "n_filters=10**9",
        lambda e: H.ThreeLayerConvNet(10**9),
        TooLargeError,
        "the filters would need about 1.76 TB",
        limit=1e10,
    ),
    Case(
        "ThreeLayerConvNet",
        "N=256 on 2000 x 2000",
        lambda e: H.ThreeLayerConvNet(256, 7, n_logits=2).select_logits(
            torch.zeros(1, 3, 2000, 2000), [0]
        ),
        TooLargeError,
        "N=256 on a (2000, 2000) input",
        limit=1e9,
    ),
    Case(
        "FullyConnectedNet",
        "in_shape (3, 10**5, 10**5)",
        lambda e: H.FullyConnectedNet((3, 10**5, 10**5), 4),
        TooLargeError,
        "a block of 256 hidden units",
        limit=1e10,
    ),
    Case(
        "FullyConnectedNet",
        "std=1e30",
        lambda e: H.FullyConnectedNet((3, 8, 8), 4, std=1e30),
        ValueError,
        "would overflow",
    ),
    Case(
        "PatchNet1D",
        "d=10**6",
        lambda e: H.PatchNet1D(10**6),
        TooLargeError,
        "the patch matrices D_j",
        limit=1e10,
    ),
    # --- the explorer
    Case(
        "ExplorerModel.explore",
        "trained network at size 16",
        lambda e: (
            e["explorer_model"].explore(H.ExploreSettings(network="trained", size=16)).error
            == "size: the trained network needs size >= 32, got 16"
        ),
        OK,
        "error field, no raise",
    ),
    Case(
        "ExplorerModel.explore",
        "network raises RuntimeError",
        lambda e: (
            "cannot run this setting"
            in e["broken_explorer"].explore(H.ExploreSettings(n=4, size=32)).error
        ),
        OK,
        "error field, no raise",
    ),
    Case(
        "ExplorerModel.explore",
        "seed=-1",
        lambda e: (
            e["explorer_model"]
            .explore(H.ExploreSettings(seed=-1))
            .error.startswith("seed must be a non-negative integer, got -1")
        ),
        OK,
        "error field",
    ),
    Case(
        "Explorer.set",
        "size=50",
        lambda e: e["explorer"].set(size=50),
        ValueError,
        "size: 50 is not allowed; use one of 32, 64",
    ),
    Case(
        "Explorer.set",
        "kernel_size=99",
        lambda e: e["explorer"].set(kernel_size=99),
        ValueError,
        "kernel_size: 99 is not allowed; the 'k' control takes integers 1..15",
    ),
    Case(
        "Explorer.set",
        "seed=-1",
        lambda e: e["explorer"].set(seed=-1),
        ValueError,
        "seed: -1 is not allowed",
    ),
    Case(
        "Explorer.set",
        "rule='gradcam'",
        lambda e: e["explorer"].set(rule="gradcam"),
        ValueError,
        "rule: 'gradcam' is not allowed; use one of 'plain', 'guided', 'deconv'",
    ),
    Case(
        "Explorer.set",
        "unknown control",
        lambda e: e["explorer"].set(depth=3),
        ValueError,
        "unknown control(s) depth",
    ),
    # --- papermill parameters (H.as_list)
    Case(
        "as_list",
        "-p photos '[\"nosuchphoto\"]'",
        lambda e: H.as_list('["nosuchphoto"]', "photos", str) == ["nosuchphoto"],
        OK,
        "the string is parsed as a list",
    ),
    Case(
        "as_list",
        "-p n_values 64",
        lambda e: H.as_list(64, "n_values", int),
        TypeError,
        "-y 'n_values: [64]'",
    ),
    Case(
        "as_list",
        "-p photos chelsea",
        lambda e: H.as_list("chelsea", "photos", str),
        TypeError,
        "-y 'photos: [chelsea]'",
    ),
    Case(
        "as_list",
        "-p n_values '[8, \"x\"]'",
        lambda e: H.as_list('[8, "x"]', "n_values", int),
        TypeError,
        "must be a list of int",
    ),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("bad_input")
    rgb = (H.load_image("chelsea", 96).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    im = Image.fromarray(rgb)
    files = {
        "rgb.png": im,
        "cmyk.jpg": im.convert("CMYK"),
        "p.png": im.convert("P"),
        "l.png": im.convert("L"),
        "la.png": im.convert("LA"),
        "i16.png": Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257),
        "one.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "strip.png": Image.new("RGB", (600, 2), (200, 10, 10)),
    }
    out: dict[str, Any] = {}
    for name, img in files.items():
        img.save(d / name, quality=95) if name.endswith(".jpg") else img.save(d / name)
        out[name] = d / name
    for name, data in (
        ("t.png", b"hello world\n"),
        ("e.png", b""),
        ("s.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
    ):
        (d / name).write_bytes(data)
        out[name] = d / name
    out["cmyk_bytes"] = (d / "cmyk.jpg").read_bytes()
    big = np.zeros((3000, 3000, 3), np.uint8)
    big[::40] = 200
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "png")
    out["big_png"] = buf.getvalue()
    out["explorer_model"] = ExplorerModel(device="cpu")

    class Broken(ExplorerModel):
        def _model(self, s):
            raise RuntimeError("Given input size: (512x1x1). Output size is too small")

    out["broken_explorer"] = Broken(device="cpu")
    ex = H.Explorer(device="cpu", defaults=H.ExploreSettings(n=4, size=32, logit2=None))
    ex.widget()
    out["explorer"] = ex
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{c.entry}: {c.bad}" for c in CASES])
def test_bad_input(case: Case, env, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("BACKPROPVIS_MEMORY_LIMIT", raising=False)
    if case.limit is not None:
        monkeypatch.setenv("BACKPROPVIS_MEMORY_LIMIT", str(case.limit))
    # Offline: no torch cache, no network (load_model must fail at once, never download).
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    if case.expect == OK:
        assert case.call(env) is True, case.phrase
    elif isinstance(case.expect, type) and issubclass(case.expect, Warning):
        with pytest.warns(case.expect) as record:
            result = case.call(env)
        assert any(case.phrase in str(w.message) for w in record), [str(w.message) for w in record]
        assert result is not None and result is not False
    else:
        with pytest.raises(case.expect) as info:
            case.call(env)
        assert case.phrase in str(info.value), str(info.value)


def test_table_covers_every_entry_point() -> None:
    """The table holds at least 45 cases, over every entry point a reader calls."""
    assert len(CASES) >= 45
    entries = {c.entry for c in CASES}
    assert {"load_image", "backprop_map", "backprop_maps", "load_model", "Explorer.set"} <= entries
