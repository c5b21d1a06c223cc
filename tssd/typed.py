"""Typed, validated dataclasses from untrusted nested dicts (YAML files, ``--set`` overrides).

One builder for every file the suite reads: run configs (:mod:`tssd.config`) and the harness's
experiments, profiles and paper tables (:mod:`bench.schema`). A dataclass declares its fields
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
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Literal

import yaml


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
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise error(f"{source}: {item!r}: the value is not valid YAML ({exc})") from None
    return key.strip(), value
