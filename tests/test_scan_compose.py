"""Compose scanner: every syntax of the issue, with fixtures written for these tests."""

from __future__ import annotations

from pathlib import Path

from port_server.scanners.compose import is_compose_file
from port_server.scanners.interpolate import interpolate
from port_server.scanners.port_spec import parse_short
from scan_helpers import keys, ports, scan

FIXTURES = Path(__file__).parent / "fixtures" / "scan"


def test_seed_000_examples_come_out_exactly() -> None:
    result = scan(FIXTURES / "seed000")
    assert result.problems == []
    assert [(c.kind, c.service, c.host_port, c.container_port) for c in result.claims] == [
        ("compose", "postgres", 5432, 5432),
        ("compose", "proxy", 80, 80),
        ("compose", "idp", 9100, 8080),
        ("npm", "storybook", 6006, None),
        ("npm", "nodejs-dev", 3001, None),
    ]
    assert all(c.resolved for c in result.claims)


def test_short_syntax_forms(tmp_path: Path) -> None:
    result = scan(tmp_path, {"docker-compose.yml": """
        services:
          web:
            ports:
              - "127.0.0.1:8080:80"
              - "[::1]:8443:443"
              - '53:53/udp'
              - 9000:9000
              - "3000-3002:3000-3002"
              - "8080"
              - "8081-8082"
              - "127.0.0.1::5000"
              - "::6000"
            expose:
              - "7000"
              - 7001
    """})
    assert result.problems == []
    assert keys(result.claims) == {
        (8080, "tcp", "127.0.0.1"), (8443, "tcp", "::1"), (53, "udp", ""), (9000, "tcp", ""),
        (3000, "tcp", ""), (3001, "tcp", ""), (3002, "tcp", ""),
    }
    by_port = {c.host_port: c for c in result.claims}
    assert by_port[3001].container_port == 3001
    assert by_port[8080].line == 4
    assert all(c.kind == "compose" and c.service == "web" for c in result.claims)


def test_unquoted_sexagesimal_looking_entry_is_read_as_written(tmp_path: Path) -> None:
    # YAML 1.1 reads 22:22 as the integer 1342; compose (YAML 1.2) reads the string "22:22".
    result = scan(tmp_path, {"compose.yaml": "services:\n  ssh:\n    ports:\n      - 22:22\n"})
    assert ports(result.claims) == [("ssh", 22, "tcp")]


def test_long_syntax(tmp_path: Path) -> None:
    result = scan(tmp_path, {"compose.yml": """
        services:
          api:
            ports:
              - target: 80
                published: 8080
              - target: 443
                published: "8443"
                host_ip: 127.0.0.1
                protocol: tcp
                mode: ingress
              - target: 53
                published: "5353"
                protocol: udp
              - target: 9000
                published: 9000-9001
              - target: 7000
            volumes:
              - type: volume
                source: data
                target: /data
    """})
    assert keys(result.claims) == {(8080, "tcp", ""), (8443, "tcp", "127.0.0.1"),
                                   (5353, "udp", ""), (9000, "tcp", ""), (9001, "tcp", "")}
    assert {c.container_port for c in result.claims if c.host_port == 8080} == {80}


def test_host_range_onto_one_container_port(tmp_path: Path) -> None:
    result = scan(tmp_path, {"compose.yaml": """
        services:
          a:
            scale: 3
            ports: ["6005-6007:80"]
          b:
            ports: ["80"]
    """})
    assert [(c.host_port, c.container_port) for c in result.claims] == [
        (6005, 80), (6006, 80), (6007, 80)]


def test_interpolation_forms(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        ".env": "FROM_DOTENV=7001\nBIND=127.0.0.1\nEMPTY=\n",
        "docker-compose.yml": """
            services:
              s:
                ports:
                  - "${FROM_DOTENV}:80"
                  - "${UNSET:-7002}:80"
                  - "${EMPTY:-7003}:80"
                  - "${EMPTY-7004}:80"
                  - "${UNSET-7005}:80"
                  - "${BIND}:${FROM_ENV}:80"
                  - "$FROM_DOTENV:81/udp"
                  - "${SQL:-127.0.0.1:13306}:3306"
                  - "${HTTP_BIND:-}:${HTTP_PORT:-7006}:80"
                  - "${NESTED:-${UNSET2:-7007}}:80"
                  - "${NOPE}:5432"
                  - "${REQUIRED:?set REQUIRED}:5433"
                  - "${NOPE_CONTAINER_ONLY}"
                labels:
                  cost: "$$5"
        """}, environ={"FROM_ENV": "7100", "FROM_DOTENV": "7000"})
    assert result.problems == []
    got = [(c.host_port, c.protocol, c.host_ip, c.resolved) for c in result.claims]
    assert got == [
        (7000, "tcp", "", True),         # the process environment wins over .env, as in compose
        (7002, "tcp", "", True),
        (7003, "tcp", "", True),
        (7005, "tcp", "", True),
        (7100, "tcp", "127.0.0.1", True),
        (7000, "udp", "", True),
        (13306, "tcp", "127.0.0.1", True),
        (7006, "tcp", "", True),
        (7007, "tcp", "", True),
        (None, "tcp", "", False),
        (None, "tcp", "", False),
    ]
    # ${EMPTY-d}: EMPTY is set (to ""), so ":80" is container-only, exactly as compose reads it.
    unresolved = [c for c in result.claims if not c.resolved]
    assert unresolved[0].extra["missing"] == ["NOPE"]
    assert "${NOPE}" in unresolved[0].note
    assert unresolved[0].container_port == 5432
    assert unresolved[1].extra["missing"] == ["REQUIRED"]
    assert result.claims[1].extra["host_var"] == "UNSET"


def test_interpolate_function_cases() -> None:
    env = {"A": "1", "E": ""}
    assert interpolate("$$A ${A} $A", env).text == "$A 1 1"
    assert interpolate("${E:-x}|${E-x}|${U-x}|${A:+y}|${E:+y}|${E+y}", env).text == "x||x|y||y"
    assert interpolate("${U:?boom}", env).missing == ["U"]
    assert interpolate("${A:?boom}", env).resolved


def test_network_mode_host_is_flagged_and_its_ports_listed(tmp_path: Path) -> None:
    result = scan(tmp_path, {"compose.yaml": """
        services:
          esphome:
            network_mode: host
            ports:
              - "6052"
          plex:
            network_mode: "host"
          db:
            network_mode: "service:web"
            ports: ["5432"]
          off:
            network_mode: none
          bridged:
            network_mode: bridge
            ports: ["8080"]
    """})
    flags = [c for c in result.claims if c.network_mode_host]
    assert [c.service for c in flags] == ["esphome", "plex"]
    assert all(c.host_port is None and c.resolved for c in flags)
    assert ports([c for c in result.claims if not c.network_mode_host]) == [
        ("esphome", 6052, "tcp")]


def test_anchors_merges_extends_and_extension_fields(tmp_path: Path) -> None:
    result = scan(tmp_path, {"docker-compose.yml": """
        x-ollama: &ollama
          image: ollama/ollama
          ports:
            - 11434:11434
        x-casaos:
          ports:
            - container: "25565"
              published: "25565"
        x-expose: &expose
          expose: ["3306"]
        services:
          ollama-cpu:
            <<: *ollama
            profiles: ["cpu"]
          ollama-gpu:
            <<: *ollama
            profiles: ["gpu"]
          db:
            <<: *expose
            image: mysql
          base:
            ports: ["8080:80"]
          child:
            extends: base
          other:
            extends:
              service: base
            ports: ["9090:90"]
          x-not-a-service:
            ports: ["1234:1234"]
    """})
    assert result.problems == []
    got = sorted(ports(result.claims))
    assert got == sorted([("ollama-cpu", 11434, "tcp"), ("ollama-gpu", 11434, "tcp"),
                          ("base", 8080, "tcp"), ("child", 8080, "tcp"),
                          ("other", 9090, "tcp"), ("other", 8080, "tcp")])
    inherited = [c for c in result.claims if c.service == "child"]
    assert "extends" in inherited[0].note


def test_commented_ports_do_not_count(tmp_path: Path) -> None:
    result = scan(tmp_path, {"compose.yaml": """
        services:
          dns:
            # network_mode: "host"
            ports:
              # - "53443:53443"

              - "5380:5380/tcp" # web console
              #- "80:80"
              - "53:53/udp"
            sysctls:
              - net.ipv4.ip_local_port_range=1024 65535
            environment:
              SERVER_PORT: 8443
    """})
    assert ports(result.claims) == [("dns", 5380, "tcp"), ("dns", 53, "udp")]


def test_compose_file_names() -> None:
    for name in ["docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
                 "docker-compose.override.yml", "compose.prod.yaml", "docker-compose-all.yml",
                 "overrides/compose.dev.yaml", "docker-compose.override.yml.example",
                 "docker-compose.override.yml-python-flask.yml"]:
        assert is_compose_file(name), name
    for name in ["compose.py", "docker-compose.json", "values.yaml", "ci.yml"]:
        assert not is_compose_file(name), name


def test_port_spec_parser() -> None:
    assert parse_short("8080") == []
    (m,) = parse_short("[::1]:8080:80/udp")
    assert (m.host_ip, m.host_port, m.container_port, m.protocol) == ("::1", 8080, 80, "udp")
    assert [x.host_port for x in parse_short("0.0.0.0:3000-3001:3000-3001")] == [3000, 3001]
    assert [x.host_port for x in parse_short("6052", network_host=True)] == [6052]


def test_address_and_port_variables_concatenated(tmp_path: Path) -> None:
    compose = 'services:\n  app:\n    ports: ["${LOCAL_LISTEN_ADDR}${HOST_PORT_APP}:5000"]\n'
    with_env = scan(tmp_path / "a", {
        ".env": "LOCAL_LISTEN_ADDR=127.0.0.1:\nHOST_PORT_APP=5001\n", "compose.yaml": compose})
    (claim,) = [c for c in with_env.claims if c.kind == "compose"]
    assert (claim.host_port, claim.host_ip) == (5001, "127.0.0.1")
    assert claim.extra["host_var"] == "HOST_PORT_APP"
    # No address set: compose reads "${LOCAL_LISTEN_ADDR}5002" as just the port.
    no_addr = scan(tmp_path / "b", {".env": "HOST_PORT_APP=5002\n", "compose.yaml": compose})
    assert [(c.host_port, c.host_ip) for c in no_addr.claims if c.kind == "compose"] == [
        (5002, "")]
    neither = scan(tmp_path / "c", {"compose.yaml": compose})
    assert [(c.host_port, c.resolved) for c in neither.claims] == [(None, False)]


def test_long_syntax_published_from_dotenv(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        ".env": "NGINX_PORT=8088\n",
        "docker-compose.yml": """
            services:
              nginx:
                ports:
                  - target: 80
                    published: "${NGINX_PORT}"
                  - target: 443
                    published: ${HTTPS_PORT:-8443}
                    protocol: udp
                    mode: host
        """})
    assert [(c.host_port, c.container_port, c.protocol) for c in result.claims
            if c.kind == "compose"] == [(8088, 80, "tcp"), (8443, 443, "udp")]
