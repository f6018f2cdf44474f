"""Names instead of ports: which DNS name answers for which allocation (pure).

Every allocation marked ``http`` answers at ``<service>.<instance>.<app>.localhost``; an
instance's default service (``web`` unless configured) also answers at
``<instance>.<app>.localhost``, and the main instance's at ``<app>.localhost``. Allocations of
other hosts (a team registry) answer at ``<service>.<instance>.<app>.<host>.localhost``, and only
when asked for. Names are DNS-safe: lowercase, ``_`` and ``.`` folded to ``-``, non-ASCII as
punycode, labels of 1-63 characters. Two allocations that fold to one name are a collision: the
older keeps the name and the newer is reported, never silently routed instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from port_server.errors import InvalidInput
from port_server.models import Allocation
from port_server.records import Record

DOMAIN = "localhost"
#: The pools whose allocations are HTTP services (a proxy name) unless said otherwise.
HTTP_POOLS = ("web", "api", "monitoring")
#: Instances taken as "the main worktree's" for ``<app>.localhost`` when no recorded worktree
#: path says which one is, in this order.
MAIN_INSTANCES = ("main", "master", "default")

_FOLD = re.compile(r"[._]+")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@functools.lru_cache(maxsize=4096)  # every listed allocation's URL asks again
def dns_label(text: str, field: str = "name") -> str:
    """One registry name as one DNS label; InvalidInput (naming ``field``) if it cannot be."""
    folded = _FOLD.sub("-", text.strip().lower()).strip("-")
    if not folded.isascii():
        try:
            folded = folded.encode("idna").decode("ascii")
        except UnicodeError:
            folded = ""
    problem = ""
    if not _LABEL.match(folded):
        problem = "a DNS label is 1-63 letters, digits or '-', not starting or ending with '-'"
    elif folded[2:4] == "--" and not folded.startswith("xn--"):
        problem = "'--' in the third and fourth places is reserved in DNS names"
    elif folded.startswith("xn--"):
        try:
            folded.encode("ascii").decode("idna")
        except UnicodeError:
            problem = "it starts with 'xn--' but is not valid punycode"
    if problem:
        raise InvalidInput(f"{field}: {text!r} cannot be part of a proxy name: {problem};"
                           " rename it, or pass --no-http", field=field)
    return folded


def service_name(alloc: Allocation, local_host: str) -> str:
    """``<service>.<instance>.<app>[.<host>].localhost``; InvalidInput if a part cannot be."""
    parts = [dns_label(alloc.service, "service"), dns_label(alloc.instance, "instance"),
             dns_label(alloc.app, "app")]
    if alloc.host and alloc.host != local_host:
        parts.append(dns_label(alloc.host, "host"))
    return ".".join([*parts, DOMAIN])


def url_for(name: str, scheme: str, port: int) -> str:
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{name}/" if port == default else f"{scheme}://{name}:{port}/"


def is_http(type_: str, http: bool | None, http_pools: Sequence[str] = HTTP_POOLS) -> bool:
    """An explicit --http/--no-http wins; otherwise the pool decides."""
    return bool(http) if http is not None else type_ in http_pools


class Route(Record):
    """One name and the allocation answering at it (``kind``: service, instance or app)."""

    name: str
    alloc_id: int
    upstream: str
    kind: str = "service"


class NameTable(Record):
    """Every route, plus allocations left without a name and why (collision, bad label)."""

    routes: tuple[Route, ...] = ()
    problems: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return [r.name for r in self.routes]

    def name_of(self, alloc_id: int) -> str | None:
        return next((r.name for r in self.routes
                     if r.alloc_id == alloc_id and r.kind == "service"), None)


def _upstream(alloc: Allocation, local_host: str) -> str:
    # "localhost" lets Caddy try 127.0.0.1 and ::1: dev servers bind either.
    where = "localhost" if not alloc.host or alloc.host == local_host else alloc.host
    return f"{where}:{alloc.port}"


def _pick_default(allocs: Sequence[Allocation], default_service: str) -> Allocation | None:
    """The default service of one instance: by name, else its only HTTP service."""
    want = default_service.lower()
    for alloc in allocs:
        if alloc.service.lower() == want:
            return alloc
    return allocs[0] if len(allocs) == 1 else None


def _pick_main(instances: Mapping[str, Allocation], main_instances: Sequence[str],
               is_main: Callable[[Allocation], bool] | None) -> str | None:
    if is_main is not None:
        for instance, alloc in instances.items():
            if is_main(alloc):
                return instance
    for name in main_instances:
        for instance in instances:
            if instance.lower() == name:
                return instance
    if len(instances) == 1:
        return next(iter(instances))
    return None


def build_table(allocs: Iterable[Allocation], local_host: str, default_service: str = "web",
                all_hosts: bool = False, main_instances: Sequence[str] = MAIN_INSTANCES,
                is_main: Callable[[Allocation], bool] | None = None) -> NameTable:
    """The route table for ``allocs`` (only ``http`` TCP ones count), oldest first wins.
    ``is_main`` tells whether an allocation was made from its app's main worktree (its
    recorded ``path``), which then names ``<app>.localhost``."""
    routes: dict[str, Route] = {}
    problems: list[str] = []
    groups: dict[tuple[str, str], dict[str, list[Allocation]]] = {}
    for alloc in sorted(allocs, key=lambda a: a.id):
        if not alloc.http or alloc.protocol != "tcp":
            continue
        remote = bool(alloc.host) and alloc.host != local_host
        if remote and not all_hosts:
            continue
        try:
            name = service_name(alloc, local_host)
        except InvalidInput as exc:
            problems.append(f"{alloc.key} (id={alloc.id}): {exc.message}")
            continue
        if name in routes:
            holder = routes[name].alloc_id
            problems.append(f"{alloc.key} (id={alloc.id}): {name} already names allocation"
                            f" {holder}")
            continue
        routes[name] = Route(name, alloc.id, _upstream(alloc, local_host))
        group = groups.setdefault((alloc.host if remote else "", name.split(".", 2)[2]), {})
        group.setdefault(alloc.instance, []).append(alloc)
    for (_host, app_domain), instances in groups.items():
        defaults = {inst: pick for inst, members in instances.items()
                    if (pick := _pick_default(members, default_service)) is not None}
        for alloc in defaults.values():
            _alias(routes, problems, alloc, local_host, "instance")
        main = _pick_main(defaults, main_instances, is_main)
        if main is not None:
            _alias(routes, problems, defaults[main], local_host, "app", app_domain)
    ordered = sorted(routes.values(), key=lambda r: (r.name.count("."), r.name))
    return NameTable(tuple(ordered), tuple(problems))


def _alias(routes: dict[str, Route], problems: list[str], alloc: Allocation, local_host: str,
           kind: str, app_domain: str = "") -> None:
    full = service_name(alloc, local_host)
    name = app_domain if kind == "app" else full.split(".", 1)[1]
    if name in routes:
        if routes[name].alloc_id != alloc.id:
            problems.append(f"{alloc.key} (id={alloc.id}): {name} already names allocation"
                            f" {routes[name].alloc_id}")
        return
    routes[name] = Route(name, alloc.id, _upstream(alloc, local_host), kind)


def find_collision(alloc: Allocation, others: Iterable[Allocation],
                   local_host: str) -> tuple[str, Allocation] | None:
    """Another ``http`` allocation whose name, or whose app or instance name, folds to the same
    DNS labels as ``alloc``'s under a different spelling: (the name, the other), else None.
    Raises InvalidInput when ``alloc``'s own names cannot be DNS labels."""
    name = service_name(alloc, local_host)
    app_label = dns_label(alloc.app, "app")
    inst_label = dns_label(alloc.instance, "instance")
    for other in others:
        if (other.id == alloc.id or not other.http or other.protocol != "tcp"
                or other.host != alloc.host):
            continue
        if _label(other.app) != app_label:
            continue
        if other.app != alloc.app:
            return f"{app_label}.{DOMAIN}", other
        if other.instance != alloc.instance and _label(other.instance) == inst_label:
            return f"{inst_label}.{app_label}.{DOMAIN}", other
        if (other.key != alloc.key and other.instance == alloc.instance
                and _label(other.service) == _label(alloc.service)):
            return name, other
    return None


def _label(text: str) -> str | None:
    try:
        return dns_label(text)
    except InvalidInput:
        return None
