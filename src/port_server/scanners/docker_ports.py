"""Which Docker container publishes which host port, from the engine's API or the docker CLI.

Used by the live scan to name the container behind a ``docker-proxy`` (or the engine itself, when
the userland proxy is off and nothing listens). Docker is optional: every failure becomes a short
status text, never an exception. The API is read over the unix socket with a tiny HTTP/1.0
request (no third-party client); the CLI is the fallback when only it is available.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from port_server.models import ContainerInfo

TIMEOUT = 2.0
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: Process names that hold ports on Docker's behalf.
DOCKER_PROCESSES = frozenset({"docker-proxy", "dockerd", "rootlesskit", "slirp4netns",
                              "com.docker.backend", "vpnkit"})


@dataclass(frozen=True)
class Published:
    """One host port a container publishes."""

    host_ip: str
    host_port: int
    protocol: str
    container: ContainerInfo


def socket_path(env: dict[str, str] | None = None) -> Path | None:
    """The engine's unix socket: $DOCKER_HOST (unix://...), else the usual places, if present."""
    environ = os.environ if env is None else env
    host = environ.get("DOCKER_HOST", "")
    if host:
        return Path(host[len("unix://"):]) if host.startswith("unix://") else None
    candidates = [Path("/var/run/docker.sock")]
    if environ.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(environ["XDG_RUNTIME_DIR"]) / "docker.sock")
    return next((p for p in candidates if p.exists()), None)


def from_api(path: Path, timeout: float = TIMEOUT) -> list[Published]:
    """GET /containers/json over the engine's socket. Raises OSError/ValueError on failure."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b" ", 2)
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"docker API answered {head[:40].decode(errors='replace')!r}")
    return parse_api(json.loads(body))


def parse_api(containers: Any) -> list[Published]:
    out = []
    for c in containers if isinstance(containers, list) else []:
        names = c.get("Names") or ["?"]
        labels = c.get("Labels") or {}
        for p in c.get("Ports") or []:
            if not p.get("PublicPort"):
                continue
            info = ContainerInfo(
                name=str(names[0]).lstrip("/"), compose_project=labels.get(PROJECT_LABEL, ""),
                compose_service=labels.get(SERVICE_LABEL, ""),
                container_port=p.get("PrivatePort"), image=str(c.get("Image", "")))
            out.append(Published(str(p.get("IP", "")), int(p["PublicPort"]),
                                 str(p.get("Type", "tcp")), info))
    return out


# "0.0.0.0:8000-8001->80-81/tcp", ":::8080->80/tcp", "[::]:53->53/udp"
_CLI_PORT = re.compile(r"^(?:(?P<ip>.*):)?(?P<lo>\d+)(?:-(?P<hi>\d+))?->(?P<clo>\d+)(?:-\d+)?"
                       r"/(?P<proto>tcp|udp|sctp)$")


def parse_cli(text: str) -> list[Published]:
    """`docker ps --format '{{json .}}'` output: one JSON object per line, ports as text."""
    out = []
    for line in text.splitlines():
        try:
            c = json.loads(line)
        except ValueError:
            continue
        labels = dict(kv.partition("=")[::2] for kv in str(c.get("Labels", "")).split(",") if kv)
        name = str(c.get("Names", "?")).split(",")[0]
        for spec in str(c.get("Ports", "")).split(","):
            m = _CLI_PORT.match(spec.strip())
            if not m:
                continue
            lo, hi = int(m["lo"]), int(m["hi"] or m["lo"])
            for offset, port in enumerate(range(lo, hi + 1)):
                info = ContainerInfo(name=name, compose_project=labels.get(PROJECT_LABEL, ""),
                                     compose_service=labels.get(SERVICE_LABEL, ""),
                                     container_port=int(m["clo"]) + offset,
                                     image=str(c.get("Image", "")))
                out.append(Published((m["ip"] or "").strip("[]"), port, m["proto"], info))
    return out


def from_cli(timeout: float = TIMEOUT) -> list[Published]:
    docker = shutil.which("docker")
    if docker is None:
        raise FileNotFoundError("no docker CLI on PATH")
    proc = subprocess.run([docker, "ps", "--format", "{{json .}}"], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise OSError(lines[-1] if lines else f"docker ps exited {proc.returncode}")
    return parse_cli(proc.stdout)


def published_ports(use_cli: bool) -> tuple[list[Published] | None, str]:
    """(ports, status): ports is None when Docker could not be asked; status says why."""
    path = socket_path()
    try:
        if path is not None:
            return from_api(path), f"ok (api {path})"
        if not use_cli:
            return None, "not found"
        return from_cli(), "ok (cli)"
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        where = f"{path}: " if path is not None else "docker ps: "
        return None, f"unavailable: {where}{getattr(exc, 'strerror', None) or exc}"
