"""An allocation's fields, once: what each holds and where it goes.

``models.Allocation`` gives each field its Python type and default; this table gives the rest,
and everything else derives from the two: the store's columns (``store.base``), the API's request
and response models (``server.schemas``, and so /openapi.json), the client's import payload, the
CSV columns and the import/export entries. Adding a field to an allocation means a line in
``Allocation``, a line here and a named migration; ``tests/test_fields.py`` checks they agree.

Kinds (the wire rule for each): ``id`` and ``pid`` positive integers, ``port`` 1-65535,
``name`` a registry name, ``protocol`` tcp or udp, ``pool`` a pool name (or "" for the default),
``text`` printable text up to ``limit`` characters, ``path`` "" or an absolute path, ``bool``,
``float``, ``time`` an ISO time.
"""

from __future__ import annotations

from port_server.records import Record


class Field(Record):
    kind: str
    #: Longest text accepted (``text``, ``pool``, ``time`` kinds).
    limit: int = 0
    #: A column of ``allocations`` (``proxy_url`` is derived by the server, never stored).
    stored: bool = True
    #: Set by ``POST /v1/allocations``.
    request: bool = False
    #: Changed by ``PATCH /v1/allocations/{id}``.
    update: bool = False
    #: Carried by export and import files.
    export: bool = False
    description: str = ""


ALLOCATION_FIELDS: dict[str, Field] = {
    "id": Field("id"),
    "app": Field("name", 63, request=True, export=True, description="application name"),
    "instance": Field("name", 63, request=True, export=True,
                      description="instance: worktree, branch, environment"),
    "service": Field("name", 63, request=True, export=True, description="service name"),
    "port": Field("port", request=True, export=True),
    "created_at": Field("time", 64, export=True),
    "protocol": Field("protocol", request=True, export=True),
    "host": Field("text", 255, description="the host whose port this is"),
    "type": Field("pool", 63, request=True, update=True, export=True,
                  description="the pool it was assigned from (\"\" = the default pool)"),
    "owner": Field("text", 256, request=True, update=True, export=True),
    "environment": Field("text", 256, request=True, update=True, export=True),
    "status": Field("text", 256, request=True, update=True, export=True),
    "url": Field("text", 256, request=True, update=True, export=True),
    "note": Field("text", 2048, request=True, update=True, export=True),
    "source": Field("text", 32, request=True, export=True,
                    description="who registered it: manual, scan, compose, run, dokploy..."),
    "pid": Field("pid", request=True, update=True,
                 description="the process using the port; a lease for sources manual and run"),
    "pid_start": Field("float", description="that process's start time (epoch seconds)"),
    "command": Field("text", 2048, request=True, update=True,
                     description="the command line using the port"),
    "protected": Field("bool", request=True, update=True, export=True,
                       description="release/update refuse without force; never reclaimed"),
    "expires_at": Field("time", 64, description="when its time lease ends"),
    "updated_at": Field("time", 64, export=True),
    "path": Field("path", 4096, request=True, update=True,
                  description="the worktree it was made from; prune releases it once gone"),
    "http": Field("bool", request=True, update=True,
                  description="an HTTP service: the proxy gives it a name"),
    "proxy_url": Field("text", 2048, stored=False,
                       description="where the proxy answers for it, if named"),
}


def names(**flags: bool) -> tuple[str, ...]:
    """The fields whose table entry has every given flag, in ``Allocation``'s order."""
    return tuple(name for name, f in ALLOCATION_FIELDS.items()
                 if all(getattr(f, flag) == want for flag, want in flags.items()))


#: Columns of ``allocations``, in ``Allocation``'s order.
STORED = names(stored=True)
#: What ``PATCH /v1/allocations/{id}`` may change.
UPDATABLE = names(update=True)
#: What export and import files carry.
EXPORTED = names(export=True)
