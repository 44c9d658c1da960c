"""The doctor on the models people have (issue 30, point 1): any Keras model fit can train gets
verdicts and never a crash. Small models on scikit-learn's digits, one or two epochs each."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cnn.doctor import Doctor
from captcha_cnn.doctor.probe import ProbeError


def fit_with_doctor(model, loss, digits, epochs=2, learning_rate=3e-3, **fit_options):
    images, one_hot, _ = digits
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(learning_rate), loss)
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=20, verbose=False)
    model.fit(images, one_hot, batch_size=32, epochs=epochs, verbose=0, callbacks=[doctor],
              **fit_options)
    return doctor


def with_logits():
    return keras.losses.CategoricalCrossentropy(from_logits=True)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "selu", "swish", None])
def test_an_mlp_with_no_relu_learns_without_a_crash(activation, digits):
    """With no ReLU layer to watch, the look's model has one output: Keras returns it as a lone
    tensor, which the look once tried to unpack (OperatorNotAllowedInGraphError inside fit)."""
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation=activation),
                              keras.layers.Dense(10)])
    doctor = fit_with_doctor(model, with_logits(), digits)
    assert doctor.history[0].kind == "plateau"
    assert doctor.verdict.kind == "learning"


def dense_stack(*layers, inputs=(64,)):
    return keras.Sequential([keras.Input(inputs), *layers])


def fit_flat(model, loss, x, y, epochs=2, learning_rate=3e-3, **fit_options):
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(learning_rate), loss,
                  **fit_options.pop("compile_options", {}))
    probe = tf.nest.map_structure(lambda a: a[:128], (x, y))
    doctor = Doctor(probe=probe, every=20, verbose=False)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[doctor], **fit_options)
    return doctor


@pytest.fixture(scope="module")
def flat(digits):
    images, one_hot, labels = digits
    return images.reshape(-1, 64), one_hot, labels


def relu_mlp(outputs=10, activation=None):
    return dense_stack(keras.layers.Dense(32, activation="relu"),
                       keras.layers.Dense(outputs, activation=activation))


@pytest.mark.slow
def test_relus_inside_a_nested_model_are_read_and_named_by_their_path(flat):
    x, y, _ = flat
    inputs = keras.Input((64,))
    inner = keras.Sequential([keras.layers.Dense(64, activation="relu", name="hidden",
                              bias_initializer=keras.initializers.Constant(-10.0))],
                             name="inner")
    model = keras.Model(inputs, keras.layers.Dense(10)(inner(inputs)))
    doctor = fit_flat(model, with_logits(), x, y, epochs=1)
    assert doctor.history[0].kind == "dead"
    assert "inner/hidden gets no gradient" in doctor.history[0].evidence
    assert "no unit of hidden fires" in doctor.history[0].evidence


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lstm", "lstm_state", "batchnorm", "embedding", "frozen",
                                  "no_input", "jit", "steps_per_execution"])
def test_each_model_kind_learns_under_the_doctor(kind, flat, digits):
    x, y, labels = flat
    options = {}
    if kind in ("lstm", "lstm_state"):
        x = digits[0]
        inputs = keras.Input((8, 8))
        if kind == "lstm":
            hidden = keras.layers.LSTM(32)(inputs)
        else:
            out, _, state = keras.layers.LSTM(32, return_state=True)(inputs)
            hidden = keras.layers.Concatenate()([out, state])
        model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    elif kind == "batchnorm":
        model = dense_stack(keras.layers.Dense(32), keras.layers.BatchNormalization(),
                            keras.layers.ReLU(), keras.layers.Dense(10))
    elif kind == "embedding":  # Integer pixel levels 0..16 as token ids.
        x = (digits[0] * 16).round().astype("int32").reshape(-1, 64)
        model = keras.Sequential([keras.Input((64,), dtype="int32"), keras.layers.Embedding(17, 8),
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
    elif kind == "frozen":
        model = relu_mlp()
        model.layers[0].trainable = False
    elif kind == "no_input":
        model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    else:
        model = relu_mlp()
        options["compile_options"] = ({"jit_compile": True} if kind == "jit"
                                      else {"steps_per_execution": 4})
    doctor = fit_flat(model, with_logits(), x, y, epochs=3, **options)
    assert doctor.verdict.kind == "learning", f"{kind}: {doctor.verdict}"
    if kind.startswith("lstm"):
        assert any("inside recurrent layers" in note for note in doctor.notes)
    if kind == "frozen":  # A frozen layer owns no trainable weight: no gradient to judge.
        assert list(doctor.observations[0].gradients) == [model.layers[1].name]


@pytest.mark.slow
def test_two_inputs_as_a_list_or_a_dict(flat):
    x, y, _ = flat
    for as_dict in (False, True):
        first, second = keras.Input((32,), name="first"), keras.Input((32,), name="second")
        hidden = keras.layers.Dense(32, activation="relu")(
            keras.layers.Concatenate()([first, second]))
        model = keras.Model([first, second], keras.layers.Dense(10)(hidden))
        inputs = ({"first": x[:, :32], "second": x[:, 32:]} if as_dict
                  else [x[:, :32], x[:, 32:]])
        doctor = fit_flat(model, with_logits(), inputs, y)
        assert doctor.verdict.kind == "learning"


@pytest.mark.slow
def test_several_outputs_get_verdicts_on_the_loss_and_say_what_is_not_read(flat):
    x, y, labels = flat
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    model = keras.Model(inputs, {"digit": keras.layers.Dense(10, name="digit")(hidden),
                                 "big": keras.layers.Dense(1, activation="sigmoid",
                                                           name="big")(hidden)})
    targets = {"digit": y, "big": (labels >= 5).astype(np.float32)[:, None]}
    doctor = fit_flat(model, {"digit": with_logits(), "big": "binary_crossentropy"}, x, targets)
    assert doctor.verdict.kind == "learning"
    assert doctor.observations[-1].accuracy is None
    assert any("this model has several" in note for note in doctor.notes)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_finds_the_double_softmax(policy, flat):
    """bfloat16 probability rows do not sum to 1 within 1e-3: the tolerance follows the dtype;
    the loss is still computed in float32 from those rows, so the readings are told apart at
    step 0, before any training, as in float32."""
    x, y, _ = flat
    keras.mixed_precision.set_global_policy(policy)
    try:
        doctor = fit_flat(relu_mlp(activation="softmax"),
                          lambda t, p: tf.nn.softmax_cross_entropy_with_logits(t, p), x, y)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    kinds = [verdict.kind for verdict in doctor.history]
    assert kinds[0] == "probabilities_as_logits", kinds
    assert kinds[-1] == "hiding"


@pytest.mark.slow
def test_validation_data_and_sample_and_class_weights(flat):
    x, y, labels = flat
    doctor = fit_flat(relu_mlp(), with_logits(), x, y, validation_data=(x[:200], y[:200]),
                      sample_weight=np.linspace(0.5, 1.5, len(x)))
    assert doctor.verdict.kind == "learning"
    doctor = fit_flat(relu_mlp(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      x, labels, class_weight={label: 1.0 + label / 10 for label in range(10)})
    assert doctor.verdict.kind == "learning"


@pytest.mark.slow
def test_a_regression_gets_no_accuracy_and_learns(flat):
    x, _, labels = flat
    doctor = fit_flat(relu_mlp(1), "mse", x, labels.astype(np.float32)[:, None])
    assert doctor.verdict.kind == "learning"
    assert all(observation.accuracy is None for observation in doctor.observations)
    assert "accuracy" not in doctor.verdict.evidence.replace("accuracy not measured", "")


@pytest.mark.slow
def test_a_recompile_is_judged_afresh(flat):
    """The bug brought in by the second compile (a softmax inside the loss, before a loss with
    logits) was once judged as the old loss: 'learning'."""
    x, y, _ = flat
    model = relu_mlp()
    doctor = fit_flat(model, with_logits(), x, y, epochs=1)
    assert doctor.verdict.kind == "learning"
    model.compile(keras.optimizers.Adam(3e-3),
                  lambda t, p: tf.nn.softmax_cross_entropy_with_logits(t, tf.nn.softmax(p)))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    assert "the model was compiled again: the new loss is judged afresh" in doctor.notes
    assert doctor.verdict.kind == "hiding"
    assert "floor of 1.461" in doctor.verdict.evidence


@pytest.mark.slow
def test_one_doctor_on_a_second_model_starts_a_fresh_diagnosis(flat):
    x, y, _ = flat
    doctor = fit_flat(relu_mlp(activation="softmax"),
                      lambda t, p: tf.nn.softmax_cross_entropy_with_logits(t, p), x, y, epochs=1)
    assert doctor.verdict.kind in ("probabilities_as_logits", "hiding")
    second = relu_mlp()
    second.compile(keras.optimizers.Adam(3e-3), with_logits())
    second.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    assert doctor.history[0].at == 0 and doctor.history[0].kind == "plateau"
    assert {verdict.kind for verdict in doctor.history} <= {"plateau", "learning"}


@pytest.mark.slow
def test_a_leaky_relu_that_never_fires_positive_is_not_dead(flat):
    """All-negative leaky outputs still pass gradient: with stop_on=("dead",) the doctor once
    ended such a run at 9.4% (it reaches 92% without the doctor)."""
    x, y, _ = flat
    model = dense_stack(keras.layers.Dense(64, bias_initializer=keras.initializers.Constant(-10.0)),
                        keras.layers.ReLU(negative_slope=0.1), keras.layers.Dense(10))
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(3e-3), with_logits())
    doctor = Doctor(probe=(x[:128], y[:128]), every=20, verbose=False, stop_on=("dead",))
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[doctor])
    assert "dead" not in {verdict.kind for verdict in doctor.history}
    assert doctor.observations[0].dead == {}
    assert doctor.verdict.kind == "learning"


@pytest.mark.parametrize("probe, message", [
    (lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(64),
     "probe: a tf.data dataset is not a probe"),
    (lambda x, y: (x[:0], y[:0]), "probe: 0 examples, too few"),
    (lambda x, y: (x[:3], y[:3]), "probe: 3 examples, too few"),
    (lambda x, y: (x[:64], y[:32]), r"do not hold the same number of examples \(32, 64\)"),
    (lambda x, y: (np.where(np.arange(64)[:, None] == 3, np.nan, x[:64]), y[:64]),
     "probe: the inputs hold NaN or infinite values: the probe is at fault, not the model"),
    (lambda x, y: (np.array(["a"] * 64), y[:64]), r"probe: inputs is not numbers \(dtype <U1\)"),
    (lambda x, y: x[:64], "probe: expected a pair"),
])
def test_a_probe_that_cannot_work_is_refused_when_the_callback_is_made(probe, message, flat):
    x, y, _ = flat
    with pytest.raises(ProbeError, match=message):
        Doctor(probe=probe(x, y))


@pytest.mark.parametrize("probe, message", [
    (lambda x, y: (x[:64, :32], y[:64]),
     r"probe: inputs shaped \(32,\) per example, the model takes \(64,\)"),
    (lambda x, y: (x[:64], y[:64, :5]), "probe: the model cannot be run on it: .*same shape"),
])
def test_a_probe_that_does_not_fit_the_model_is_refused_at_fit_start(probe, message, flat):
    x, y, _ = flat
    model = relu_mlp()
    model.compile("adam", with_logits())
    doctor = Doctor(probe=probe(x, y), verbose=False)
    with pytest.raises(ProbeError, match=message):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[doctor])
