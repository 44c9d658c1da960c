import numpy as np
import tensorflow as tf

from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.data.pipeline import evaluation_batches, to_model_inputs, training_batches
from captcha_cnn.model.levels import chance_levels
from captcha_cnn.model.metrics import per_char_accuracy, whole_accuracy
from captcha_cnn.model.networks import build_fast, build_model

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


def test_model_outputs_raw_logits_shaped_by_the_config(smoke_config):
    model = build_model(smoke_config())
    outputs = model(np.random.default_rng(0).random((3, 16, 48, 1)), training=False).numpy()
    assert outputs.shape == (3, 40)
    assert not any(type(layer).__name__ == "Softmax" for layer in model.layers)
    assert model.layers[-1].get_config()["activation"] == "linear"
    hex_model = build_model(smoke_config("data.length=5", "data.charset=0123456789ABCDEF"))
    assert hex_model.output_shape == (None, 80)


def test_classic_model_has_the_tutorial_shape(smoke_config):
    model = build_model(smoke_config("data.width=160", "data.height=60", "model.dense_units=1024"))
    # conv 320 + 18,496 + 36,928; dense 8*20*64*1024 + 1024; logits 1024*40 + 40.
    assert model.count_params() == 10_583_528
    assert model.get_layer("flatten").output.shape[-1] == 8 * 20 * 64


def test_fast_and_peer_models_have_their_documented_shapes(smoke_config):
    full = ("data.width=160", "data.height=60")
    fast = build_model(smoke_config("model.name=fast", *full))
    # Input pooling, then 4 poolings: 60x160 -> 30x80 -> 1x5; conv 288 + 18,432 + 73,728 +
    # 147,456 (no biases); batch norm 4 numbers per channel (scale, offset, moving mean and
    # variance); logits 1 * 5 * 128 * 40 + 40.
    assert fast.get_layer("downsample").output.shape[1:3] == (30, 80)
    assert fast.get_layer("flatten").output.shape[-1] == 1 * 5 * 128
    assert fast.count_params() == 266_952
    # Without its input pooling (the benchmark's comparison): 60x160 -> 3x10 after 4 poolings.
    full_size = build_fast(60, 160, 40, downsample=False)
    assert full_size.get_layer("flatten").output.shape[-1] == 3 * 10 * 128
    assert full_size.count_params() == 394_952
    peer = build_model(smoke_config("model.name=peer", *full))
    # 5 poolings: 60x160 -> 1x5, 256 filters; ten conv-BN-ReLU layers, the convs with biases.
    assert peer.get_layer("flatten").output.shape[-1] == 1 * 5 * 256
    assert sum(type(layer).__name__ == "Conv2D" for layer in peer.layers) == 10
    assert sum(type(layer).__name__ == "BatchNormalization" for layer in peer.layers) == 10
    assert peer.count_params() == 2_407_496 + 2 * (32 + 64 + 128 + 256 + 256)
    for model in (fast, peer):
        assert model.output_shape == (None, 40)
        assert model.layers[-1].get_config()["activation"] == "linear"


def test_tutorial_initialisation_has_the_tutorial_scale(smoke_config):
    model = build_model(smoke_config("model.init=tutorial", "model.dense_units=1024"))
    kernel, bias = model.get_layer("dense").get_weights()
    assert abs(kernel.std() - 0.01) < 0.001 and abs(bias.std() - 0.1) < 0.02


def test_accuracies_on_known_inputs():
    labels = CODEC.indices_to_multi_hot(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    outputs = labels.copy()
    outputs[1, 10 + 6] = 0.0  # Second captcha, second character: now argmax 0, wrong.
    assert float(per_char_accuracy(labels, outputs, 4)) == 7 / 8
    assert float(whole_accuracy(labels, outputs, 4)) == 1 / 2
    assert chance_levels(4, 10) == {"char": 0.1, "whole": 1e-4}
