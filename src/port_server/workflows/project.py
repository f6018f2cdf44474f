"""A project's ports, both ways: scan its files and register them; write its allocations to .env.

Scanning runs in the caller's process (it only reads files; yaml is imported when a compose file
is met). Registering goes through the client: list, check_port, allocate with an explicit port.
Imports stay lazy: portctl's start-up path loads this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from port_server.errors import InvalidInput, PortServerError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from port_server.client import RegistryClient
    from port_server.exporters.env_file import EnvUpdate
    from port_server.models import Allocation, AllocationFilter
    from port_server.scanners.project import ScanResult
    from port_server.workflows.project_plan import PlannedPort


def project_path(text: str) -> Path:
    from pathlib import Path  # lazily: portctl's start-up path stays light

    return Path(text)


def project_dir(text: str) -> Path:
    folder = project_path(text)
    if not folder.is_dir():
        raise InvalidInput(f"DIR {text!r} is not a directory; give the project's folder",
                           field="dir")
    return folder


def identity(app: str | None, instance: str | None, folder: Path) -> tuple[str, str]:
    """``app``/``instance`` as given, each defaulting to what the git checkout at ``folder``
    says (the repository's name; the worktree folder or branch)."""
    from port_server.workflows.identity import detect

    if not app or not instance:
        default_app, default_instance = detect(folder)
        app, instance = app or default_app, instance or default_instance
    return str(app), str(instance)


def scan_warnings(result: ScanResult) -> list[str]:
    """The scan's problems and notes as one line each."""
    return [f"{p.file}: {p.error}" for p in (*result.problems, *result.notes)]


def allocation_filter(app: str, instance: str) -> AllocationFilter:
    from port_server.models import AllocationFilter

    return AllocationFilter(app=app, instance=instance)


@dataclass
class Registration:
    """What ``register`` did: one outcome per planned port, and what was left out and why."""

    app: str
    instance: str
    outcomes: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> bool:
        return any(o["status"] == "conflict" for o in self.outcomes)


def register(client: RegistryClient, folder: Path, app: str, instance: str,
             dry_run: bool, result: ScanResult | None = None) -> Registration:
    """Register every host port the project at ``folder`` declares (idempotent)."""
    from port_server.scanners.project import scan_project
    from port_server.workflows.project_plan import plan

    result = result if result is not None else scan_project(folder)
    mine = client.list(allocation_filter(app, instance))
    outcomes = [register_one(client, app, instance, item, mine, dry_run, folder)
                for item in plan(result.claims)]
    skipped = []
    for claim in result.claims:
        if claim.network_mode_host:
            skipped.append(f"{claim.file}:{claim.line}: {claim.service} uses network_mode: host;"
                           " only the ports listed for it are registered, check what else it"
                           " binds")
        elif claim.host_port is None:
            skipped.append(f"{claim.file}:{claim.line}: {claim.service}: {claim.note}; not"
                           " registered")
    return Registration(app, instance, outcomes, skipped)


def register_one(client: RegistryClient, app: str, instance: str, item: PlannedPort,
                 mine: list[Allocation], dry_run: bool,
                 folder: Path | None = None) -> dict[str, Any]:
    """Register one planned port; the outcome as a JSON-able dict (status + detail)."""
    from port_server.errors import Conflict
    from port_server.models import AllocationRequest
    from port_server.workflows.identity import worktree_root

    claim = item.claim
    protocol = claim.protocol or "tcp"
    outcome: dict[str, Any] = {"service": item.service, "port": item.port, "protocol": protocol,
                               "file": claim.file, "line": claim.line, "kind": claim.kind,
                               "app": app, "instance": instance, "detail": ""}

    def done(status: str, detail: str = "") -> dict[str, Any]:
        outcome["status"] = status
        outcome["detail"] = f": {detail}" if detail else ""
        return outcome

    for alloc in mine:
        if alloc.port == item.port and alloc.protocol == protocol:
            return done("already registered to this project",
                        "" if alloc.service == item.service else f"as {alloc.service}")
    same_name = [a for a in mine if a.service == item.service]
    if same_name:
        return done("conflict", f"{same_name[0].key} already holds port {same_name[0].port};"
                                f" release it first (portctl release --id {same_name[0].id})")
    status = client.check_port(item.port)
    for holder in status.holders or ((status.holder,) if status.holder else ()):
        if holder.protocol == protocol:
            return done("conflict", f"held by {holder.key} (id={holder.id})")
    if status.in_use:
        who = ", ".join(p.describe() for p in status.processes) or "an unrelated process"
        return done("conflict", f"bound on this machine by {who}")
    if dry_run:
        return done("would register")
    try:
        client.allocate(AllocationRequest(
            app=app, instance=instance, service=item.service, port=item.port,
            protocol=protocol, source="scan", note=f"{claim.file}:{claim.line}",
            path=worktree_root(folder) if folder is not None else ""))
    except Conflict as exc:  # lost a race with another registration, or a process bound it
        return done("conflict", exc.message)
    except PortServerError:
        raise
    return done("registered")


def parse_var_overrides(pairs: list[str]) -> dict[str, str]:
    """``SERVICE=NAME`` pairs -> {service: variable name}."""
    from port_server.exporters.env_file import VAR_NAME

    out = {}
    for pair in pairs:
        service, sep, name = pair.partition("=")
        if not sep or not service or not VAR_NAME.match(name):
            raise InvalidInput(f"--var {pair!r}: use SERVICE=NAME, e.g. --var postgres=PG_PORT",
                               field="var")
        out[service] = name
    return out


def write_env_file(path: Path, values: Mapping[str, int | str],
                   follow_symlinks: bool = False) -> EnvUpdate:
    """Update ``path`` in place: only the lines for ``values``, every other byte kept; written
    the safe way (``safe_write``: a symlink refused unless ``follow_symlinks``, mode kept)."""
    from port_server.exporters.env_file import update_env_text
    from port_server.safe_write import writable_target, write_file

    writable_target(path, follow_symlinks, field="write")  # refuse a link before reading it
    try:
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--write {path}: cannot read it ({exc})", field="write") from None
    update = update_env_text(text, values)
    if update.text != text:
        write_file(path, update.text, field="write", follow_symlinks=follow_symlinks)
    return update


def env_update_lines(path: Path, values: Mapping[str, int | str],
                     update: EnvUpdate) -> list[str]:
    """What ``write_env_file`` changed, one line per variable."""
    return ([f"updated {name}={values[name]} in {path}" for name in update.changed]
            + [f"added {name}={values[name]} to {path}" for name in update.added]
            + [f"unchanged {name}={values[name]} in {path}" for name in update.unchanged])
