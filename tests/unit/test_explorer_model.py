"""The explorer's computation without widgets (the widget is driven in test_ch05_explorer)."""

from __future__ import annotations

import pytest

import helpers as H
from backpropvis.studies.explorer.model import ExplorerModel


def test_headless_model_resolves_logits_and_computes_without_ipywidgets():
    ex = ExplorerModel(device="cpu")
    assert not hasattr(ex, "widget") and isinstance(H.Explorer(device="cpu"), ExplorerModel)
    assert ex.resolve("tabby") == 281 and ex.resolve(" 7 ") == 7
    with pytest.raises(ValueError, match="targets: target 1000 is outside"):
        ex.resolve(1000)
    r = ex.explore(H.ExploreSettings(n=8, size=32, logit=3, logit2=None))
    assert r.error is None and r.maps.shape == (1, 3, 32, 32) and r.logits == [3]
    assert ex.computed == 1 and ex.explore(r.settings).maps.shape == (1, 3, 32, 32)
    assert ex.computed == 1  # a revisit is served from the cache


def test_input_warnings_become_notes_and_stay_with_the_image():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buf, "png")
    ex = ExplorerModel(device="cpu")
    s = H.ExploreSettings(photo=buf.getvalue(), upload_name="tiny.png", n=4, size=32, logit2=None)
    r = ex.explore(s)
    assert r.error is None and any("upscaled 4x" in n for n in r.notes)
    again = ex.explore(H.ExploreSettings(**{**s.__dict__, "rule": "plain"}))  # image cached
    assert again.notes == r.notes
