"""The two JSON registry formats, both ways: pure functions, no I/O.

- ``json``: portctl's own export, ``{"format": "port-server", "version": 1, "allocations": [...]}``
  with every Allocation field; a bare list (``portctl list --json``) reads the same way.
- ``portman``: portman's ``config/port_registry.json``, ``{"allocations": {"3000": {"service",
  "environment", "status", "owner", "url", ...}}}``, keyed by port ("5353/udp" for udp). Its free
  text service names ("FibreFlow Production") become registry names ("FibreFlow-Production"); app
  and instance default to ``portman``/``default``, as ``portman allocate`` records them.

``parse_registry`` turns either into Allocation entries (id 0; an empty created_at means "now"),
or raises InvalidInput naming the exact place in the file that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from port_server.errors import InvalidInput
from port_server.models import METADATA_FIELDS, NAME_RE, Allocation, registry_name

FORMAT_NAME = "port-server"
FORMAT_VERSION = 1
PORTMAN_APP = "portman"
PORTMAN_INSTANCE = "default"

#: portman registry entry keys we understand, mapped to Allocation fields (others are ignored).
_PORTMAN_KEYS = {
    "service": "service", "name": "service", "type": "type", "owner": "owner",
    "environment": "environment", "env": "environment", "status": "status", "url": "url",
    "note": "note", "notes": "note", "description": "note", "protocol": "protocol",
    "app": "app", "instance": "instance", "created_at": "created_at", "source": "source",
}


def to_json_document(allocs: Iterable[Allocation]) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "allocations": [a.to_dict() for a in allocs],
    }


def to_portman_document(allocs: Iterable[Allocation]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for a in sorted(allocs, key=lambda a: (a.port, a.protocol)):
        key = str(a.port) if a.protocol == "tcp" else f"{a.port}/{a.protocol}"
        entry: dict[str, Any] = {"service": a.service}
        for name in ("type", "environment", "status", "owner", "url", "note"):
            if getattr(a, name):
                entry[name] = getattr(a, name)
        entry.update({"app": a.app, "instance": a.instance, "source": a.source,
                      "created_at": a.created_at})
        out[key] = entry
    return {"allocations": out}


def _fail(where: str, problem: str) -> InvalidInput:
    return InvalidInput(f"import file: {where}: {problem}", field=where)


def _text(where: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(where, "must be text")
    return str(value)


def _port(where: str, value: Any) -> int:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value,
                                                                                bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _fail(where, f"{value!r} is not a port; use a number from 1 to 65535")
    return int(text)


def _name(where: str, value: Any) -> str:
    text = _text(where, value)
    if not NAME_RE.match(text):
        raise _fail(where, f"{text!r} is not a valid name; use 1-63 letters, digits, '.', '_'"
                           " or '-', starting with a letter or digit")
    return text


def _parse_portman(table: dict[str, Any]) -> list[Allocation]:
    entries: list[Allocation] = []
    seen_services: set[tuple[str, str, str]] = set()
    for key, raw in table.items():
        where = f"allocations[{key!r}]"
        port_text, _, protocol = str(key).partition("/")
        port = _port(where, port_text)
        if not isinstance(raw, dict):
            raise _fail(where, "must be an object like {\"service\": \"name\", ...}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            target = _PORTMAN_KEYS.get(str(name))
            if target is not None and target not in values:
                values[target] = _text(f"{where}.{name}", value)
        if not values.get("service"):
            raise _fail(f"{where}.service", "missing; every allocation needs a service name")
        service = registry_name(values["service"])
        app = _name(f"{where}.app", values.get("app") or PORTMAN_APP)
        instance = _name(f"{where}.instance", values.get("instance") or PORTMAN_INSTANCE)
        if (app, instance, service) in seen_services:  # two ports of one free-text name
            service = registry_name(f"{service[:57]}-{port}")
        seen_services.add((app, instance, service))
        entries.append(Allocation(
            id=0, app=app, instance=instance, service=service, port=port,
            created_at=values.get("created_at", ""),
            protocol=(protocol or values.get("protocol") or "tcp").lower(),
            source=values.get("source") or "import",
            **{f: values.get(f, "") for f in METADATA_FIELDS}))
    return entries


def _parse_own(items: list[Any]) -> list[Allocation]:
    entries: list[Allocation] = []
    for i, raw in enumerate(items):
        where = f"allocations[{i}]"
        if not isinstance(raw, dict):
            raise _fail(where, "must be an object with app, instance, service and port")
        for required in ("app", "instance", "service", "port"):
            if required not in raw:
                raise _fail(f"{where}.{required}", "missing")
        values: dict[str, Any] = {
            "id": 0, "app": _name(f"{where}.app", raw["app"]),
            "instance": _name(f"{where}.instance", raw["instance"]),
            "service": _name(f"{where}.service", raw["service"]),
            "port": _port(f"{where}.port", raw["port"]),
            "created_at": _text(f"{where}.created_at", raw.get("created_at")),
            "source": "import",  # unless the file says where the allocation came from
        }
        for name in ("protocol", "source", "updated_at", *METADATA_FIELDS):
            if raw.get(name):
                values[name] = _text(f"{where}.{name}", raw[name])
        if isinstance(raw.get("protected"), bool):
            values["protected"] = raw["protected"]
        entries.append(Allocation(**values))
    return entries


def parse_registry(document: Any) -> list[Allocation]:
    """Entries from a decoded JSON document in either format (see the module docstring)."""
    if isinstance(document, list):
        return _parse_own(document)
    if not isinstance(document, dict) or "allocations" not in document:
        raise InvalidInput(
            "import file: not a registry; expected {\"allocations\": {...}} (portman) or"
            " {\"allocations\": [...]} (portctl export)", field="file")
    table = document["allocations"]
    if isinstance(table, dict):
        return _parse_portman(table)
    if isinstance(table, list):
        return _parse_own(table)
    raise _fail("allocations", "must be an object keyed by port or a list of allocations")
