"""The compose override exporter, checked by merging with the real Docker Compose v2 CLI
(``docker compose config`` needs no daemon): short and long syntax, ranges, host IPs, udp."""

from __future__ import annotations

from pathlib import Path

from port_server.exporters.compose_override import compose_override, is_generated
from worktree_helpers import compose_config, published

COMPOSE = """\
services:
  db:
    image: postgres
    ports:
      - "5432:5432"
      - "127.0.0.1:6000-6001:6000-6001/udp"
      - "${X_PORT:-7000}:7000"
      - "9999"
  web:
    image: nginx
    ports:
      - target: 80
        published: "8080"
        host_ip: "::1"
        protocol: tcp
        mode: host
      - target: 81
        published: ${W_PORT:-8081}
  dns:
    image: coredns
    ports:
      - "[::1]:53:53/udp"
      - 5300:53/tcp
  quiet:
    image: busybox
"""


def name(service: str, port: int, protocol: str) -> str:
    return f"{service}_{port}_{protocol}".upper()


def _write(folder: Path, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / "compose.override.yaml").write_text(text)


def test_without_env_the_merge_keeps_every_original_port(tmp_path: Path) -> None:
    override = compose_override([COMPOSE], name)
    assert override is not None and is_generated(override.text)
    assert override.services == ["db", "web", "dns"]
    assert override.variables == {"DB_5432_TCP": 5432, "DB_6000_UDP": 6000,
                                  "DB_6001_UDP": 6001, "WEB_8080_TCP": 8080,
                                  "DNS_53_UDP": 53, "DNS_5300_TCP": 5300}
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "compose.yaml").write_text(COMPOSE)
    _write(tmp_path / "merged", override.text)
    assert compose_config(tmp_path / "merged")["services"] == \
        compose_config(tmp_path / "plain")["services"]


def test_env_moves_each_literal_port_and_nothing_else(tmp_path: Path) -> None:
    override = compose_override([COMPOSE], name)
    assert override is not None
    _write(tmp_path, override.text)
    moved = {var: str(20000 + i) for i, var in enumerate(override.variables)}
    config = compose_config(tmp_path, env=moved)
    assert published(config, "db") == [
        ("", 9999, "tcp", ""),                       # container-only: copied as written
        (moved["DB_5432_TCP"], 5432, "tcp", ""),     # short syntax
        (moved["DB_6000_UDP"], 6000, "udp", "127.0.0.1"),  # a range: one entry per port
        (moved["DB_6001_UDP"], 6001, "udp", "127.0.0.1"),
        ("7000", 7000, "tcp", ""),                   # already a variable: kept
    ]
    assert published(config, "web") == [(moved["WEB_8080_TCP"], 80, "tcp", "::1"),
                                         ("8081", 81, "tcp", "")]
    assert config["services"]["web"]["ports"][0]["mode"] == "host"  # long syntax keys kept
    assert sorted(published(config, "dns")) == sorted([(moved["DNS_5300_TCP"], 53, "tcp", ""),
                                                       (moved["DNS_53_UDP"], 53, "udp", "::1")])
    assert "ports" not in config["services"]["quiet"]
    # A variable the project already uses still works through the override.
    config = compose_config(tmp_path, env={"X_PORT": "17000", "W_PORT": "18081"})
    assert ("17000", 7000, "tcp", "") in published(config, "db")
    assert ("18081", 81, "tcp", "") in published(config, "web")


def test_nothing_literal_needs_no_override() -> None:
    text = 'services:\n  a:\n    image: x\n    ports: ["${A_PORT:-80}:80", "90"]\n'
    assert compose_override([text], name) is None
    assert compose_override([""], name) is None
