"""Port mapping strings: compose short syntax and ``docker run -p``, after interpolation.

``[IP:][HOST:]CONTAINER[/PROTO]`` where IP may be bracketed IPv6 (``[::1]``), HOST and CONTAINER
may be ranges (``3000-3005``). Only an entry with a HOST part binds a fixed host port; a bare
``"8080"`` or ``"127.0.0.1::80"`` lets the engine pick an ephemeral one (container-only here).
"""

from __future__ import annotations

from dataclasses import dataclass

from port_server.scanners.interpolate import UNRESOLVED

MAX_RANGE = 65535


@dataclass(frozen=True)
class Mapping:
    """One host port (None: unresolved variable) published onto one container port."""

    host_port: int | None
    container_port: int | None
    protocol: str
    host_ip: str


class PortSpecError(ValueError):
    """The text is not a port mapping at all (a scanner reports it, it does not guess)."""


def parse_range(text: str) -> tuple[int, int] | None:
    """'8080' -> (8080, 8080); '3000-3005' -> (3000, 3005); anything else -> None."""
    text = text.strip()
    lo_text, sep, hi_text = text.partition("-")
    if not lo_text.isdigit() or (sep and not hi_text.isdigit()):
        return None
    lo = int(lo_text)
    hi = int(hi_text) if sep else lo
    if not 0 < lo <= hi <= MAX_RANGE:
        return None
    return lo, hi


def split_protocol(text: str) -> tuple[str, str]:
    body, sep, proto = text.rpartition("/")
    if not sep:
        return text, "tcp"
    proto = proto.strip().lower() or "tcp"
    return body, proto


def split_spec(text: str) -> tuple[str, str | None, str]:
    """'IP:HOST:CONTAINER' -> (ip, host or None when absent, container)."""
    if text.startswith("["):  # [::1]:8080:80
        end = text.find("]")
        if end < 0:
            raise PortSpecError(f"unclosed '[' in {text!r}")
        ip = text[1:end]
        rest = text[end + 1:].lstrip(":")
        host, sep, container = rest.rpartition(":")
        return ip, host if sep else "", container
    parts = text.split(":")
    if len(parts) == 1:
        return "", None, parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_short(text: str, *, network_host: bool = False) -> list[Mapping]:
    """Every fixed host port a short-syntax entry binds (empty for container-only entries).

    ``network_host``: the service shares the host's network, so container ports bind there too.
    """
    body, protocol = split_protocol(text.strip())
    ip, host, container = split_spec(body)
    ip = "" if UNRESOLVED in ip else ip.strip()
    container_range = parse_range(container) if UNRESOLVED not in container else None
    if host is None or host.strip() == "":
        if network_host and container_range:
            lo, hi = container_range
            return [Mapping(p, p, protocol, ip) for p in range(lo, hi + 1)]
        if UNRESOLVED not in container and container_range is None:
            raise PortSpecError(f"{text!r} is not a port mapping")
        return []
    rest = host.lstrip(UNRESOLVED)
    if host.startswith(UNRESOLVED) and rest and UNRESOLVED not in rest:
        # "${LISTEN_ADDR}${PORT}" with no address set: compose reads it as just the port.
        host = host.lstrip(UNRESOLVED)
    if UNRESOLVED in host:
        container_port = container_range[0] if container_range else None
        return [Mapping(None, container_port, protocol, ip)]
    host_range = parse_range(host)
    if host_range is None:
        raise PortSpecError(f"{text!r}: host part {host!r} is not a port or range")
    return expand(host_range, container_range, protocol, ip)


def expand(host_range: tuple[int, int], container_range: tuple[int, int] | None, protocol: str,
           ip: str) -> list[Mapping]:
    """One Mapping per host port; a host range onto one container port maps each onto it."""
    lo, hi = host_range
    out = []
    for i, port in enumerate(range(lo, hi + 1)):
        if container_range is None:
            target = None
        elif container_range[0] == container_range[1]:
            target = container_range[0]
        else:
            target = container_range[0] + i if container_range[0] + i <= container_range[1] \
                else None
        out.append(Mapping(port, target, protocol, ip))
    return out
