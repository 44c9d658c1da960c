"""The networks (captcha_cnn.model.networks): raw logits shaped by the config, the tutorial's layer
shapes and initial scale, and the fast and peer models' documented shapes."""

import numpy as np

from captcha_cnn.model.networks import build_fast, build_model


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
