"""Feeding the model with tf.data: seeded shuffling, batching, encoding and prefetch.

The order of training samples is a pure function of (seed, step): epoch e visits the set in the
order `stateless_shuffle(range(n), seed=[seed, e])`, and step s takes positions
s * batch_size ... (s + 1) * batch_size of the concatenated epochs. A run resumed at step s
therefore sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from captcha_cnn.labels import LabelCodec


def to_model_inputs(images: tf.Tensor, indices: tf.Tensor, codec: LabelCodec):
    """uint8 images [batch, h, w] and indices [batch, length] -> float images in [0, 1] with a
    channel axis, and multi-hot labels [batch, length * classes] (the same as `codec.encode`)."""
    pixels = tf.cast(images, tf.float32)[..., None] / 255.0
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

    return (tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max)
            .flat_map(epoch_order)
            .skip(skip)
            .batch(batch_size, drop_remainder=True)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def evaluation_batches(images: np.ndarray, indices: np.ndarray, codec: LabelCodec,
                       batch_size: int) -> tf.data.Dataset:
    """The whole set once, in order."""
    return (tf.data.Dataset.from_tensor_slices((images, indices))
            .batch(batch_size)
            .map(lambda x, y: to_model_inputs(x, y, codec))
            .prefetch(tf.data.AUTOTUNE))
