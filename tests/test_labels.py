"""The label codec (captcha_cnn.data.labels): text <-> indices <-> multi-hot vectors, one one-hot
block per character, decoding by argmax per block, and bad text refused with its reason."""

import numpy as np
import pytest

from captcha_cnn.data.labels import LabelCodec


def test_four_digits_give_forty_wide_labels_with_one_one_per_block():
    codec = LabelCodec("0123456789", 4)
    label = codec.encode("3517")
    assert label.shape == (40,) and label.dtype == np.float32
    assert label.sum() == 4
    assert list(np.flatnonzero(label)) == [3, 15, 21, 37]  # The seed's case-2 positions.
    assert codec.decode(label) == "3517"


def test_five_hex_characters_give_eighty_wide_labels():
    codec = LabelCodec("0123456789ABCDEF", 5)
    assert codec.width == 80
    for text in ("00000", "FFFFF", "A1B2C", "9E0F7"):
        assert codec.decode(codec.encode(text)) == text
        assert codec.encode(text).reshape(5, 16).sum(axis=1).tolist() == [1] * 5


def test_decode_reads_logits_and_probabilities_by_argmax_per_block():
    codec = LabelCodec("ab", 3)
    logits = np.array([5.0, -1.0, -2.0, 0.5, 0.0, 0.1])
    assert codec.decode(logits) == "abb"
    probabilities = np.array([0.9, 0.1, 0.2, 0.8, 0.4, 0.6])
    assert codec.decode(probabilities) == "abb"


def test_batch_encoding_matches_single_encoding():
    codec = LabelCodec("0123456789", 4)
    texts = ["0000", "9999", "1234"]
    batch = codec.indices_to_multi_hot(np.stack([codec.to_indices(t) for t in texts]))
    assert np.array_equal(batch, np.stack([codec.encode(t) for t in texts]))


@pytest.mark.parametrize("text, problem", [("123", "3 characters"), ("12345", "5 characters"),
                                           ("12a4", "not in the charset")])
def test_bad_text_is_refused_with_the_reason(text, problem):
    with pytest.raises(ValueError, match=problem):
        LabelCodec("0123456789", 4).encode(text)


def test_decode_refuses_a_vector_of_the_wrong_width():
    with pytest.raises(ValueError, match="width 40"):
        LabelCodec("0123456789", 4).decode(np.zeros(39))
