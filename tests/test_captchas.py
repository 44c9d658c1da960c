"""Captcha rendering and its cache (captcha_cnn.data.captchas): the same spec gives the same bytes,
the cache is checksummed and regenerated when damaged, and images are read to gray as they look."""

import random
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captcha_cnn.core.errors import UserError
from captcha_cnn.data import captchas
from captcha_cnn.data.captchas import (
    DatasetSpec,
    generate,
    load_or_generate,
    render_sample,
    to_gray,
)
from captcha_cnn.data.labels import LabelCodec

SPEC = DatasetSpec(charset="0123456789", length=4, width=64, height=24, size=12, seed=0,
                   split="train")


def test_same_spec_gives_the_same_bytes_whatever_the_number_of_workers():
    images_1, indices_1 = generate(SPEC, workers=1, progress=False)
    images_2, indices_2 = generate(SPEC, workers=2, progress=False)
    assert images_1.shape == (12, 24, 64) and images_1.dtype == np.uint8
    assert images_1.tobytes() == images_2.tobytes()
    assert indices_1.tobytes() == indices_2.tobytes()


def test_a_sample_is_its_own_pure_function():
    text_a, image_a = render_sample(SPEC, 5)
    text_b, image_b = render_sample(SPEC, 5)
    assert text_a == text_b and np.array_equal(image_a, image_b)
    assert len(text_a) == 4 and set(text_a) <= set("0123456789")


def test_the_rendering_is_seeded_not_drawn_from_secrets():
    """captcha 0.7 uses `secrets`; without our seeding two renders of one text would differ."""
    _, first = render_sample(SPEC, 0)
    for _ in range(3):
        assert np.array_equal(render_sample(SPEC, 0)[1], first)
    assert not np.array_equal(render_sample(SPEC, 1)[1], first)


def test_a_captcha_release_that_does_not_draw_from_secrets_is_refused(monkeypatch):
    """captcha 0.7.0 draws from `random`: its images could not be seeded, so nothing is drawn."""
    without_secrets = types.SimpleNamespace(ImageCaptcha=captchas.captcha_image.ImageCaptcha)
    monkeypatch.setattr(captchas, "captcha_image", without_secrets)
    with pytest.raises(UserError, match=r"is not supported .* pip install 'captcha>=0\.7\.1,<0\.8'"):
        render_sample(SPEC, 0)


def test_a_secrets_call_that_is_not_seeded_is_a_clear_error():
    seeded = captchas._SeededSecrets(random.Random(0))
    assert seeded.randbelow(10) in range(10)
    with pytest.raises(UserError, match=r"calls secrets\.token_bytes, which captcha_cnn does not seed"):
        seeded.token_bytes(4)


def test_the_package_requires_the_captcha_releases_it_can_seed():
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'"captcha{captchas.SUPPORTED_CAPTCHA}"' in pyproject


def test_train_and_test_streams_differ():
    train_images, _ = generate(SPEC, workers=1, progress=False)
    test_spec = DatasetSpec(**{**SPEC.__dict__, "split": "test"})
    test_images, _ = generate(test_spec, workers=1, progress=False)
    for image in test_images:
        assert not any(np.array_equal(image, other) for other in train_images)
    assert test_spec.cache_key() != SPEC.cache_key()


def test_images_look_like_captchas():
    images, indices = generate(SPEC, workers=1, progress=False)
    # Light background, darker strokes: neither blank nor saturated.
    assert 150 < images.mean() < 250
    assert images.min() < 120
    assert indices.max() < 10


def test_labels_follow_the_texts():
    codec = LabelCodec(SPEC.charset, SPEC.length)
    _, indices = generate(SPEC, workers=1, progress=False)
    for index in range(SPEC.size):
        text, _ = render_sample(SPEC, index)
        assert codec.indices_to_text(indices[index]) == text


def test_five_hex_characters_work():
    spec = DatasetSpec("0123456789ABCDEF", 5, 80, 30, 4, 0, "train")
    images, indices = generate(spec, workers=1, progress=False)
    assert images.shape == (4, 30, 80) and indices.shape == (4, 5)
    assert LabelCodec(spec.charset, 5).indices_to_multi_hot(indices).shape == (4, 80)


def test_cache_is_reused_and_not_regenerated(tmp_path, monkeypatch):
    first = load_or_generate(SPEC, tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although the cache was intact")

    monkeypatch.setattr(captchas, "generate", fail)
    second = load_or_generate(SPEC, tmp_path, progress=False)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_meta"])
def test_a_damaged_cache_is_detected_and_regenerated(tmp_path, capsys, damage):
    original = load_or_generate(SPEC, tmp_path, progress=False)
    npz = next(tmp_path.glob("*.npz"))
    if damage == "truncate":
        npz.write_bytes(npz.read_bytes()[:1000])
    elif damage == "flip":
        data = bytearray(npz.read_bytes())
        data[-200] ^= 0xFF
        npz.write_bytes(bytes(data))
    else:
        npz.with_suffix(".json").unlink()
    again = load_or_generate(SPEC, tmp_path, progress=False)
    assert np.array_equal(original[0], again[0])
    if damage != "delete_meta":
        assert "damaged or incomplete" in capsys.readouterr().err


def _ink(text_mask: np.ndarray, mode: str) -> Image.Image:
    """Black ink drawn only in the alpha channel (the colour channels are all 0 everywhere)."""
    alpha = text_mask.astype(np.uint8) * 255
    if mode == "RGBA":
        return Image.fromarray(np.dstack([np.zeros_like(alpha)] * 3 + [alpha]), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.dstack([np.zeros_like(alpha), alpha]), "LA")
    palette = Image.fromarray(np.where(text_mask, 1, 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 0, 0, 0])
    palette.info["transparency"] = 0  # Colour 0 (black) is transparent: the ink is colour 1.
    return palette


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_ink_only_in_alpha_reads_as_dark_on_white(tmp_path, mode):
    mask = np.zeros((16, 48), bool)
    mask[4:12, 10:20] = True
    _ink(mask, mode).save(tmp_path / "alpha.png")
    with Image.open(tmp_path / "alpha.png") as image:
        gray = to_gray(image)
    assert (gray[mask] == 0).all() and (gray[~mask] == 255).all()


def test_opaque_images_read_as_before():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 48, 3), dtype=np.uint8)
    expected = np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
    assert np.array_equal(to_gray(Image.fromarray(rgb, "RGB")), expected)
    half = Image.fromarray(np.dstack([rgb, np.full((16, 48), 255, np.uint8)]), "RGBA")
    assert np.array_equal(to_gray(half), expected)  # Fully opaque alpha changes nothing.
