"""A servable SavedModel: encoded PNG in, text and per-character probabilities out.

The export carries its own preprocessing (decode, gray as the mean of R, G and B rounded like the
training data, scale to [0, 1]) and decoding (argmax per character, charset lookup), so TensorFlow
Serving, or `tf.saved_model.load` in a process without this project, can read captchas with it:

    reader = tf.saved_model.load("runs/correct/export")
    result = reader.serve(tf.constant([open("captcha.png", "rb").read()]))
    result["text"], result["probabilities"]   # [batch] strings, [batch, length] floats
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import tensorflow as tf

from captcha_cnn.data.labels import LabelCodec, char_blocks
from captcha_cnn.data.pixels import scale_gray


def decoded_gray(encoded: tf.Tensor) -> tf.Tensor:
    """An encoded PNG (JPEG, GIF, BMP) as gray 0..255, float32 [height, width, 1], exactly as
    captcha_cnn.data.images reads the file: transparency laid over white, then
    round(mean(R, G, B)); 16-bit PNG keeps its high byte (TensorFlow's decoder). Every value
    below is an integer under 2**24, so float32 is exact and the rounding has no ties."""
    # Decoded in the file's own channels: asking TensorFlow for 4 gives a 1-bit gray PNG an
    # alpha of 1 instead of 255 (measured, TensorFlow 2.21), so the alpha is taken only from
    # images that have one (gray + alpha: 2 channels; colour + alpha: 4).
    image = tf.cast(tf.io.decode_image(encoded, channels=0, expand_animations=False), tf.float32)
    channels = tf.shape(image)[-1]
    colour = tf.cond(channels >= 3, lambda: image[..., :3],
                     lambda: tf.repeat(image[..., :1], 3, axis=-1))
    alpha = tf.cond(tf.equal(channels % 2, 0), lambda: image[..., -1:],
                    lambda: tf.fill(tf.concat([tf.shape(image)[:-1], [1]], 0), 255.0))
    total = tf.reduce_sum(colour * alpha + 255.0 * (255.0 - alpha), axis=-1, keepdims=True)
    return tf.round(total / 765.0)


def png_reader(model: keras.Model, codec: LabelCodec, height: int, width: int):
    """The serving function: a batch of encoded PNG (or JPEG) strings -> text and probabilities."""
    charset = tf.constant(list(codec.charset))

    def to_pixels(encoded):
        gray = decoded_gray(encoded)
        # The size the model was trained on. Other sizes are resized as a folder's images are
        # read for training (data/images.resize_gray: Pillow's bilinear, which widens its filter
        # when it shrinks, as antialias does; rounded to 8 bits): within one gray level of it.
        # An image of the trained size passes unchanged.
        resized = tf.round(tf.image.resize(gray, [height, width], antialias=True))
        return scale_gray(resized)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="png")])
    def serve(png):
        pixels = tf.map_fn(to_pixels, png, fn_output_signature=tf.TensorSpec(
            [height, width, 1], tf.float32))
        logits = char_blocks(model(pixels, training=False), codec.length)
        probabilities = tf.nn.softmax(logits)
        characters = tf.gather(charset, tf.argmax(probabilities, axis=-1))
        return {"text": tf.strings.reduce_join(characters, axis=-1),
                "probabilities": tf.reduce_max(probabilities, axis=-1)}

    return serve


def export_saved_model(model: keras.Model, config: dict, path: Path) -> Path:
    """Write the SavedModel to `path`, replacing an older export only once the new one is whole."""
    data, codec = config["data"], LabelCodec.from_config(config)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", png_reader(model, codec, data["height"], data["width"]))
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    archive.write_out(str(temporary), verbose=False)
    if path.exists():
        shutil.rmtree(path)
    temporary.rename(path)
    return path
