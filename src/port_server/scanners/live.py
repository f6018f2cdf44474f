"""Live scan: what listens on this machine, which process holds it, and how it matches the registry.

The OS half lives in system/sockets.py (sockets and their processes) and docker_ports.py (which
container publishes a port). This module's half is pure: ``join`` turns allocations and listeners
into one ``ScanRow`` per port and protocol with a state (ok / down / unregistered / conflict /
orphan), and ``filter_rows`` narrows them; ``scan`` runs both halves for the service. An
**orphan** is a listener on a registered port whose allocation has ended in fact: the process
that held it has exited, or the worktree it was made from is gone (``worktrees.state``), yet
something still listens there, typically a dev server left behind by a dead session.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import combinations
from pathlib import Path

from port_server.errors import InvalidInput
from port_server.models import (
    SCAN_STATES,
    Allocation,
    Listener,
    ScanReport,
    ScanRow,
)
from port_server.scanners import docker_ports
from port_server.system.sockets import (
    PROC,
    Key,
    build_listeners,
    read_sockets,
    socket_owners,
)


def attach_containers(listeners: list[Listener], published: list[docker_ports.Published]
                      ) -> list[Listener]:
    """Name the container behind each published port; the engine's own (no proxy) ports too."""
    by_key = {(p.host_port, p.protocol): p for p in published}
    out = []
    seen: set[Key] = set()
    for lst in listeners:
        pub = by_key.get((lst.port, lst.protocol))
        if pub is not None:
            lst = replace(lst, container=pub.container)
            seen.add((lst.port, lst.protocol))
        out.append(lst)
    for key, pub in by_key.items():
        if key not in seen:  # published through the engine's NAT rules: nothing listens
            out.append(Listener(pub.protocol, pub.host_ip or "0.0.0.0", pub.host_port,
                                name="dockerd", container=pub.container))
    return out


def _argv(command: str) -> list[str]:
    words = command.split()
    if words:
        words[0] = words[0].rsplit("/", 1)[-1]
    return words


def same_command(recorded: str, running: str) -> bool:
    """The running command line is the recorded one (program by base name, maybe more args)."""
    want, have = _argv(recorded), _argv(running)
    return bool(want) and have[:len(want)] == want


def holder_matches(alloc: Allocation, lst: Listener) -> bool | None:
    """Does ``lst`` belong to the holder ``alloc`` recorded? None: cannot tell (hidden)."""
    if not alloc.pid and not alloc.command:  # nothing recorded (pid 0 means cleared, too)
        return True
    if lst.pid is None:
        return None
    if alloc.pid:
        for pid, start in lst.lineage:
            if pid == alloc.pid and (alloc.pid_start is None or abs(start - alloc.pid_start) < 1):
                return True
        if alloc.pid in lst.pids:
            return True
    if alloc.command:
        if lst.cmdline:
            return same_command(alloc.command, lst.cmdline)
        if "cmdline" in lst.hidden:
            return None
    return False


def registry_collisions(allocs: Iterable[Allocation]) -> dict[Key, str]:
    """Ports registered twice in a colliding way: the same protocol twice, or tcp and udp held
    by different app/instance (one service using both, like DNS, is fine)."""
    by_port: dict[int, list[Allocation]] = defaultdict(list)
    for alloc in allocs:
        by_port[alloc.port].append(alloc)
    out: dict[Key, str] = {}
    for port, group in by_port.items():
        for a, b in combinations(sorted(group, key=lambda x: x.id), 2):
            if a.protocol == b.protocol:
                why = (f"port {port}/{a.protocol} is registered twice: {a.key} (id={a.id}) and"
                       f" {b.key} (id={b.id})")
            elif (a.app, a.instance) != (b.app, b.instance):
                why = (f"port {port} is registered to {a.key} (id={a.id}, {a.protocol}) and to"
                       f" {b.key} (id={b.id}, {b.protocol})")
            else:
                continue
            out.setdefault((port, a.protocol), why)
            out.setdefault((port, b.protocol), why)
    return out


def _recorded(alloc: Allocation) -> str:
    parts = ([f"pid {alloc.pid}"] if alloc.pid else []) + (
        [f"command {alloc.command!r}"] if alloc.command else [])
    return " and ".join(parts)


def join(allocs: Sequence[Allocation], listeners: Sequence[Listener],
         ended: Mapping[int, str] | None = None) -> list[ScanRow]:
    """One row per (port, protocol) seen in the registry or on the machine, with its state.
    ``ended``: allocation id -> why its holder is gone (see ``ended_holders``)."""
    registered: dict[Key, list[Allocation]] = defaultdict(list)
    for alloc in allocs:
        registered[(alloc.port, alloc.protocol)].append(alloc)
    live: dict[Key, list[Listener]] = defaultdict(list)
    for lst in listeners:
        live[(lst.port, lst.protocol)].append(lst)
    collisions = registry_collisions(allocs)
    rows = []
    for key in sorted(set(registered) | set(live)):
        port, protocol = key
        held, seen = tuple(registered.get(key, ())), tuple(live.get(key, ()))
        if key in collisions:
            state, reason = "conflict", collisions[key]
        elif not seen:
            state = "down"
            reason = f"registered to {held[0].key} (id={held[0].id}); nothing listens"
        elif not held:
            state, reason = "unregistered", _unregistered(seen)
        elif ended and held[0].id in ended:
            state = "orphan"
            reason = (f"registered to {held[0].key} (id={held[0].id}), but {ended[held[0].id]};"
                      f" {seen[0].describe()} still listens")
        else:
            state, reason = _compare(held[0], seen)
        rows.append(ScanRow(port, protocol, state, held, seen, reason))
    return rows


def ended_holders(allocs: Iterable[Allocation], listening: set[Key]) -> dict[int, str]:
    """Allocations with a listener whose recorded holder is gone: their process lease has
    exited, or their worktree no longer exists (the OS is asked only for those listened on)."""
    from port_server import worktrees
    from port_server.leases import PID_LEASE_SOURCES, process_alive

    out: dict[int, str] = {}
    for alloc in allocs:
        if (alloc.port, alloc.protocol) not in listening:
            continue
        if alloc.pid and alloc.source in PID_LEASE_SOURCES \
                and not process_alive(alloc.pid, alloc.pid_start):
            out[alloc.id] = f"its process (pid {alloc.pid}) has exited"
        elif alloc.path and worktrees.state(alloc.path) == worktrees.GONE:
            out[alloc.id] = f"its worktree {alloc.path} is gone"
    return out


def _unregistered(seen: Sequence[Listener]) -> str:
    where = ", ".join(sorted({lst.address for lst in seen}))
    known = next((lst for lst in seen if lst.pid is not None or lst.container or lst.hidden),
                 None)
    who = f" by {known.describe()}" if known is not None else ""
    return f"listening on {where}{who}; not in the registry"


def _compare(alloc: Allocation, seen: Sequence[Listener]) -> tuple[str, str]:
    verdicts = [(holder_matches(alloc, lst), lst) for lst in seen]
    wrong = [lst for ok, lst in verdicts if ok is False]
    if wrong:
        return "conflict", (f"registered to {alloc.key} (id={alloc.id}) with {_recorded(alloc)},"
                            f" but {wrong[0].describe()} listens")
    if any(ok is None for ok, _ in verdicts):
        return "ok", f"holder hidden from this user; {_recorded(alloc)} not verified"
    return "ok", ""


def parse_states(text: str | Iterable[str] | None) -> frozenset[str] | None:
    """'ok,conflict' -> {'ok', 'conflict'}; None or empty -> None (every state)."""
    if not text:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    states = frozenset(s.strip() for s in items if s.strip())
    bad = sorted(states - set(SCAN_STATES))
    if bad:
        raise InvalidInput(f"state: {bad[0]!r} is not a scan state; use one of"
                           f" {', '.join(SCAN_STATES)} (comma-separated)", field="state")
    return states or None


def parse_port_range(text: str | None) -> tuple[int, int] | None:
    """'3000-3999' or '8080' -> (lo, hi); None or empty -> None."""
    if not text:
        return None
    lo_text, sep, hi_text = text.partition("-")
    try:
        lo, hi = int(lo_text), int(hi_text if sep else lo_text)
    except ValueError:
        lo = hi = 0
    lo, hi = min(lo, hi), max(lo, hi)  # 3999-3000 is the same range
    if not 1 <= lo <= hi <= 65535:
        raise InvalidInput(f"port_range: {text!r} is not a range; use LO-HI with 1 <= LO <= HI"
                           " <= 65535, e.g. 3000-3999", field="port_range")
    return lo, hi


def filter_rows(rows: Iterable[ScanRow], states: frozenset[str] | None = None,
                app: str | None = None) -> list[ScanRow]:
    return [r for r in rows
            if (states is None or r.state in states)
            and (app is None or any(a.app == app for a in r.allocations))]


# -- both halves -------------------------------------------------------------------------------

def scan(allocs: Sequence[Allocation], *, states: frozenset[str] | None = None,
         app: str | None = None, port_range: tuple[int, int] | None = None,
         details: bool = False, proc: Path = PROC) -> ScanReport:
    """Read the machine, join it with ``allocs`` (this host's allocations), filter."""
    started = time.perf_counter()
    lo, hi = port_range or (1, 65535)
    app_ports = {a.port for a in allocs if a.app == app}

    def in_scope(port: int) -> bool:
        # Rows of other apps are dropped anyway; an app's ports keep their collisions visible.
        return lo <= port <= hi and (app is None or port in app_ports)

    allocs = [a for a in allocs if in_scope(a.port)]
    sockets = [s for s in read_sockets(proc) if in_scope(s.port)]
    listening = {(s.port, s.protocol) for s in sockets}
    # Processes are looked up only where they matter: every socket with details, otherwise
    # the listening ports whose allocation recorded a pid or command.
    describe = None if details else {
        (a.port, a.protocol) for a in allocs
        if (a.pid or a.command) and (a.port, a.protocol) in listening}
    need = {s.inode for s in sockets
            if s.pid is None and (describe is None or (s.port, s.protocol) in describe)}
    owners, denied = socket_owners(need, proc)
    listeners = build_listeners(sockets, owners, denied, describe)
    docker_holders = any(lst.name in docker_ports.DOCKER_PROCESSES for lst in listeners)
    published, docker = docker_ports.published_ports(use_cli=details and docker_holders)
    if published is not None:
        listeners = attach_containers(listeners, [p for p in published
                                                  if in_scope(p.host_port)])
    ended = ended_holders(allocs, {(lst.port, lst.protocol) for lst in listeners})
    rows = filter_rows(join(allocs, listeners, ended), states, app)
    hidden = any("pid" in lst.hidden for lst in listeners)
    return ScanReport(tuple(rows), details=details, hidden=hidden, docker=docker,
                      elapsed_ms=(time.perf_counter() - started) * 1000)
