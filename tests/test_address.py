"""One address for the server, the client, `start`, `status`, `health` and `doctor`:
flag > PORT_SERVER_ADDR > the config file's `listen` > 127.0.0.1:51234."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, free_port, isolated_env
from port_server.address import parse_addr, read_config_addresses, resolve
from port_server.errors import InvalidInput
from port_server.settings import load_settings


def env_with(tmp: Path, config: str | None = None, **extra: str) -> dict[str, str]:
    env = isolated_env(tmp, **extra)
    data = Path(env["PORT_SERVER_HOME"])
    data.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (data / "config.toml").write_text(config)
    return env


def test_client_order_flag_env_config_default(tmp_path: Path) -> None:
    env = env_with(tmp_path, 'listen = "127.0.0.1:45102"\n')
    assert resolve(None, env).addr == "127.0.0.1:45102"
    assert "listen" in resolve(None, env).source
    env["PORT_SERVER_ADDR"] = "127.0.0.1:45103"
    assert (resolve(None, env).addr, resolve(None, env).source) == (
        "127.0.0.1:45103", "PORT_SERVER_ADDR")
    assert resolve(None, env).unix_first is None  # an explicit address means TCP only
    assert resolve("127.0.0.1:45104", env).addr == "127.0.0.1:45104"
    (Path(env["PORT_SERVER_HOME"]) / "config.toml").unlink()
    del env["PORT_SERVER_ADDR"]
    assert (resolve(None, env).addr, resolve(None, env).source) == ("127.0.0.1:51234",
                                                                     "the default")


def test_server_order_flag_env_config_default(tmp_path: Path) -> None:
    env = env_with(tmp_path, 'listen = "127.0.0.1:45102"\n')
    settings = load_settings(env=env)
    assert (settings.host, settings.port) == ("127.0.0.1", 45102)
    env["PORT_SERVER_ADDR"] = "[::1]:45103"
    settings = load_settings(env=env)
    assert (settings.host, settings.port) == ("::1", 45103)
    assert load_settings(env=env, port=45104).port == 45104
    assert load_settings(env=env_with(tmp_path / "bare")).port == 51234


@pytest.mark.parametrize("text", [
    'listen = "127.0.0.1:45102"  # the team port\n[security]\nunix_socket = "~/ps.sock"\n',
    "listen = '127.0.0.1:45102'\n[security] # trailing comment\nunix_socket = '~/ps.sock'\n",
    'security.unix_socket = "~/ps.sock"\nlisten = "127.0.0.1:45102"\n',
    # Not plain strings: read by tomllib instead, with the same answer.
    'listen = """127.0.0.1:45102"""\n[security]\nunix_socket = "\\u007eps.sock"\n',
])
def test_config_reader_agrees_with_toml(tmp_path: Path, text: str) -> None:
    import tomllib

    path = tmp_path / "config.toml"
    path.write_text(text)
    config = tomllib.loads(text)
    assert read_config_addresses(str(path)) == (config["listen"],
                                                config["security"]["unix_socket"])


@pytest.mark.parametrize("bad", ["127.0.0.1:99999", "127.0.0.1", "foo", "http://[::1",
                                 "::1", "127.0.0.1:0", "127.0.0.1:http", ":51234", "unix:"])
def test_bad_addresses_are_usage_errors(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_addr(bad)
    assert err.value.exit_code == 2
    assert err.value.message.startswith("--addr: ")


def test_good_addresses() -> None:
    assert parse_addr("http://localhost:8080/") == ("localhost", 8080)
    assert parse_addr("[::1]:51234") == ("::1", 51234)
    assert parse_addr("unix:/run/ps.sock") == "/run/ps.sock"


def portctl(env: dict[str, str], *args: str,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "portctl"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def listen_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    """A data dir whose config file says `listen = 127.0.0.1:PORT`, and no PORT_SERVER_ADDR;
    the server that `portctl start` leaves is stopped afterwards."""
    port = free_port()
    env = env_with(tmp_path, f'listen = "127.0.0.1:{port}"\n')
    try:
        yield env, port
    finally:
        portctl(env, "stop")


def test_start_status_and_health_use_the_config_listen(
        listen_env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    env, port = listen_env
    r = portctl(env, "start", "--wait", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the server listens where the config file says
    status = json.loads(portctl(env, "status", "--json").stdout)
    sock = str(Path(env["XDG_RUNTIME_DIR"]) / "port-server.sock")
    assert status["via"] == f"unix:{sock}" and status["unix_socket"] == sock
    assert status["tcp"] == f"127.0.0.1:{port}" and "listen" in status["tcp_from"]
    text = portctl(env, "status").stdout
    assert f"unix:{sock}" in text and f"127.0.0.1:{port}" in text and "51234" not in text
    # Without the socket, the client goes where `listen` says (not to 127.0.0.1:51234).
    no_socket = {**env, "XDG_RUNTIME_DIR": str(tmp_path / "elsewhere")}
    r = portctl(no_socket, "health")
    assert r.returncode == 0 and f"at 127.0.0.1:{port}" in r.stdout, r.stdout + r.stderr
    doctor = json.loads(portctl(no_socket, "doctor", "--json").stdout)
    server_check = next(c for c in doctor if c["name"] == "server")
    assert f"127.0.0.1:{port}" in server_check["message"] and "listen" in server_check["message"]


def test_server_takes_port_server_addr_and_health_waits(tmp_path: Path) -> None:
    """`port-server &` then `portctl health --wait` then a command: no race."""
    port = free_port()
    env = env_with(tmp_path, f'listen = "127.0.0.1:{free_port()}"\n',
                   PORT_SERVER_ADDR=f"127.0.0.1:{port}")
    proc = subprocess.Popen([str(BIN / "port-server")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        r = portctl(env, "health", "--wait", "30")
        assert r.returncode == 0 and f"127.0.0.1:{port}" in r.stdout, r.stdout + r.stderr
        r = portctl(env, "allocate", "--app", "quick", "--instance", "dev", "--service", "web")
        assert r.returncode == 0, r.stderr
    finally:
        proc.terminate()
        proc.wait(30)


def test_health_wait_gives_up_with_exit_3(tmp_path: Path) -> None:
    env = env_with(tmp_path, PORT_SERVER_ADDR=f"127.0.0.1:{free_port()}")
    began = time.monotonic()
    r = portctl(env, "health", "--wait", "1")
    assert r.returncode == 3 and "within 1s" in r.stderr, r.stderr
    assert 0.9 < time.monotonic() - began < 20
    r = portctl(env, "health", "--wait", "-1")
    assert r.returncode == 2 and "--wait" in r.stderr


def test_server_refuses_a_bad_address_in_one_line(tmp_path: Path) -> None:
    cases = [(env_with(tmp_path / "a", PORT_SERVER_ADDR="foo"), [], "PORT_SERVER_ADDR"),
             (env_with(tmp_path / "b", 'listen = "1.2.3"\n'), [], "config listen"),
             (env_with(tmp_path / "c"), ["--port", "99999"], "--port")]
    for env, args, word in cases:
        r = subprocess.run([str(BIN / "port-server"), *args], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr, r.stderr
