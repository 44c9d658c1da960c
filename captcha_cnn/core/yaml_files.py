"""Strict YAML reading for every file a user writes: configs, plans, claims and settings.

The safe loader, with a key twice in one mapping refused (PyYAML would keep the last silently);
every problem is a one-line ConfigError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from captcha_cnn.core.errors import ConfigError


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


# Far above any config or plan (default.yaml has under 100 values, nested 3 deep): a file past
# these is refused before its values are used, so an alias bomb (a few hundred bytes naming
# lists of lists of aliases) is never expanded into a message, and deep nesting never reaches
# Python's recursion limit.
MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 32


def _check_size(content) -> None:
    """Count the values `content` expands to (aliases counted each time they are used) and its
    depth, iteratively; raise yaml.YAMLError past the limits."""
    pending, seen = [(content, 1)], 0
    while pending:
        value, depth = pending.pop()
        seen += 1
        if seen > MAX_YAML_VALUES:
            raise yaml.YAMLError(f"expands to more than {MAX_YAML_VALUES} values (aliases "
                                 f"repeating aliases?); write the values out")
        if depth > MAX_YAML_DEPTH:
            raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep")
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ())
        pending.extend((child, depth + 1) for child in children)


def load_yaml_text(text: str):
    """YAML text read with the safe loader that refuses duplicate keys, an alias bomb and
    nesting deeper than MAX_YAML_DEPTH."""
    try:
        content = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep") from None
    _check_size(content)
    return content


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
