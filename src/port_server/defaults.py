"""Constants every layer shares, importing nothing: the CLI reads them on its fast path."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 51234
DEFAULT_ADDR = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
MAX_BODY_BYTES = 64 * 1024


def server_addr_from_env(env: dict[str, str] | None = None) -> str:
    """The address the CLI talks to: PORT_SERVER_ADDR, else port-registry's PORT_REGISTRY_ADDR."""
    import os

    env = dict(os.environ) if env is None else env
    return env.get("PORT_SERVER_ADDR") or env.get("PORT_REGISTRY_ADDR") or DEFAULT_ADDR


def default_socket_path(env: dict[str, str] | None = None) -> str:
    """The Unix socket the server also listens on and the CLI prefers:
    ``$XDG_RUNTIME_DIR/port-server.sock``, else ``DATA_DIR/port-server.sock``."""
    import os

    env = dict(os.environ) if env is None else env
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(env["XDG_RUNTIME_DIR"], "port-server.sock")
    if env.get("PORT_SERVER_HOME"):
        data = os.path.expanduser(env["PORT_SERVER_HOME"])
    else:
        home = os.path.expanduser(env.get("HOME", "~"))
        data = os.path.join(env.get("XDG_DATA_HOME") or os.path.join(home, ".local/share"),
                            "port-server")
    return os.path.join(data, "port-server.sock")
