"""A small standard-library client for Dokploy's REST API: ``GET <url>/api/<router>.<procedure>``.

Every failure (unreachable, timeout, 401, 404, other HTTP errors, malformed JSON) is one
``UpstreamError`` line naming the endpoint; no message ever quotes a response body (Dokploy's
answers carry passwords and env values) and the API key never appears in one.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

from port_server.errors import InvalidInput, UpstreamError

DEFAULT_TIMEOUT = 10.0
MAX_BODY = 32 * 1024 * 1024


class DokployClient:
    """GETs Dokploy procedures. Auth: ``x-api-key`` (Dokploy >= 0.19); when that is refused, one
    retry with ``Authorization: Bearer`` for older servers, which is then kept."""

    def __init__(self, url: str, api_key: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:  # e.g. 'http://[::1' (an unclosed IPv6 literal)
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"--url: {url!r} is not a Dokploy address; use e.g."
                               " http://127.0.0.1:3000", field="url")
        if not api_key:
            raise InvalidInput("--api-key: missing; pass --api-key KEY or set $DOKPLOY_API_KEY"
                               " (Dokploy: Settings > Profile > API/CLI)", field="api_key")
        if timeout <= 0:
            raise InvalidInput("--timeout: use a number of seconds above 0", field="timeout")
        base = url.strip().rstrip("/")
        self.base = base if base.endswith("/api") else f"{base}/api"
        self.api_key = api_key
        self.timeout = timeout
        self.bearer = False

    def __repr__(self) -> str:  # never show the key
        return f"DokployClient({self.base!r})"

    def get(self, procedure: str, **params: str) -> Any:
        endpoint = f"GET /api/{procedure}"
        url = f"{self.base}/{procedure}" + (f"?{urlencode(params)}" if params else "")
        try:
            status, body = self._fetch(url)
            if status == 401 and not self.bearer:
                self.bearer = True
                status, body = self._fetch(url)
                if status == 401:
                    self.bearer = False
        except TimeoutError:
            raise UpstreamError(f"Dokploy {endpoint}: no answer within {self.timeout:g}s"
                                " (raise it with --timeout)", endpoint=endpoint) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError | socket.timeout):
                raise UpstreamError(f"Dokploy {endpoint}: no answer within {self.timeout:g}s"
                                    " (raise it with --timeout)", endpoint=endpoint) from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise UpstreamError(f"Dokploy {endpoint}: cannot reach {self.base} ({text})",
                                endpoint=endpoint) from None
        if status == 401:
            raise UpstreamError(f"Dokploy {endpoint}: 401 Unauthorized; check --api-key or"
                                " $DOKPLOY_API_KEY", endpoint=endpoint, status=status)
        if status == 404:
            raise UpstreamError(f"Dokploy {endpoint}: 404 Not Found; is {self.base} a Dokploy"
                                " server, and does the id still exist?", endpoint=endpoint,
                                status=status)
        if status >= 400:
            raise UpstreamError(f"Dokploy {endpoint}: answered HTTP {status}",
                                endpoint=endpoint, status=status)
        try:
            return json.loads(body)
        except ValueError:
            raise UpstreamError(f"Dokploy {endpoint}: answered with malformed JSON",
                                endpoint=endpoint) from None

    def _fetch(self, url: str) -> tuple[int, bytes]:
        headers = {"Accept": "application/json", "User-Agent": "port-server"}
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.api_key}"
        else:
            headers["x-api-key"] = self.api_key
        req = urllib.request.Request(url, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return int(resp.status), resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code), b""
