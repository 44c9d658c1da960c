"""Captcha images: deterministic rendering, parallel generation and the on-disk cache.

`captcha` 0.7.1 draws its randomness from the `secrets` module, which cannot be seeded. To make a
sample a pure function of (dataset seed, split, index), each sample is rendered with the module's
`secrets` temporarily replaced by a seeded `random.Random`. Because every sample carries its own
seed, the result does not depend on how the work is split between processes, and a set of N
samples is the first N samples of any larger set with the same spec.

This module does not import TensorFlow: generator processes start quickly.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from multiprocessing import resource_tracker
from pathlib import Path

import numpy as np
from captcha import image as captcha_image
from tqdm import tqdm

from captcha_cnn.core.config import REPO_ROOT
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.signals import ignore_stop_signals, stop_signals_held
from captcha_cnn.data.images import to_training_gray as to_gray  # The one image-to-gray rule.
from captcha_cnn.data.labels import LabelCodec

# Bump when rendering changes, so that old cache entries are not reused.
GENERATOR_VERSION = 1
# The captcha releases whose drawing this module can seed (pyproject.toml says the same).
SUPPORTED_CAPTCHA = ">=0.7.1,<0.8"
DEFAULT_DATA_DIR = REPO_ROOT / "data"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that shapes a generated set; its hash names the cache entry."""

    charset: str
    length: int
    width: int
    height: int
    size: int
    seed: int
    split: str

    @classmethod
    def from_config(cls, config: dict, split: str) -> DatasetSpec:
        data = config["data"]
        return cls(data["charset"], data["length"], data["width"], data["height"],
                   data[f"{split}_size"], data["seed"], split)

    def cache_key(self) -> str:
        identity = dict(asdict(self), generator=GENERATOR_VERSION, captcha=version("captcha"))
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.split}-{self.length}x{len(self.charset)}-{self.width}x{self.height}" \
               f"-n{self.size}-{digest[:12]}"


def _unsupported_captcha(problem: str) -> UserError:
    """The error for an installed captcha release whose drawing cannot be seeded here."""
    return UserError(f"captcha {version('captcha')} {problem}: "
                     f"pip install 'captcha{SUPPORTED_CAPTCHA}'")


class _SeededSecrets:
    """The three `secrets` functions `captcha.image` calls, drawn from a seeded generator."""

    def __init__(self, rng: random.Random):
        self._rng = rng

    def __getattr__(self, name: str):
        # A captcha release that calls another `secrets` function would draw unseeded numbers:
        # a clear error, not an AttributeError from inside the library.
        raise _unsupported_captcha(f"calls secrets.{name}, which captcha_cnn does not seed")

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    def choice(self, seq):
        return self._rng.choice(seq)


@contextlib.contextmanager
def _seeded_captcha(rng: random.Random):
    if not hasattr(captcha_image, "secrets"):
        # captcha 0.7.0 and older draw from `random`: there is nothing of theirs to seed here.
        raise _unsupported_captcha("is not supported (captcha_cnn seeds the `secrets` calls "
                                   "of 0.7.1)")
    original = captcha_image.secrets
    captcha_image.secrets = _SeededSecrets(rng)
    try:
        yield
    finally:
        captcha_image.secrets = original


def sample_rng(seed: int, split: str, index: int) -> random.Random:
    """The generator of one sample. String seeds hash with SHA-512: stable across processes."""
    return random.Random(f"captcha_cnn/{seed}/{split}/{index}")


def render_sample(spec: DatasetSpec, index: int, generator=None) -> tuple[str, np.ndarray]:
    """Text and gray image of sample `index` of the set `spec`."""
    rng = sample_rng(spec.seed, spec.split, index)
    text = "".join(rng.choice(spec.charset) for _ in range(spec.length))
    generator = generator or captcha_image.ImageCaptcha(width=spec.width, height=spec.height)
    with _seeded_captcha(rng):
        image = generator.generate_image(text)
    return text, to_gray(image)


def _render_range(args: tuple[DatasetSpec, int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    spec, start, stop = args
    codec = LabelCodec(spec.charset, spec.length)
    generator = captcha_image.ImageCaptcha(width=spec.width, height=spec.height)
    images = np.empty((stop - start, spec.height, spec.width), dtype=np.uint8)
    indices = np.empty((stop - start, spec.length), dtype=codec.index_dtype)
    for offset, index in enumerate(range(start, stop)):
        text, images[offset] = render_sample(spec, index, generator)
        indices[offset] = codec.to_indices(text)
    return start, images, indices


def _start_workers(stack: contextlib.ExitStack, workers: int) -> multiprocessing.pool.Pool:
    """A pool of `workers` generator processes, ended by `stack`. A stop (Ctrl-C to the whole
    process group, SIGTERM to this one) that comes while they start is delivered once they have
    started, and then ends them; each worker ignores Ctrl-C and leaves the stop to this process."""
    # The pool's first lock starts multiprocessing's resource tracker, and starting it unblocks
    # SIGINT and SIGTERM in this thread again: the workers would then inherit them unblocked, and
    # a Ctrl-C reaching one before its initializer runs printed a KeyboardInterrupt traceback.
    resource_tracker.ensure_running()
    with stop_signals_held():
        # spawn, not fork: the parent may already run TensorFlow threads, which fork copies badly.
        return stack.enter_context(
            multiprocessing.get_context("spawn").Pool(workers, ignore_stop_signals))


def generate(spec: DatasetSpec, workers: int | None = None,
             progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Render the set: images uint8 [size, height, width] and character indices [size, length]."""
    workers = workers or os.cpu_count() or 1
    chunk = max(1, min(500, -(-spec.size // (workers * 4))))
    jobs = [(spec, start, min(start + chunk, spec.size)) for start in range(0, spec.size, chunk)]
    codec = LabelCodec(spec.charset, spec.length)
    images = np.empty((spec.size, spec.height, spec.width), dtype=np.uint8)
    indices = np.empty((spec.size, spec.length), dtype=codec.index_dtype)
    bar = tqdm(total=spec.size, desc=f"generating {spec.split} captchas", unit="img",
               disable=not progress, file=sys.stderr, mininterval=0.5 if sys.stderr.isatty() else 10)
    with bar, contextlib.ExitStack() as stack:
        if workers == 1 or len(jobs) == 1:
            results = map(_render_range, jobs)
        else:
            results = _start_workers(stack, workers).imap_unordered(_render_range, jobs)
        for start, chunk_images, chunk_indices in results:
            images[start:start + len(chunk_images)] = chunk_images
            indices[start:start + len(chunk_indices)] = chunk_indices
            bar.update(len(chunk_images))
    return images, indices


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_verified(npz_path: Path, meta_path: Path, spec: DatasetSpec):
    """The cached arrays if both files exist and match their recorded size and checksum, else None."""
    if not (npz_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        intact = (isinstance(meta, dict) and meta.get("bytes") == npz_path.stat().st_size
                  and meta.get("sha256") == sha256_file(npz_path))
        if intact:
            with np.load(npz_path, allow_pickle=False) as arrays:
                images, indices = arrays["images"], arrays["indices"]
            if (images.shape == (spec.size, spec.height, spec.width) and images.dtype == np.uint8
                    and indices.shape == (spec.size, spec.length)
                    and np.issubdtype(indices.dtype, np.integer)
                    and (indices.size == 0 or 0 <= indices.min() <= indices.max()
                         < len(spec.charset))):
                return images, indices
    except (OSError, ValueError, KeyError):  # (UnicodeDecodeError and JSON errors included.)
        pass
    print(f"warning: cached dataset {npz_path} is damaged or incomplete; regenerating it",
          file=sys.stderr)
    return None


def load_or_generate(spec: DatasetSpec, data_dir: Path = DEFAULT_DATA_DIR,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The set for `spec`, from the cache under `data_dir` when intact, otherwise generated and cached."""
    data_dir = Path(data_dir)
    npz_path = data_dir / f"{spec.cache_key()}.npz"
    meta_path = npz_path.with_suffix(".json")
    cached = _load_verified(npz_path, meta_path, spec)
    if cached is not None:
        return cached
    started = time.perf_counter()
    images, indices = generate(spec, progress=progress)
    seconds = time.perf_counter() - started
    data_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, indices=indices)
    write_atomically(npz_path, buffer.getvalue())
    meta = dict(asdict(spec), generator=GENERATOR_VERSION, captcha=version("captcha"),
                bytes=npz_path.stat().st_size, sha256=sha256_file(npz_path),
                generation_seconds=round(seconds, 2))
    write_atomically(meta_path, json.dumps(meta, indent=2).encode())
    return images, indices
