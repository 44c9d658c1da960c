"""The label layout, in one place: text <-> character indices <-> multi-hot vectors.

A captcha of `length` characters over `charset` is labelled by a vector of `length * len(charset)`
numbers: `length` blocks, each one-hot over the charset (4 digits give 40 numbers, 4 ones).
Training, evaluation and prediction all encode and decode through `LabelCodec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def char_blocks(values, length: int):
    """[..., length * classes] -> [..., length, classes]: one block per character. For NumPy
    arrays and for TensorFlow tensors (in a tf.function too): labels, logits and probabilities are
    split into characters here and nowhere else."""
    if isinstance(values, np.ndarray):
        return values.reshape(*values.shape[:-1], length, values.shape[-1] // length)
    import tensorflow as tf  # Only for tensors: generation and configs need no TensorFlow.

    return tf.reshape(values, [-1, length, values.shape[-1] // length])


@dataclass(frozen=True)
class LabelCodec:
    """Encodes captcha text as multi-hot vectors and decodes vectors or logits back to text."""

    charset: str
    length: int

    @classmethod
    def from_config(cls, config: dict) -> LabelCodec:
        return cls(config["data"]["charset"], config["data"]["length"])

    @property
    def num_classes(self) -> int:
        """Classes per character (the size of one block)."""
        return len(self.charset)

    @property
    def width(self) -> int:
        """Width of the whole label vector."""
        return self.length * self.num_classes

    def to_indices(self, text: str) -> np.ndarray:
        """Character indices of `text`, shape [length], dtype uint8 when the charset allows."""
        if len(text) != self.length:
            raise ValueError(f"{text!r} has {len(text)} characters, expected {self.length}")
        unknown = sorted({c for c in text if c not in self.charset})
        if unknown:
            raise ValueError(f"{text!r} has characters not in the charset "
                             f"{self.charset!r}: {''.join(unknown)!r}")
        return np.array([self.charset.index(c) for c in text], dtype=self.index_dtype)

    @property
    def index_dtype(self) -> type:
        return np.uint8 if self.num_classes <= 256 else np.int32

    def encode(self, text: str) -> np.ndarray:
        """The multi-hot label of `text`, shape [length * len(charset)], float32."""
        return self.indices_to_multi_hot(self.to_indices(text)[None])[0]

    def indices_to_multi_hot(self, indices: np.ndarray) -> np.ndarray:
        """[batch, length] character indices -> [batch, length * len(charset)] multi-hot."""
        one_hot = np.eye(self.num_classes, dtype=np.float32)[np.asarray(indices, dtype=np.int64)]
        return one_hot.reshape(len(indices), self.width)

    def argmax_indices(self, vectors: np.ndarray) -> np.ndarray:
        """Per-character argmax of labels, probabilities or logits: [..., width] -> [..., length]."""
        vectors = np.asarray(vectors)
        if vectors.shape[-1] != self.width:
            raise ValueError(f"expected vectors of width {self.width} "
                             f"({self.length} x {self.num_classes}), got shape {vectors.shape}")
        return char_blocks(vectors, self.length).argmax(axis=-1)

    def decode(self, vector: np.ndarray) -> str:
        """Text of one label vector (multi-hot, probabilities or raw logits)."""
        return self.indices_to_text(self.argmax_indices(vector))

    def indices_to_text(self, indices: np.ndarray) -> str:
        return "".join(self.charset[i] for i in np.asarray(indices).ravel())
