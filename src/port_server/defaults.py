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
