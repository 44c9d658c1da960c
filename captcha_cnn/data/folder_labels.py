"""A folder of labeled captcha images: which files are images, and the text each one shows.

Labels come from `labels.csv` beside the images when it is there (rows `file,text`, an optional
`file,text` header), otherwise from each file's name: the text before the extension and before
the first `_` or `-`, which peers use to make names unique (`7xk2_0003.png`, `7xk2-b.jpg`).
Files that are not images by their extension (`.txt`, hidden files, folders) are skipped and
counted; nothing is ever written into the folder. Every problem is a one-line FolderError.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.source_rules import INFER_CHARSET, INFER_LENGTH

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
LABELS_FILE = "labels.csv"
# The end of the text in a file name: a `_` or `-` starts the suffix that makes names unique.
NAME_SUFFIX = re.compile(r"[_-]")


class FolderError(UserError):
    """A problem with a folder of images (its files or its labels), in one line."""


@dataclass(frozen=True)
class FolderListing:
    """The image files of a folder (sorted names) with their texts, and what was left out."""

    folder: Path
    names: tuple[str, ...]
    texts: tuple[str, ...]
    labels_from: str  # "file names" or "labels.csv"
    skipped: tuple[str, ...]  # Entries that are not image files (by extension), skipped.

    def skipped_note(self) -> str:
        """One line on what was skipped, or "" when nothing was."""
        if not self.skipped:
            return ""
        shown = ", ".join(self.skipped[:3]) + (", ..." if len(self.skipped) > 3 else "")
        return (f"note: {self.folder}: skipped {len(self.skipped)} entries that are not image "
                f"files ({', '.join(IMAGE_SUFFIXES)}): {shown}")


def text_from_name(name: str) -> str:
    """`7xk2_0003.png` -> `7xk2`: the name before its extension and before a `_` or `-`."""
    return NAME_SUFFIX.split(Path(name).stem, maxsplit=1)[0]


def list_folder(folder: Path) -> FolderListing:
    """The folder's image files and their labels; refuses a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FolderError(f"data.folder {folder}: {what}")
    names, skipped = [], []
    with os.scandir(folder) as entries:  # Its is_file() rarely needs a stat: 12,000 files fast.
        for entry in sorted(entries, key=lambda entry: entry.name):
            if entry.name == LABELS_FILE:
                continue
            image = (Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
                     and not entry.name.startswith("."))
            (names if image and entry.is_file() else skipped).append(entry.name)
    if not names:
        raise FolderError(f"data.folder {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})"
                          f"{f'; {len(skipped)} other entries' if skipped else ''}")
    labels_path = folder / LABELS_FILE
    if labels_path.is_file():
        texts = _texts_from_csv(labels_path, names)
        labels_from = LABELS_FILE
    else:
        texts = [text_from_name(name) for name in names]
        labels_from = "file names"
        empty = [name for name, text in zip(names, texts, strict=True) if not text]
        if empty:
            raise FolderError(f"{folder / empty[0]}: its name gives an empty label (the text "
                              f"comes before the first '_' or '-'); rename it or add "
                              f"{LABELS_FILE}")
    return FolderListing(folder, tuple(names), tuple(texts), labels_from, tuple(skipped))


def _texts_from_csv(path: Path, names: list[str]) -> list[str]:
    """Each image's text from `labels.csv`; every image listed once, every row an image."""
    try:
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    except UnicodeDecodeError:
        raise FolderError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    if rows and [cell.strip().lower() for cell in rows[0]] == ["file", "text"]:
        rows = rows[1:]
    labels: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != 2 or not row[1]:
            raise FolderError(f"{path}: row {number} {','.join(row)!r}: expected file,text")
        name, text = row
        if name in labels and labels[name] != text:
            raise FolderError(f"{path}: {name} has two labels, {labels[name]!r} and {text!r}")
        labels[name] = text
    missing = [name for name in labels if name not in names]
    if missing:
        raise FolderError(f"{path}: lists {len(missing)} files that are not image files of the "
                          f"folder, e.g. {missing[0]}")
    unlabeled = [name for name in names if name not in labels]
    if unlabeled:
        raise FolderError(f"{path}: has no row for {len(unlabeled)} of the {len(names)} images, "
                          f"e.g. {unlabeled[0]}; add them or move them out of the folder")
    return [labels[name] for name in names]


def resolve_labels(listing: FolderListing, data: dict) -> tuple[str, int]:
    """The charset and length: inferred from the labels ("" and 0 in the config), or the
    config's, checked against every label."""
    by_length: dict[int, str] = {}
    for name, text in zip(listing.names, listing.texts, strict=True):
        by_length.setdefault(len(text), name)
    if len(by_length) > 1:
        lengths = ", ".join(f"{length} ({by_length[length]})" for length in sorted(by_length))
        raise FolderError(f"{listing.folder}: labels of mixed lengths: {lengths}; this project "
                          f"reads a fixed number of characters per captcha")
    found = next(iter(by_length))
    length = found if data["length"] == INFER_LENGTH else data["length"]
    if length != found:
        raise FolderError(f"{listing.folder}: labels have {found} characters ("
                          f"{listing.names[0]}), data.length is {length} (0 infers it)")
    used = sorted(set("".join(listing.texts)))
    if data["charset"] == INFER_CHARSET:
        if len(used) < 2:
            raise FolderError(f"{listing.folder}: every label uses only {''.join(used)!r}; a "
                              f"charset needs 2 characters or more")
        return "".join(used), length
    for name, text in zip(listing.names, listing.texts, strict=True):
        outside = "".join(sorted({char for char in text if char not in data["charset"]}))
        if outside:
            raise FolderError(f"{listing.folder / name}: label {text!r} has {outside!r}, not "
                              f"in data.charset {data['charset']!r} (\"\" infers the charset)")
    return data["charset"], length
