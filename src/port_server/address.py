"""Where port-server listens and where portctl connects: one answer for the server, the client,
``portctl start``, ``status``, ``health`` and ``doctor``.

The TCP address, first found wins:

1. a flag: ``portctl --addr HOST:PORT``; ``port-server --host/--port``
2. the environment: ``PORT_SERVER_ADDR`` (or the older ``PORT_REGISTRY_ADDR``)
3. the config file: ``listen = "HOST:PORT"``
4. ``127.0.0.1:51234``

With no flag and no environment address, the client first tries the server's Unix socket (the
kernel then tells the server who is calling): ``[security] unix_socket`` in the config file, else
``$XDG_RUNTIME_DIR/port-server.sock`` or ``DATA_DIR/port-server.sock``; it falls back on TCP.

Bottom layer, on the CLI's start-up path: imports nothing heavy. The config file is read without
tomllib when its two keys are plain strings, because tomllib imports typing and re (~15 ms that
every portctl call would pay); anything fancier is handed to tomllib.
"""

from __future__ import annotations

import os

from port_server.defaults import DEFAULT_ADDR, default_socket_path
from port_server.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_VARS = ("PORT_SERVER_ADDR", "PORT_REGISTRY_ADDR")
EXAMPLE = "127.0.0.1:51234"


def parse_addr(addr: str, what: str = "--addr") -> tuple[str, int] | str:
    """'127.0.0.1:51234', 'http://localhost:51234/', '[::1]:51234' -> (host, port);
    'unix:/path/to.sock' -> '/path/to.sock'. Anything else is a usage error naming ``what``."""
    text = addr.strip()
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise InvalidInput(f"{what}: 'unix:' needs a socket path, e.g. unix:/run/ps.sock",
                               field="addr")
        return path
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.rstrip("/")
    host, sep, port_s = text.rpartition(":")
    if host.startswith("[") != host.endswith("]"):
        host = ""  # '[::1' or '::1]': a broken IPv6 literal
    host = host[1:-1] if host.startswith("[") else host
    if not sep or not host or (":" in host and not text.startswith("[")):
        raise InvalidInput(f"{what}: {addr!r} is not HOST:PORT; use e.g. {EXAMPLE}"
                           " (IPv6: [::1]:51234) or unix:/path/to.sock", field="addr")
    if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
        raise InvalidInput(f"{what}: port {port_s!r} in {addr!r} must be a number from 1 to"
                           f" 65535; use e.g. {EXAMPLE}", field="addr")
    return host, int(port_s)


def format_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def config_path(env: Mapping[str, str]) -> str:
    """The config file: $PORT_SERVER_CONFIG, $PORT_SERVER_HOME/config.toml, else
    $XDG_CONFIG_HOME/port-server/config.toml (~/.config/port-server/config.toml)."""
    if env.get("PORT_SERVER_CONFIG"):
        return os.path.expanduser(env["PORT_SERVER_CONFIG"])
    if env.get("PORT_SERVER_HOME"):
        return os.path.join(os.path.expanduser(env["PORT_SERVER_HOME"]), "config.toml")
    home = os.path.expanduser(env.get("HOME", "~"))
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(xdg, "port-server", "config.toml")


class Endpoint:
    """Where the client connects: a TCP address and, maybe, a Unix socket it tries first."""

    __slots__ = ("addr", "source", "target", "tls", "unix_first")

    def __init__(self, addr: str, source: str, unix_first: str | None = None) -> None:
        self.addr = addr
        #: ``https://HOST:PORT``: speak TLS, verifying the server's certificate.
        self.tls = addr.strip().lower().startswith("https://")
        #: Where ``addr`` came from: "--addr", "PORT_SERVER_ADDR", "config file ...", "the
        #: default" (also the name given in an error about it).
        self.source = source
        self.target = parse_addr(addr, source)
        self.unix_first = unix_first

    def __repr__(self) -> str:
        return f"Endpoint({self.addr!r}, {self.source!r}, unix_first={self.unix_first!r})"


def resolve(flag: str | None = None, env: Mapping[str, str] | None = None,
            probe_socket: bool = True) -> Endpoint:
    """The client's endpoint (module docstring); ``probe_socket``: only offer the Unix socket
    when a socket file is there."""
    env = os.environ if env is None else env
    if flag:
        return Endpoint(flag, "--addr")
    for var in ENV_VARS:
        if env.get(var):
            return Endpoint(env[var], var)
    path = config_path(env)
    listen, unix_socket = read_config_addresses(path)
    unix = (default_socket_path(dict(env)) if unix_socket is None
            else os.path.expanduser(unix_socket))
    if probe_socket and unix and not _is_socket(unix):
        unix = ""
    if listen:
        return Endpoint(listen, f"config file {path} (listen)", unix or None)
    return Endpoint(DEFAULT_ADDR, "the default", unix or None)


def parse_tcp(addr: str, what: str) -> tuple[str, int]:
    """A TCP HOST:PORT (no Unix socket), else a usage error naming ``what``."""
    target = parse_addr(addr, what)
    if isinstance(target, str):
        raise InvalidInput(f"{what}: give HOST:PORT; a Unix socket is set by [security]"
                           " unix_socket or port-server --unix-socket", field="addr")
    return target


def server_listen(env: Mapping[str, str], config_listen: str) -> tuple[str, int, str]:
    """The server's (host, port, source) before its own flags: environment > config > default.
    A ``unix:`` environment address names a socket, not a TCP address: it is skipped here."""
    for var in ENV_VARS:
        value = env.get(var, "")
        if value and not value.strip().startswith("unix:"):
            return (*parse_tcp(value, var), var)
    if config_listen:
        return (*parse_tcp(config_listen, "config listen"), "config listen")
    return (*parse_tcp(DEFAULT_ADDR, "default"), "default")


def _is_socket(path: str) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def read_config_addresses(path: str) -> tuple[str, str | None]:
    """(``listen``, ``[security] unix_socket``) from the config file: "" / None when unset."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:  # absent, or another user's (the server reports its own config's trouble)
        return "", None
    if "listen" not in text and "unix_socket" not in text:
        return "", None
    wanted = {("", "listen"): "listen", ("security", "unix_socket"): "unix_socket",
              ("", "security.unix_socket"): "unix_socket"}
    found: dict[str, str] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            table = line[1:line.find("]")].strip() if "]" in line else "?"
            continue
        key, eq, value = line.partition("=")
        name = wanted.get((table, key.strip())) if eq else None
        if name is None:
            continue
        plain = _plain_string(value.strip())
        if plain is None:
            return _read_with_tomllib(path)
        found[name] = plain
    return found.get("listen", ""), found.get("unix_socket")


def _plain_string(value: str) -> str | None:
    """The text of a one-line TOML string without escapes (then a comment at most), else None."""
    if not value or value[0] not in "\"'":
        return None
    end = value.find(value[0], 1)
    if end < 1 or "\\" in value[1:end]:
        return None
    rest = value[end + 1:].strip()
    return value[1:end] if not rest or rest.startswith("#") else None


def _read_with_tomllib(path: str) -> tuple[str, str | None]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InvalidInput(f"config file {path}: {exc}", field="config") from None
    security = config.get("security")
    unix = security.get("unix_socket") if isinstance(security, dict) else None
    return str(config.get("listen", "")), None if unix is None else str(unix)
