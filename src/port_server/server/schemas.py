"""Request and response bodies as pydantic models, derived from ``fields.ALLOCATION_FIELDS``.

The models validate input and draw /openapi.json, and the schema is exact: what it allows the
server accepts, what it forbids the server refuses (schemathesis checks both ways). Types are
strict on the wire: a boolean or a string is not a port, ``"ttl": true`` is not a lease. Pool
names depend on the configuration, so ``create_app`` writes them into the document
(``with_pools``). Unknown fields are ignored (port-registry's clients may send more than we know).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
)
from pydantic import create_model as _create_model

from port_server.fields import ALLOCATION_FIELDS, UPDATABLE
from port_server.fields import Field as FieldSpec
from port_server.models import NAME_PATTERN, SCAN_STATES

#: Printable text: no control characters but tab (what the service's check_text allows).
TEXT_PATTERN = r"^[^\x00-\x08\x0a-\x1f]*$"
#: "" or an absolute path (what the service's check_path allows).
PATH_PATTERN = r"^(?:/[^\x00-\x08\x0a-\x1f]*)?$"
#: 1-65535, as text (a range in a query).
PORT_TEXT = (r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
             r"|6553[0-5])")
#: A lease as text: a number and a unit, at most a few years (the limit is 10).
DURATION_PATTERN = (r"^(?:[1-9][0-9]{0,7}(?:\.[0-9]{1,3})?s?|[1-9][0-9]{0,5}(?:\.[0-9]{1,3})?m"
                    r"|[1-9][0-9]{0,3}(?:\.[0-9]{1,3})?h|[1-9][0-9]{0,2}(?:\.[0-9]{1,3})?d"
                    r"|[1-9][0-9]?(?:\.[0-9]{1,3})?w)$")
MAX_TTL_SECONDS = 10 * 365 * 86400
RFC3339_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                   r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2}))?$")
_STATE = f"(?:{'|'.join(SCAN_STATES)})"
SCAN_STATES_PATTERN = f"^$|^ *{_STATE} *(?:, *{_STATE} *)*$"
PORT_RANGE_PATTERN = f"^$|^{PORT_TEXT}(?:-{PORT_TEXT})?$"


def pattern_hint(pattern: str, value: Any) -> str:
    """What a value refused by ``pattern`` should look like, for the one-line error."""
    if pattern == NAME_PATTERN or pattern.endswith(NAME_PATTERN):
        return "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if pattern == PORT_RANGE_PATTERN:
        return f"{value!r} is not a range; use LO-HI with ports from 1 to 65535, e.g. 3000-3999"
    if pattern == SCAN_STATES_PATTERN:
        return f"{value!r}: use {', '.join(SCAN_STATES)} (comma-separated)"
    if pattern == PATH_PATTERN:
        return f"{value!r} is not absolute; give the worktree's full path"
    if pattern == TEXT_PATTERN:
        return "must have no control characters (tab is allowed)"
    if pattern == DURATION_PATTERN:
        return f"{value!r} is not a duration; use e.g. 90s, 15m, 2h, 7d"
    return f"{value!r} is not one of the accepted values"


def whole_number(value: Any) -> Any:
    """JSON integers only: ``true`` and ``"4001"`` are refused, ``4001.0`` is 4001."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return value


def digits(value: Any) -> Any:
    """A number in a path or query: plain digits only (``8_0``, ``+80``, `` 80`` are refused)."""
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise ValueError(f"{value!r} is not a whole number; write it in digits")
        return int(value)
    return value


def port_number(value: Any) -> Any:
    """A port in a path, query or body: a JSON integer or plain digits, from 1 to 65535."""
    number = digits(value) if isinstance(value, str) else whole_number(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"{value!r} is not a port; use a number from 1 to 65535")
    return number


def number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number of seconds or a duration such as 90s, 2h")
    return value


WholeNumber = BeforeValidator(whole_number)
Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(port_number)]
PortOrAuto = Annotated[int, Field(ge=0, le=65535, description="explicit port; 0 = auto-assign"),
                       WholeNumber]
Id = Annotated[int, Field(ge=1, le=2**62), WholeNumber]
Pid = Annotated[int, Field(ge=1, le=2**31), WholeNumber]
PathPort = Annotated[int, Field(ge=1, le=65535), BeforeValidator(port_number)]
PathId = Annotated[int, Field(ge=1, le=2**62), BeforeValidator(digits)]
QueryPort = PathPort
Count = Annotated[int, Field(ge=1, le=1000), BeforeValidator(digits)]
Limit = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(digits)]
Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN, max_length=63)]
Protocol = Literal["tcp", "udp"]
def text(limit: int) -> Any:
    return Annotated[StrictStr, Field(max_length=limit, pattern=TEXT_PATTERN)]


def check_ttl(value: float | str) -> float | str:
    """The lease length as the schema draws it: (0, 10 years] seconds, or DURATION_PATTERN."""
    import re

    if isinstance(value, str):
        if not re.match(DURATION_PATTERN, value):
            raise ValueError("must be a duration such as 90s, 15m, 2h, 7d")
    elif not 0 < value <= MAX_TTL_SECONDS:
        raise ValueError(f"must be more than 0 and at most {MAX_TTL_SECONDS} seconds")
    return value


def ttl_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update({"anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_SECONDS},
        {"type": "string", "pattern": DURATION_PATTERN}],
        "description": "lease: seconds, or a duration such as 90s, 15m, 2h, 7d"})


Ttl = Annotated[float | str, BeforeValidator(number), AfterValidator(check_ttl),
                Field(json_schema_extra=ttl_schema)]


def since_schema(schema: dict[str, Any]) -> None:
    schema.pop("type", None)
    schema["anyOf"] = [{"type": "string", "pattern": DURATION_PATTERN},
                       {"type": "string", "format": "date-time"},
                       {"type": "string", "format": "date"}]


def wire_type(spec: FieldSpec) -> Any:
    """The strict request type of one allocation field."""
    if spec.kind == "path":
        return Annotated[StrictStr, Field(max_length=spec.limit, pattern=PATH_PATTERN)]
    return {
        "id": Id, "pid": Pid, "port": Port, "name": Name, "protocol": Protocol,
        "bool": StrictBool, "float": float,
    }.get(spec.kind) or text(spec.limit)


def out_type(name: str, spec: FieldSpec) -> Any:
    """The response type of one allocation field (nullable where ``Allocation`` allows None)."""
    base: Any = {"id": int, "pid": int, "port": int, "bool": bool, "float": float}.get(
        spec.kind, str)
    return base | None if name in ("pid", "pid_start", "expires_at") else base


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _out_fields() -> dict[str, Any]:
    from port_server.models import Allocation

    out: dict[str, Any] = {}
    for name, spec in ALLOCATION_FIELDS.items():
        default = Allocation._defaults.get(name, ...)
        out[name] = (out_type(name, spec), Field(default, description=spec.description or None))
    return out


def _request_fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in ALLOCATION_FIELDS.items():
        if not spec.request:
            continue
        if name in ("app", "instance", "service"):
            out[name] = (wire_type(spec), Field(description=spec.description))
        elif name == "port":
            out[name] = (PortOrAuto | None, None)
        elif name in ("pid", "http"):
            out[name] = (wire_type(spec) | None, Field(None, description=spec.description))
        else:
            from port_server.models import AllocationRequest

            out[name] = (wire_type(spec), Field(AllocationRequest._defaults[name],
                                                description=spec.description or None))
    out["force"] = (StrictBool, Field(False, description="register an explicit port even if a"
                                                         " process has it bound"))
    out["ttl"] = (Ttl | None, Field(None, json_schema_extra=ttl_or_null))
    return out


def ttl_or_null(schema: dict[str, Any]) -> None:
    ttl_schema(schema)
    schema["anyOf"].append({"type": "null"})


def _update_fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in UPDATABLE:
        spec = ALLOCATION_FIELDS[name]
        kind = (Annotated[int, Field(ge=0, le=2**31), WholeNumber] if name == "pid"
                else wire_type(spec))
        description = spec.description or None
        if name == "pid":
            description = "process using the port; 0 clears it (portctl run)"
        out[name] = (kind, Field(None, description=description))  # omitted: unchanged
    out["force"] = (StrictBool, Field(None, description="update a protected allocation"))
    return out


if TYPE_CHECKING:
    class _Dynamic(_Body):
        def __getattr__(self, name: str) -> Any: ...

    class AllocationOut(_Dynamic): ...

    class AllocateBody(_Dynamic): ...

    class UpdateBody(_Dynamic): ...
else:
    AllocationOut = _create_model("AllocationOut", **_out_fields())
    AllocateBody = _create_model(
        "AllocateBody", __base__=_Body, **_request_fields())
    UpdateBody = _create_model(
        "UpdateBody", __base__=_Body, **_update_fields())
    # At least one field to change (force alone changes nothing).
    UpdateBody.model_config["json_schema_extra"] = {
        "anyOf": [{"required": [name]} for name in UPDATABLE]}


class ReleaseBody(_Body):
    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "anyOf": [{"required": [name]} for name in ("app", "instance", "service", "port")]})

    app: Annotated[StrictStr, Field(min_length=1, max_length=63)] = None  # type: ignore[assignment]
    instance: Annotated[StrictStr, Field(min_length=1, max_length=63)] = None  # type: ignore[assignment]
    service: Annotated[StrictStr, Field(min_length=1, max_length=63)] = None  # type: ignore[assignment]
    port: Port = None  # type: ignore[assignment]
    host: Annotated[StrictStr, Field(max_length=255, description="another host's allocations"
                                     " (needs force); '*' = all")] = None  # type: ignore[assignment]
    force: StrictBool = Field(default=False, description="release protected allocations, or"
                                                         " another host's allocations")


class ProcessOut(BaseModel):
    pid: int | None
    name: str = ""
    user: str = ""
    cmdline: str = ""


class PortStatusOut(BaseModel):
    port: int
    available: bool
    registered: bool
    in_use: bool
    processes: list[ProcessOut]
    holder: AllocationOut | None = None
    holders: list[AllocationOut] = []


def _codes(schema: dict[str, Any]) -> None:
    from port_server.errors import PortServerError, _all_subclasses

    schema["enum"] = sorted(cls.code for cls in _all_subclasses(PortServerError))


class ErrorOut(BaseModel):
    error: str
    code: str = Field(json_schema_extra=_codes, description="a code of the error tree")
    message: str
    field: str | None = None
    holder: AllocationOut | None = None


class DeletedOut(BaseModel):
    status: str
    allocation: AllocationOut | None = None


class ReleasedOut(BaseModel):
    deleted: int
    allocations: list[AllocationOut]


class HealthOut(BaseModel):
    status: str
    version: str


class PoolOut(BaseModel):
    name: str
    lo: int
    hi: int
    size: int
    used: int
    free: int


#: Request models whose ``type`` names a pool.
POOL_NAMED = frozenset({"AllocateBody", "UpdateBody", "SyncItem", "ImportEntry"})


def with_pools(schema: dict[str, Any], pools: list[str]) -> dict[str, Any]:
    """The OpenAPI document with the configured pool names where a pool is named."""
    choices = sorted({"", "auto", *pools})

    def walk(node: Any, name: str = "") -> None:
        """Every request model named in POOL_NAMED, wherever the document holds it (components,
        or a body schema written inline with its own $defs)."""
        if isinstance(node, dict):
            prop = node.get("properties", {}).get("type")
            if (name in POOL_NAMED or node.get("title") in POOL_NAMED) and isinstance(
                    prop, dict) and prop.get("type") == "string":
                prop.pop("pattern", None)
                prop.pop("maxLength", None)
                prop["enum"] = choices
            for key, value in node.items():
                walk(value, key)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    for path, item in schema.get("paths", {}).items():
        if path.startswith("/v1/pools/{name}"):
            for operation in item.values():
                for param in operation.get("parameters", []):
                    if param.get("name") == "name":
                        param["schema"] = {"type": "string", "enum": sorted({"default", *pools})}
    return schema
