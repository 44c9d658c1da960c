"""Configuration layering: `configs/default.yaml`, then an experiment file over it, then `--set`.

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

from captcha_cnn.core.config_rules import validate
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.yaml_files import load_yaml_text, read_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"


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
        except yaml.YAMLError as error:
            shown = raw if len(raw) <= 60 else f"{raw[:57]}..."
            raise ConfigError(f"--set {dotted}: cannot read {shown!r} as a value "
                              f"({str(error).splitlines()[0][:120]})") from None
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return nested


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
