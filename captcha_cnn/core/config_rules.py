"""The rules a config must meet beyond its types: ranges, names and combinations.

The allowed names of each choice live here, not beside the code that implements them, so that
checking a config never imports TensorFlow; the tests check each registry (the networks, the
losses, the doctor's verdicts) against these tuples.
"""

from __future__ import annotations

from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.source_rules import inferred_keys, validate_source

MODEL_NAMES = ("classic", "fast", "peer")
INIT_NAMES = ("keras", "tutorial")
LOSS_NAMES = ("logits", "softmax_then_logits", "sigmoid", "sigmoid_then_logits")
LAYOUTS = ("per_char", "flat", "flat_normalized")
OPTIMIZER_NAMES = ("adam", "sgd")
PITFALL_CHECKS = ("warn", "error", "off")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# The doctor's verdicts (captcha_cnn.doctor.verdict), in the order they are tried.
VERDICT_KINDS = ("diverging", "exploding", "unreachable_targets", "dead", "hiding",
                 "probabilities_as_logits", "saturated", "vanishing", "plateau", "learning")
DISTRIBUTE_NAMES = ("none", "mirrored", "multi_worker")
SCHEDULES = ("constant", "cosine")

# How many times each model halves the image: a side below 2 ** poolings leaves nothing to pool.
POOLINGS = {"classic": 3, "fast": 5, "peer": 5}  # fast: its input pooling, then 4


def _check_choice(values: dict, section: str, key: str, allowed: tuple, source: str) -> None:
    """`values` is the config's `section`; its `key` must be one of `allowed`."""
    value = values[key]
    if value not in allowed:
        raise ConfigError(f"{source}: {section}.{key}: unknown value {value!r} "
                          f"(allowed: {', '.join(allowed)})")


def validate(config: dict, source: str) -> None:
    """Check ranges and names that types alone do not catch."""
    for key, seed in (("seed", config["seed"]), ("data.seed", config["data"]["seed"])):
        if not 0 <= seed < 2**32:
            raise ConfigError(f"{source}: {key}: must be in [0, 2**32), got {seed}")
    _validate_data(config["data"], source)
    _validate_model(config, source)
    _validate_loss(config, source)
    _validate_train(config["train"], source)
    _validate_doctor(config["doctor"], source)


def _validate_doctor(doctor: dict, source: str) -> None:
    if doctor["every"] < 0:
        raise ConfigError(f"{source}: doctor.every: must be 0 (at evaluations only) or more, "
                          f"got {doctor['every']}")
    stoppable = VERDICT_KINDS[:-1]  # Stopping a run that learns is what train.steps is for.
    for kind in doctor["stop_on"]:
        if kind not in stoppable:
            raise ConfigError(f"{source}: doctor.stop_on: unknown verdict {kind!r} "
                              f"(allowed: {', '.join(stoppable)})")


def _validate_data(data: dict, source: str) -> None:
    validate_source(data, source)
    inferred = inferred_keys(data)  # Left to a folder's labels (validate_source allowed it).
    if "length" not in inferred and data["length"] < 1:
        raise ConfigError(f"{source}: data.length: must be at least 1, got {data['length']}")
    charset = data["charset"]
    if not charset and "charset" not in inferred:
        raise ConfigError(f"{source}: data.charset: must not be empty")
    repeated = sorted({c for c in charset if charset.count(c) > 1})
    if repeated:
        raise ConfigError(f"{source}: data.charset: {charset!r} repeats {''.join(repeated)!r}")
    if charset and len(charset) < 2:
        raise ConfigError(f"{source}: data.charset: needs at least 2 characters, got {charset!r} "
                          f"(with one, every captcha is the same text: nothing to learn)")
    for key in ("train_size", "test_size"):
        if data[key] < 1:
            raise ConfigError(f"{source}: data.{key}: must be at least 1, got {data[key]}")


def _validate_model(config: dict, source: str) -> None:
    model, data = config["model"], config["data"]
    _check_choice(model, "model", "name", MODEL_NAMES, source)
    poolings = POOLINGS[model["name"]]
    for side in ("width", "height"):
        if data[side] < 2**poolings:
            raise ConfigError(f"{source}: data.{side}: {data[side]} is too small for the "
                              f"{model['name']} model, which halves the image "
                              f"{poolings} times (minimum {2**poolings})")
    if not 0 <= model["dropout"] < 1:
        raise ConfigError(f"{source}: model.dropout: must be in [0, 1), got {model['dropout']}")
    if model["dense_units"] < 1:
        raise ConfigError(f"{source}: model.dense_units: must be at least 1, "
                          f"got {model['dense_units']}")
    _check_choice(model, "model", "init", INIT_NAMES, source)
    if model["init"] == "tutorial" and model["name"] != "classic":
        raise ConfigError(f"{source}: model.init: 'tutorial' is the classic model's; "
                          f"{model['name']} uses He-uniform (set model.init: keras)")


def _validate_loss(config: dict, source: str) -> None:
    loss = config["loss"]
    _check_choice(loss, "loss", "name", LOSS_NAMES, source)
    _check_choice(loss, "loss", "layout", LAYOUTS, source)
    _check_choice(loss, "loss", "pitfall_check", PITFALL_CHECKS, source)
    if loss["name"].startswith("sigmoid") and loss["layout"] == "flat_normalized":
        raise ConfigError(f"{source}: loss.layout: flat_normalized divides the labels for a "
                          f"softmax; with loss.name {loss['name']} use per_char or flat")
    if not 0 <= loss["prior_pull"] < float("inf"):
        raise ConfigError(f"{source}: loss.prior_pull: must be 0 (off) or more, "
                          f"got {loss['prior_pull']}")
    if loss["prior_pull"] and loss["layout"] != "per_char":
        raise ConfigError(f"{source}: loss.prior_pull: pulls each character's softmax toward "
                          f"uniform, so it needs loss.layout per_char (it is {loss['layout']!r})")


def _validate_train(train: dict, source: str) -> None:
    for key in ("steps", "batch_size", "eval_every", "checkpoint_every", "eval_batch_size"):
        if train[key] < 1:
            raise ConfigError(f"{source}: train.{key}: must be at least 1, got {train[key]}")
    if not train["learning_rate"] > 0:
        raise ConfigError(f"{source}: train.learning_rate: must be positive, "
                          f"got {train['learning_rate']}")
    if not 0 <= train["momentum"] < 1:
        raise ConfigError(f"{source}: train.momentum: must be in [0, 1), got {train['momentum']}")
    for key, allowed in (("optimizer", OPTIMIZER_NAMES), ("precision", PRECISIONS),
                         ("distribute", DISTRIBUTE_NAMES), ("schedule", SCHEDULES)):
        _check_choice(train, "train", key, allowed, source)
    if not 0 <= train["warmup_steps"] < train["steps"]:
        raise ConfigError(f"{source}: train.warmup_steps: must be in [0, train.steps "
                          f"{train['steps']}), got {train['warmup_steps']}")
    if train["warmup_steps"] and train["schedule"] != "cosine":
        raise ConfigError(f"{source}: train.warmup_steps: {train['warmup_steps']} needs "
                          f"train.schedule cosine (the schedule is {train['schedule']!r})")
    if not 0 <= train["stop_at_whole_acc"] <= 1:
        raise ConfigError(f"{source}: train.stop_at_whole_acc: must be in [0, 1] (0: never "
                          f"stop early), got {train['stop_at_whole_acc']}")
    if not 0 <= train["max_minutes"] < float("inf"):
        raise ConfigError(f"{source}: train.max_minutes: must be 0 (no limit) or more, got "
                          f"{train['max_minutes']}")
    if train["max_minutes"] and train["distribute"] == "multi_worker":
        raise ConfigError(f"{source}: train.max_minutes: not with train.distribute multi_worker "
                          f"(each worker's clock would stop it at a different step)")
    if not 0 < train["worker_wait_s"] < float("inf"):
        raise ConfigError(f"{source}: train.worker_wait_s: must be a positive number of "
                          f"seconds, got {train['worker_wait_s']}")
    if train["logical_cpus"] < 0:
        raise ConfigError(f"{source}: train.logical_cpus: must be 0 (leave the CPU whole) or "
                          f"more, got {train['logical_cpus']}")
    if train["logical_cpus"] > 0 and train["distribute"] != "mirrored":
        raise ConfigError(f"{source}: train.logical_cpus: {train['logical_cpus']} is for "
                          f"train.distribute mirrored (it is {train['distribute']!r})")
