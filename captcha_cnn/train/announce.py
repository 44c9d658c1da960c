"""What a run says when it starts: the plan (data, labels, loss levels, model, steps), then what
the user should know about this machine and placement."""

from __future__ import annotations

import sys

import keras
import tensorflow as tf

from captcha_cnn.core.machine import has_native_bfloat16
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels, label_shape
from captcha_cnn.train.session import Session


def announce(session: Session) -> None:
    """The plan, then what the user should know about this machine and placement."""
    config, placement, train_cfg = session.config, session.placement, session.train_cfg
    print_plan(config, session.run, session.device, session.model, len(session.train_set[0]),
               len(session.test_set[0]))
    if (train_cfg["precision"] == "mixed_bfloat16" and session.device.startswith("CPU")
            and not has_native_bfloat16()):
        print("warning: train.precision is mixed_bfloat16 but this CPU has neither AVX512_BF16 "
              "nor AMX: bfloat16 is emulated here and slow (measured on a 2-core AVX2 EPYC: "
              "0.16x the float32 speed; docs/performance.md); float32 is the better choice",
              file=sys.stderr)
    for note in placement_notes(placement.name, placement.replicas, config["model"]["dropout"]):
        print(f"note: {note}")


def placement_notes(name: str, replicas: int, dropout: float) -> list[str]:
    """What a distributed run does differently from what its settings suggest."""
    notes = []
    if name == "mirrored" and replicas == 1:
        notes.append("mirrored over a single device; without GPUs, train.logical_cpus splits the "
                     "CPU")
    if replicas > 1 and dropout > 0:
        # Keras keeps dropout's random state as a mirrored variable: measured, every replica
        # draws the very same masks.
        notes.append(f"the {replicas} replicas draw identical dropout masks, so this run is not "
                     f"equivalent to one device; model.dropout=0 makes it so")
    return notes


def print_plan(config: dict, run: RunDir, device: str, model: keras.Model, train_size: int,
               test_size: int) -> None:
    """The derived numbers, before the first step: what will run, where, and against what levels."""
    data, loss_cfg, train_cfg = config["data"], config["loss"], config["train"]
    length, classes = label_shape(config)
    levels, chance = config_loss_levels(config), config_chance_levels(config)
    steps, batch_size = train_cfg["steps"], train_cfg["batch_size"]
    print(f"run directory:  {run.path}\n"
          f"device:         {device}, TensorFlow {tf.__version__}\n"
          f"data:           {train_size} train / {test_size} test captchas of "
          f"{data['length']} from {data['charset']!r}, {data['width']}x{data['height']} gray\n"
          f"labels:         {length * classes} wide ({length} x {classes}); "
          f"loss {loss_cfg['name']} ({loss_cfg['layout']}): chance {levels['chance']:.3f}, "
          f"floor {levels['floor']:.3f}\n"
          f"model:          {config['model']['name']}, {model.count_params():,} parameters; "
          f"{train_cfg['optimizer']} lr {train_cfg['learning_rate']:g}\n"
          f"steps:          {steps} x {batch_size} images = {steps * batch_size:,} images "
          f"({steps * batch_size / train_size:.1f} epochs); chance accuracy "
          f"{chance['char']:.3f} per char, {chance['whole']:.2g} whole", flush=True)
