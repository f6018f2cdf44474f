"""Host ports a compose file publishes, for Dokploy compose services (pure, no I/O).

Only ``HOST:CONTAINER`` mappings bind a fixed host port; a bare ``"80"`` lets Docker pick one, so
it is skipped. ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` are resolved from the
compose's env text (Dokploy's "Environment" tab). Values of that env are secrets: they only
resolve port variables and never appear in a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_RANGE = re.compile(r"^\d+(-\d+)?$")
MAX_RANGE = 100


@dataclass(frozen=True)
class ComposePort:
    service: str
    published: int
    target: int
    protocol: str = "tcp"


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines (comments, blanks and ``export`` allowed), as Dokploy stores env."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def interpolate(text: str, env: dict[str, str]) -> str | None:
    """Resolve compose variables; None when one has no value and no default."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1) or m.group(4)
        value = env.get(name)
        if m.group(2) == ":-" and not value:
            return m.group(3) or ""
        if m.group(2) == "-" and value is None:
            return m.group(3) or ""
        if value is None:
            missing = True
            return ""
        return value

    out = _VAR.sub(sub, text.replace("$$", "\0"))
    return None if missing else out.replace("\0", "$")


def _split_short(text: str) -> tuple[str, str, str] | None:
    """'[IP:]HOST:CONTAINER[/PROTO]' -> (host, container, proto); host '' when not fixed."""
    text, _, proto = text.partition("/")
    if text.startswith("["):  # [::1]:8080:80
        _, sep, text = text.partition("]:")
        if not sep:
            return None
    parts = text.rsplit(":", 2)
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    if not _RANGE.match(container) or (host and not _RANGE.match(host)):
        return None
    return host, container, (proto or "tcp").lower()


def _span(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    first, last = int(lo), int(hi or lo)
    if not (1 <= first <= last <= 65535) or last - first >= MAX_RANGE:
        return []
    return list(range(first, last + 1))


def _mappings(service: str, entry: Any, env: dict[str, str]) -> tuple[list[ComposePort], str]:
    """One ``ports:`` entry -> fixed host mappings, or a note saying why there are none."""
    if isinstance(entry, dict):
        published, target = entry.get("published"), entry.get("target")
        protocol = str(entry.get("protocol") or "tcp")
        if published in (None, ""):
            return [], ""
        text = interpolate(str(published), env)
        if text is None or not re.fullmatch(r"\d+(-\d+)?", text.strip()):
            return [], f"service {service}: published port {published!r} is not resolvable"
        hosts = _span(text.strip())
        if not hosts:
            return [], f"service {service}: published port {published!r} has an unusable range"
        t = int(str(target)) if str(target).isdigit() else hosts[0]
        return [ComposePort(service, h, t + i if len(hosts) > 1 else t, protocol)
                for i, h in enumerate(hosts)], ""
    raw = str(entry)
    text = interpolate(raw, env)
    if text is None:
        return [], f"service {service}: port {raw!r} uses a variable with no value"
    parsed = _split_short(text.strip().strip("'\""))
    if parsed is None:
        return [], f"service {service}: port {raw!r} is not understood"
    host, container, proto = parsed
    if not host:
        return [], ""  # container-only: Docker picks a random host port
    hosts, targets = _span(host), _span(container)
    if not hosts or not targets or (len(targets) > 1 and len(targets) != len(hosts)):
        return [], f"service {service}: port {raw!r} has an unusable range"
    return [ComposePort(service, h, targets[i] if len(targets) > 1 else targets[0], proto)
            for i, h in enumerate(hosts)], ""


def compose_host_ports(yaml_text: str, env_text: str = "") -> tuple[list[ComposePort], list[str]]:
    """Every fixed host port of a compose file, plus notes on what could not be read."""
    import yaml

    try:
        doc = yaml.safe_load(yaml_text)
    except yaml.YAMLError:
        return [], ["the compose file is not valid YAML"]
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return [], ["the compose file has no services"]
    env = parse_env(env_text)
    found: list[ComposePort] = []
    notes: list[str] = []
    for name, spec in services.items():
        if not isinstance(spec, dict):
            continue
        if spec.get("network_mode") == "host":
            notes.append(f"service {name}: network_mode host; its ports are not declared")
        for entry in spec.get("ports") or []:
            ports, note = _mappings(str(name), entry, env)
            found += [p for p in ports if p.protocol in ("tcp", "udp")]
            if note:
                notes.append(note)
    return found, notes
