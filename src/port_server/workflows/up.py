"""``up``: give this checkout of a compose project its own host ports.

Beside compose files, the project's own dev-server files count (``dev_config_claims``): a
Procfile, a vite config, a justfile, Taskfile, mise or Tilt file at the top of the folder, and
the files Rails, Spring and dev containers keep in ``config/`` and ``.devcontainer/``. Where such a
port is read from a variable the tool loads from ``.env`` (``-p ${WEB_PORT:-3000}`` in a Procfile,
``env.VITE_PORT`` from vite's ``loadEnv``), ``up`` moves it the same way.

Every service that publishes a port gets an allocation (idempotent). A port set by a variable the
compose file already references (``"${PG_PORT:-5432}:5432"``) is allocated — its current value if
that is free, another port if not — and written to the project's ``.env``, so a second worktree of
the same project gets its own ports with one command. A literal port (``"5432:5432"``) cannot move
without editing the compose file, so it is registered as written, or reported as a conflict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from port_server.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from port_server.client import RegistryClient
    from port_server.exporters.env_file import EnvUpdate
    from port_server.models import Allocation, PortClaim

_TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl")


@dataclass
class UpResult:
    """One outcome per port; the .env written (if any) and what to tell the user."""

    outcomes: list[dict[str, Any]]
    env_path: Path
    env_values: dict[str, int | str]
    env_update: EnvUpdate | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> bool:
        return any(o["status"] == "conflict" for o in self.outcomes)


def compose_claims(folder: Path, warnings: list[str]) -> list[PortClaim]:
    """Port claims of the compose files at the top of ``folder`` (templates left out); scan
    problems are appended to ``warnings``."""
    from port_server.scanners import SCANNERS
    from port_server.scanners.project import scan_project

    compose = tuple(s for s in SCANNERS if s.kind == "compose")
    result = scan_project(folder, scanners=compose)
    warnings.extend(f"{problem.file}: {problem.error}" for problem in result.problems)
    return [c for c in result.claims if "/" not in c.file and not c.network_mode_host
            and not c.file.endswith(_TEMPLATE_SUFFIXES)]


#: Folders whose files ``up`` reads beside the top of the project (Rails and Spring keep their
#: server config in ``config/``; dev containers theirs in ``.devcontainer/``).
_CONFIG_FOLDERS = ("config/", ".devcontainer/")


def dev_config_claims(folder: Path, warnings: list[str],
                      before: list[PortClaim]) -> list[PortClaim]:
    """Port claims of the non-compose project files ``up`` manages (see module doc); a port
    already claimed (in ``before`` or an earlier file: a Procfile's ``rails s -p 3000`` and
    ``config/puma.rb``'s ``port 3000``) is one listener and kept once."""
    from port_server.scanners import SCANNERS
    from port_server.scanners.project import scan_project

    others = tuple(s for s in SCANNERS if s.kind not in ("compose", "npm", "env", "make",
                                                         "script"))
    result = scan_project(folder, scanners=others)
    warnings.extend(f"{problem.file}: {problem.error}" for problem in result.problems)
    seen = {(c.host_port, c.protocol) for c in before}
    out = []
    for c in sorted(result.claims, key=lambda c: ("/" in c.file, c.file, c.line)):
        if c.host_port is None or (c.host_port, c.protocol) in seen or not (
                "/" not in c.file or (c.file.startswith(_CONFIG_FOLDERS)
                and c.file.count("/") <= 2)):
            continue
        seen.add((c.host_port, c.protocol))
        out.append(c)
    return out


def up(client: RegistryClient, folder: Path, app: str, instance: str, only: list[str],
       env_path: Path | None = None) -> UpResult:
    """Allocate the compose project's ports at ``folder`` and write their .env variables."""
    from port_server.workflows.project import allocation_filter, write_env_file

    warnings: list[str] = []
    claims = compose_claims(folder, warnings)
    claims += dev_config_claims(folder, warnings, claims)
    if not claims and not any(_is_compose(p) for p in folder.iterdir()):
        raise InvalidInput(f"no compose file or dev-server config in {folder}; run `portctl up`"
                           " in a project's folder", field="dir")
    services = {c.service for c in claims}
    unknown = [s for s in only if s not in services]
    if unknown:
        raise InvalidInput(f"--service {unknown[0]!r} publishes no port here; choose from"
                           f" {', '.join(sorted(services)) or '(none)'}", field="service")
    if only:
        claims = [c for c in claims if c.service in only]
    mine = {a.service: a for a in client.list(allocation_filter(app, instance))}
    outcomes: list[dict[str, Any]] = []
    values: dict[str, int | str] = {}
    for name, claim in _named(claims):
        var = claim.extra.get("host_var")
        if var and var in values:
            continue
        outcome = _up_one(client, app, instance, name, claim, mine, str(var or ""))
        outcomes.append(outcome)
        if var and outcome["port"]:
            ip = claim.extra.get("host_var_ip")
            values[str(var)] = f"{ip}:{outcome['port']}" if ip else int(outcome["port"])
    env_path = env_path if env_path is not None else folder / ".env"
    result = UpResult(outcomes, env_path, values, warnings=warnings)
    if values:
        result.env_update = write_env_file(env_path, values)
        for var, port in values.items():
            if os.environ.get(var, str(port)) != str(port):
                warnings.append(f"${var} is set in your environment ({os.environ[var]}); compose"
                                f" will use it instead of {port} from {env_path}")
    return result


def _is_compose(path: Path) -> bool:
    from port_server.scanners.compose import is_compose_file

    return path.is_file() and is_compose_file(path.name)


def _named(claims: list[PortClaim]) -> list[tuple[str, PortClaim]]:
    """(registry service name, claim): ``service`` alone, or ``service-<container port>`` when a
    service publishes several ports; one entry per distinct port declaration."""
    from port_server.models import registry_name

    seen: set[tuple[Any, ...]] = set()
    unique: list[PortClaim] = []
    for c in claims:
        key = (c.service, c.extra.get("host_var") or c.host_port, c.protocol)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    count: dict[str, int] = {}
    for c in unique:
        count[c.service] = count.get(c.service, 0) + 1
    out = []
    for c in unique:
        name = registry_name(c.service)
        if count[c.service] > 1:
            suffix = str(c.container_port or c.host_port or c.extra.get("host_var", "x"))
            udp = "" if c.protocol == "tcp" else f"-{c.protocol}"
            name = registry_name(f"{name}-{suffix}{udp}")
        out.append((name, c))
    return out


def _up_one(client: RegistryClient, app: str, instance: str, name: str, claim: PortClaim,
            mine: dict[str, Allocation], var: str) -> dict[str, Any]:
    from port_server.errors import Conflict
    from port_server.integrations.proxy_names import HTTP_POOLS
    from port_server.models import AllocationRequest
    from port_server.type_inference import infer_type

    protocol = claim.protocol or "tcp"
    outcome: dict[str, Any] = {"service": name, "compose_service": claim.service,
                               "variable": var, "port": None, "protocol": protocol,
                               "file": claim.file, "line": claim.line, "detail": "",
                               "proxy_url": ""}
    existing = mine.get(name)
    if existing is not None:
        if var or existing.port == claim.host_port:
            outcome.update(status="already allocated", port=existing.port,
                           proxy_url=existing.proxy_url)
            return outcome
        outcome.update(status="conflict", port=claim.host_port,
                       detail=f": {existing.key} holds {existing.port}, the compose file says"
                              f" {claim.host_port}")
        return outcome
    note = f"{claim.file}:{claim.line}"

    # A service named like a web app or an API gets a proxy name (compose files carry no type).
    http = True if infer_type(name) in HTTP_POOLS else None

    def request(port: int | None) -> AllocationRequest:
        return AllocationRequest(app=app, instance=instance, service=name, port=port,
                                 protocol=protocol, source=claim.kind, note=note, http=http)

    if claim.host_port is not None:
        try:
            alloc = client.allocate(request(claim.host_port)).allocation
            outcome.update(status="allocated", port=alloc.port, proxy_url=alloc.proxy_url)
            return outcome
        except Conflict as exc:
            if not var:
                variable = f"${{{name.upper().replace('-', '_')}_PORT:-{claim.host_port}}}"
                hint = f'"{variable}:..."' if claim.kind == "compose" else variable
                outcome.update(status="conflict", port=claim.host_port,
                               detail=f": {exc.message} (a literal port; make it {hint} to let"
                                      " `up` move it)")
                return outcome
    alloc = client.allocate(request(None)).allocation
    moved = f" (instead of {claim.host_port})" if claim.host_port else ""
    outcome.update(status="allocated", port=alloc.port, detail=moved, proxy_url=alloc.proxy_url)
    return outcome
