"""Pure planning for the project commands: which claims to register, under which service names,
and the .env variable names and container ports they map to. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from port_server.models import PortClaim, registry_name

#: Default container ports of well-known images, for `compose-ports`.
KNOWN_CONTAINER_PORTS: dict[str, int] = {
    "postgres": 5432, "postgresql": 5432, "pg": 5432, "postgis": 5432, "timescaledb": 5432,
    "mysql": 3306, "mariadb": 3306, "redis": 6379, "valkey": 6379, "keydb": 6379,
    "memcached": 11211, "mongo": 27017, "mongodb": 27017, "elasticsearch": 9200,
    "opensearch": 9200, "kibana": 5601, "rabbitmq": 5672, "kafka": 9092, "zookeeper": 2181,
    "nats": 4222, "clickhouse": 8123, "influxdb": 8086, "cassandra": 9042, "neo4j": 7474,
    "couchdb": 5984, "mssql": 1433, "sqlserver": 1433, "minio": 9000, "mailhog": 8025,
    "mailpit": 8025, "mailcatcher": 1080, "grafana": 3000, "prometheus": 9090, "jaeger": 16686,
    "keycloak": 8080, "adminer": 8080, "pgadmin": 80, "localstack": 4566, "vault": 8200,
    "consul": 8500, "etcd": 2379, "meilisearch": 7700, "typesense": 8108, "qdrant": 6333,
    "ollama": 11434, "n8n": 5678, "nginx": 80, "proxy": 80, "caddy": 80, "traefik": 80,
    "httpd": 80, "apache": 80, "web": 3000, "app": 3000, "api": 8000, "django": 8000,
    "rails": 3000, "flask": 5000, "node": 3000, "next": 3000, "vite": 5173, "storybook": 6006,
    "jupyter": 8888, "sonarqube": 9000, "jenkins": 8080, "registry": 5000, "selenium": 4444,
}


def env_var_for(service: str) -> str:
    """postgres -> POSTGRES_PORT; build:preview -> BUILD_PREVIEW_PORT."""
    return re.sub(r"[^A-Za-z0-9]+", "_", service).strip("_").upper() + "_PORT"


def service_from_variable(name: str) -> str:
    """PG_PORT -> pg; VITE_APP_PORT -> vite-app (the inverse of env_var_for)."""
    base = re.sub(r"_?PORT$", "", name, flags=re.IGNORECASE) or name
    return registry_name(base.lower().replace("_", "-"))


@dataclass(frozen=True)
class PlannedPort:
    """One host port to register, with the registry service name chosen for it."""

    service: str
    claim: PortClaim
    #: Other claims of the same host port and protocol (e.g. the .env variable behind it).
    also: tuple[PortClaim, ...] = ()

    @property
    def port(self) -> int:
        assert self.claim.host_port is not None
        return self.claim.host_port


def _base_name(claim: PortClaim) -> str:
    if claim.kind == "env":
        return service_from_variable(claim.service)
    return registry_name(claim.service)


def plan(claims: Iterable[PortClaim]) -> list[PlannedPort]:
    """One entry per distinct (host port, protocol), first claim first (compose before npm,
    make, scripts and .env, which often restate a compose port); names disambiguated when one
    service has several ports: ``service-<container port or host port>[-udp]``."""
    order = {"compose": 0, "npm": 1, "make": 2, "script": 3, "env": 9}
    # Config files (devcontainer, Procfile, vite, spring...) name a port before a .env restates it.
    usable = sorted((c for c in claims if c.host_port is not None and not c.network_mode_host),
                    key=lambda c: (order.get(c.kind, 4), c.file, c.line))
    groups: dict[tuple[int, str], list[PortClaim]] = {}
    for claim in usable:
        assert claim.host_port is not None
        groups.setdefault((claim.host_port, claim.protocol or "tcp"), []).append(claim)
    firsts = [group[0] for group in groups.values()]
    per_base: dict[str, int] = {}
    for claim in firsts:
        per_base[_base_name(claim)] = per_base.get(_base_name(claim), 0) + 1
    used: set[str] = set()
    out: list[PlannedPort] = []
    for (_, _), group in groups.items():
        claim = group[0]
        base = _base_name(claim)
        name = base
        if per_base[base] > 1:
            suffix = str(claim.container_port or claim.host_port)
            if claim.protocol not in ("", "tcp"):
                suffix += f"-{claim.protocol}"
            name = registry_name(f"{base}-{suffix}")
        if name in used:
            name = registry_name(f"{name}-{claim.host_port}")
        used.add(name)
        out.append(PlannedPort(name, claim, tuple(group[1:])))
    return out
