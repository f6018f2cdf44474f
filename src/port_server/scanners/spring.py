"""Spring Boot ``application*.properties`` / ``application*.yml`` (and ``bootstrap*``), wherever
they sit (``src/main/resources/``, ``config/``, a module's folder).

Keys that bind a port: ``server.port``, ``management.server.port``, ``spring.rsocket.server.port``,
the grpc starter's ``grpc.server.port`` (and in the same files of Quarkus and Micronaut projects
``quarkus.http.port``, ``micronaut.server.port``); ``server.address`` and the other address keys
give the host address. ``${PORT:8080}`` takes the default (marked as one); ``${server.port}``
reads the file's own key; ``0`` and ``-1`` (a random port, no server) are not fixed ports. Client
settings (``spring.datasource.*``, ``spring.data.redis.port``, ``spring.mail.port``, broker URLs)
are not binds. YAML documents (``---``) are read one after the other; keys may be nested or
dotted (``server.port: 8080``).
"""

from __future__ import annotations

import re
from typing import Any

from port_server.models import PortClaim
from port_server.scanners import yaml_nodes as yn
from port_server.scanners.base import SourceFile, base_name, claim, valid_port
from port_server.scanners.interpolate import UNRESOLVED

_NAME = re.compile(r"^(?:application|bootstrap)(?:[-_.][\w.-]*)?\.(properties|ya?ml)$")
#: port key -> (its address key, the suffix of the claim's service name)
_PORT_KEYS = {
    "server.port": ("server.address", ""),
    "management.server.port": ("management.server.address", "-management"),
    "management.port": ("management.address", "-management"),  # Spring Boot 1
    "spring.rsocket.server.port": ("spring.rsocket.server.address", "-rsocket"),
    "grpc.server.port": ("grpc.server.address", "-grpc"),
    # the same file names in Quarkus and Micronaut projects
    "quarkus.http.port": ("quarkus.http.host", ""),
    "micronaut.server.port": ("micronaut.server.host", ""),
}
_NAME_KEYS = ("spring.application.name", "quarkus.application.name", "micronaut.application.name")
_PLACEHOLDER = re.compile(r"\$\{([^}:]+)(?::([^}]*))?\}")
_MAVEN_TOKEN = re.compile(r"^([^#\n]*:\s+)(@[\w.\-]+@)[ \t]*$", re.MULTILINE)
_YAML_LINE = re.compile(r"^( *)([\w.\-'\"]+):(?:\s+(.*))?$")
_PROP = re.compile(r"^\s*([^=:\s]+(?:\\ [^=:\s]*)*)\s*[=:\s]\s*(.*)$")


def is_spring_config(rel: str) -> bool:
    return bool(_NAME.match(base_name(rel))) and not rel.endswith("application.yml.example")


def scan_spring(src: SourceFile) -> list[PortClaim]:
    name = base_name(src.rel)
    docs = _properties(src.text) if name.endswith(".properties") else _yaml_docs(src.text)
    claims: list[PortClaim] = []
    names = [d[key][0] for d in docs for key in _NAME_KEYS if key in d]
    app = _resolve(names[0], docs[0])[0] if names and UNRESOLVED not in names[0] else "spring"
    for values in docs:
        ports: set[int] = set()
        for key, (address_key, suffix) in _PORT_KEYS.items():
            if key not in values:
                continue
            raw, line = values[key]
            text, default = _resolve(raw, values)
            port = valid_port(text)
            if port is None or port in ports:
                continue  # management.server.port equal to server.port: the same listener
            ports.add(port)
            address = _resolve(values.get(address_key, ("", 0))[0], values)[0]
            service = (app or "spring") + suffix
            claims.append(claim(src, line, "spring", service, port, key,
                                host_ip=address if re.match(r"^[\d.:]+$", address) else "",
                                default=default,
                                note=f"default of {raw}" if default else ""))
    return claims


def _resolve(value: str, values: dict[str, tuple[str, int]], depth: int = 0) -> tuple[str, bool]:
    """Expand ``${name:default}`` from the file's own keys, else the default (True: used)."""
    used_default = False

    def sub(m: re.Match[str]) -> str:
        nonlocal used_default
        name, fallback = m.group(1).strip(), m.group(2)
        if name in values and depth < 8:
            text, flag = _resolve(values[name][0], values, depth + 1)
            used_default = used_default or flag
            return text
        if fallback is None:
            return UNRESOLVED
        used_default = True
        return _resolve(fallback, values, depth + 1)[0]

    return _PLACEHOLDER.sub(sub, value.strip()), used_default


def _properties(text: str) -> list[dict[str, tuple[str, int]]]:
    values: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        i += 1
        stripped = line.strip()
        if stripped in ("#---", "!---"):  # a multi-document properties file
            continue
        if not stripped or stripped[0] in "#!":
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        m = _PROP.match(line)
        if m:
            values[m.group(1).replace("\\ ", " ")] = (m.group(2).strip(), start + 1)
    return [values]


def _yaml_docs(text: str) -> list[dict[str, tuple[str, int]]]:
    """Each YAML document's keys, flattened. Maven's resource filtering leaves unquoted
    ``@project.version@`` values, which YAML rejects: those are quoted first (lines stay put),
    and a file still not YAML is read line by line by indentation (``_indented``)."""
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    budget = yn.Budget()
    docs: list[dict[str, tuple[str, int]]] = []
    try:
        for root in yaml.compose_all(_MAVEN_TOKEN.sub(r"\1'\2'", text), Loader=loader):
            values: dict[str, tuple[str, int]] = {}
            _flatten(root, "", values, budget, 0)
            docs.append(values)
    except yaml.YAMLError:
        return _indented(text)
    return docs


def _indented(text: str) -> list[dict[str, tuple[str, int]]]:
    """A forgiving reader for YAML that does not parse: ``key: value`` lines nested by indent."""
    docs: list[dict[str, tuple[str, int]]] = [{}]
    stack: list[tuple[int, str]] = []  # (indent, key path) of the open mappings
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "---":
            docs.append({})
            stack = []
            continue
        m = _YAML_LINE.match(line)
        if m is None:
            continue
        indent, key, value = len(m.group(1)), m.group(2).strip("'\""), (m.group(3) or "").strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = f"{stack[-1][1]}.{key}" if stack else key
        value = re.split(r"\s+#", value, maxsplit=1)[0].strip().strip("'\"")
        if value:
            docs[-1][path] = (value, lineno)
        else:
            stack.append((indent, path))
    return docs


def _flatten(node: Any, prefix: str, out: dict[str, tuple[str, int]], budget: yn.Budget,
             depth: int) -> None:
    if depth > 32:
        return
    for key, value in yn.mapping(node, budget).items():
        path = f"{prefix}.{key}" if prefix else key
        if yn.is_mapping(value):
            _flatten(value, path, out, budget, depth + 1)
        elif (text := yn.scalar(value)) is not None:
            out[path] = (text, yn.line_of(value))
