"""Browser and network hardening, as one ASGI middleware in front of every route.

A daemon on 127.0.0.1 is reachable from every web page the user opens. Browsers can send
"simple" cross-site requests (form posts, ``text/plain`` fetches) without asking, and a DNS
rebinding page can make its own origin resolve to 127.0.0.1. So:

- the ``Host`` header must be a loopback name or address, or a configured name (rebinding);
- a request carrying a body (or a Content-Type) must be ``application/json``, which a page on
  another origin can only send after a CORS preflight, and the server grants no CORS at all;
- a mutation whose ``Origin`` (or ``Sec-Fetch-Site``) says another site is refused (CSRF);
- with a token file, every TCP request needs ``Authorization: Bearer <token>`` (compared in
  constant time); Unix-socket callers are identified by the kernel instead.

It also sets the request's caller (``audit.set_caller``) for the service, from the identity the
kernel gave when the connection was accepted (``server/peer.py``); its user name is looked up
lazily, so reads do not pay for it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from port_server.audit import reset_caller, set_caller
from port_server.errors import (
    HostNotAllowed,
    InvalidInput,
    OriginNotAllowed,
    PortServerError,
    Unauthorized,
    UnsupportedMediaType,
)
from port_server.models import Actor
from port_server.server.peer import PEER_EXTENSION, Peer, caller_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                            "ip6-loopback"})


def split_host(value: str) -> str:
    """'127.0.0.1:51234' -> '127.0.0.1', '[::1]:80' -> '::1', 'Name' -> 'name'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def host_allowed(value: str, extra: Iterable[str]) -> bool:
    name = split_host(value).rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost") or name in extra:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _json_type(value: str) -> bool:
    return value.split(";", 1)[0].strip().lower() == "application/json"


class Hardening:
    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = (),
                 token: str | None = None) -> None:
        self.app = app
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            token_ok = self.check(scope)
        except PortServerError as err:
            from port_server.server.responses import error_response

            headers = {"WWW-Authenticate": "Bearer"} if isinstance(err, Unauthorized) else None
            await error_response(err, headers)(scope, receive, send)
            return
        caller = _LazyCaller(scope, token_ok)
        token = set_caller(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_caller(token)

    def check(self, scope: Scope) -> bool:
        """Raise for a refused request; return whether it carried the right bearer token."""
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            raise HostNotAllowed(
                f"host: {split_host(host) or '(none)'!r} is not a loopback name; add it to"
                " [security] allowed_hosts in the config file if you really serve it")
        peer = (scope.get("extensions") or {}).get(PEER_EXTENSION)
        via_unix = isinstance(peer, Peer) and peer.kind == "unix"
        token_ok = False
        if self.token is not None and not via_unix:
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), self.token):
                raise Unauthorized("unauthorized: this server needs a bearer token; set"
                                   " PORT_SERVER_TOKEN or --token-file")
            token_ok = True
        if scope.get("method", "GET") not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin.rstrip("/").lower() not in (
                    f"http://{host.lower()}", f"https://{host.lower()}"):
                raise OriginNotAllowed(
                    f"origin: {origin} may not change the registry (cross-site request refused)")
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                raise OriginNotAllowed("origin: cross-site request refused")
        has_body = (headers.get("content-length", "0").strip() not in ("", "0")
                    or "transfer-encoding" in headers)
        ctype = headers.get("content-type")
        if (has_body or ctype is not None) and not _json_type(ctype or ""):
            raise UnsupportedMediaType(
                f"content-type: {ctype or '(none)'!r} is not accepted; send the body as"
                " application/json", field="content-type")
        return token_ok


class _LazyCaller:
    """Resolve the request's caller once, on first use, from any thread."""

    def __init__(self, scope: Scope, token_ok: bool) -> None:
        self._scope: dict[str, Any] = dict(scope)
        self._token_ok = token_ok
        self._actor: Actor | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Actor:
        with self._lock:
            if self._actor is None:
                self._actor = caller_of(self._scope, self._token_ok)
            return self._actor


def ensure_token_file(path: Path) -> None:
    """Create ``path`` with a fresh random token, mode 0600, unless it exists."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")


def read_token(path: Path) -> str:
    """The token in ``path``; refuse a file others can read or an empty one."""
    try:
        if path.stat().st_mode & 0o077:
            raise InvalidInput(f"--token-file {path}: readable by other users; chmod 600 it",
                               field="token_file")
        token = path.read_text().strip()
    except OSError as exc:
        raise InvalidInput(f"--token-file {path}: {exc.strerror}", field="token_file") from None
    if len(token) < 16:
        raise InvalidInput(f"--token-file {path}: the token must be at least 16 characters",
                           field="token_file")
    return token
