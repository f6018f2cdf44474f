"""package.json, .env, Makefile and shell-script scanners: each syntax, and the look-alikes that
are not ports."""

from __future__ import annotations

import json
from pathlib import Path

from port_server.scanners.commandline import scan_command
from port_server.scanners.env_file import is_env_file
from scan_helpers import ports, scan


def _package(scripts: dict[str, str]) -> dict[str, str]:
    return {"package.json": json.dumps({"name": "x", "scripts": scripts}, indent=2)}


def test_npm_script_port_forms(tmp_path: Path) -> None:
    result = scan(tmp_path, _package({
        "a": "vite --port 3001",
        "b": "vite --port=3002",
        "c": "next dev -p 3003",
        "d": "PORT=3004 react-scripts start",
        "e": "cross-env PORT=3005 node server.js",
        "f": "yarn patch-package && storybook dev -p 6006",
        "g": "http-server build -a localhost -p 5001 -o",
        "h": "webpack serve --port 8081",
        "i": "serve -s build -l 5000",
        "j": "docker run --rm -p 5432:5432 postgres:16",
        "k": "concurrently \"vite --port 3010\" \"node api.js\"",
        "l": "node --inspect=0.0.0.0:9229 index.js",
        "m": "next start -p ${PORT:-3011}",
    }))
    assert result.problems == []
    assert ports(result.claims) == [
        ("a", 3001, "tcp"), ("b", 3002, "tcp"), ("c", 3003, "tcp"), ("d", 3004, "tcp"),
        ("e", 3005, "tcp"), ("f", 6006, "tcp"), ("g", 5001, "tcp"), ("h", 8081, "tcp"),
        ("i", 5000, "tcp"), ("j", 5432, "tcp"), ("k", 3010, "tcp"), ("l", 9229, "tcp"),
        ("m", 3011, "tcp"),
    ]
    g = next(c for c in result.claims if c.service == "g")
    assert g.host_ip == "localhost" and g.kind == "npm" and g.line == 10


def test_npm_look_alikes_are_not_ports(tmp_path: Path) -> None:
    result = scan(tmp_path, _package({
        "build": "tsc -p tsconfig.build.json",
        "sb": "npx -p @storybook/cli sb init",
        "e2e": "wait-on tcp:3000 && playwright codegen localhost:3000",
        "db": "psql -h localhost -p 5433 mydb",
        "up": "docker compose -p myproject up -d",
        "mk": "mkdir -p dist",
        "test": "start-test 8080 cy:run",
        "ephemeral": "docker run -p 8080 nginx",
        "env": "PORT=$PORT node server.js",
    }))
    assert result.claims == []


def test_malformed_package_json_is_reported_and_scan_goes_on(tmp_path: Path) -> None:
    result = scan(tmp_path, {"package.json": "{ not json", ".env": "WEB_PORT=3000\n"})
    assert [p.file for p in result.problems] == ["package.json"]
    assert "JSON" in result.problems[0].error
    assert ports(result.claims) == [("WEB_PORT", 3000, "tcp")]


def test_env_files(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        ".env": """
            # comment
            PG_PORT=5432
            export REDIS_PORT=6379  # cache
            #JIGASI_SIP_PORT=5060
            API_URL=http://localhost:3002
            OTEL_COLLECTOR_PORT_GRPC=4317
            WEB_PORT="8080"
            BAD_PORT=abc
            TOO_BIG_PORT=70000
            MULTI='line one
            INNER_PORT=1111
            line three'
            AFTER_PORT=2222
        """,
        ".env.test": "TEST_PORT=3100\n",
        "env.example": "EXAMPLE_PORT=3200\n",
        "example.env": "EMPTY_PORT=\n",
        "env/netbox.env": "EMAIL_PORT=25\n",
    })
    got = {(c.file, c.service, c.host_port) for c in result.claims}
    assert got == {(".env", "PG_PORT", 5432), (".env", "REDIS_PORT", 6379),
                   (".env", "WEB_PORT", 8080), (".env", "AFTER_PORT", 2222),
                   (".env.test", "TEST_PORT", 3100), ("env.example", "EXAMPLE_PORT", 3200),
                   ("env/netbox.env", "EMAIL_PORT", 25)}
    assert all(c.kind == "env" and c.protocol == "tcp" for c in result.claims)
    assert next(c for c in result.claims if c.service == "REDIS_PORT").line == 3


def test_env_file_names() -> None:
    for name in [".env", ".env.local", ".env.development", "env.example", "env-example",
                 "example.env", "netbox.env", "sub/.env.override", "docker.env.example"]:
        assert is_env_file(name), name
    for name in ["environment.yml", ".envrc", "env.py", "dotenv.js", "venv", "src/env.mjs",
                 "env.d.ts", "env", ".env.example.swp"]:
        assert not is_env_file(name), name


def test_makefile(tmp_path: Path) -> None:
    result = scan(tmp_path, {"Makefile": """
        CH_FLAGS = -p 8123:8123 -p 9009:9000/udp --ulimit nofile=262144:262144
        serve: PORT ?= 80

        serve:
        \tdocker run --rm -p $(PORT):8888 jupyter/base-notebook

        dj:
        \tpython manage.py runserver 0.0.0.0:8000

        api:
        \tuvicorn app:app --host 0.0.0.0 --port=$${APP_PORT:-8001}

        gun:
        \tgunicorn app:app --bind 127.0.0.1:8002

        tgi:
        \tcd router && cargo run -- --port 8080

        web:
        \tdocker run \\
        \t  -p "8081:80" \\
        \t  nginx

        psql:
        \tPGPASSWORD=x psql -U postgres -h localhost -p 5433
        \tdocker-compose -p project up -d
        \tmkdir -p build
        \tftp -p localhost 21
        \tnpx -p cowsay cowsay hi
    """.replace("\\t", "\t")})
    assert result.problems == []
    got = [(c.service, c.host_port, c.protocol, c.host_ip) for c in result.claims]
    assert got == [
        ("CH_FLAGS", 8123, "tcp", ""), ("CH_FLAGS", 9009, "udp", ""),
        ("serve", 80, "tcp", ""), ("dj", 8000, "tcp", "0.0.0.0"),
        ("api", 8001, "tcp", "0.0.0.0"), ("gun", 8002, "tcp", "127.0.0.1"),
        ("tgi", 8080, "tcp", ""), ("web", 8081, "tcp", ""),
    ]
    assert all(c.kind == "make" for c in result.claims)
    assert next(c for c in result.claims if c.service == "web").line == 20


def test_shell_scripts(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "run.sh": """
            #!/bin/bash
            host_port=3000
            container_port=8080
            docker run -d -p "$host_port":"$container_port" \\
                --name web image
            uvicorn main:app --host=0.0.0.0 --port=${APP_PORT:-8001} --reload
            # docker run -p 9999:9999 commented
            cat <<EOF
            --port 7777
            EOF
        """,
        "scripts/serve.sh": "datasette --memory -p 8152 &\n",
        "customize/kong.sh": "CID=$(docker run -d -e KONG_ADMIN_LISTEN=0.0.0.0:8001"
                             " -p 8001:8001 kong)\n",
        "tests/db.sh": "psql -p 5433 -h localhost\nmkdir -p out\n",
    })
    got = {(c.file, c.host_port) for c in result.claims}
    assert got == {("run.sh", 3000), ("run.sh", 8001), ("scripts/serve.sh", 8152),
                   ("customize/kong.sh", 8001)}
    assert all(c.kind == "script" for c in result.claims)


def test_command_line_tools() -> None:
    def hosts(cmd: str) -> list[int]:
        return [h.host_port for h in scan_command(cmd)]

    assert hosts("php -S localhost:8080 -t public") == [8080]
    assert hosts("python -m http.server 8765") == [8765]
    assert hosts("mkdocs serve -a 0.0.0.0:8002") == [8002]
    assert hosts("streamlit run app.py --server.port 8501") == [8501]
    assert hosts("podman run -p 127.0.0.1:6379:6379 redis") == [6379]
    assert hosts("docker run -p 3000-3001:3000-3001 x") == [3000, 3001]
    assert hosts("redis-cli -p 6380 ping") == []
    assert hosts("curl --port 80") == []


def test_variables_from_defaults_includes_and_parent_env(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        ".env": "APP_PORT=8500\nWEB_PORT=${WEB_PORT:-8501}\n",
        "Makefile": "include .env\nrun:\n\tuvicorn app:app --port $(APP_PORT)\n",
        "overrides/compose.dev.yaml": 'services:\n  w:\n    ports: ["${APP_PORT}:80"]\n',
        "scripts/dev": "#!/usr/bin/env bash\nPORT=${PORT:-8502}\nexec uvicorn a:b"
                       " --port \"$PORT\"\nOUT=\"$(docker run -d -p 8503:80 nginx)\"\n",
        "scripts/notes": "docker run -p 9999:80 nginx\n",  # no shebang: not a script
        "bin/Dockerfile": "EXPOSE 8080\n",
    })
    got = sorted((c.file, c.service, c.host_port) for c in result.claims)
    assert got == [
        (".env", "APP_PORT", 8500), (".env", "WEB_PORT", 8501), ("Makefile", "run", 8500),
        ("overrides/compose.dev.yaml", "w", 8500), ("scripts/dev", "docker run", 8503),
        ("scripts/dev", "uvicorn", 8502),
    ]
