"""Compose files: every fixed host port their services publish (compose specification).

Short syntax (``"127.0.0.1:5432:5432/udp"``, ranges, ``[::1]``) and long syntax (``published``,
``target``, ``host_ip``, ``protocol``) after compose interpolation; container-only entries and
``expose:`` never bind a host port; ``network_mode: host`` is flagged with a claim of its own (its
container ports bind on the host, so its ``ports:`` are listed too); anchors and ``<<`` merges are
followed, ``extends:`` within the same file is inherited, ``x-*`` extension fields are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from port_server.models import PortClaim
from port_server.scanners import yaml_nodes as yn
from port_server.scanners.base import ScanError, SourceFile, base_name
from port_server.scanners.interpolate import UNRESOLVED, interpolate
from port_server.scanners.port_spec import (
    Mapping,
    PortSpecError,
    expand,
    parse_range,
    parse_short,
)

_COMPOSE_NAME = re.compile(
    r"^(?:[\w.-]*[.-])?(?:docker-)?compose(?:[\w.-]*)?\.ya?ml(?:\.(?:example|sample|dist|template|tmpl))?$",
    re.IGNORECASE)
#: Keys that mark a top-level mapping entry as a service in a version-1 file (no ``services:``).
_V1_SERVICE_KEYS = ("image", "build", "ports")


def is_compose_file(rel: str) -> bool:
    """docker-compose*.yml|yaml, compose*.yml|yaml, their overrides and .example templates."""
    return bool(_COMPOSE_NAME.match(base_name(rel)))


def scan_compose(src: SourceFile) -> list[PortClaim]:
    root = yn.compose_document(src.text)
    if root is None:
        return []
    if not yn.is_mapping(root):
        raise ScanError("not a compose file: the top level is not a mapping")
    budget = yn.Budget()
    top = yn.mapping(root, budget)
    services = services_of(top, budget)
    claims: list[PortClaim] = []
    errors: list[str] = []
    for name in services:
        claims.extend(_service_claims(src, name, services, budget, errors))
    if errors:  # the good entries still count; the bad ones are reported
        raise ScanError("; ".join(errors), claims)
    return claims


def services_of(top: dict[str, Any], budget: yn.Budget) -> dict[str, dict[str, Any]]:
    """Service name -> its mapping of value nodes (version-1 files: services at the top)."""
    if "services" in top:
        raw = yn.mapping(top["services"], budget)
    else:  # version 1 files: services at the top level
        raw = {k: v for k, v in top.items()
               if not k.startswith("x-") and k not in ("version", "volumes", "networks",
                                                        "secrets", "configs", "name", "include")
               and any(key in yn.mapping(v, budget) for key in _V1_SERVICE_KEYS)}
    return {name: yn.mapping(node, budget) for name, node in raw.items()
            if not name.startswith("x-") and yn.is_mapping(node)}


def _service_claims(src: SourceFile, name: str, services: dict[str, dict[str, Any]],
                    budget: yn.Budget, errors: list[str]) -> list[PortClaim]:
    service = services[name]
    claims: list[PortClaim] = []
    network_host = False
    mode_node = service.get("network_mode")
    mode = yn.scalar(mode_node)
    if mode is not None and interpolate(mode, src.env).text.strip() == "host":
        network_host = True
        claims.append(PortClaim(file=src.rel, line=yn.line_of(mode_node), kind="compose",
                                service=name, host_port=None, protocol="",
                                network_mode_host=True,
                                note="network_mode: host (container ports bind on the host)"))
    for entry, inherited_from in _port_entries(name, services, budget, set()):
        note = f"inherited via extends: from {inherited_from}" if inherited_from else ""
        try:
            found = _entry_mappings(src, entry, budget, network_host)
        except ScanError as exc:
            errors.append(f"service {name}: {exc}")
            continue
        for mapping, line, extra in found:
            claims.append(_claim(src, name, mapping, line, note, extra))
    return claims


def _port_entries(name: str, services: dict[str, dict[str, Any]], budget: yn.Budget,
                  seen: set[str]) -> list[tuple[Any, str]]:
    """(ports entry node, "" or the service it was inherited from via ``extends:``)."""
    seen.add(name)
    service = services[name]
    entries: list[tuple[Any, str]] = [(e, "") for e in yn.sequence(service.get("ports"), budget)]
    extends = service.get("extends")
    base = yn.scalar(extends)
    if base is None and yn.is_mapping(extends):
        ext = yn.mapping(extends, budget)
        base = None if "file" in ext else yn.scalar(ext.get("service"))
    if base and base in services and base not in seen and not _resets_ports(service):
        entries.extend((e, origin or base)
                       for e, origin in _port_entries(base, services, budget, seen))
    return entries


def _resets_ports(service: dict[str, Any]) -> bool:
    node = service.get("ports")
    return node is not None and node.tag in ("!reset", "!override")


def _entry_mappings(src: SourceFile, entry: Any, budget: yn.Budget,
                    network_host: bool) -> list[tuple[Mapping, int, dict[str, Any]]]:
    """The entry's mappings, its line, and extras: ``host_var`` (the variable that sets the host
    port, which ``portctl up`` writes to .env) and ``missing`` (variables with no value)."""
    budget.spend()
    if yn.is_mapping(entry):
        fields = yn.mapping(entry, budget)
        raw = yn.scalar(fields.get("published")) or ""
        mappings = _long_syntax(src, fields, yn.line_of(entry), network_host)
        return [(m, yn.line_of(entry), _extras(raw, src, m, long=True)) for m in mappings]
    text = yn.scalar(entry)
    if text is None:
        return []
    value = interpolate(text, src.env).text
    try:
        mappings = parse_short(value, network_host=network_host)
    except PortSpecError as exc:
        raise ScanError(f"line {yn.line_of(entry)}: {exc}") from None
    return [(m, yn.line_of(entry), _extras(text, src, m, long=False)) for m in mappings]


_PROBE_PORT = 65013
_VAR_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _extras(raw: str, src: SourceFile, m: Mapping, long: bool) -> dict[str, Any]:
    """Find which variable (if any) sets the host port by giving each a probe value."""
    extras: dict[str, Any] = {}
    names = list(dict.fromkeys(_VAR_REF.findall(raw)))
    if not names:
        return extras
    missing = interpolate(raw, src.env).missing
    if missing and m.host_port is None:
        extras["missing"] = missing
    for name in names:
        probe = interpolate(raw, {**src.env, name: str(_PROBE_PORT)}).text
        try:
            if long:
                hits = [(parse_range(probe.strip()) or (0, 0))[0]]
                probe_ip = m.host_ip
            else:
                probed = [p for p in parse_short(probe) if p.host_port == _PROBE_PORT]
                hits = [p.host_port or 0 for p in probed]
                probe_ip = probed[0].host_ip if probed else ""
        except PortSpecError:
            continue
        if _PROBE_PORT in hits:
            extras["host_var"] = name
            if m.host_ip and not probe_ip:  # ${SQL_PORT:-127.0.0.1:13306}: the IP is in the value
                extras["host_var_ip"] = m.host_ip
            break
    return extras


def _long_syntax(src: SourceFile, fields: dict[str, Any], line: int,
                 network_host: bool) -> list[Mapping]:
    def value(key: str) -> str:
        text = yn.scalar(fields.get(key))
        return "" if text is None else interpolate(text, src.env).text.strip()

    protocol = (value("protocol") or "tcp").lower()
    host_ip = value("host_ip")
    host_ip = "" if UNRESOLVED in host_ip else host_ip
    target_text = value("target")
    target = parse_range(target_text) if UNRESOLVED not in target_text else None
    published = value("published")
    if not published:
        if network_host and target:
            return expand(target, target, protocol, host_ip)
        return []
    if UNRESOLVED in published:
        return [Mapping(None, target[0] if target else None, protocol, host_ip)]
    host_range = parse_range(published)
    if host_range is None:
        raise ScanError(f"line {line}: published {published!r} is not a port")
    return expand(host_range, target, protocol, host_ip)


def _claim(src: SourceFile, service: str, m: Mapping, line: int, note: str,
           extra: dict[str, Any]) -> PortClaim:
    if m.host_port is None and not note:
        names = ", ".join(f"${{{n}}}" for n in extra.get("missing", [])) or "a variable"
        note = f"unresolved: {names} has no value and no default"
    return PortClaim(file=src.rel, line=line, kind="compose", service=service,
                     host_port=m.host_port, container_port=m.container_port,
                     protocol=m.protocol, host_ip=m.host_ip, resolved=m.host_port is not None,
                     note=note, extra=extra)
