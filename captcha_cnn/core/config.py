"""Configuration: `configs/default.yaml`, then an experiment file over it, then `--set` overrides.

The layering is strict. `default.yaml` is the schema: a key it does not have is an error, and so is
a value whose type differs from the default's. Every error is a `ConfigError` whose message names
the file (or `--set`), the dotted key and the offending value, so the command line can print it as
one line. Nothing here imports TensorFlow, so a bad config fails in a fraction of a second.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from captcha_cnn.core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"

# Allowed names. The registries in model.py and losses.py are checked against these in the tests;
# they live here so that validating a config never has to import TensorFlow.
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


class ConfigError(UserError):
    """A problem with a config file or an override, phrased for the user in one line."""


def find_config(name: str) -> Path:
    """Resolve `--config NAME`: an existing path as given, else a file in `configs/`."""
    path = Path(name)
    if path.is_file():
        return path
    candidates = [CONFIG_DIR / name, CONFIG_DIR / f"{name}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"{name}: config file not found (available in {CONFIG_DIR}: {available})")


class UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key that appears twice in one mapping: PyYAML keeps the last
    silently, so a section written twice would lose every key of the first."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden.
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # An unhashable key: the base loader says what is wrong.
                    continue
                if first is not None:
                    where = f"line {line}" if first == line else f"lines {first} and {line}"
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice ({where}); keep one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml_text(text: str):
    """YAML text read with the safe loader that refuses duplicate keys."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: Path, what: str = "config") -> dict:
    """Read a YAML mapping with the safe loader (duplicate keys refused); an empty file is an
    empty mapping. Every problem is a one-line ConfigError naming the file."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what} file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        line = text_line_of(Path(path).read_bytes(), error.start)
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
                          f"line {line}); save the file as UTF-8") from None
    try:
        content = load_yaml_text(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{line}: {problem}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping of keys to values, "
                          f"not {type(content).__name__}")
    return content


def text_line_of(data: bytes, offset: int) -> int:
    """The line number (from 1) of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


def refuse_repeats(values: list, path: Path, key: str) -> None:
    """Refuse a list (of a plan, a map) whose items repeat: it would train or count one run as
    several."""
    seen: list = []
    for value in values:
        if value in seen:
            raise ConfigError(f"{path}: {key}: {value!r} is listed twice in {values!r}; each "
                              f"value makes its own runs, so list it once")
        seen.append(value)


def _type_name(value: Any) -> str:
    """The type's name with its article, as in "expected an integer"."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def _coerce(default: Any, value: Any, key: str, source: str) -> Any:
    """Return `value` with the type of `default`, or raise a ConfigError naming key and source."""
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string; accept it.
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
        if ok and not math.isfinite(value):
            raise ConfigError(f"{source}: {key}: must be a finite number, got {value!r}")
    else:
        ok = isinstance(value, type(default))
    if not ok:
        hint = " (quote it in YAML)" if isinstance(default, str) else ""
        raise ConfigError(f"{source}: {key}: expected {_type_name(default)}, "
                          f"got {value!r}{hint}")
    return value


def merge(base: dict, override: dict, source: str, prefix: str = "") -> dict:
    """Return `base` updated by `override`, refusing unknown keys and wrong types."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(f"{prefix}{k}" for k in base)
            raise ConfigError(f"{source}: {dotted}: unknown key (known here: {known})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted}: expected a mapping of keys, got {value!r}")
            merged[key] = merge(base[key], value, source, f"{dotted}.")
        else:
            merged[key] = _coerce(base[key], value, dotted, source)
    return merged


def parse_override(text: str, config: dict) -> dict:
    """Turn `a.b=value` into a nested mapping; the value is read as a YAML scalar.

    A string-valued key keeps the raw text, so `--set data.charset=0123456789` stays a string
    instead of becoming the number 123456789.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, for example train.steps=200")
    dotted, raw = text.split("=", 1)
    keys = dotted.strip().split(".")
    node = config
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            known = ", ".join(".".join(keys[:depth] + [k]) for k in node) if isinstance(node, dict) else ""
            raise ConfigError(f"--set {text}: {dotted}: unknown key (known here: {known})")
        node = node[key]
    if isinstance(node, str):
        value: Any = raw
    else:
        try:
            value = load_yaml_text(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {text}: cannot read {raw!r} as a value") from None
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return nested


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
    if data["length"] < 1:
        raise ConfigError(f"{source}: data.length: must be at least 1, got {data['length']}")
    charset = data["charset"]
    if not charset:
        raise ConfigError(f"{source}: data.charset: must not be empty")
    repeated = sorted({c for c in charset if charset.count(c) > 1})
    if repeated:
        raise ConfigError(f"{source}: data.charset: {charset!r} repeats {''.join(repeated)!r}")
    if len(charset) < 2:
        raise ConfigError(f"{source}: data.charset: needs at least 2 characters, got {charset!r}")
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
    if train["logical_cpus"] < 0:
        raise ConfigError(f"{source}: train.logical_cpus: must be 0 (leave the CPU whole) or "
                          f"more, got {train['logical_cpus']}")
    if train["logical_cpus"] > 0 and train["distribute"] != "mirrored":
        raise ConfigError(f"{source}: train.logical_cpus: {train['logical_cpus']} is for "
                          f"train.distribute mirrored (it is {train['distribute']!r})")


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_defaults() -> dict:
    """The defaults, read from `configs/default.yaml`."""
    return read_yaml(DEFAULT_CONFIG)


def experiment_layers(path: Path, within: tuple[Path, ...] = ()) -> list[tuple[dict, str]]:
    """An experiment file as (mapping, source) layers, bases first. A file may start from another
    with `base: OTHER.yaml` (looked for beside it, then as --config would find it) and change only
    what differs, e.g. "fast.yaml, but the buggy loss"."""
    source = _display(path)
    content = read_yaml(path)
    base = content.pop("base", None)
    if base is None:
        return [(content, source)]
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{source}: base: expected a config file name, got {base!r}")
    beside = Path(path).parent / base
    base_path = beside if beside.is_file() else find_config(base)
    chain = (*within, Path(path).resolve())
    if base_path.resolve() in chain:
        raise ConfigError(f"{source}: base: {base} leads back to {_display(base_path)} (a cycle)")
    return [*experiment_layers(base_path, chain), (content, source)]


def load_config(name: str | None, overrides: list[str] = ()) -> tuple[dict, str]:
    """Layer defaults < experiment file (after its bases) < overrides; return the config and the
    experiment's name.

    The experiment's name (its file name without `.yaml`) names the default run directory.
    """
    config = load_defaults()
    experiment = "default"
    source = str(DEFAULT_CONFIG)
    if name is not None:
        path = find_config(name)
        source = _display(path)
        for layer, layer_source in experiment_layers(path):
            config = merge(config, layer, layer_source)
        experiment = path.stem
    for text in overrides:
        config = merge(config, parse_override(text, config), f"--set {text}")
    validate(config, source if not overrides else f"{source} with --set {' '.join(overrides)}")
    return config, experiment


def dump(config: dict) -> str:
    """The config as YAML text, in the key order of the defaults."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
