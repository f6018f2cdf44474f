"""Input checks shared by every service method: names, ports, protocols, free text, durations.

Each check raises ``InvalidInput`` naming the field and the fix, and returns the value checked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from port_server.errors import InvalidInput
from port_server.integrations.proxy_names import is_http
from port_server.models import (
    METADATA_FIELDS,
    NAME_RE,
    PROTOCOLS,
    AllocationRequest,
    parse_duration,
)
from port_server.settings import Settings
from port_server.type_inference import AUTO, Rules, infer_type


def check_name(field: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidInput(
            f"{field}: {value!r} is not a valid name; use 1-63 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit", field=field)
    return value


def check_port(value: int, field: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInput(f"{field}: {value!r} is not a port; use a number from 1 to 65535",
                           field=field)
    return value


def check_protocol(value: str) -> str:
    if value not in PROTOCOLS:
        raise InvalidInput(f"protocol: {value!r} is not supported; use tcp or udp",
                           field="protocol")
    return value


def check_text(field: str, value: Any, limit: int = 2048) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string", field=field)
    if len(value) > limit or any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidInput(
            f"{field}: must be at most {limit} characters with no control characters",
            field=field)
    return value


def check_path(value: Any) -> str:
    """The worktree an allocation was made from: "" or an absolute path."""
    check_text("path", value, limit=4096)
    if value and not value.startswith("/"):
        raise InvalidInput(f"path: {value!r} is not absolute; give the worktree's full path",
                           field="path")
    return str(value)


def check_pid(value: Any, clearable: bool = False) -> int:
    """A process id; with ``clearable``, 0 is accepted too (it clears a recorded pid)."""
    low = 0 if clearable else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput("pid: must be a process id, or 0 to clear it" if clearable
                           else "pid: must be a process id (a positive number)", field="pid")
    return value


def duration(value: float | str) -> float:
    """A lease length in seconds from a number or text such as "90s", "2h"."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="ttl") from None


def validate_request(req: AllocationRequest, settings: Settings,
                     type_rules: Rules) -> AllocationRequest:
    """The request checked field by field, with an ``auto`` type resolved to a pool name."""
    check_name("app", req.app)
    check_name("instance", req.instance)
    check_name("service", req.service)
    check_protocol(req.protocol)
    if req.port is not None and req.port != 0:
        check_port(req.port)
    for name in METADATA_FIELDS:
        check_text(name, getattr(req, name), limit=2048 if name == "note" else 256)
    check_path(req.path)
    if req.type == AUTO:
        req = replace(req, type=infer_type(req.service, type_rules))
    if req.type:
        settings.pool(req.type)  # unknown pool -> InvalidInput
    if req.http is not None and not isinstance(req.http, bool):
        raise InvalidInput("http: must be true or false", field="http")
    http = is_http(req.type, req.http, settings.proxy.http_pools)
    return req if req.http is http else replace(req, http=http)


def prefixed(where: str, exc: InvalidInput, default_field: str | None = None) -> InvalidInput:
    """``exc`` restated for one entry of a batch: ``allocations[3].port: ...``."""
    field = exc.field or default_field
    return InvalidInput(f"{where}.{exc.message}", field=f"{where}.{field}")
