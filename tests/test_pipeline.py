"""The tf.data pipeline (captcha_cnn.data.pipeline): model inputs equal the codec's directly and
inside Dataset.map, every epoch visits each sample once in a seeded order, and a stream restarted
at step k continues the uninterrupted one."""

import numpy as np
import tensorflow as tf

from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.data.pipeline import evaluation_batches, to_model_inputs, training_batches

CODEC = LabelCodec("0123456789", 4)


def tiny_set(size=10):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(size, 16, 24), dtype=np.uint8)
    indices = rng.integers(0, 10, size=(size, 4)).astype(np.uint8)
    return images, indices


def test_model_inputs_match_the_codec_directly_and_inside_dataset_map():
    images, indices = tiny_set()
    pixels, labels = to_model_inputs(tf.constant(images), tf.constant(indices), CODEC)
    expected = CODEC.indices_to_multi_hot(indices)
    assert pixels.shape == (10, 16, 24, 1) and float(tf.reduce_max(pixels)) <= 1.0
    assert np.array_equal(labels.numpy(), expected)
    mapped = next(iter(evaluation_batches(images, indices, CODEC, batch_size=10)))
    assert np.array_equal(mapped[0].numpy(), pixels.numpy())
    assert np.array_equal(mapped[1].numpy(), expected)


def batch_labels(dataset, count):
    iterator = iter(dataset)
    return [next(iterator)[1].numpy() for _ in range(count)]


def test_each_epoch_visits_every_sample_once_in_a_seeded_order():
    images, indices = tiny_set()
    dataset = training_batches(images, indices, CODEC, batch_size=5, seed=3)
    first_epoch = np.concatenate(batch_labels(dataset, 2))
    rows = {tuple(row) for row in first_epoch}
    assert len(rows) == len({tuple(r) for r in CODEC.indices_to_multi_hot(indices)})
    again = np.concatenate(batch_labels(training_batches(images, indices, CODEC, 5, seed=3), 2))
    other = np.concatenate(batch_labels(training_batches(images, indices, CODEC, 5, seed=4), 2))
    assert np.array_equal(first_epoch, again)
    assert not np.array_equal(first_epoch, other)


def test_a_stream_started_at_step_k_continues_the_uninterrupted_stream():
    images, indices = tiny_set()
    full = batch_labels(training_batches(images, indices, CODEC, 4, seed=1), 9)
    for start in (1, 2, 5):  # Batches that straddle epoch boundaries included (10 % 4 != 0).
        resumed = batch_labels(training_batches(images, indices, CODEC, 4, 1, start), 9 - start)
        for step, labels in enumerate(resumed, start=start):
            assert np.array_equal(labels, full[step])


def test_the_input_pipelines_do_not_autotune():
    """tf.data's tuning thread sleeps up to 60 s between rounds and a dying iterator waited for
    it: a long run stopped by Ctrl-C sat 51 to 56 s after its "stopped" line before exiting."""
    images, indices = np.zeros((8, 6, 16), np.uint8), np.zeros((8, 4), np.uint8)
    for dataset in (training_batches(images, indices, CODEC, 4, seed=0),
                    evaluation_batches(images, indices, CODEC, batch_size=4)):
        assert dataset.options().autotune.enabled is False
