"""One error tree for the whole package.

Each class carries a stable machine ``code``, the HTTP status the server answers with, and the exit
code the CLI ends with. The server turns any of them into one JSON shape
(``{"error", "code", "message", ...extra}``) in exactly one place (``server/app.py``); the
client turns that JSON back into the same class by ``code`` (never by message text); the CLI
turns the class into an exit code in exactly one place (``cli/__init__.py``).

    PortServerError                 500  exit 1  internal
    ├── InvalidInput                400  exit 2  invalid_input
    │   ├── PayloadTooLarge         413  exit 2  payload_too_large
    │   ├── UnsupportedMediaType    415  exit 2  unsupported_media_type
    │   └── MethodNotAllowed        405  exit 2  method_not_allowed   (with an Allow header)
    ├── NotFound                    404  exit 1  not_found
    │   ├── AllocationNotFound      404  exit 1  allocation_not_found
    │   └── ProcessNotFound         404  exit 1  process_not_found  (a pid lease names no process)
    ├── Conflict                    409  exit 1  conflict
    │   ├── PortAllocated           409  exit 1  port_allocated
    │   ├── PortInUse               409  exit 1  port_in_use
    │   ├── ServiceHoldsPort        409  exit 1  service_holds_port
    │   ├── PoolExhausted           409  exit 1  pool_exhausted
    │   ├── ImportConflict          409  exit 1  import_conflict  (``report``: what and why)
    │   ├── NameTaken               409  exit 1  name_taken       (two allocations, one proxy name)
    │   └── Protected               409  exit 1  protected
    ├── PermissionDenied            403  exit 1  permission_denied
    │   ├── OtherHost               403  exit 1  other_host
    │   ├── HostNotAllowed          403  exit 1  host_not_allowed
    │   └── OriginNotAllowed        403  exit 1  origin_not_allowed
    ├── Unauthorized                401  exit 1  unauthorized
    ├── StoreUnavailable            503  exit 1  store_unavailable
    ├── FeatureUnavailable          501  exit 1  feature_unavailable  (an optional extra is missing)
    ├── ServerUnreachable           ---  exit 3  server_unreachable   (client side only)
    ├── ProtocolError               ---  exit 1  protocol_error       (client side only)
    ├── UpstreamError               502  exit 1  upstream_error       (a third-party API: Dokploy)
    └── AlreadyRunning              ---  exit 1  already_running      (daemon start-up)
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations only need it for mypy
    from typing import Any, ClassVar

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class PortServerError(Exception):
    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_ERROR
    #: The short v1 ``error`` text; None means "use the full message".
    short: ClassVar[str | None] = None
    #: Seconds a client should wait before retrying (sent as the Retry-After header), if any.
    retry_after: ClassVar[int | None] = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.short or self.message,
            "code": self.code,
            "message": self.message,
        }
        body.update(self.extra)
        return body


class InvalidInput(PortServerError):
    code = "invalid_input"
    http_status = 400
    exit_code = EXIT_USAGE

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        if field is not None:
            extra["field"] = field
        super().__init__(message, **extra)

    @property
    def field(self) -> str | None:
        value = self.extra.get("field")
        return value if isinstance(value, str) else None


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"
    http_status = 415


class MethodNotAllowed(InvalidInput):
    code = "method_not_allowed"
    http_status = 405


class NotFound(PortServerError):
    code = "not_found"
    http_status = 404


class AllocationNotFound(NotFound):
    code = "allocation_not_found"
    short = "allocation not found"


class ProcessNotFound(NotFound):
    code = "process_not_found"
    short = "no such process"


class Conflict(PortServerError):
    code = "conflict"
    http_status = 409


class PortAllocated(Conflict):
    code = "port_allocated"
    short = "port already allocated"


class PortInUse(Conflict):
    code = "port_in_use"
    short = "port in use on this machine"


class ServiceHoldsPort(Conflict):
    code = "service_holds_port"
    short = "service already holds another port"


class PoolExhausted(Conflict):
    code = "pool_exhausted"
    short = "no ports available"


class ImportConflict(Conflict):
    code = "import_conflict"
    short = "import conflicts with the registry"


class NameTaken(Conflict):
    """Two allocations would answer at the same proxy name (``holder`` names the other)."""

    code = "name_taken"
    short = "proxy name already taken"


class Protected(Conflict):
    """The allocation is protected: release/update need ``force``."""

    code = "protected"
    short = "allocation is protected"


class PermissionDenied(PortServerError):
    code = "permission_denied"
    http_status = 403


class OtherHost(PermissionDenied):
    """A change to another host's allocation without force: its port cannot be probed here."""

    code = "other_host"


class HostNotAllowed(PermissionDenied):
    """The Host header is not a loopback or configured name (DNS rebinding)."""

    code = "host_not_allowed"


class OriginNotAllowed(PermissionDenied):
    """A browser page from another origin tried a mutation (CSRF)."""

    code = "origin_not_allowed"


class Unauthorized(PortServerError):
    code = "unauthorized"
    http_status = 401


class StoreUnavailable(PortServerError):
    code = "store_unavailable"
    http_status = 503
    retry_after = 2


class FeatureUnavailable(PortServerError):
    """The server runs without an optional extra the request needs (e.g. ``metrics``)."""

    code = "feature_unavailable"
    http_status = 501


class ServerUnreachable(PortServerError):
    code = "server_unreachable"
    http_status = 503
    exit_code = EXIT_UNREACHABLE


class ProtocolError(PortServerError):
    code = "protocol_error"
    http_status = 502


class UpstreamError(PortServerError):
    """A third-party service we read from (Dokploy) failed: unreachable, 401, 404, bad JSON."""

    code = "upstream_error"
    http_status = 502


class AlreadyRunning(PortServerError):
    code = "already_running"


def _all_subclasses(cls: type[PortServerError]) -> list[type[PortServerError]]:
    """The tree below ``cls``, as this module defines it (a private subclass elsewhere, such as
    the writer's internal signal, is not part of the wire protocol)."""
    out = [cls]
    for sub in cls.__subclasses__():
        if sub.__module__ == __name__:
            out.extend(_all_subclasses(sub))
    return out


def error_class_for(code: str) -> type[PortServerError]:
    """The class that owns ``code``; unknown codes map to the base class."""
    for cls in _all_subclasses(PortServerError):
        if cls.code == code:
            return cls
    return PortServerError


def from_json(status: int, body: Any) -> PortServerError:
    """Rebuild an error from the server's JSON body (or a v1 server's ``{"error": ...}``)."""
    if not isinstance(body, dict):
        return ProtocolError(f"server answered {status} with an unexpected body")
    code = body.get("code")
    message = str(body.get("message") or body.get("error") or f"server answered {status}")
    extra = {k: v for k, v in body.items() if k not in ("error", "code", "message")}
    cls = error_class_for(code) if isinstance(code, str) else PortServerError
    if cls is PortServerError:  # a v1 server, or a code defined outside this module
        cls = {400: InvalidInput, 404: NotFound, 409: PortAllocated, 403: PermissionDenied,
               401: Unauthorized, 413: PayloadTooLarge, 503: StoreUnavailable}.get(
                   status, PortServerError)
    err = cls.__new__(cls)
    PortServerError.__init__(err, message, **extra)
    return err


def path_error(flag: str, path: object, exc: OSError) -> InvalidInput:
    """A path the user gave (``flag``) cannot be used: one line naming it, its reason, the fix."""
    reason = exc.strerror or str(exc)
    inner = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return InvalidInput(f"{flag} {path}: {reason}{inner}; choose a path you can write to",
                        field=flag.lstrip("-"))
