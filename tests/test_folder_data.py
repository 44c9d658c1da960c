"""A folder of labeled images as the data source: labels, formats, the split, the cache, and every
bad folder refused in one line before TensorFlow loads, without writing into the folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captcha_cnn.core.errors import UserError
from captcha_cnn.data import folder as folder_module
from captcha_cnn.data.folder import held_out_mask, load_folder_sets, prepare_folder, read_gray
from captcha_cnn.data.folder_labels import FolderError, list_folder, text_from_name

# The smoke config (48x16, batch 16) on a folder, charset and length inferred, 8 held out.
FOLDER_SETTINGS = ("data.source=folder", "data.charset=", "data.length=0", "data.test_size=8")


def make_images(folder: Path, texts: list[str], size=(60, 20), suffix=".png", seed=0) -> None:
    """One noise image per text (distinct bytes), named TEXT_INDEX.suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index, text in enumerate(texts):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / f"{text}_{index:03d}{suffix}")


def texts(count: int, length: int = 3, charset: str = "0123") -> list[str]:
    rng = np.random.default_rng(1)
    return ["".join(rng.choice(list(charset), length)) for _ in range(count)]


def snapshot(folder: Path) -> dict:
    """Every entry's name, size and modification time: a folder that was only read keeps them."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.fixture
def folder_config(smoke_config, tmp_path):
    def make(folder: Path, *overrides: str) -> dict:
        return smoke_config(*FOLDER_SETTINGS, f"data.folder={folder}", *overrides)
    return make


def test_text_from_name_stops_at_the_extension_and_the_uniqueness_suffix():
    assert text_from_name("7xk2.png") == "7xk2"
    assert text_from_name("7xk2_0003.png") == "7xk2"
    assert text_from_name("7XK2-b.final.jpg") == "7XK2"
    assert text_from_name("ab.cd.png") == "ab.cd"


def test_a_folder_trains_with_inferred_charset_and_length(folder_config, tmp_path, capsys):
    folder = tmp_path / "imgs"
    make_images(folder, texts(40, charset="ab9"))
    (folder / "notes.txt").write_text("not an image")
    before = snapshot(folder)
    config = prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)
    assert (config["data"]["charset"], config["data"]["length"]) == ("9ab", 3)
    err = capsys.readouterr().err
    assert "skipped 1 entries that are not image files" in err and "notes.txt" in err
    assert "40 images, labels from file names" in err and "32 train, 8 held out" in err
    (train_images, train_indices), (test_images, _) = load_folder_sets(config, tmp_path / "cache")
    assert train_images.shape == (32, 16, 48) and test_images.shape == (8, 16, 48)
    assert train_indices.shape == (32, 3) and train_indices.max() <= 2
    assert snapshot(folder) == before  # Nothing written into the user's folder.


def test_labels_csv_beside_the_images_gives_the_texts(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, ["x"] * 30)
    rows = [f"{name},{text}" for name, text in zip(sorted(p.name for p in folder.iterdir()),
                                                   texts(30, length=2, charset="AB"), strict=True)]
    (folder / "labels.csv").write_text("file,text\n" + "\n".join(rows) + "\n")
    listing = list_folder(folder)
    assert listing.labels_from == "labels.csv" and listing.texts[0] == rows[0].split(",")[1]
    config = prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)
    assert (config["data"]["charset"], config["data"]["length"]) == ("AB", 2)


@pytest.mark.parametrize("make, fragments", [
    (lambda f: None, ["does not exist"]),
    (lambda f: f.write_text("x"), ["is not a folder"]),
    (lambda f: f.mkdir(), ["no image files"]),
    (lambda f: (f.mkdir(), (f / "a.txt").write_text("x")), ["no image files", "1 other entries"]),
])
def test_a_missing_or_empty_folder_is_refused(tmp_path, make, fragments):
    folder = tmp_path / "imgs"
    make(folder)
    with pytest.raises(FolderError) as error:
        list_folder(folder)
    assert all(fragment in str(error.value) for fragment in fragments)


def test_an_image_that_cannot_be_decoded_is_named(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, texts(30))
    (folder / "012_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(FolderError, match=r"012_bad.png: not a readable image.*; fix or move it"):
        prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)


def test_labels_of_mixed_lengths_name_each_length_and_a_file(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, ["012", "0123", "013", "01"])
    with pytest.raises(FolderError, match=r"labels of mixed lengths: 2 \(01_003.png\), 3 "
                                          r"\(012_000.png\), 4 \(0123_001.png\)"):
        prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)


def test_a_character_outside_a_given_charset_is_named_with_its_file(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, ["012", "0x2", "123"])
    with pytest.raises(FolderError, match=r"0x2_001.png: label '0x2' has 'x', not in "
                                          r"data.charset '0123456789'"):
        prepare_folder(folder_config(folder, "data.charset=0123456789"), tmp_path / "cache",
                       progress=False)
    with pytest.raises(FolderError, match=r"labels have 3 characters .* data.length is 4"):
        prepare_folder(folder_config(folder, "data.charset=0123x", "data.length=4"),
                       tmp_path / "cache", progress=False)


def test_fewer_images_than_held_out_plus_one_batch_are_refused(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, texts(23))  # 8 held out + a batch of 16 = 24.
    with pytest.raises(FolderError, match=r"23 images cannot give a held-out set \(data.test_size "
                                          r"8: 8\) and one training batch \(train.batch_size 16\)"):
        prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)


def test_one_image_under_two_labels_is_refused(folder_config, tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, texts(30))
    shutil.copy(folder / f"{texts(30)[0]}_000.png", folder / "333_copy.png")
    with pytest.raises(FolderError, match=r"333_copy.png .*same image with two labels"):
        prepare_folder(folder_config(folder), tmp_path / "cache", progress=False)


@pytest.mark.parametrize("content, fragment", [
    ("a.png,01\n", "lists 1 files that are not image files of the folder, e.g. a.png"),
    ("", "has no row for 2 of the 2 images"),
    ("0_0.png,01\n0_0.png,02\n", "0_0.png has two labels, '01' and '02'"),
    ("0_0.png\n", "row 1 '0_0.png': expected file,text"),
])
def test_a_bad_labels_csv_is_refused(tmp_path, content, fragment):
    folder = tmp_path / "imgs"
    make_images(folder, ["0", "1"])
    (folder / "labels.csv").write_text(content)
    with pytest.raises(FolderError) as error:
        list_folder(folder)
    assert fragment in str(error.value)


def test_bad_folders_fail_in_train_py_before_tensorflow_loads(tmp_path, run_main, monkeypatch):
    import train

    folder = tmp_path / "imgs"
    make_images(folder, ["012", "0123"])
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # Importing it now would fail.
    result = run_main(train.main, "--config", "smoke.yaml", *(f"--set={o}" for o in
                      (*FOLDER_SETTINGS, f"data.folder={folder}")),
                      "--run-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "cache"))
    assert result.returncode == 2 and result.stderr.count("error:") == 1
    assert "labels of mixed lengths" in result.stderr and not (tmp_path / "run").exists()


# Every format with the modes it stores (Pillow writes each of these); 16-bit gray as PNG.
FORMAT_MODES = [(".png", "PNG", mode) for mode in ("RGB", "RGBA", "L", "LA", "P", "I;16", "1")]
FORMAT_MODES += [(".jpg", "JPEG", mode) for mode in ("RGB", "L", "CMYK")]
FORMAT_MODES += [(".gif", "GIF", mode) for mode in ("P",)]
FORMAT_MODES += [(".bmp", "BMP", mode) for mode in ("RGB", "L", "P", "1")]
FORMAT_MODES += [(".webp", "WEBP", mode) for mode in ("RGB",)]


@pytest.mark.parametrize("suffix, image_format, mode", FORMAT_MODES)
def test_every_format_and_mode_reads_as_gray_at_the_config_size(tmp_path, suffix, image_format,
                                                                mode):
    image = Image.new("RGB", (90, 31), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 45, 31))  # Left half black, right half white, 90x31.
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
    else:
        converted = image.convert(mode)
    converted.save(tmp_path / f"a{suffix}", image_format)
    with Image.open(tmp_path / f"a{suffix}") as written:
        assert written.mode == mode
    gray = read_gray(tmp_path / f"a{suffix}", 48, 16)
    assert gray.shape == (16, 48) and gray.dtype == np.uint8
    assert gray[:, :20].mean() < 40 and gray[:, 28:].mean() > 215


def test_a_gif_is_read_from_its_first_frame(tmp_path):
    frames = [Image.new("L", (48, 16), 255), Image.new("L", (48, 16), 0)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert read_gray(tmp_path / "a.gif", 48, 16).min() == 255


def test_the_held_out_split_is_per_file_and_stable_when_files_are_added():
    digests = np.array([f"{i:064x}" for i in range(2000)])
    first = held_out_mask(digests[:1000], 0, 0, 0.1)
    grown = held_out_mask(digests, 0, 0, 0.1)
    assert (grown[:1000] == first).all() and 60 < first.sum() < 140
    assert held_out_mask(digests, 0, 150, 0.0).sum() == 150
    assert (held_out_mask(digests, 1, 0, 0.1) != grown).any()  # data.seed changes the split.


def test_the_folder_is_read_once_and_again_only_when_it_changes(folder_config, tmp_path,
                                                               monkeypatch):
    folder, cache = tmp_path / "imgs", tmp_path / "cache"
    make_images(folder, texts(30))
    config = folder_config(folder)
    prepare_folder(config, cache, progress=False)
    assert len(list(cache.glob("folder-*.npz"))) == 1

    def no_reading(*args):
        raise AssertionError("read the folder again")

    monkeypatch.setattr(folder_module, "read_gray", no_reading)
    folder_module._LOADED.clear()  # A new process: from the cache file, not this one's memory.
    prepare_folder(config, cache, progress=False)  # Unchanged: from the cache.
    make_images(folder, ["012"], seed=5)
    with pytest.raises(AssertionError, match="read the folder again"):
        prepare_folder(config, cache, progress=False)


def test_a_damaged_cache_entry_is_read_again(folder_config, tmp_path, capsys):
    folder, cache = tmp_path / "imgs", tmp_path / "cache"
    make_images(folder, texts(30))
    prepare_folder(folder_config(folder), cache, progress=False)
    entry = next(cache.glob("folder-*.npz"))
    entry.write_bytes(entry.read_bytes()[:-10])
    folder_module._LOADED.clear()  # A new process: this one holds the arrays it read.
    prepare_folder(folder_config(folder), cache, progress=False)
    assert "is damaged or incomplete; reading the folder again" in capsys.readouterr().err


def test_a_generator_config_refuses_folder_keys(smoke_config):
    with pytest.raises(UserError, match="data.folder: 'x' is read only with data.source folder"):
        smoke_config("data.folder=x")


def test_relabeling_uses_the_cached_images(folder_config, tmp_path, monkeypatch):
    folder, cache = tmp_path / "imgs", tmp_path / "cache"
    make_images(folder, texts(30))
    prepare_folder(folder_config(folder), cache, progress=False)
    names = sorted(p.name for p in folder.iterdir())
    (tmp_path / "labels.csv").write_text("".join(f"{name},ab\n" for name in names))
    (tmp_path / "labels.csv").rename(folder / "labels.csv")
    monkeypatch.setattr(folder_module, "read_gray", lambda *args: pytest.fail("read again"))
    folder_module._LOADED.clear()
    config = prepare_folder(folder_config(folder), cache, progress=False)
    assert (config["data"]["charset"], config["data"]["length"]) == ("ab", 2)
