"""A bounded walk over PyYAML's node graph (``yaml.compose``, safe, C-accelerated when present).

Working on nodes rather than constructed Python objects gives three things compose needs: each
value's line number, scalars exactly as written (YAML 1.1 would read ``22:22`` as sexagesimal 1342;
compose reads YAML 1.2), and compose's own tags (``!reset``, ``!override``) without a custom
constructor. Aliases share one node, so a "billion laughs" file is small in memory; only walking it
could explode, and every walk draws from a ``Budget``.
"""

from __future__ import annotations

from typing import Any

from port_server.scanners.base import ScanError

MAX_NODES = 200_000


class Budget:
    """Counts node visits; past ``limit`` the file is rejected as an alias bomb."""

    def __init__(self, limit: int = MAX_NODES) -> None:
        self.left = limit

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise ScanError("YAML alias/merge expansion exceeds the safety bound (alias bomb?)")


def compose_document(text: str) -> Any:
    """The first document's root node, or None for an empty file. Raises ScanError."""
    import yaml

    loader_cls: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for node in yaml.compose_all(text, Loader=loader_cls):
            if node is not None:
                return node
    except yaml.YAMLError as exc:
        raise ScanError(" ".join(str(exc).split())) from None
    return None


def is_mapping(node: Any) -> bool:
    return node is not None and node.id == "mapping"


def is_sequence(node: Any) -> bool:
    return node is not None and node.id == "sequence"


def is_scalar(node: Any) -> bool:
    return node is not None and node.id == "scalar"


def scalar(node: Any) -> str | None:
    """A scalar's text as written (None for non-scalars and YAML nulls)."""
    if not is_scalar(node):
        return None
    if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null", "Null", "NULL"):
        return None
    return str(node.value)


def line_of(node: Any) -> int:
    return int(node.start_mark.line) + 1


def mapping(node: Any, budget: Budget, _depth: int = 0) -> dict[str, Any]:
    """A mapping node's keys -> value nodes, with ``<<`` merges applied (own keys win)."""
    if not is_mapping(node):
        return {}
    if _depth > 32:
        raise ScanError("YAML merge keys nested too deeply")
    own: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for key_node, value_node in node.value:
        budget.spend()
        key = scalar(key_node)
        if key is None:
            continue
        if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if is_sequence(value_node) else [value_node]
            for source in sources:
                for k, v in mapping(source, budget, _depth + 1).items():
                    merged.setdefault(k, v)
            continue
        own[key] = value_node
    return {**merged, **own}


def sequence(node: Any, budget: Budget) -> list[Any]:
    if not is_sequence(node):
        return []
    budget.spend(len(node.value))
    return list(node.value)
