"""Dev containers: ``devcontainer.json`` (in ``.devcontainer/`` or a folder below it) and
``.devcontainer.json``.

JSON with comments and trailing commas (``jsonc``). Host ports come from:

- ``forwardPorts``: a number, or ``"service:port"`` (a port of another compose service, forwarded
  to the same port on the host);
- ``appPort``: a number, ``"host:container"``, or a list of either (published like ``docker -p``);
- ``runArgs``: ``-p``/``--publish`` options handed to ``docker run``;
- ``portsAttributes`` keys that no entry above names: the editor forwards them when the port is
  seen listening; reported with a note (not when ``onAutoForward`` is ``ignore``). Ranges and
  non-numeric keys are not single ports.

The claim's service is the port's ``portsAttributes`` label, else the compose service of a
``"service:port"`` entry, else ``devcontainer``.
"""

from __future__ import annotations

import shlex
from typing import Any

from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name, claim, valid_port
from port_server.scanners.jsonc import JArray, JObject, parse
from port_server.scanners.port_spec import PortSpecError, parse_short

KIND = "devcontainer"


def is_devcontainer(rel: str) -> bool:
    name = base_name(rel)
    if name == ".devcontainer.json":
        return True
    return name == "devcontainer.json" and (rel.startswith(".devcontainer/")
                                            or "/.devcontainer/" in rel)


def scan_devcontainer(src: SourceFile) -> list[PortClaim]:
    data = parse(src.text)
    if not isinstance(data, JObject):
        return []
    attributes = data.get("portsAttributes")
    labels: dict[int, str] = {}
    if isinstance(attributes, JObject):
        for key, value in attributes.items():
            port = valid_port(key)
            if port is not None and isinstance(value, dict) and isinstance(value.get("label"),
                                                                           str):
                labels[port] = value["label"]
    out: list[PortClaim] = []
    for value, line in _entries(data, "forwardPorts"):
        out.extend(_forward(src, value, line, labels))
    for value, line in _entries(data, "appPort"):
        out.extend(_published(src, str(value), line, "appPort", labels))
    run_args = data.get("runArgs")
    if isinstance(run_args, list) and all(isinstance(a, str) for a in run_args):
        from port_server.scanners.commandline import scan_command

        line = data.line_of["runArgs"]
        command = "docker run " + " ".join(shlex.quote(a) for a in run_args) + " image"
        for hit in scan_command(command):
            out.append(claim(src, line, KIND, labels.get(hit.host_port, KIND), hit.host_port,
                             "runArgs", host_ip=hit.host_ip, container_port=hit.container_port,
                             protocol=hit.protocol))
    named = {c.host_port for c in out}
    if isinstance(attributes, JObject):
        for key, value in attributes.items():
            port = valid_port(key)
            if isinstance(value, dict) and value.get("onAutoForward") == "ignore":
                continue  # the editor is told to leave this port alone
            if port is not None and port not in named:
                named.add(port)
                out.append(claim(src, attributes.line_of[key], KIND, labels.get(port, KIND), port,
                                 "portsAttributes",
                                 note="portsAttributes only: forwarded when seen listening"))
    return out


def _entries(data: JObject, key: str) -> list[tuple[Any, int]]:
    value = data.get(key)
    if isinstance(value, JArray):
        return list(zip(value, value.line_of, strict=True))
    if value is None or isinstance(value, (dict, list)):
        return []
    return [(value, data.line_of[key])]


def _forward(src: SourceFile, value: Any, line: int, labels: dict[int, str]) -> list[PortClaim]:
    port = valid_port(value)
    if port is not None:
        return [claim(src, line, KIND, labels.get(port, KIND), port, "forwardPorts")]
    if isinstance(value, str) and ":" in value:
        service, _, port_text = value.rpartition(":")
        port = valid_port(port_text)
        if port is not None:
            local = service in ("localhost", "127.0.0.1", "0.0.0.0")
            note = "" if local else f"forwards port {port} of the {service!r} service"
            return [claim(src, line, KIND, labels.get(port, KIND if local else service), port,
                          "forwardPorts",
                          container_port=port, note=note)]
    return []


def _published(src: SourceFile, text: str, line: int, source: str,
               labels: dict[int, str]) -> list[PortClaim]:
    if valid_port(text) is not None:  # a bare appPort publishes the same port on the host
        text = f"{text}:{text}"
    try:
        mappings = parse_short(text)
    except PortSpecError:
        return []
    return [claim(src, line, KIND, labels.get(m.host_port, KIND), m.host_port, source,
                  host_ip=m.host_ip, container_port=m.container_port, protocol=m.protocol)
            for m in mappings if m.host_port is not None]
