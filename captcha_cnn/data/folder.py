"""A folder of labeled images as the training and held-out sets (`data.source: folder`).

The folder is read once: every image decoded, made gray and resized to the config's width x
height, into a checksummed cache entry under data/ named by what the folder's image files are
(each one's name, size and modification time). A file added, removed or edited makes a new entry;
an unchanged folder is never decoded again, and a relabeled one (labels.csv) is not either: the
labels are read from the names or labels.csv every time, which takes milliseconds.

The held-out set is decided per file, by a hash of the file's bytes and `data.seed`: a file keeps
its side when others are added (with `data.test_fraction`), and two copies of one image always
land on the same side.

`prepare_folder` runs before TensorFlow loads, so every problem with the folder is a one-line
error in a second or two; the training loop then loads the cache entry it made.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.data.captchas import DEFAULT_DATA_DIR, sha256_file
from captcha_cnn.data.folder_labels import FolderError, FolderListing, list_folder, resolve_labels
from captcha_cnn.data.images import read_gray_image
from captcha_cnn.data.labels import LabelCodec

# The entry this process loaded last (its path names its content): train.py checks the folder
# before TensorFlow loads and the training loop then takes the same arrays, not a second read.
_LOADED: dict = {}
# Bump when reading changes (decoding, gray, resizing), so that old cache entries are not reused.
READER_VERSION = 2  # 2: the one image reader (data/images.py), 16-bit gray by its high byte.


def read_gray(path: Path, width: int, height: int) -> np.ndarray:
    """An image file of the folder as training gray, resized to width x height
    (captcha_cnn.data.images, the one reader); a file that cannot be read is named."""
    try:
        return read_gray_image(path, width, height, resize=True)
    except UserError as error:
        raise FolderError(f"{error}; fix or move it out of the folder") from None


def fingerprint(listing: FolderListing, width: int, height: int) -> str:
    """The folder's image files as a digest: their names, sizes and modification times."""
    entries = []
    for name in listing.names:
        status = (listing.folder / name).stat()
        entries.append((name, status.st_size, status.st_mtime_ns))
    identity = {"reader": READER_VERSION, "size": [width, height], "files": entries}
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def _cache_paths(listing: FolderListing, width: int, height: int,
                 data_dir: Path) -> tuple[Path, Path]:
    key = fingerprint(listing, width, height)[:16]
    npz_path = Path(data_dir) / f"folder-{width}x{height}-n{len(listing.names)}-{key}.npz"
    return npz_path, npz_path.with_suffix(".json")


def _cached(npz_path: Path, meta_path: Path, listing: FolderListing):
    """The cached images and file digests if the entry is whole and matches, else None."""
    if not (npz_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_bytes())
        if meta.get("bytes") == npz_path.stat().st_size and meta.get("sha256") == \
                sha256_file(npz_path):
            with np.load(npz_path, allow_pickle=False) as arrays:
                images, digests, names = arrays["images"], arrays["digests"], arrays["names"]
            if tuple(names.tolist()) == listing.names:
                return images, digests
    except (OSError, ValueError, KeyError):
        pass
    print(f"warning: cached folder {npz_path} is damaged or incomplete; reading the folder again",
          file=sys.stderr)
    return None


def read_folder(listing: FolderListing, width: int, height: int,
                progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every image as gray uint8 [n, height, width], and each file's SHA-256 (hex)."""
    images = np.empty((len(listing.names), height, width), dtype=np.uint8)
    digests = []
    for index, name in enumerate(tqdm(listing.names, desc=f"reading {listing.folder}",
                                      unit="img", disable=not progress, file=sys.stderr,
                                      mininterval=0.5 if sys.stderr.isatty() else 10)):
        path = listing.folder / name
        images[index] = read_gray(path, width, height)
        digests.append(sha256_file(path))
    return images, np.array(digests)


def load_folder_images(listing: FolderListing, width: int, height: int, data_dir: Path,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The folder's images and file digests: from the cache, or read and cached."""
    npz_path, meta_path = _cache_paths(listing, width, height, data_dir)
    if _LOADED.get("path") == npz_path.resolve():  # train.py checked it; the loop loads it.
        return _LOADED["arrays"]
    cached = _cached(npz_path, meta_path, listing)
    if cached is not None:
        _LOADED.update(path=npz_path.resolve(), arrays=cached)
        return cached
    started = time.perf_counter()
    images, digests = read_folder(listing, width, height, progress)
    seconds = time.perf_counter() - started
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, digests=digests, names=np.array(listing.names))
    write_atomically(npz_path, buffer.getvalue())
    meta = {"folder": str(listing.folder.resolve()), "images": len(images),
            "reader": READER_VERSION, "bytes": npz_path.stat().st_size,
            "sha256": sha256_file(npz_path), "reading_seconds": round(seconds, 2)}
    write_atomically(meta_path, json.dumps(meta, indent=2).encode())
    _LOADED.update(path=npz_path.resolve(), arrays=(images, digests))
    return images, digests


def check_one_label_per_image(listing: FolderListing, digests: np.ndarray) -> None:
    """Two files with the same bytes under two labels: one of them is wrong."""
    first: dict[str, int] = {}
    for index, digest in enumerate(digests.tolist()):
        other = first.setdefault(digest, index)
        if listing.texts[other] != listing.texts[index]:
            raise FolderError(f"{listing.folder}: {listing.names[other]} and "
                              f"{listing.names[index]} are the same image with two labels, "
                              f"{listing.texts[other]!r} and {listing.texts[index]!r}; "
                              f"remove the wrong one")


def held_out_mask(digests: np.ndarray, seed: int, test_size: int,
                  test_fraction: float) -> np.ndarray:
    """Which files are held out: each file's place in [0, 1) is a hash of its bytes and the seed;
    a fraction holds out the files below it (a file's side never changes as files are added), a
    count the `test_size` lowest (ties, as copies of one image, all on one side)."""
    places = np.array([int(hashlib.sha256(f"{seed}/{digest}".encode()).hexdigest()[:15], 16)
                       / 16**15 for digest in digests.tolist()])
    if test_fraction:
        return places < test_fraction
    if test_size >= len(places):
        return np.ones(len(places), dtype=bool)
    return places <= np.sort(places)[test_size - 1]


def split(config: dict, listing: FolderListing, images: np.ndarray,
          digests: np.ndarray) -> tuple[tuple, tuple]:
    """(images, indices) for training and for the held-out set, refusing sets too small to use."""
    data = config["data"]
    held = held_out_mask(digests, data["seed"], data["test_size"], data["test_fraction"])
    batch, total = config["train"]["batch_size"], len(images)
    if held.sum() < 1 or total - held.sum() < batch:
        asked = (f"data.test_fraction {data['test_fraction']}" if data["test_fraction"]
                 else f"data.test_size {data['test_size']}")
        raise FolderError(f"{listing.folder}: {total} images cannot give a held-out set "
                          f"({asked}: {int(held.sum())}) and one training batch "
                          f"(train.batch_size {batch}); add images or lower them")
    codec = LabelCodec.from_config(config)
    indices = np.stack([codec.to_indices(text) for text in listing.texts])
    return (images[~held], indices[~held]), (images[held], indices[held])


def resolve_folder_config(config: dict) -> tuple[dict, FolderListing]:
    """The config with the folder's charset and length in it (its labels checked), and the
    folder's listing; no image is decoded."""
    data = config["data"]
    listing = list_folder(Path(data["folder"]))
    charset, length = resolve_labels(listing, data)
    return {**config, "data": {**data, "charset": charset, "length": length}}, listing


def _folder_sets(config: dict, data_dir: Path | None, progress: bool):
    """The resolved config, the listing, and the training and held-out sets, every check done."""
    config, listing = resolve_folder_config(config)
    data = config["data"]
    images, digests = load_folder_images(listing, data["width"], data["height"],
                                         data_dir or DEFAULT_DATA_DIR, progress)
    check_one_label_per_image(listing, digests)
    return (config, listing, *split(config, listing, images, digests))


def prepare_folder(config: dict, data_dir: Path | None = None, progress: bool = True) -> dict:
    """The config with the folder's charset and length in it, every check done, the folder read
    into the cache: called before TensorFlow loads. Says what it found in one line."""
    config, listing, train_set, test_set = _folder_sets(config, data_dir, progress)
    if listing.skipped:
        print(listing.skipped_note(), file=sys.stderr)
    data = config["data"]
    print(f"{listing.folder}: {len(listing.names)} images, labels from {listing.labels_from}: "
          f"charset {data['charset']!r}, length {data['length']}; {len(train_set[0])} train, "
          f"{len(test_set[0])} held out", file=sys.stderr)
    return config


def load_folder_sets(config: dict, data_dir: Path | None = None,
                     progress: bool = True) -> tuple[tuple, tuple]:
    """Training and held-out (images, indices) of a folder config, every check done."""
    return _folder_sets(config, data_dir, progress)[2:]
