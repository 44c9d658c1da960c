"""The doctor's look: outputs, loss and units from the whole probe; gradients from rows spread
over it (a backward pass costs about twice a forward one, so the look stays cheap)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cnn.doctor import Doctor
from captcha_cnn.doctor.model_reading import GRADIENT_EXAMPLES, gradient_rows


def test_a_probe_no_larger_than_the_gradient_rows_gives_all_of_them():
    assert gradient_rows(GRADIENT_EXAMPLES) is None
    assert gradient_rows(5) is None


@pytest.mark.parametrize("count", [GRADIENT_EXAMPLES + 1, 100, 128, 1000])
def test_the_gradient_rows_spread_over_the_probe(count):
    rows = gradient_rows(count)
    assert len(rows) == GRADIENT_EXAMPLES
    assert rows[0] == 0 and rows[-1] == count - 1
    assert all(later > earlier for earlier, later in zip(rows, rows[1:], strict=False))
    # A probe sorted by class (ten equal runs) still gives every class.
    assert {row * 10 // count for row in rows} == set(range(10))


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(
        keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, name="out")(hidden))
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def test_gradients_come_from_the_spread_rows_and_the_loss_from_the_whole_probe(digits):
    images, one_hot, _ = digits
    probe = (images[:100], one_hot[:100])
    model = _model()
    doctor = Doctor(probe=probe, every=1, verbose=False)
    model.fit(images[:32], one_hot[:32], batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    seen = doctor.observations[-1]
    rows = gradient_rows(100)
    with tf.GradientTape() as tape:
        chosen = model.compute_loss(y=one_hot[rows], y_pred=model(images[rows]), training=False)
    gradients = tape.gradient(chosen, model.trainable_weights)
    by_layer = {"hidden": gradients[:2], "out": gradients[2:]}
    for name, parts in by_layer.items():
        expected = np.sqrt(sum(float(tf.reduce_sum(part ** 2)) for part in parts))
        assert seen.gradients[name] == pytest.approx(expected, rel=1e-4)
    whole = float(model.compute_loss(y=one_hot[:100], y_pred=model(images[:100]),
                                     training=False))
    assert seen.loss == pytest.approx(whole, rel=1e-5)
    assert whole != pytest.approx(float(chosen), rel=1e-3)  # The two really differ here.
