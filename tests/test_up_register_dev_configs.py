"""`portctl register` and `portctl up` use what the newer scanners find (Procfile, vite config,
Spring, puma, dev container...), against one real port-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProc, make_server
from scan_helpers import write_project
from test_project_cli import distinct_free_ports


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    server = make_server(tmp_path_factory.mktemp("dev-configs")).start()
    try:
        yield server
    finally:
        server.stop()


def test_register_takes_ports_from_the_new_file_kinds(srv: ServerProc, tmp_path: Path) -> None:
    web, vite, spring, forward = distinct_free_ports(4)
    write_project(tmp_path, {
        "Procfile.dev": f"web: bin/rails server -p {web}\nworker: sidekiq\n",
        "frontend/vite.config.ts": f"export default {{ server: {{ port: {vite} }} }}\n",
        "api/src/main/resources/application.properties":
            f"spring.application.name=orders\nserver.port=${{PORT:{spring}}}\n"
            "spring.datasource.url=jdbc:postgresql://localhost:5432/x\n",
        ".devcontainer/devcontainer.json": f'{{"forwardPorts": [{forward}], // dev\n}}',
    })
    r = srv.portctl("register", str(tmp_path), "--app", "devcfg", "--instance", "main", "--json")
    assert r.returncode == 0, r.stderr
    got = {(o["port"], o["kind"], o["service"], o["status"]) for o in json.loads(r.stdout)}
    assert got == {(web, "procfile", "web", "registered"),
                   (vite, "vite", "vite", "registered"),
                   (spring, "spring", "orders", "registered"),
                   (forward, "devcontainer", "devcontainer", "registered")}
    table = srv.portctl("scan-project", str(tmp_path))
    assert "application.properties:2" in table.stdout and "procfile" in table.stdout
    assert "SOURCE" in table.stdout and "forwardPorts" in table.stdout


def test_up_moves_a_procfile_variable_and_registers_literals(srv: ServerProc,
                                                             tmp_path: Path) -> None:
    default, literal = distinct_free_ports(2)
    files = {"Procfile": f"web: bin/rails server -p ${{WEB_PORT:-{default}}}\n"
                         f"docs: mkdocs serve -a 127.0.0.1:{literal}\n",
             "config/puma.rb": f'port ENV.fetch("WEB_PORT") {{ {default} }}\n'}
    one = write_project(tmp_path / "wt1", files)
    two = write_project(tmp_path / "wt2", files)
    r = srv.portctl("up", str(one), "--app", "procapp", "--instance", "wt1", "--json")
    assert r.returncode == 0, r.stderr
    first = {o["service"]: o for o in json.loads(r.stdout)}
    assert first["web"]["port"] == default and first["web"]["variable"] == "WEB_PORT"
    assert first["docs"]["port"] == literal
    assert (one / ".env").read_text() == f"WEB_PORT={default}\n"
    r = srv.portctl("up", str(two), "--app", "procapp", "--instance", "wt2", "--json")
    assert r.returncode == 1  # the literal docs port is taken by wt1
    second = {o["service"]: o for o in json.loads(r.stdout)}
    assert second["web"]["port"] != default
    assert (two / ".env").read_text() == f"WEB_PORT={second['web']['port']}\n"
    assert second["docs"]["status"] == "conflict" and "${DOCS_PORT:-" in second["docs"]["detail"]


def test_up_without_any_project_file_is_a_usage_error(srv: ServerProc, tmp_path: Path) -> None:
    r = srv.portctl("up", str(tmp_path))
    assert r.returncode == 2 and "dev-server config" in r.stderr
