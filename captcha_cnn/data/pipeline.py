"""Feeding the model with tf.data: seeded shuffling, batching, encoding and prefetch.

The order of training samples is a pure function of (seed, step): epoch e visits the set in the
order `stateless_shuffle(range(n), seed=[seed, e])`, and step s takes positions
s * batch_size ... (s + 1) * batch_size of the concatenated epochs. A run resumed at step s
therefore sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.data.pixels import scale_gray

# Batches prepared ahead of the step that takes them. Gathering and encoding a batch takes
# milliseconds against a training step of a tenth of a second or more, so a fixed small buffer
# keeps the model fed without tf.data's autotuning (see `_without_autotuning`).
PREFETCHED_BATCHES = 2


def _without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The dataset with tf.data's autotuning off. Its tuning thread sleeps up to 60 s between
    rounds, and an iterator's destructor waited for it: a stopped or finished run could sit for
    most of a minute after its last line before the process ended."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def to_model_inputs(images: tf.Tensor, indices: tf.Tensor, codec: LabelCodec):
    """uint8 images [batch, h, w] and indices [batch, length] -> float images in [0, 1] with a
    channel axis, and multi-hot labels [batch, length * classes] (the same as `codec.encode`)."""
    pixels = scale_gray(tf.cast(images, tf.float32)[..., None])
    one_hot = tf.one_hot(tf.cast(indices, tf.int32), codec.num_classes, dtype=tf.float32)
    return pixels, tf.reshape(one_hot, [-1, codec.width])


def training_batches(images: np.ndarray, indices: np.ndarray, codec: LabelCodec,
                     batch_size: int, seed: int, start_step: int = 0) -> tf.data.Dataset:
    """An endless stream of training batches, starting at `start_step`."""
    size = len(images)
    images_tensor, indices_tensor = tf.constant(images), tf.constant(indices)
    start_epoch, skip = divmod(start_step * batch_size, size)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(size, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order)

    def gather(batch_positions):
        return to_model_inputs(tf.gather(images_tensor, batch_positions),
                               tf.gather(indices_tensor, batch_positions), codec)

    batches = (tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max)
               .flat_map(epoch_order)
               .skip(skip)
               .batch(batch_size, drop_remainder=True)
               .map(gather)
               .prefetch(PREFETCHED_BATCHES))
    return _without_autotuning(batches)


def evaluation_batches(images: np.ndarray, indices: np.ndarray, codec: LabelCodec,
                       batch_size: int) -> tf.data.Dataset:
    """The whole set once, in order."""
    batches = (tf.data.Dataset.from_tensor_slices((images, indices))
               .batch(batch_size)
               .map(lambda x, y: to_model_inputs(x, y, codec))
               .prefetch(PREFETCHED_BATCHES))
    return _without_autotuning(batches)
