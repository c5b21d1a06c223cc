"""Typed, validated dataclasses from untrusted nested dicts (YAML files, ``--set`` overrides).

One builder for every file the suite reads: run configs (:mod:`tssd.config`) and the harness's
experiments, profiles and paper tables (:mod:`bench.plan.schema`). A dataclass declares its fields
with type hints; the rules a type cannot say live in the field's metadata:

* ``min`` / ``gt``: a number (or every number of a list) at least / above a bound;
* ``choices``: the allowed values (``Literal[...]`` types give them too);
* ``nonempty``: a string or list that must not be empty (a strict builder asks this of every
  string unless ``empty_ok``);
* ``dotted``: a mapping whose keys are dotted run-config keys (``method.alpha``);
* ``key``: the key's name in the file when it differs from the field's (e.g. ``set``);
* ``skip``: a field the builder never reads (filled in by the loader, e.g. the file's path).

Unknown keys, missing required keys (fields without a default), wrong types and broken rules
raise the caller's error class with one line naming the source, the dotted key and what was
expected: ``<file>: key 'method.alpha': got 'x', expected a number``.

Every YAML text (a file, a ``--set`` value) is read by :func:`read_yaml_file` /
:func:`load_yaml_text`: safe tags only, and what a config never needs is refused with the line it
is on: duplicate keys, aliases (``*name``: a 564-byte alias bomb expands to 10^8 entries), dates,
binary, sets and ordered maps (not JSON values; a run config must hash as JSON), nesting deeper
than :data:`MAX_YAML_DEPTH`, documents over :data:`MAX_YAML_BYTES`, empty documents and text
that is not UTF-8.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

MAX_YAML_BYTES = 1 << 20
"""Largest YAML document read (1 MiB; the largest file of the suite is under 20 kB)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (the suite's files nest at most 6 deep)."""
INT_LIMIT = 2**63
"""Integers are refused at or beyond +-2^63: no field of the suite means more, and torch, NumPy
and the hash's JSON all overflow somewhere past it."""


class YamlRefused(ValueError):
    """A YAML text holds something a config never needs (the message names the line)."""


def _refuse(node: yaml.Node, what: str) -> typing.NoReturn:
    raise YamlRefused(f"line {node.start_mark.line + 1}: {what}")


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases, duplicate keys or non-JSON scalars."""

    def compose_node(self, parent, index):  # noqa: D102
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlRefused(
                f"line {event.start_mark.line + 1}: alias *{event.anchor} refused; expected the "
                "value written out (aliases can expand a small file into gigabytes)"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlRefused(
                    f"line {mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels; expected "
                    "a config"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: D102
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    _refuse(key_node, f"a {type(key).__name__} as a mapping key; expected a name")
                if first is not None:
                    _refuse(key_node, f"duplicate key {key!r} (first on line {first})")
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _not_json(what: str):
    def construct(loader, node):
        _refuse(
            node,
            f"{what} {node.value if isinstance(node.value, str) else ''!s}".rstrip()
            + "; expected a string, number, boolean, list or mapping (quote it to keep it as "
            "text)",
        )

    return construct


for _tag, _what in [
    ("timestamp", "a YAML date"),
    ("binary", "YAML binary data"),
    ("set", "a YAML set"),
    ("omap", "a YAML ordered map"),
    ("pairs", "YAML pairs"),
]:
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_json(_what))


def load_yaml_text(text: str, source: str, error: type[Exception]) -> Any:
    """The value of one YAML document (None when it is empty), read safely (module docstring).

    Raises:
        error: one line naming ``source``, the line and what was expected.
    """
    if len(text) > MAX_YAML_BYTES:
        raise error(
            f"{source}: {len(text)} characters, expected a YAML document of at most "
            f"{MAX_YAML_BYTES} bytes"
        )
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except YamlRefused as exc:
        raise error(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    except (ValueError, RecursionError, OverflowError) as exc:  # e.g. a 5000-digit integer
        what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{source}: not a usable YAML value ({what})") from None


def read_yaml_file(path: str | Path, error: type[Exception], what: str = "file") -> dict[str, Any]:
    """One YAML mapping from ``path``: a missing path, a directory, an unreadable, oversized,
    binary, empty or refused document, or a top level that is not a mapping is ``error`` with one
    line naming the file (``what`` says which kind of file, e.g. ``config file``)."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory; expected a YAML {what}")
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        with open(path, "rb") as f:
            blob = f.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(blob) > MAX_YAML_BYTES:
        raise error(f"{path}: larger than {MAX_YAML_BYTES} bytes; expected a YAML {what}")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); expected a YAML {what}"
        ) from None
    data = load_yaml_text(text, str(path), error)
    if data is None:
        raise error(
            f"{path}: empty; expected a YAML mapping (leave the {what} out for every default)"
        )
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def type_name(tp: Any) -> str:
    """What a type expects, in words (for error messages)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


class Builder:
    """Builds dataclasses for one source, raising ``error`` (a ValueError subclass)."""

    def __init__(self, source: str, error: type[Exception], strict_strings: bool = False):
        self.source, self.error, self.strict = source, error, strict_strings

    def fail(self, key: str, msg: str) -> typing.NoReturn:
        """Raise the builder's error naming the source and key."""
        raise self.error(f"{self.source}: key '{key or '<root>'}': {msg}")

    def build(self, cls: type, data: Any, prefix: str = "") -> Any:
        """An instance of dataclass ``cls`` from ``data`` (None = all defaults)."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail(prefix, f"expected a mapping, got {data!r}")
        hints = typing.get_type_hints(cls)
        fields = {
            f.metadata.get("key", f.name): f
            for f in dataclasses.fields(cls)
            if f.init and not f.metadata.get("skip")
        }
        for k in data:
            if k not in fields:
                key = f"{prefix}.{k}" if prefix else str(k)
                raise self.error(
                    f"{self.source}: unknown key '{key}'; allowed keys here: {', '.join(fields)}"
                )
        kwargs = {}
        for name, f in fields.items():
            key = f"{prefix}.{name}" if prefix else name
            if name in data:
                kwargs[f.name] = self.value(data[name], hints[f.name], key, f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(key, "is required")
        return cls(**kwargs)

    def value(self, v: Any, tp: Any, key: str, rules: typing.Mapping[str, Any] = {}) -> Any:
        """``v`` checked and converted to type ``tp`` under ``rules``."""
        out = self._coerce(v, tp, key)
        self._check(out, key, rules)
        return out

    def _check(self, v: Any, key: str, rules: typing.Mapping[str, Any]) -> None:
        items = v if isinstance(v, list | tuple) else [v]
        if "choices" in rules and any(x not in rules["choices"] for x in items):
            self.fail(key, f"got {v!r}, expected one of {', '.join(map(str, rules['choices']))}")
        for x in items:
            if isinstance(x, bool) or not isinstance(x, int | float):
                continue
            if "min" in rules and x < rules["min"]:
                self.fail(key, f"got {x}, expected a number >= {rules['min']}")
            if "gt" in rules and x <= rules["gt"]:
                self.fail(key, f"got {x}, expected a number > {rules['gt']}")
        wanted = rules.get("nonempty") or (self.strict and isinstance(v, str))
        if wanted and not v and not rules.get("empty_ok"):
            self.fail(key, f"got {v!r}, expected a non-empty {type(v).__name__}")
        if rules.get("dotted") and isinstance(v, dict):
            for k in v:
                if not all(p.isidentifier() for p in str(k).split(".")):
                    self.fail(f"{key}.{k}", "expected a dotted run-config key such as method.alpha")

    def _coerce(self, v: Any, tp: Any, key: str) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, v, key)
        if origin is Literal:
            if v not in typing.get_args(tp):
                self.fail(key, f"got {v!r}, expected {type_name(tp)}")
            return v
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if v is None:
                if len(args) == len(typing.get_args(tp)):
                    self.fail(key, f"got None, expected {type_name(tp)}")
                return None
            errors = []
            for a in args:  # the first member type that takes the value
                try:
                    return self._coerce(v, a, key)
                except self.error as exc:
                    errors.append(exc)
            raise errors[-1]
        if origin in (list, tuple):
            item = typing.get_args(tp)[0]
            if not isinstance(v, list | tuple):
                self.fail(key, f"got {v!r}, expected a list")
            out = [self._coerce(x, item, f"{key}[{i}]") for i, x in enumerate(v)]
            return tuple(out) if origin is tuple else out
        if origin is dict:
            if not isinstance(v, dict):
                self.fail(key, f"got {v!r}, expected a mapping")
            vt = typing.get_args(tp)[1] if typing.get_args(tp) else Any
            return {str(k): self._coerce(x, vt, f"{key}.{k}") for k, x in v.items()}
        return self._scalar(v, tp, key)

    def _scalar(self, v: Any, tp: Any, key: str) -> Any:
        bad = f"got {v!r}, expected {type_name(tp)}"
        if tp is bool:
            if not isinstance(v, bool):
                self.fail(key, bad)
            return v
        if tp is int:
            if isinstance(v, bool) or not isinstance(v, int):
                self.fail(key, bad)
            if not -INT_LIMIT < v < INT_LIMIT:
                self.fail(key, f"got {v}, expected an integer between -2^63 and 2^63")
            return v
        if tp is float:
            if isinstance(v, str):  # PyYAML (YAML 1.1) reads 1e-4 as a string
                try:
                    x = float(v)
                except ValueError:
                    self.fail(key, bad)
            elif isinstance(v, bool) or not isinstance(v, int | float):
                self.fail(key, bad)
            else:
                x = float(v)
            if not math.isfinite(x):  # nan and inf parse as floats but mean nothing here
                self.fail(key, f"got {v!r}, expected a finite number")
            return x
        if tp is str:
            if not isinstance(v, str):
                self.fail(key, bad)
            return v
        return v


def set_dotted(data: dict[str, Any], key: str, value: Any, error: type[Exception]) -> None:
    """``data['a']['b'] = value`` for ``key='a.b'`` (sections created as needed; the value is
    deep-copied). The one way every override in the suite is applied."""
    parts = key.strip().split(".")
    if not all(p.isidentifier() for p in parts):
        raise error(f"key '{key}': expected a dotted key such as method.alpha")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise error(f"key '{key}': '{p}' is a value, not a section")
    node[parts[-1]] = json.loads(json.dumps(value))


def parse_assignment(item: str, error: type[Exception], source: str = "--set") -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)`` with the value parsed as YAML (numbers, booleans,
    lists), as ``--set`` arguments are written."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise error(f"{source}: {item!r} is not of the form key=value, e.g. optim.epochs=2")
    try:
        value = load_yaml_text(text, f"{source} {item!r}", error) if text.strip() else ""
    except error as exc:  # one line, as every YAML error
        raise error(" ".join(str(exc).split())) from None
    return key.strip(), value
