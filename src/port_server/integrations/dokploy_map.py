"""Dokploy -> the registry (pure): desired allocations for one Dokploy host, and reverse-proxy
routes for its domains. Names are folded by ``models.registry_name``; nothing here does I/O.
"""

from __future__ import annotations

from port_server.exporters.nginx_conf import ProxyRoute, SkippedRoute
from port_server.integrations.dokploy import ENGINE_PORTS, SOURCE, Published, Service, Snapshot
from port_server.models import AllocationRequest, registry_name

#: Dokploy's applicationStatus / composeStatus -> the registry's status words (portman's).
STATUS_WORDS = {"done": "active", "running": "deploying", "error": "error", "idle": "inactive"}
#: Dokploy's own ports: (service, port, protocol, remote servers too, monitoring only).
OWN_PORTS = (
    ("ui", 3000, "tcp", False, False),
    ("traefik-http", 80, "tcp", True, False),
    ("traefik-https", 443, "tcp", True, False),
    ("traefik-http3", 443, "udp", True, False),
    ("monitoring", 4500, "tcp", True, True),
)


def on_server(service: Service, server: str | None) -> bool:
    """``server`` None: the Dokploy host itself; otherwise a remote server's name or id."""
    if server is None:
        return not service.server_id
    return bool(service.server_id) and server in (service.server_id, service.server_name)


def _service_names(service: Service) -> list[str]:
    """One registry service name per published port: the Dokploy name when it publishes one
    port, ``name-<container port>`` (``-udp``/``-tcp`` on a clash) when several; compose services
    are ``<compose name>.<service>``, libsql's extra ports ``name-grpc`` and ``name-admin``."""
    base = registry_name(service.name)
    names = []
    for p in service.ports:
        if service.kind == "libsql":
            names.append(f"{base}{p.compose_service}")
            continue
        stem = f"{base}.{registry_name(p.compose_service)}" if service.kind == "compose" else base
        group = [q for q in service.ports if q.compose_service == p.compose_service]
        if len(group) == 1:
            names.append(stem)
            continue
        clash = sum(1 for q in group if q.target == p.target) > 1
        names.append(f"{stem}-{p.target}" + (f"-{p.protocol}" if clash else ""))
    return [n[:63] for n in names]


def _url_for(service: Service, port: Published) -> str:
    for domain in service.domains:
        if service.kind == "compose" and domain.service_name != port.compose_service:
            continue
        if domain.port is None or domain.port == port.target:
            return domain.url
    return ""


def desired_allocations(snapshot: Snapshot, server: str | None = None,
                        monitoring: bool = False) -> list[AllocationRequest]:
    """The allocations the registry should hold for one Dokploy host (``server`` None: the
    Dokploy host itself), Dokploy's own ports first."""
    instance = "main" if server is None else registry_name(server)
    out = [AllocationRequest(app="dokploy", instance=instance, service=name, port=port,
                             protocol=proto, status="active", source=SOURCE,
                             note=f"Dokploy itself ({name})")
           for name, port, proto, remote, mon in OWN_PORTS
           if (server is None or remote) and (monitoring or not mon)]
    seen: set[tuple[str, str, str]] = set()
    for service in sorted(snapshot.services, key=lambda s: (s.project, s.environment, s.kind,
                                                          s.name, s.id)):
        if not on_server(service, server):
            continue
        app, env = registry_name(service.project), registry_name(service.environment)
        for name, port in zip(_service_names(service), service.ports, strict=True):
            unique, n = name, 2
            while (app, env, unique) in seen:
                unique, n = f"{name[:60]}-{n}", n + 1
            seen.add((app, env, unique))
            engine = f"{service.kind} " if service.kind != "application" else ""
            out.append(AllocationRequest(
                app=app, instance=env, service=unique, port=port.published,
                protocol=port.protocol, type="db" if service.kind in ENGINE_PORTS or
                service.kind == "libsql" else "",
                environment=service.environment[:256],
                status=STATUS_WORDS.get(service.status, service.status)[:256],
                url=_url_for(service, port)[:256], source=SOURCE,
                note=f"dokploy {engine}{service.name[:100]} -> container"
                     f" {port.target}/{port.protocol}"))
    return out


def elsewhere(snapshot: Snapshot, server: str | None) -> list[str]:
    """Names of Dokploy servers that run services outside this sync's scope."""
    names = {s.server_name or s.server_id or "the Dokploy host"
             for s in snapshot.services if s.ports and not on_server(s, server)}
    return sorted(names)


def proxy_routes(snapshot: Snapshot) -> tuple[list[ProxyRoute], list[SkippedRoute]]:
    """A reverse-proxy route per enabled domain, to the host port that publishes its container
    port (on 127.0.0.1, or the remote server's address); the rest, with the reason."""
    routes: list[ProxyRoute] = []
    skipped: list[SkippedRoute] = []
    for service in snapshot.services:
        who = f"{service.project}/{service.environment}/{service.name}"
        for domain in service.domains:
            ports = [p for p in service.ports if p.protocol == "tcp" and (
                service.kind != "compose" or p.compose_service == domain.service_name)]
            match = next((p for p in ports if domain.port in (None, p.target)), None)
            if match is None:
                what = f"container port {domain.port}" if domain.port else "its container port"
                skipped.append(SkippedRoute(domain.host, domain.path, (
                    f"{what} of {who} has no published host port")))
                continue
            upstream = service.server_ip if service.server_id else "127.0.0.1"
            if ":" in upstream and not upstream.startswith("["):
                upstream = f"[{upstream}]"  # an IPv6 address in a URL
            if not upstream:
                skipped.append(SkippedRoute(domain.host, domain.path, (
                    f"server {service.server_name or service.server_id} of {who} has no"
                    " address")))
                continue
            routes.append(ProxyRoute(domain.host, domain.path or "/", upstream, match.published,
                                     label=f"dokploy {who}", strip_path=domain.strip_path))
    return routes, skipped
