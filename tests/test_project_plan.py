"""Registry names for scanned ports (register) and .env variable names (env, compose-ports)."""

from __future__ import annotations

from port_server.models import PortClaim
from port_server.workflows.project_plan import env_var_for, plan, service_from_variable


def claim(kind: str, service: str, port: int | None, container: int | None = None,
          protocol: str = "tcp", line: int = 1) -> PortClaim:
    return PortClaim(file="f", line=line, kind=kind, service=service, host_port=port,
                     container_port=container, protocol=protocol)


def test_names_are_disambiguated_and_ports_deduplicated() -> None:
    planned = plan([
        claim("env", "WEB_PORT", 3000, line=9),         # restates the compose port below
        claim("compose", "web", 3000, 80, line=2),
        claim("compose", "dns", 53, 53, "tcp", line=3),
        claim("compose", "dns", 53, 53, "udp", line=4),
        claim("compose", "db", 5432, 5432, line=5),
        claim("npm", "build:preview", 5000),
        claim("env", "PG_PORT", 5433),
        claim("compose", "flagged", None),
    ])
    names = {(p.service, p.port, p.claim.protocol) for p in planned}
    assert names == {("web", 3000, "tcp"), ("dns-53", 53, "tcp"), ("dns-53-udp", 53, "udp"),
                     ("db", 5432, "tcp"), ("build-preview", 5000, "tcp"), ("pg", 5433, "tcp")}
    web = next(p for p in planned if p.service == "web")
    assert web.claim.kind == "compose" and [c.kind for c in web.also] == ["env"]


def test_variable_names_round_trip() -> None:
    assert env_var_for("postgres") == "POSTGRES_PORT"
    assert env_var_for("redis-cache") == "REDIS_CACHE_PORT"
    assert service_from_variable("PG_PORT") == "pg"
    assert service_from_variable("VITE_APP_PORT") == "vite-app"
    assert env_var_for(service_from_variable("VITE_APP_PORT")) == "VITE_APP_PORT"


def test_project_commands_have_help_and_are_documented() -> None:
    from conftest import documentation
    from port_server.cli import build_parser

    readme = documentation()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("scan-project", "register", "env", "compose-ports", "up"):
        assert sub.choices[name].description, name  # type: ignore[attr-defined]
        assert f"portctl {name}" in readme, name
    assert "## Project commands" in readme
