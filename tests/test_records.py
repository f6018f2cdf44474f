"""Record: frozen-dataclass semantics without importing dataclasses at start-up."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from port_server.records import Record, field, to_plain


class Point(Record):
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


def test_fields_defaults_and_fresh_factories() -> None:
    a, b = Point(1), Point(2, 3)
    assert (a.x, a.y, a.tags, b.y) == (1, 0, [], 3)
    assert a.tags is not Point(1).tags
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]


def test_frozen_value_semantics_and_pickle() -> None:
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 5  # type: ignore[misc]
    assert p == Point(1, 2) and hash(p) == hash(Point(1, 2)) and p != Point(1, 3)
    assert pickle.loads(pickle.dumps(p)) == p
    assert p.replace(y=9) == Point(1, 9)
    assert to_plain([p]) == [{"x": 1, "y": 2, "tags": []}]


def test_the_dataclasses_functions_work_through_public_api_only() -> None:
    p = Point(1, 2, ["a"])
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "tags": ["a"]}
    assert dataclasses.replace(p, x=7) == Point(7, 2, ["a"])
    assert dataclasses.is_dataclass(p)
    source = (Path(__file__).parents[1] / "src" / "port_server" / "records.py").read_text()
    assert "dataclasses._" not in source and "in str(ann)" not in source  # no private internals
