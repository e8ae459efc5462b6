"""Chapter 5 (Explorer): the callback run headless, its caches, its errors, its widget, and the
chapter's static grid.

Thresholds: at 64 x 64 with N = 256 filters of 7 x 7 x 3 the GBP-to-limit correlation is about
0.95 (leading-order prediction 0.94) and the plain gradient's about 0 (|rho| < 0.02 over seeds),
so 0.9 and 0.1 leave room for seed-to-seed spread while a broken map or limit fails.
"""

from __future__ import annotations

import datetime
import io
import re
from functools import partial

import numpy as np
import pytest
import torch

import helpers as H

STEM = "05_explorer"
S = partial(H.ExploreSettings, size=64)


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, tmp_path_factory):
    return chapter_runner(STEM, tmp_path_factory.mktemp("ch05"), **smoke)


@pytest.fixture(scope="module")
def ex():
    return H.Explorer(device="cpu")


def upload(content: bytes, name: str) -> tuple[dict, ...]:
    """A FileUpload value (ipywidgets 8) holding one file."""
    when = datetime.datetime(2024, 1, 1)
    file = {"name": name, "type": "", "size": len(content), "last_modified": when}
    return ({**file, "content": memoryview(content)},)


def png_bytes(seed: int = 0) -> bytes:
    from PIL import Image

    rgb = np.random.default_rng(seed).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "png")
    return buf.getvalue()


def test_result_shapes_and_ranges(ex):
    r = ex.explore(S())
    assert r.error is None and r.model.startswith("three-layer convnet, N=256")
    assert r.image.shape == r.limit.shape == (3, 64, 64)
    assert r.maps.shape == (2, 3, 64, 64) and len(r.logits) == len(r.labels) == 2
    assert 0 <= float(r.image.min()) and float(r.image.max()) <= 1
    assert all(-1 <= v <= 1 for v in [*r.rho_limit, *r.rho_input, r.rho_logits])
    one = ex.explore(S(logit2=None))
    assert one.maps.shape == (1, 3, 64, 64) and one.rho_logits is None
    same = ex.explore(S(padding="same", kernel_size=5))
    assert same.maps.shape == (2, 3, 64, 64) and same.rho_limit[0] > 0.9


@pytest.mark.parametrize("seed", [0, 3])
def test_gbp_reaches_the_limit_plain_does_not(ex, seed):
    rho = {n: ex.explore(S(n=n, seed=seed)).rho_limit[0] for n in (1, 16, 256)}
    assert rho[1] < rho[16] < rho[256] and rho[256] > 0.9 and rho[1] < 0.4
    plain = ex.explore(S(rule="plain", seed=seed))
    assert max(abs(v) for v in plain.rho_limit) < 0.1
    # class invariance side by side: two logits' GBP maps agree, plain maps do not
    assert ex.explore(S(seed=seed)).rho_logits > 0.85
    assert abs(plain.rho_logits) < 0.1


def test_fc_matches_its_leading_order_prediction(ex):
    r = ex.explore(S(network="fc", n=4096, size=32))
    x = H.preprocess(r.image, "centered")
    e = H.predicted_relative_error(x, 4096)
    assert torch.allclose(r.limit, H.gbp_limit_fc(x))
    # measured over seeds 0..7 at these settings: rho 0.346 mean, 0.014 SD (prediction 0.345)
    assert abs(r.rho_limit[0] - 1 / np.sqrt(1 + e**2)) < 4 * 0.014


def test_trained_max_logit_and_class_invariance(ex):
    r = ex.explore(S(network="trained", logit="max", logit2=482))
    trained = H.load_model("auto")
    assert r.model == trained.name and r.limit is None and r.rho_limit == []
    assert r.logits[0] == trained.top_k(r.image, 1)[0][0]
    assert r.labels[0].startswith(f"max = {r.logits[0]} (")
    plain = ex.explore(S(network="trained", rule="plain", logit="max", logit2=482))
    assert r.rho_logits > 0.9 > 0.5 > plain.rho_logits


def test_logit_specs(ex):
    assert ex.resolve("tabby") == ex.resolve(" Tabby ") == 281
    assert ex.resolve("482") == ex.resolve(482) == 482
    first, second = ex.resolve("random", 0, seed=5), ex.resolve("random", 1, seed=5)
    assert first != second and first == ex.resolve("random", 0, seed=5)
    with pytest.raises(ValueError, match="several classes"):
        ex.resolve("cat")
    with pytest.raises(ValueError, match="did you mean tabby"):
        ex.resolve("tabbycat")
    with pytest.raises(ValueError, match="outside"):
        ex.resolve(1000)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (S(n=0), "n_filters \\(N\\) must be a positive integer, got 0"),
        (S(network="fc", n=0), "N_h"),
        (S(photo=b"not an image", upload_name="cat.png"), "cannot read image file cat.png"),
        (S(photo="no_such_photo"), "unknown sample photo"),
        (S(logit="tabbycat"), "unknown logit 'tabbycat'"),
        (S(kernel_size=15, size=12), "smaller than the 15x15 kernel"),
        (S(kernel_size=6, padding="same"), "odd kernel_size"),
        (S(network="resnet"), "unknown network"),
        (S(rule="smooth"), "unknown rule"),
    ],
)
def test_bad_input_is_an_error_message(ex, settings, message):
    r = ex.explore(settings)  # must not raise
    assert r.error is not None and r.maps is None
    assert re.search(message, r.error), r.error


def test_caches_compute_only_what_changed():
    ex = H.Explorer(device="cpu")
    first = ex.explore(S())
    assert ex.computed == 2
    again = ex.explore(S())
    assert ex.computed == 2 and torch.equal(again.maps, first.maps)
    ex.explore(S(rule="plain"))
    assert ex.computed == 4
    swapped = ex.explore(S(logit2="tabby"))  # logit 482 under GBP is cached: one new map
    assert ex.computed == 5 and torch.equal(swapped.maps[0], first.maps[0])
    assert torch.equal(H.Explorer(device="cpu").explore(S()).maps, first.maps)  # same seed


def test_widget_shows_errors_and_recovers():
    ex = H.Explorer(S(n=64), device="cpu")
    ex.widget()
    assert ex.last.error is None and all(len(img.value) > 0 for _, img in ex.panels)
    assert all(img.layout.visibility == "visible" for _, img in ex.panels)
    r = ex.set(n=0)  # as a reader typing 0
    assert r.error and "error" in ex.status.value and "positive integer" in ex.status.value
    # no broken-image icons where the maps were: empty panels are hidden
    assert all(len(img.value) == 0 and img.layout.visibility == "hidden" for _, img in ex.panels)
    ex.controls["upload"].value = upload(b"garbage", "holiday.jpg")
    assert ex.controls["photo"].value == "upload: holiday.jpg"
    assert "cannot read image file holiday.jpg" in ex.status.value
    ex.controls["n"].value = 64
    ex.controls["upload"].value = upload(png_bytes(), "noise.png")
    assert ex.last.error is None and ex.last.settings.upload_name == "noise.png"
    assert ex.last.image.shape == (3, 64, 64) and "N=64" in ex.status.value
    r = ex.set(photo="chelsea", rule="plain", logit2="")
    assert r.maps.shape[0] == 1 and len(ex.panels[2][1].value) == 0
    assert [img.layout.visibility for _, img in ex.panels] == [
        "visible",
        "visible",
        "hidden",
        "visible",
    ]


def test_chapter_grid(smoke, m):
    g = m["grid"]
    conv = [g[f"convnet N={n}, guided"]["rho_limit"][0] for n in (1, 16, 256)]
    assert conv[0] < conv[1] < conv[2] and conv[2] > 0.9
    assert abs(g["convnet N=256, plain"]["rho_limit"][0]) < 0.1
    fc = g["FC N_h=512, guided"]
    # measured over seeds 0..7 (32 x 32, N_h = 512): rho 0.137 mean, 0.0089 SD, prediction 0.129
    assert abs(fc["rho_limit"][0] - fc["predicted_rho_limit"]) < 4 * 0.0089
    x = H.preprocess(H.load_image("chelsea", smoke["fc_size"]), "centered")
    e = H.predicted_relative_error(x, smoke["fc_hidden"])  # the prediction, recomputed
    assert fc["predicted_rho_limit"] == pytest.approx(1 / np.sqrt(1 + e**2), rel=1e-6)
    assert g["trained, guided"]["rho_logits"] > 0.9 > 0.5 > g["trained, plain"]["rho_logits"]
    assert g["VGG-16 untrained, guided"]["rho_input"][0] > 0.5
    assert g["VGG-16 untrained, guided"]["rho_input"][0] > g["trained, guided"]["rho_input"][0]
    assert "positive integer" in m["errors"]["N = 0"]
    assert "cannot read" in m["errors"]["an upload that is not an image"]
    assert "did you mean tabby" in m["errors"]["an unknown class name"]
    assert 0 < m["update_cached_max_s"] < 0.5 and m["update_max_s"] > 0
