"""load_image: bundled photos, file formats, and the errors a reader meets first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import io

import helpers as H
from backpropvis.core.checks import InputWarning
from backpropvis.core.images import NATURAL_PHOTOS, SAMPLE_PHOTOS


@pytest.mark.parametrize("name", SAMPLE_PHOTOS)
def test_bundled_photos(name):
    x = H.load_image(name, 96)
    assert x.shape == (3, 96, 96) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.std()) > 0.05


def test_the_natural_photos_are_distinct_color_photos():
    photos = torch.stack([H.load_image(name, 64) for name in NATURAL_PHOTOS])
    assert len(NATURAL_PHOTOS) >= 10
    gray = (photos - photos.mean(1, keepdim=True)).abs().amax(dim=(1, 2, 3))
    assert float(gray.min()) > 0.05, "a gray photo among the natural ones"
    flat = photos.flatten(1)
    distance = torch.cdist(flat, flat) + torch.eye(len(flat)) * 1e9
    assert float(distance.min()) > 1.0, "two bundled names load the same photo"


def test_file_formats_are_converted(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cases = {
        "gray.png": rgb[..., 0],
        "rgba.png": np.dstack([rgb, np.full((40, 50), 255, np.uint8)]),
        "deep.png": rgb[..., 0].astype(np.uint16) * 257,  # 16-bit grayscale
        "rgb.png": rgb,
    }
    for name, arr in cases.items():
        io.imsave(tmp_path / name, arr, check_contrast=False)
    ref = H.load_image(tmp_path / "rgb.png", 32)
    assert torch.allclose(H.load_image(tmp_path / "rgba.png", 32), ref, atol=1e-4)
    gray = H.load_image(tmp_path / "gray.png", 32)
    assert gray.shape == (3, 32, 32) and torch.equal(gray[0], gray[1])
    assert torch.allclose(gray[0], ref[0], atol=1e-4)
    assert torch.allclose(H.load_image(tmp_path / "deep.png", 32), gray, atol=1e-4)


def test_errors_name_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="image file not found: .*missing.png"):
        H.load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="unknown sample photo 'tabby_cat'"):
        H.load_image("tabby_cat")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG")
    with pytest.raises(ValueError, match="cannot read image file .*broken.jpg"):
        H.load_image(bad)
    with pytest.raises(ValueError, match="image path is not a file"):
        H.load_image(tmp_path)
    with pytest.raises(ValueError, match="image size must be an integer >= 8, got 4"):
        H.load_image("chelsea", 4)
    with pytest.raises(ValueError, match="sample name or a file path"):
        H.load_image(42)


def test_preprocess_and_edges():
    x = H.load_image("chelsea", 32)
    assert torch.allclose(H.preprocess(x, "efficientnet"), (x * 255 - 127) / 128, atol=1e-5)
    assert torch.allclose(H.preprocess(x, "none"), x)
    with pytest.raises(ValueError, match="unknown preprocessing 'caffe'"):
        H.preprocess(x, "caffe")
    edges = H.edge_map(x)
    assert edges.shape == (32, 32) and float(edges.min()) >= 0


def test_phone_photos_load_upright_and_animations_give_their_first_frame(tmp_path):
    from PIL import Image, ImageOps

    rgb = (H.load_image("chelsea", 64).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    im = Image.fromarray(rgb).resize((90, 60))
    exif = im.getexif()
    exif[0x0112] = 6  # held sideways: the viewer rotates it
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg")).save(tmp_path / "upright.png")
    assert torch.equal(
        H.load_image(tmp_path / "phone.jpg", 32), H.load_image(tmp_path / "upright.png", 32)
    )
    frames = [Image.new("RGB", (40, 40), c) for c in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(InputWarning, match="has 2 frames"):
        x = H.load_image(tmp_path / "anim.gif", 32)
    assert float(x[0].mean()) > 0.9 and float(x[2].mean()) < 0.1


def test_large_files_are_reduced_before_float_conversion(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (1000, 1500, 3), dtype=np.uint8)
    io.imsave(tmp_path / "big.png", big, check_contrast=False)
    x = H.load_image(tmp_path / "big.png", 64)  # 1000 > 4 x 64: box-reduced by 7 first
    assert x.shape == (3, 64, 64) and abs(float(x.mean()) - big.mean() / 255) < 0.01
