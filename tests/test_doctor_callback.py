"""The doctor's Keras callback on data no one here made: scikit-learn's digits (1,797 8x8
images that ship inside the package), small models, the usual mistakes, a few epochs each."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cnn.doctor import Doctor
from captcha_cnn.doctor.timeline import describe_timeline


def mlp(output_activation=None, hidden_bias: float | None = None) -> keras.Model:
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Flatten()(inputs)
    bias = {"bias_initializer": keras.initializers.Constant(hidden_bias)} if hidden_bias else {}
    hidden = keras.layers.Dense(64, activation="relu", name="hidden", **bias)(hidden)
    hidden = keras.layers.Dense(32, activation="relu", name="hidden2")(hidden)
    return keras.Model(inputs, keras.layers.Dense(10, activation=output_activation, name="out")(hidden))


def with_logits():
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def softmax_twice(labels, outputs):
    """The seed's bug in a custom loss: the model's softmax output passed on as logits."""
    return tf.nn.softmax_cross_entropy_with_logits(labels, outputs)


def fit(model, loss, learning_rate, digits, epochs=3, **doctor_options):
    images, one_hot, _ = digits
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(learning_rate), loss)
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=10, verbose=False,
                    **doctor_options)
    model.fit(images, one_hot, batch_size=32, epochs=epochs, verbose=0, callbacks=[doctor])
    return doctor


# Each mistake: the verdict at the first look (before any step), the verdict at the end, and the
# step by which the final kind is first given (looks every 10 batches; 57 batches an epoch).
@pytest.mark.parametrize("case, build, loss, learning_rate, first, final, by_step", [
    ("healthy", mlp, with_logits, 1e-3, "plateau", "learning", 57),
    ("softmax applied twice", lambda: mlp("softmax"), lambda: softmax_twice, 1e-3,
     "probabilities_as_logits", "hiding", 57),
    ("ReLU killed by its initial biases", lambda: mlp(hidden_bias=-10.0), with_logits, 1e-3,
     "dead", "dead", 0),
    ("a learning rate that diverges", mlp, with_logits, 50.0, "plateau", "diverging", 57),
    ("a learning rate far too small", mlp, with_logits, 1e-7, "plateau", "plateau", 0),
])
def test_each_mistake_gets_its_verdict_within_a_few_epochs(case, build, loss, learning_rate,
                                                           first, final, by_step, digits):
    doctor = fit(build(), loss(), learning_rate, digits)
    kinds, timeline = [verdict.kind for verdict in doctor.history], describe_timeline(doctor.history)
    assert kinds[0] == first, f"{case}: {timeline}"
    assert final in kinds, f"{case}: {timeline}"
    assert doctor.history[kinds.index(final)].at <= by_step, f"{case}: {timeline}"
    if final != "diverging":  # After a divergence the weights may be anything (NaN, or dead).
        assert kinds[-1] == final, f"{case}: {timeline}"


def test_the_floor_is_said_for_probabilities_fed_as_logits(digits):
    doctor = fit(mlp("softmax"), softmax_twice, 1e-3, digits, epochs=1)
    assert doctor.history[0].kind == "probabilities_as_logits"
    assert "floor of 1.461" in doctor.history[0].evidence  # -ln(e / (e + 9))


def test_dead_names_the_layers_and_the_step(digits):
    doctor = fit(mlp(hidden_bias=-10.0), with_logits(), 1e-3, digits, epochs=1)
    assert doctor.verdict.step == 0
    assert "no unit of hidden to hidden2 fires for any probe input" in doctor.verdict.evidence


def test_keras_from_logits_on_a_softmax_output_trains_but_gets_a_note(digits):
    """Keras reads the logits behind the softmax, so this learns; the note says that raw
    TensorFlow or a custom loss would not undo it."""
    with pytest.warns(UserWarning, match="received `from_logits=True`"):  # Keras's own warning.
        doctor = fit(mlp("softmax"), with_logits(), 1e-3, digits)
    assert doctor.verdict.kind == "learning"
    assert len(doctor.notes) == 1 and "from_logits=True" in doctor.notes[0]
    assert "1.461 per block of 10" in doctor.notes[0]


def test_stop_on_dead_ends_fit_at_the_first_look(digits):
    images, one_hot, _ = digits
    model = mlp(hidden_bias=-10.0)
    model.compile(keras.optimizers.Adam(1e-3), with_logits())
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=10, verbose=False,
                    stop_on=("dead", "diverging"))
    history = model.fit(images, one_hot, batch_size=32, epochs=5, verbose=0, callbacks=[doctor])
    assert len(history.history["loss"]) == 1  # Stopped during the first epoch.
    assert doctor.verdict.kind == "dead"


def test_a_sequential_model_with_integer_labels(digits):
    images, _, labels = digits
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    doctor = Doctor(probe=(images[:128], labels[:128]), every=10, verbose=False)
    model.fit(images, labels, batch_size=32, epochs=3, verbose=0, callbacks=[doctor])
    assert doctor.history[0].kind == "plateau" and doctor.verdict.kind == "learning"
    assert set(doctor.history[0].evidence.split("most silent: ")[1].split(",")[0:1]) <= \
        {layer.name for layer in model.layers}


def test_it_prints_a_verdict_when_the_kind_changes(digits, capsys):
    images, one_hot, _ = digits
    model = mlp()
    model.compile(keras.optimizers.Adam(1e-3), with_logits())
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=10)
    model.fit(images, one_hot, batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("doctor")]
    assert printed[0].startswith("doctor, step 0: plateau since step 0")
    assert "learning since step" in printed[-1]
    kinds = [verdict.kind for verdict in doctor.history]
    assert len(printed) == 1 + sum(a != b for a, b in itertools.pairwise(kinds))  # Per change.


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every must be a positive number of batches, not 0"):
        Doctor(probe=(np.zeros((1, 8, 8)), np.zeros((1, 10))), every=0)


def test_a_subclassed_model_gets_verdicts_and_unit_health(digits):
    """Unit outputs are caught while the look is traced, so a subclassed model's ReLU layer is
    read too (it once got a note that unit health was not measured)."""
    class TwoLayers(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)

        def call(self, inputs):
            return self.out(self.hidden(keras.ops.reshape(inputs, (-1, 64))))

    doctor = fit(TwoLayers(), with_logits(), 3e-3, digits)
    assert (doctor.history[0].kind, doctor.verdict.kind) == ("plateau", "learning")
    assert doctor.notes == []
    assert len(doctor.observations[0].dead) == 1  # The hidden ReLU layer.


def test_stop_on_names_known_verdicts_only():
    with pytest.raises(ValueError, match="stop_on: unknown verdict 'deadd'"):
        Doctor(probe=(np.zeros((1, 8, 8)), np.zeros((1, 10))), stop_on=("deadd",))


def test_looks_keep_their_cadence_with_several_steps_per_execution(digits):
    images, one_hot, _ = digits
    model = mlp()
    model.compile(keras.optimizers.Adam(1e-3), with_logits(), steps_per_execution=8)
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=10, verbose=False)
    model.fit(images, one_hot, batch_size=32, epochs=2, verbose=0, callbacks=[doctor])
    # 114 batches: a look at step 0, one each time the count passes a multiple of 10, one at the end.
    assert len(doctor.history) >= 12


def test_a_uniform_softmax_start_is_not_taken_for_probabilities_as_logits(digits):
    """Zero output weights give exactly 1/10 everywhere: the cross-entropy of the outputs and of
    their softmax are then both ln 10, so the first look cannot tell them apart."""
    images, one_hot, _ = digits
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros")(hidden)
    doctor = fit(keras.Model(inputs, outputs), keras.losses.CategoricalCrossentropy(), 1e-3,
                 digits)
    assert "probabilities_as_logits" not in {verdict.kind for verdict in doctor.history}
    assert doctor.verdict.kind == "learning"


def test_four_blocks_of_ten_with_integer_labels(digits):
    """A [N, 4, 10] softmax output (four digits side by side) read per block, labels as four
    integers per example; the seed's double softmax is found per block."""
    images, _, labels = digits
    four = np.stack([labels, labels[::-1], labels, labels[::-1]], axis=1)
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Softmax()(keras.layers.Reshape((4, 10))(keras.layers.Dense(40)(hidden)))
    model = keras.Model(inputs, outputs)
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(1e-3),
                  lambda y, p: tf.nn.softmax_cross_entropy_with_logits(
                      tf.one_hot(tf.cast(y, tf.int32), 10), p))
    doctor = Doctor(probe=(images[:128], four[:128]), every=10, verbose=False)
    model.fit(images, four, batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    assert doctor.history[0].kind == "probabilities_as_logits"
    assert "floor of 1.461" in doctor.history[0].evidence


def test_a_regularized_loss_is_judged_without_the_probabilities_check(digits):
    images, one_hot, _ = digits
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Dense(32, activation="relu",
                                kernel_regularizer=keras.regularizers.L2(1e-2))(
        keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    doctor = fit(model, with_logits(), 3e-3, digits)
    assert any("not a plain cross-entropy" in note for note in doctor.notes)
    assert doctor.verdict.kind == "learning"


def test_a_single_output_unit_gets_a_binary_accuracy(digits):
    """0/1 targets on one unit are read per unit (it once got no accuracy and a note)."""
    images, _, labels = digits
    target = (labels >= 5).astype(np.float32)[:, None]
    inputs = keras.Input((8, 8))
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    doctor = Doctor(probe=(images[:128], target[:128]), every=10, verbose=False)
    model.fit(images, target, batch_size=32, epochs=3, verbose=0, callbacks=[doctor])
    assert doctor.notes == []
    assert doctor.observations[-1].accuracy > 0.75  # From about 0.5.
    assert doctor.history[0].kind == "plateau" and doctor.verdict.kind == "learning"
