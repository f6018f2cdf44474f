"""Derived values (pure): ``.env`` lines computed from a project's allocations.

A template table maps variable names to text with ``{SERVICE.FIELD}`` placeholders::

    [env]
    API_URL = "http://localhost:{api.port}"
    CORS_ORIGINS = "http://localhost:{web.port},http://127.0.0.1:{web.port}"

``SERVICE`` is a registry service name of the project (``portctl list`` shows them); ``FIELD``
is one of ``FIELDS`` (``port``, ``host``, ``protocol``...). Other features add fields by
registering a function in ``FIELDS`` (e.g. ``url`` once a proxy names the service). ``{{`` and
``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from port_server.exporters.env_file import VAR_NAME
from port_server.models import Allocation

#: FIELD -> how to read it from an allocation. Extensible: add an entry for a new field.
FIELDS: dict[str, Callable[[Allocation], str]] = {
    "port": lambda a: str(a.port),
    "host": lambda a: "localhost",
    "protocol": lambda a: a.protocol,
    "service": lambda a: a.service,
    "instance": lambda a: a.instance,
    "app": lambda a: a.app,
    # The proxy's name for it while the proxy runs (https://web.dev.shop.localhost:2443), else
    # the port on localhost; no trailing slash, so "{web.url}/callback" reads naturally.
    "url": lambda a: a.proxy_url.rstrip("/") or f"http://localhost:{a.port}",
}

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names the variable and the fix."""


@dataclass
class Derived:
    values: dict[str, str] = field(default_factory=dict)
    #: Templates left out because a service they name has no allocation here.
    skipped: dict[str, str] = field(default_factory=dict)


def check_table(table: object, where: str) -> dict[str, str]:
    """The ``[env]`` table of a config file, checked: NAME = "text" pairs."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise TemplateError(f"{where}: [env] must be a table of NAME = \"template\"")
    out = {}
    for name, text in table.items():
        if not VAR_NAME.match(str(name)):
            raise TemplateError(f"{where}: env.{name}: not a variable name; use letters, digits"
                                " and _")
        if not isinstance(text, str):
            raise TemplateError(f"{where}: env.{name}: must be text, e.g. \"http://localhost:"
                                "{api.port}\"")
        for m in _PLACEHOLDER.finditer(text):
            if m.group(1) is not None:
                _field(str(name), m.group(1))
        out[str(name)] = text
    return out


def _field(name: str, placeholder: str) -> tuple[str, str]:
    """(service, field) of ``{SERVICE.FIELD}``; TemplateError naming the fields otherwise."""
    service, dot, what = placeholder.rpartition(".")
    if not dot or not service or what not in FIELDS:
        raise TemplateError(f"env.{name}: {{{placeholder}}} is not SERVICE.FIELD; fields:"
                            f" {', '.join(sorted(FIELDS))}")
    return service, what


def render(templates: Mapping[str, str], allocs: list[Allocation]) -> Derived:
    """Each template with its placeholders filled from ``allocs`` (one project's allocations)."""
    by_service = {a.service: a for a in allocs}
    result = Derived()
    for name, text in templates.items():
        missing: list[str] = []

        def fill(m: re.Match[str], name: str = name, missing: list[str] = missing) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            service, what = _field(name, m.group(1))
            alloc = by_service.get(service)
            if alloc is None:
                missing.append(service)
                return ""
            return FIELDS[what](alloc)

        value = _PLACEHOLDER.sub(fill, text)
        if missing:
            result.skipped[name] = (f"no allocation for service {missing[0]!r}; known:"
                                    f" {', '.join(sorted(by_service)) or '(none)'}")
        else:
            result.values[name] = value
    return result
