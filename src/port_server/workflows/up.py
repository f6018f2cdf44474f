"""``up``: give this checkout of a compose project its own host ports.

Every service that publishes a port gets an allocation (idempotent), recorded with the worktree
it came from. Each port has one variable (``port_variable``: the one the compose file already
references, else ``<SERVICE>_PORT``), written to the project's ``.env`` with the allocated port.
A port set by a variable (``"${PG_PORT:-5432}:5432"``) moves through ``.env`` alone; a literal
port (``"5432:5432"``) moves through a generated override file (``compose_files``), so tracked
files are never edited. ``.env`` also gets a per-worktree ``COMPOSE_PROJECT_NAME`` when none is
set, and the project's derived values (``[env]`` templates).

Beside compose files, the project's own dev-server files count (``dev_config_claims``): a
Procfile, a vite config, a justfile, Taskfile, mise or Tilt file at the top of the folder, and
the files Rails, Spring and dev containers keep in ``config/`` and ``.devcontainer/``. Where such a
port is read from a variable the tool loads from ``.env`` (``-p ${WEB_PORT:-3000}`` in a Procfile,
``env.VITE_PORT`` from vite's ``loadEnv``), ``up`` moves it the same way; a literal port there is
registered as written, or reported as a conflict (no override file can move it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from port_server.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from port_server.client import RegistryClient
    from port_server.exporters.compose_override import Override
    from port_server.exporters.env_file import EnvUpdate
    from port_server.models import Allocation, PortClaim
    from port_server.workflows.compose_files import Layout

_TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl")


@dataclass
class UpResult:
    """One outcome per port; the .env written (if any) and what to tell the user."""

    outcomes: list[dict[str, Any]]
    env_path: Path
    env_values: dict[str, int | str]
    env_update: EnvUpdate | None = None
    warnings: list[str] = field(default_factory=list)
    #: The generated compose override, when a service publishes a literal port.
    override: Path | None = None

    @property
    def conflicts(self) -> bool:
        return any(o["status"] == "conflict" for o in self.outcomes)


def compose_claims(folder: Path, warnings: list[str]) -> list[PortClaim]:
    """Port claims of the compose files at the top of ``folder`` (templates and the files
    ``up`` generated left out); scan problems are appended to ``warnings``."""
    from port_server.scanners import SCANNERS
    from port_server.scanners.project import scan_project
    from port_server.workflows.compose_files import generated

    compose = tuple(s for s in SCANNERS if s.kind == "compose")
    result = scan_project(folder, scanners=compose)
    warnings.extend(f"{problem.file}: {problem.error}" for problem in result.problems)
    mine = {c.file for c in result.claims if generated(folder / c.file)}
    return [c for c in result.claims if "/" not in c.file and not c.network_mode_host
            and not c.file.endswith(_TEMPLATE_SUFFIXES) and c.file not in mine]


def port_variable(name: str, claim: PortClaim) -> str:
    """The one naming rule: the variable the project file references for the host port, else
    ``<SERVICE>_PORT`` of the registry service name (``db`` -> DB_PORT, ``web-8080`` ->
    WEB_8080_PORT). Shared by up, env, compose-ports and the MCP tools. "" for a literal port
    outside compose files: nothing could read a variable there."""
    from port_server.workflows.project_plan import env_var_for

    if claim.extra.get("host_var"):
        return str(claim.extra["host_var"])
    return env_var_for(name) if claim.kind == "compose" else ""


def compose_variables(folder: Path) -> dict[str, str]:
    """{registry service name: its port variable} for the compose project at ``folder``."""
    if not folder.is_dir():
        return {}
    claims = compose_claims(folder, [])
    claims += dev_config_claims(folder, [], claims)
    return {name: var for name, claim in named(claims) if (var := port_variable(name, claim))}


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
       env_path: Path | None = None, follow_symlinks: bool = False) -> UpResult:
    """Allocate the compose project's ports at ``folder`` and write their .env variables
    (and the override) safely: a symlink at either is refused unless ``follow_symlinks``."""
    from port_server.workflows.derived import templates
    from port_server.workflows.identity import worktree_root
    from port_server.workflows.project import allocation_filter, write_env_file

    table = templates(folder)  # a bad [env] table is refused before anything changes
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
    all_claims = claims
    if only:
        claims = [c for c in claims if c.service in only]
    path = worktree_root(folder)
    env_path = env_path if env_path is not None else folder / ".env"
    dotenv = _read_env(env_path)
    where = _override_layout(folder, dotenv, warnings)
    override = _plan_override(where, all_claims) if where is not None else None
    if where is not None and override is not None:  # refused before anything changes
        _check_target(where.target, follow_symlinks)
    movable = set(override.variables) if override is not None else set()
    mine = {a.service: a for a in client.list(allocation_filter(app, instance))}
    outcomes: list[dict[str, Any]] = []
    values: dict[str, int | str] = {}
    for name, claim in named(claims):
        var = port_variable(name, claim)
        if var and not claim.extra.get("host_var") and var not in movable:
            var = ""  # a literal port the override cannot reach (its entry uses a variable)
        if var and var in values:
            continue
        outcome = _up_one(client, app, instance, name, claim, mine.get(name), var, path)
        outcomes.append(outcome)
        if var and outcome["port"]:
            ip = claim.extra.get("host_var_ip")
            values[var] = f"{ip}:{outcome['port']}" if ip else int(outcome["port"])
    created = [] if env_path.exists() or env_path.parent != folder else [env_path.name]
    result = UpResult(outcomes, env_path, values, warnings=warnings)
    if where is not None:  # a compose project: its override and project name
        result.override = _write_override(where, override, values, follow_symlinks)
        values.update(_compose_settings(dotenv, app, instance, warnings))
    values.update(_derived(client, folder, app, instance, table, warnings))
    if result.override is not None:
        created.append(result.override.name)
    if values:
        result.env_update = write_env_file(env_path, values, follow_symlinks)
        _exclude(folder, created)
        for var, port in values.items():
            if os.environ.get(var, str(port)) != str(port) and var != "COMPOSE_FILE":
                warnings.append(f"${var} is set in your environment ({os.environ[var]}); compose"
                                f" will use it instead of {port} from {env_path}")
    return result


def _exclude(folder: Path, names: list[str]) -> None:
    from port_server.workflows.compose_files import git_exclude

    git_exclude(folder, names)


def _read_env(path: Path) -> dict[str, str]:
    from port_server.scanners.env_file import parse_dotenv

    try:
        return parse_dotenv(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def _override_layout(folder: Path, dotenv: dict[str, str],
                     warnings: list[str]) -> Layout | None:
    from port_server.workflows.compose_files import layout

    found = layout(folder, dotenv, os.environ)
    if found is not None:
        warnings.extend(found.warnings)
    return found


def _plan_override(where: Layout, claims: list[PortClaim]) -> Override | None:
    """The override for the project's literal compose ports (None when there are none)."""
    from port_server.exporters.compose_override import compose_override

    names = {(c.service, c.host_port, c.protocol or "tcp"): port_variable(n, c)
             for n, c in named(claims) if not c.extra.get("host_var") and c.kind == "compose"}
    if not names:
        return None
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in where.files if f.is_file()]

    def name(service: str, port: int, protocol: str) -> str:
        # A port the scan did not list (inherited, say) gets a name but no value: it stays.
        return names.get((service, port, protocol)) \
            or port_variable(service, _literal(service, port, protocol))

    return compose_override(texts, name)


def _write_override(where: Layout, override: Override | None, values: dict[str, int | str],
                    follow_symlinks: bool = False) -> Path | None:
    """Write (or refresh) the generated override; its path, or None when none is needed."""
    from port_server.exporters.compose_override import HEADER
    from port_server.safe_write import write_file
    from port_server.workflows.compose_files import EMPTY, generated

    if override is None:  # nothing literal (any more): an earlier override must not pin ports
        if where.target.is_file() and generated(where.target):
            write_file(where.target, HEADER + EMPTY, field="dir",
                       follow_symlinks=follow_symlinks)
        return None
    _check_target(where.target, follow_symlinks)
    write_file(where.target, override.text, field="dir", follow_symlinks=follow_symlinks)
    if where.compose_file:
        values["COMPOSE_FILE"] = where.compose_file
    return where.target


def _check_target(target: Path, follow_symlinks: bool) -> None:
    """The override may go to ``target``: no planted link, no file of the project's own."""
    from port_server.safe_write import writable_target
    from port_server.workflows.compose_files import generated

    writable_target(target, follow_symlinks, field="dir")
    if target.exists() and not generated(target):
        raise InvalidInput(f"{target} exists and was not written by portctl; move it or list"
                           " it in COMPOSE_FILE", field="dir")


def _literal(service: str, port: int, protocol: str) -> PortClaim:
    from port_server.models import PortClaim

    return PortClaim(file="", line=0, kind="compose", service=f"{service}-{port}",
                     host_port=port, protocol=protocol)


def _compose_settings(dotenv: dict[str, str], app: str, instance: str,
                      warnings: list[str]) -> dict[str, str]:
    """COMPOSE_PROJECT_NAME for this worktree when none is set (a warning when a shared
    constant is)."""
    from port_server.workflows.compose_files import project_name, shared_name_warning

    current, where = os.environ.get("COMPOSE_PROJECT_NAME"), "in your environment"
    if not current:
        current, where = dotenv.get("COMPOSE_PROJECT_NAME"), "in .env"
    if current:
        warning = shared_name_warning(current, where, app, instance)
        if warning:
            warnings.append(warning)
        return {}
    return {"COMPOSE_PROJECT_NAME": project_name(app, instance)}


def _derived(client: RegistryClient, folder: Path, app: str, instance: str,
             table: dict[str, str], warnings: list[str]) -> dict[str, str]:
    from port_server.workflows.derived import derived_values

    derived = derived_values(client, folder, app, instance, table)
    warnings.extend(f"{name}: not written, {why}" for name, why in derived.skipped.items())
    return derived.values


def _is_compose(path: Path) -> bool:
    from port_server.scanners.compose import is_compose_file

    return path.is_file() and is_compose_file(path.name)


def named(claims: list[PortClaim]) -> list[tuple[str, PortClaim]]:
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
            existing: Allocation | None, var: str, path: str) -> dict[str, Any]:
    from port_server.errors import Conflict
    from port_server.integrations.proxy_names import HTTP_POOLS
    from port_server.models import AllocationRequest
    from port_server.type_inference import infer_type

    protocol = claim.protocol or "tcp"
    outcome: dict[str, Any] = {"service": name, "compose_service": claim.service,
                               "variable": var, "port": None, "protocol": protocol,
                               "file": claim.file, "line": claim.line, "detail": "",
                               "proxy_url": ""}
    if existing is not None:
        if not var and existing.port != claim.host_port:
            outcome.update(status="conflict", port=claim.host_port,
                           detail=f": {existing.key} holds {existing.port}, {claim.file} says"
                                  f" {claim.host_port}")
            return outcome
        if existing.path != path:  # made before paths were recorded, or the folder moved
            existing = client.update(existing.id, {"path": path})
        outcome.update(status="already allocated", port=existing.port,
                       proxy_url=existing.proxy_url)
        return outcome
    note = f"{claim.file}:{claim.line}"

    # A service named like a web app or an API gets a proxy name (compose files carry no type).
    http = True if infer_type(name) in HTTP_POOLS else None

    def request(port: int | None) -> AllocationRequest:
        return AllocationRequest(app=app, instance=instance, service=name, port=port,
                                 protocol=protocol, source=claim.kind, note=note, http=http,
                                 path=path)

    if claim.host_port is not None:
        try:
            alloc = client.allocate(request(claim.host_port)).allocation
            outcome.update(status="allocated", port=alloc.port, proxy_url=alloc.proxy_url)
            return outcome
        except Conflict as exc:
            if not var:  # a literal port in a file no override reaches
                variable = f"${{{name.upper().replace('-', '_')}_PORT:-{claim.host_port}}}"
                outcome.update(status="conflict", port=claim.host_port,
                               detail=f": {exc.message} (a literal port; make it {variable} to"
                                      " let `up` move it)")
                return outcome
            # taken: any free port will do, .env (and the override) carry it
    alloc = client.allocate(request(None)).allocation
    moved = f" (instead of {claim.host_port})" if claim.host_port else ""
    outcome.update(status="allocated", port=alloc.port, detail=moved, proxy_url=alloc.proxy_url)
    return outcome
