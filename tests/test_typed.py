"""The one builder behind every file the suite reads (tssd.typed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from tssd.typed import Builder, parse_assignment, set_dotted

pytestmark = pytest.mark.unit


class Bad(ValueError):
    pass


@dataclass
class Inner:
    rate: float = field(default=0.5, metadata={"gt": 0.0})
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str
    count: int = field(default=1, metadata={"min": 1})
    items: tuple[int, ...] = field(default=(), metadata={"min": 0})
    inner: Inner = field(default_factory=Inner)
    over: dict[str, object] = field(default_factory=dict, metadata={"dotted": True})
    either: int | str | None = None
    renamed: bool = field(default=False, metadata={"key": "flag"})
    note: str = field(default="", metadata={"empty_ok": True})
    hidden: str = field(default="x", metadata={"skip": True})


def build(data, strict=True):
    return Builder("f.yaml", Bad, strict_strings=strict).build(Outer, data)


def test_builds_nested_types_with_defaults():
    o = build({"name": "n", "items": [1, 2], "inner": {"mode": "b"}, "flag": True, "either": "s"})
    assert o.items == (1, 2) and o.inner == Inner(0.5, "b") and o.renamed and o.either == "s"
    assert build({"name": "n", "inner": {"rate": "1e-3"}}).inner.rate == 1e-3  # YAML 1.1 floats


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, r"f\.yaml: key 'name': is required"),
        ({"name": "n", "colour": 1}, r"f\.yaml: unknown key 'colour'; allowed keys here: name, "),
        ({"name": "n", "hidden": "y"}, r"unknown key 'hidden'"),
        ({"name": "n", "count": 0}, r"key 'count': got 0, expected a number >= 1"),
        ({"name": "n", "count": True}, r"key 'count': got True, expected an integer"),
        ({"name": "n", "items": [1, -1]}, r"key 'items': got -1, expected a number >= 0"),
        ({"name": "n", "items": 3}, r"key 'items': got 3, expected a list"),
        ({"name": "n", "inner": {"rate": 0}}, r"key 'inner.rate': got 0.0, expected a number > 0"),
        (
            {"name": "n", "inner": {"rate": "nan"}},
            r"key 'inner.rate': got 'nan', expected a finite",
        ),
        ({"name": "n", "inner": {"mode": "c"}}, r"key 'inner.mode': got 'c', expected one of"),
        ({"name": "n", "inner": 5}, r"key 'inner': expected a mapping, got 5"),
        ({"name": ""}, r"key 'name': got '', expected a non-empty str"),
        ({"name": "n", "over": {"a..b": 1}}, r"key 'over.a..b': expected a dotted run-config key"),
        ({"name": "n", "either": 1.5}, r"key 'either': got 1.5, expected a string"),
    ],
)
def test_every_error_names_file_key_and_expectation(data, message):
    with pytest.raises(Bad, match=message):
        build(data)


def test_lenient_builder_takes_empty_strings():
    assert build({"name": ""}, strict=False).name == ""
    assert build({"name": "n", "note": ""}).note == ""


def test_dotted_assignment():
    d = {"a": {"b": 1}}
    set_dotted(d, "a.c.d", [1, 2], Bad)
    assert d == {"a": {"b": 1, "c": {"d": [1, 2]}}}
    with pytest.raises(Bad, match="'b' is a value, not a section"):
        set_dotted(d, "a.b.c", 1, Bad)
    with pytest.raises(Bad, match="expected a dotted key"):
        set_dotted(d, "a-b", 1, Bad)
    assert parse_assignment("optim.lr=1e-3", Bad) == ("optim.lr", "1e-3")
    assert parse_assignment("x.y=[1, 2]", Bad) == ("x.y", [1, 2])
    assert parse_assignment("x.y=", Bad) == ("x.y", "")
    with pytest.raises(Bad, match="not of the form key=value"):
        parse_assignment("novalue", Bad)
