"""Reading an image file with a trained run: the text its model sees, and how sure it is.

`evaluate.py RUN --image FILE` calls `read_image`; the served model (captcha_cnn.train.export)
does the same from encoded bytes inside TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.data.images import read_gray_image
from captcha_cnn.data.labels import LabelCodec, char_blocks
from captcha_cnn.data.pixels import scale_gray


def read_image_array(path: Path, width: int, height: int, resize: bool = False) -> np.ndarray:
    """The image file as the model sees it: gray floats in [0, 1], shape [1, height, width, 1];
    resized to that size with `resize` (a run trained on a folder, whose images were)."""
    gray = read_gray_image(path, width, height, resize=resize)
    return scale_gray(gray[None, :, :, None].astype(np.float32))


def load_trained_model(run_path: Path):
    """The run's final model, or, for an unfinished run, the model at its latest checkpoint."""

    from captcha_cnn.model.networks import build_model
    from captcha_cnn.train.checkpoint import assign_checked, model_variables

    run = RunDir(run_path)
    if run.model.is_file():
        return _load_model_file(run)
    model = build_model(run.read_config())
    loaded = run.load_latest_checkpoint()
    if loaded is None:
        raise UserError(f"{run.path}: no final model and no readable checkpoint with finite "
                        f"weights to read images with")
    assign_checked(model_variables(model), loaded[1], run.checkpoints)
    return model


def _load_model_file(run: RunDir):
    """model.keras, refused in one line when it is damaged or is not this run's model (another
    input size or output width): Keras raises many kinds of errors for a file it cannot read."""
    import keras

    config = run.read_config()
    data, codec = config["data"], LabelCodec.from_config(config)
    what_to_do = "restore it, or delete it to read with the run's latest checkpoint"
    try:
        model = keras.saving.load_model(run.model, safe_mode=True)
    except Exception as error:  # noqa: BLE001 (zip, JSON, HDF5, deserialization errors alike)
        raise UserError(f"{run.model}: not a readable Keras model ({error.__class__.__name__}: "
                        f"{str(error)[:120]}); {what_to_do}") from None
    expected_in, expected_out = (None, data["height"], data["width"], 1), (None, codec.width)
    shapes = (tuple(getattr(model, "input_shape", ())), tuple(getattr(model, "output_shape", ())))
    if shapes != (expected_in, expected_out):
        raise UserError(f"{run.model}: a model for inputs {shapes[0]} and outputs {shapes[1]}, "
                        f"not this run's {expected_in} -> {expected_out}; {what_to_do}")
    return model


def read_image(run_path: Path, image_path: Path) -> tuple[str, np.ndarray]:
    """The text the run's model reads in an image file, and each character's probability."""
    run = RunDir(run_path)
    if not run.config.is_file():
        raise UserError(f"{run_path}: not a run directory (no config.yaml)")
    config = run.read_config()
    data, codec = config["data"], LabelCodec.from_config(config)
    # A run trained on a folder saw its images resized as they were read: so is this one.
    pixels = read_image_array(image_path, data["width"], data["height"],
                              resize=data.get("source") == "folder")
    logits = np.asarray(load_trained_model(run_path)(pixels, training=False))[0]
    if not np.isfinite(logits).all():
        raise UserError(f"{run_path}: the model's output for {image_path} is not finite "
                        f"({np.count_nonzero(~np.isfinite(logits))} of {logits.size} logits): "
                        f"its weights diverged, so it cannot read images; train a run that "
                        f"does not diverge (a smaller train.learning_rate)")
    blocks = char_blocks(logits, codec.length)
    probabilities = np.exp(blocks - blocks.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return codec.decode(logits), probabilities.max(axis=-1)
