"""Where things live and the defaults: every environment variable and config key, in one place.

Lookup order for each setting: command-line flag > environment variable > config file > default
(the listen address: ``address.server_listen``, shared with the client).
The config file is TOML: ``$PORT_SERVER_HOME/config.toml`` when PORT_SERVER_HOME is set, otherwise
``$XDG_CONFIG_HOME/port-server/config.toml`` (``~/.config/port-server/config.toml``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from port_server import defaults
from port_server.address import config_path, server_listen
from port_server.defaults import (  # noqa: F401  (re-exported: settings is where people look)
    DEFAULT_ADDR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_BODY_BYTES,
    server_addr_from_env,
)
from port_server.errors import InvalidInput
from port_server.models import Pool

#: Untyped allocations draw from "default"; the others are portman's service types.
DEFAULT_POOLS: dict[str, tuple[int, int]] = {
    "default": (3000, 9999),
    "web": (3000, 3099),
    "db": (5000, 5999),
    "api": (8000, 8099),
    "ml": (8100, 8199),
    "monitoring": (9000, 9099),
    "dynamic": (10000, 32767),
}

#: Well-known defaults of common services and dev servers. Auto-assign never hands these out,
#: because the software they belong to tends to grab them without asking; an explicit --port may.
DEFAULT_SKIP_PORTS: tuple[int, ...] = (
    3000,   # node / rails / next / grafana / dokploy UI
    3306,   # mysql
    4200,   # angular
    5000,   # flask / docker registry
    5173,   # vite
    5432,   # postgresql
    5672,   # rabbitmq
    6006,   # storybook
    6379,   # redis
    8000,   # django / uvicorn
    8080,   # http-alt
    8081,   # http-alt
    8443,   # https-alt
    8888,   # jupyter
    9000,   # php-fpm / minio / sonarqube
    9090,   # prometheus
    9200,   # elasticsearch
    9300,   # elasticsearch transport
    11211,  # memcached
    15672,  # rabbitmq management
    27017,  # mongodb
)


def data_dir_from_env(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("PORT_SERVER_HOME"):
        return Path(env["PORT_SERVER_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    return Path(xdg) / "port-server"


def config_path_from_env(env: dict[str, str] | None = None) -> Path:
    return Path(config_path(dict(os.environ) if env is None else env))


def parse_range(text: str, what: str) -> tuple[int, int]:
    """'3000-3099' -> (3000, 3099), checked."""
    lo_s, sep, hi_s = str(text).partition("-")
    try:
        lo, hi = int(lo_s), int(hi_s if sep else lo_s)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a range like 3000-3099", field=what) from None
    if not (1 <= lo <= hi <= 65535):
        raise InvalidInput(f"{what}: {text!r} must satisfy 1 <= low <= high <= 65535", field=what)
    return lo, hi


def default_socket_path(env: dict[str, str] | None = None) -> Path:
    """The Unix socket the server also listens on and the CLI prefers (see ``defaults``)."""
    return Path(defaults.default_socket_path(env))


@dataclass(frozen=True)
class SecuritySettings:
    """Ownership, protection, leases, audit, network hardening (config ``[security]``)."""

    #: Members of this OS group (and root) may change anyone's allocations.
    admin_group: str = ""
    #: OS users (besides admins) who may sync from an outside source (portctl sync dokploy).
    sync_users: tuple[str, ...] = ()
    #: Allocations in these environments are protected when created.
    protected_environments: tuple[str, ...] = ("production",)
    #: The Unix socket; None: do not listen on one.
    unix_socket: Path | None = None
    socket_mode: int = 0o660
    socket_group: str = ""
    #: With a token file every TCP request needs ``Authorization: Bearer <token>``.
    token_file: Path | None = None
    #: Host header names accepted besides loopback names and addresses (DNS rebinding guard).
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds between reaper passes (expired and dead-process leases).
    reap_interval: float = 15.0
    audit_retention_days: float = 90.0
    audit_max_entries: int = 100_000
    #: Seconds a client may take to send one whole request (slowloris guard).
    request_timeout: float = 10.0
    #: Seconds an idle kept-alive connection stays open.
    keep_alive_timeout: int = 5
    #: Open connections at most (more get 503 at once).
    max_connections: int = 1024


def security_from_config(table: Any, env: dict[str, str]) -> SecuritySettings:
    """Parse the ``[security]`` config table; unknown keys are refused with the key's name."""
    table = dict(table or {})
    defaults = SecuritySettings()
    known = {f for f in SecuritySettings.__dataclass_fields__}
    for key in table:
        if key not in known:
            raise InvalidInput(f"config security.{key}: unknown key; known:"
                               f" {', '.join(sorted(known))}", field=f"security.{key}")
    try:
        socket_value = table.get("unix_socket", str(default_socket_path(env)))
        mode = table.get("socket_mode", defaults.socket_mode)
        return SecuritySettings(
            admin_group=str(table.get("admin_group", "")),
            sync_users=tuple(str(u) for u in table.get("sync_users", ())),
            protected_environments=tuple(str(e) for e in table.get(
                "protected_environments", defaults.protected_environments)),
            unix_socket=Path(socket_value).expanduser() if socket_value else None,
            socket_mode=int(mode, 8) if isinstance(mode, str) else int(mode),
            socket_group=str(table.get("socket_group", "")),
            token_file=Path(str(table["token_file"])).expanduser() if table.get("token_file")
            else None,
            allowed_hosts=tuple(str(h).lower() for h in table.get("allowed_hosts", ())),
            reap_interval=float(table.get("reap_interval", defaults.reap_interval)),
            audit_retention_days=float(table.get("audit_retention_days",
                                                 defaults.audit_retention_days)),
            audit_max_entries=int(table.get("audit_max_entries", defaults.audit_max_entries)),
            request_timeout=float(table.get("request_timeout", defaults.request_timeout)),
            keep_alive_timeout=int(table.get("keep_alive_timeout", defaults.keep_alive_timeout)),
            max_connections=int(table.get("max_connections", defaults.max_connections)),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"config [security]: {exc}", field="security") from None


@dataclass(frozen=True)
class ProxySettings:
    """The name-based HTTPS front door (config ``[proxy]``; see docs/proxy.md)."""

    #: Ports that need no root and lie outside every default pool (auto-assign never hands
    #: them out); 443/80 work once Caddy may bind them (see docs/proxy.md).
    https_port: int = 2443
    http_port: int = 2080
    #: HTTPS from Caddy's internal CA; false serves the names over plain HTTP on http_port.
    https: bool = True
    #: The service that answers at <instance>.<app>.localhost and <app>.localhost.
    default_service: str = "web"
    #: Pools whose allocations get a name unless allocated with --no-http.
    http_pools: tuple[str, ...] = ("web", "api", "monitoring")
    #: Also route other hosts' allocations (a team registry), at <s>.<i>.<app>.<host>.localhost.
    all_hosts: bool = False
    #: The Caddy program; empty: `caddy` on PATH, else the one the proxy extra installed.
    caddy: str = ""
    #: An already running Caddy's admin address to drive instead of starting one
    #: (e.g. "unix//run/caddy/admin.sock" or "127.0.0.1:2019").
    admin: str = ""
    #: Start the proxy with the server even if `portctl proxy start` was never run.
    start: bool = False


def proxy_from_config(table: Any) -> ProxySettings:
    """Parse the ``[proxy]`` config table; unknown keys are refused with the key's name."""
    table = dict(table or {})
    known = set(ProxySettings.__dataclass_fields__)
    for key in table:
        if key not in known:
            raise InvalidInput(f"config proxy.{key}: unknown key; known:"
                               f" {', '.join(sorted(known))}", field=f"proxy.{key}")
    base = ProxySettings()
    try:
        out = ProxySettings(
            https_port=int(table.get("https_port", base.https_port)),
            http_port=int(table.get("http_port", base.http_port)),
            https=bool(table.get("https", base.https)),
            default_service=str(table.get("default_service", base.default_service)),
            http_pools=tuple(str(p) for p in table.get("http_pools", base.http_pools)),
            all_hosts=bool(table.get("all_hosts", base.all_hosts)),
            caddy=str(table.get("caddy", "")), admin=str(table.get("admin", "")),
            start=bool(table.get("start", base.start)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"config [proxy]: {exc}", field="proxy") from None
    for name in ("https_port", "http_port"):
        if not 1 <= getattr(out, name) <= 65535:
            raise InvalidInput(f"config proxy.{name}: use a port from 1 to 65535",
                               field=f"proxy.{name}")
    return out


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    store_url: str = ""
    pidfile: Path | None = None
    log_level: str = "info"
    host_id: str = field(default_factory=socket.gethostname)
    pools: dict[str, Pool] = field(default_factory=dict)
    skip_ports: frozenset[int] = frozenset(DEFAULT_SKIP_PORTS)
    #: Free ports are probed on the machine; tests of pure policy may turn this off.
    probe_os: bool = True
    #: Respect the kernel's ephemeral range when auto-assigning.
    avoid_ephemeral: bool = True
    #: Extra config-file tables that features own (type inference, protection, dokploy...).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Ownership, leases, audit and network hardening.
    security: SecuritySettings = field(default_factory=SecuritySettings)
    #: The name-based HTTPS front door (``portctl proxy``).
    proxy: ProxySettings = field(default_factory=ProxySettings)

    @property
    def db_path(self) -> Path:
        if self.store_url.startswith("sqlite:///"):
            return Path(self.store_url[len("sqlite:///"):])
        return self.data_dir / "registry.db"

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'registry.db'}"

    @property
    def effective_pidfile(self) -> Path:
        return self.pidfile or self.data_dir / "port-server.pid"

    @property
    def lockfile(self) -> Path:
        return self.data_dir / "port-server.lock"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "port-server.log"

    def pool(self, name: str) -> Pool:
        try:
            return self.pools[name or "default"]
        except KeyError:
            known = ", ".join(sorted(self.pools))
            raise InvalidInput(
                f"type: unknown pool {name!r}; use one of: {known}", field="type"
            ) from None

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InvalidInput(f"config file {path}: {exc}", field="config") from None


def pools_from_config(config: dict[str, Any]) -> dict[str, Pool]:
    pools = {name: Pool(name, lo, hi) for name, (lo, hi) in DEFAULT_POOLS.items()}
    for name, spec in (config.get("pools") or {}).items():
        text = spec.get("range") if isinstance(spec, dict) else spec
        lo, hi = parse_range(str(text), f"pools.{name}")
        pools[name] = Pool(name, lo, hi)
    return pools


def load_settings(
    env: dict[str, str] | None = None, config_path: Path | None = None, **overrides: Any
) -> Settings:
    """Build Settings from env + config file; keyword overrides (CLI flags) win when not None."""
    env = dict(os.environ) if env is None else env
    data_dir = data_dir_from_env(env)
    config = load_config_file(config_path or config_path_from_env(env))
    host, port, _ = server_listen(env, str(config.get("listen", "")))
    skip = config.get("skip_ports")
    settings = Settings(
        data_dir=Path(config.get("data_dir", data_dir)),
        host=host,
        port=port,
        store_url=str(env.get("PORT_SERVER_STORE") or config.get("store", "")),
        host_id=str(env.get("PORT_SERVER_HOST_ID") or config.get("host_id")
                    or socket.gethostname()),
        pools=pools_from_config(config),
        skip_ports=frozenset(int(p) for p in skip) if skip is not None else frozenset(
            DEFAULT_SKIP_PORTS),
        log_level=str(config.get("log_level", "info")),
        extra={k: v for k, v in config.items()
               if k not in ("listen", "store", "host_id", "pools", "skip_ports", "log_level",
                            "data_dir", "security", "proxy")},
        security=security_from_config(config.get("security"), env),
        proxy=proxy_from_config(config.get("proxy")),
    )
    return settings.with_overrides(**overrides)
