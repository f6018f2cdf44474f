"""What Dokploy publishes: its projects, environments and services, their host ports and domains,
read through ``dokploy_client`` (``dokploy_map`` turns them into allocations and proxy routes).

Dokploy's API is ``GET <url>/api/<router>.<procedure>?param=...`` with raw JSON bodies. The shape of
``project.all`` changed over time (services on the project before 0.25, under ``environments[]``
from 0.25, slim id-only entries from 0.28.3), so every version is read the same way: enumerate
service ids from ``project.all``, then ask ``<kind>.one`` for each.

Payloads carry database passwords, env values and registry credentials. Nothing here logs, prints
or keeps a payload: only the fields this module names (names, ids, ports, domains, status, server
address) leave it, and error messages never quote a response body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from port_server.errors import UpstreamError
from port_server.integrations.compose_ports import ComposePort, compose_host_ports
from port_server.integrations.dokploy_client import DokployClient

SOURCE = "dokploy"
#: How many ``*.one`` requests run at once.
CONCURRENCY = 8

#: Database kinds and the port their engine listens on inside the container.
ENGINE_PORTS = {"postgres": 5432, "mysql": 3306, "mariadb": 3306, "mongo": 27017, "redis": 6379}
#: libsql (Dokploy >= 0.29) publishes up to three ports: (field, container port, name suffix).
LIBSQL_PORTS = (("externalPort", 8080, ""), ("externalGRPCPort", 5001, "-grpc"),
                ("externalAdminPort", 9090, "-admin"))
SERVICE_KINDS = ("application", "compose", *ENGINE_PORTS, "libsql")
#: Before 0.25 there were no environments; the 0.25 migration named the one it made "production".
LEGACY_ENVIRONMENT = "production"


# -- what Dokploy publishes ---------------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    host: str
    path: str = "/"
    https: bool = False
    port: int | None = None  # the container port the domain routes to
    service_name: str = ""  # compose: which service of the stack
    strip_path: bool = False

    @property
    def url(self) -> str:
        path = "" if self.path in ("", "/") else self.path
        return f"{'https' if self.https else 'http'}://{self.host}{path}"


@dataclass(frozen=True)
class Published:
    """A host port a service publishes: host ``published`` -> container ``target``."""

    published: int
    target: int
    protocol: str = "tcp"
    compose_service: str = ""  # compose: the service of the stack that publishes it


@dataclass(frozen=True)
class Service:
    kind: str  # application | compose | postgres | mysql | mariadb | mongo | redis | libsql
    id: str
    name: str
    project: str
    environment: str
    status: str  # Dokploy's own word: idle | running | done | error
    server_id: str = ""
    server_name: str = ""
    server_ip: str = ""
    ports: tuple[Published, ...] = ()
    domains: tuple[Domain, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    version: str
    shape: str  # legacy (< 0.25) | environments (>= 0.25) | slim (>= 0.28.3)
    services: tuple[Service, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceRef:
    kind: str
    id: str
    project: str
    environment: str


def _shape_error(what: str) -> UpstreamError:
    return UpstreamError(f"Dokploy GET /api/project.all: unknown answer shape ({what});"
                         " is this a Dokploy server?", endpoint="GET /api/project.all")


def _plural(kind: str) -> str:
    """The key project.all lists a kind under (only applications is plural)."""
    return "applications" if kind == "application" else kind


def _is_slim(container: Mapping[str, Any]) -> bool:
    """0.28.3+ lists ids, names and status only; full rows always carry ``appName``."""
    return any(isinstance(item, dict) and "appName" not in item
               for kind in SERVICE_KINDS for item in container.get(_plural(kind)) or [])


def _entries(container: Mapping[str, Any], kind: str) -> Iterator[str]:
    items = container.get(_plural(kind)) or []
    if not isinstance(items, list):
        raise _shape_error(f"{kind} is not a list")
    for item in items:
        ident = item.get(f"{kind}Id") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            raise _shape_error(f"a {kind} entry has no {kind}Id")
        yield ident


def enumerate_services(projects: Any) -> tuple[str, list[ServiceRef]]:
    """Every service id in ``project.all``'s answer, for each of its three shapes."""
    if not isinstance(projects, list):
        raise _shape_error("not a list of projects")
    refs: list[ServiceRef] = []
    shape = "environments"
    for project in projects:
        if not isinstance(project, dict) or not isinstance(project.get("name"), str):
            raise _shape_error("a project has no name")
        if isinstance(project.get("environments"), list):
            for env in project["environments"]:
                if not isinstance(env, dict) or not isinstance(env.get("name"), str):
                    raise _shape_error("an environment has no name")
                for kind in SERVICE_KINDS:
                    refs += [ServiceRef(kind, i, project["name"], env["name"])
                             for i in _entries(env, kind)]
                if _is_slim(env):
                    shape = "slim"
        elif any(_plural(k) in project for k in SERVICE_KINDS):
            shape = "legacy"
            for kind in SERVICE_KINDS:
                refs += [ServiceRef(kind, i, project["name"], LEGACY_ENVIRONMENT)
                         for i in _entries(project, kind)]
        else:
            raise _shape_error("a project has neither environments nor services")
    return shape, refs


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and value.isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    return None


def parse_domains(data: Mapping[str, Any]) -> tuple[Domain, ...]:
    out = []
    for d in data.get("domains") or []:
        if not isinstance(d, dict) or not isinstance(d.get("host"), str) or not d["host"]:
            continue
        if d.get("enabled") is False:  # Dokploy >= 0.30 can switch a domain off
            continue
        out.append(Domain(host=d["host"], path=str(d.get("path") or "/"),
                          https=bool(d.get("https")), port=_int(d.get("port")),
                          service_name=str(d.get("serviceName") or ""),
                          strip_path=bool(d.get("stripPath"))))
    return tuple(out)


def application_ports(data: Mapping[str, Any]) -> tuple[Published, ...]:
    """``ports[]``, or ``endpointSpecSwarm.Ports`` when that is set (it replaces the table)."""
    spec = data.get("endpointSpecSwarm")
    if isinstance(spec, dict) and isinstance(spec.get("Ports"), list):
        rows = [{"publishedPort": p.get("PublishedPort"), "targetPort": p.get("TargetPort"),
                 "protocol": p.get("Protocol")} for p in spec["Ports"] if isinstance(p, dict)]
    else:
        rows = [p for p in data.get("ports") or [] if isinstance(p, dict)]
    out = []
    for row in rows:
        published, target = _int(row.get("publishedPort")), _int(row.get("targetPort"))
        if published is None:
            continue
        protocol = str(row.get("protocol") or "tcp").lower()
        out.append(Published(published, target or published,
                             protocol if protocol in ("tcp", "udp") else "tcp"))
    return tuple(out)


def database_ports(kind: str, data: Mapping[str, Any]) -> tuple[Published, ...]:
    if kind == "libsql":
        return tuple(Published(port, target, "tcp", suffix)
                     for field_name, target, suffix in LIBSQL_PORTS
                     if (port := _int(data.get(field_name))) is not None)
    port = _int(data.get("externalPort"))
    return (Published(port, ENGINE_PORTS[kind]),) if port is not None else ()


def parse_service(ref: ServiceRef, data: Any, compose_yaml: str | None = None,
                  server: tuple[str, str] = ("", "")) -> tuple[Service, list[str]]:
    """One ``<kind>.one`` answer -> Service (no secret survives), plus warnings."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise UpstreamError(f"Dokploy GET /api/{ref.kind}.one: unknown answer shape (no name)",
                            endpoint=f"GET /api/{ref.kind}.one")
    warnings: list[str] = []
    status_key = "composeStatus" if ref.kind == "compose" else "applicationStatus"
    if ref.kind == "application":
        ports = application_ports(data)
    elif ref.kind == "compose":
        found: list[ComposePort] = []
        if compose_yaml:
            found, notes = compose_host_ports(compose_yaml, str(data.get("env") or ""))
            warnings += [f"compose {data['name']!r}: {n}" for n in notes]
        ports = tuple(Published(p.published, p.target, p.protocol, p.service) for p in found)
    else:
        ports = database_ports(ref.kind, data)
    service = Service(
        kind=ref.kind, id=ref.id, name=data["name"], project=ref.project,
        environment=ref.environment, status=str(data.get(status_key) or ""),
        server_id=str(data.get("serverId") or ""), server_name=server[0], server_ip=server[1],
        ports=ports, domains=parse_domains(data) if ref.kind in ("application", "compose") else ())
    return service, warnings


def _read_all(client: DokployClient, refs: list[ServiceRef]) -> list[Any]:
    """``<kind>.one`` for every ref, a few at a time (a remote Dokploy answers in tens of ms
    each); the first failure, in ref order, is the one raised."""
    from concurrent.futures import ThreadPoolExecutor

    def one(ref: ServiceRef) -> Any:
        return client.get(f"{ref.kind}.one", **{f"{ref.kind}Id": ref.id})

    if len(refs) <= 1:
        return [one(ref) for ref in refs]
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(refs))) as pool:
        return list(pool.map(one, refs))


def fetch_snapshot(client: DokployClient) -> Snapshot:
    """Read every project, environment and service (one ``*.one`` call per service)."""
    try:
        version = client.get("settings.getDokployVersion")
    except UpstreamError as exc:
        if exc.extra.get("status") not in (404, 400):
            raise
        version = ""  # older servers do not have it
    shape, refs = enumerate_services(client.get("project.all"))
    servers: dict[str, tuple[str, str]] = {}
    services: list[Service] = []
    warnings: list[str] = []
    for ref, data in zip(refs, _read_all(client, refs), strict=True):
        if not isinstance(data, dict):
            raise UpstreamError(f"Dokploy GET /api/{ref.kind}.one: unknown answer shape",
                                endpoint=f"GET /api/{ref.kind}.one")
        compose_yaml = None
        if ref.kind == "compose":
            raw = data.get("composeFile")
            if data.get("sourceType") == "raw" and isinstance(raw, str) and raw.strip():
                compose_yaml = raw
            else:
                converted = client.get("compose.getConvertedCompose", composeId=ref.id)
                if not isinstance(converted, str):
                    raise UpstreamError("Dokploy GET /api/compose.getConvertedCompose: unknown"
                                        " answer shape (not a string)",
                                        endpoint="GET /api/compose.getConvertedCompose")
                compose_yaml = converted
        server = ("", "")
        server_id = data.get("serverId")
        if isinstance(server_id, str) and server_id:
            if server_id not in servers:
                servers[server_id] = _server_of(client, server_id, data.get("server"))
            server = servers[server_id]
        service, notes = parse_service(ref, data, compose_yaml, server)
        services.append(service)
        warnings += notes
    return Snapshot(version=str(version or ""), shape=shape, services=tuple(services),
                    warnings=tuple(warnings))


def _server_of(client: DokployClient, server_id: str, embedded: Any) -> tuple[str, str]:
    data = embedded if isinstance(embedded, dict) and embedded.get("ipAddress") else \
        client.get("server.one", serverId=server_id)
    if not isinstance(data, dict):
        raise UpstreamError("Dokploy GET /api/server.one: unknown answer shape",
                            endpoint="GET /api/server.one")
    return str(data.get("name") or server_id), str(data.get("ipAddress") or "")
