"""Accuracy per character and per whole captcha (captcha_cnn.model.metrics) on known inputs, and the
chance levels they are read against."""

import numpy as np

from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.model.levels import chance_levels
from captcha_cnn.model.metrics import per_char_accuracy, whole_accuracy

CODEC = LabelCodec("0123456789", 4)


def test_accuracies_on_known_inputs():
    labels = CODEC.indices_to_multi_hot(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    outputs = labels.copy()
    outputs[1, 10 + 6] = 0.0  # Second captcha, second character: now argmax 0, wrong.
    assert float(per_char_accuracy(labels, outputs, 4)) == 7 / 8
    assert float(whole_accuracy(labels, outputs, 4)) == 1 / 2
    assert chance_levels(4, 10) == {"char": 0.1, "whole": 1e-4}
