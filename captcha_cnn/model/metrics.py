"""Accuracy per character and per whole captcha, from labels and raw outputs.

Both take the argmax within each character's block. Softmax does not change an argmax, so the
numbers mean the same thing whichever loss trained the model.
"""

from __future__ import annotations

import tensorflow as tf

from captcha_cnn.data.labels import char_blocks


def correct_characters(labels: tf.Tensor, outputs: tf.Tensor, length: int) -> tf.Tensor:
    """Boolean [batch, length]: is each character's predicted class its true class?"""
    true = tf.argmax(char_blocks(labels, length), axis=-1)
    predicted = tf.argmax(char_blocks(outputs, length), axis=-1)
    return tf.equal(true, predicted)


def per_char_accuracy(labels: tf.Tensor, outputs: tf.Tensor, length: int) -> tf.Tensor:
    """Fraction of characters read correctly (chance: 1 / len(charset))."""
    return tf.reduce_mean(tf.cast(correct_characters(labels, outputs, length), tf.float32))


def whole_accuracy(labels: tf.Tensor, outputs: tf.Tensor, length: int) -> tf.Tensor:
    """Fraction of captchas with every character right (chance: 1 / len(charset) ** length)."""
    all_right = tf.reduce_all(correct_characters(labels, outputs, length), axis=-1)
    return tf.reduce_mean(tf.cast(all_right, tf.float32))
