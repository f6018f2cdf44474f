"""Dev containers (JSON with comments) and Procfiles: each syntax, and the look-alikes that are
not host ports."""

from __future__ import annotations

from pathlib import Path

from port_server.scanners.devcontainer import is_devcontainer
from port_server.scanners.procfile import is_procfile
from scan2_helpers import ips, rows, scan_fixture
from scan_helpers import scan

DC = ".devcontainer"


def test_devcontainer_forward_ports_numbers_services_and_attributes() -> None:
    result = scan_fixture("devcontainer")
    assert rows(result, f"{DC}/api/") == [
        (f"{DC}/api/devcontainer.json", 7, "devcontainer", "API", 8000, "forwardPorts", False),
        (f"{DC}/api/devcontainer.json", 8, "devcontainer", "db", 5432, "forwardPorts", False),
        (f"{DC}/api/devcontainer.json", 9, "devcontainer", "devcontainer", 6379, "forwardPorts",
         False),
        (f"{DC}/api/devcontainer.json", 10, "devcontainer", "devcontainer", 9229,
         "forwardPorts", False),
        # only in portsAttributes: forwarded when seen; not "3000-3005", "default" or a port
        # whose onAutoForward is "ignore"
        (f"{DC}/api/devcontainer.json", 14, "devcontainer", "debugpy", 5678, "portsAttributes",
         False),
    ]
    db = next(c for c in result.claims if c.host_port == 5432)
    assert "'db' service" in db.note


def test_devcontainer_app_port_forms_and_run_args() -> None:
    result = scan_fixture("devcontainer")
    assert rows(result, f"{DC}/web/") == [
        (f"{DC}/web/devcontainer.json", 4, "devcontainer", "devcontainer", 3000, "appPort", False),
        (f"{DC}/web/devcontainer.json", 4, "devcontainer", "devcontainer", 8080, "appPort", False),
        (f"{DC}/web/devcontainer.json", 4, "devcontainer", "devcontainer", 9090, "appPort", False),
        (f"{DC}/web/devcontainer.json", 5, "devcontainer", "devcontainer", 4000, "runArgs", False),
        (f"{DC}/web/devcontainer.json", 5, "devcontainer", "devcontainer", 4443, "runArgs", False),
    ]  # the commented-out forwardPorts line gives nothing, nor "--env PORT=1"
    assert ips(result, f"{DC}/web/")[9090] == "127.0.0.1"
    assert rows(result, ".devcontainer.json") == [
        (".devcontainer.json", 1, "devcontainer", "devcontainer", 5000, "appPort", False)]


def test_devcontainer_file_names() -> None:
    assert is_devcontainer(".devcontainer/devcontainer.json")
    assert is_devcontainer(".devcontainer/python/devcontainer.json")
    assert is_devcontainer("services/api/.devcontainer.json")
    assert not is_devcontainer("docs/devcontainer.json")  # not in a .devcontainer folder
    assert not is_devcontainer(".devcontainer/docker-compose.json")


def test_devcontainer_empty_and_broken(tmp_path: Path) -> None:
    result = scan(tmp_path, {".devcontainer/devcontainer.json":
                             '{"forwardPorts": [], "portsAttributes": {}}',
                             ".devcontainer/bad/devcontainer.json": '{"forwardPorts": [3000,,]}'})
    assert result.claims == []
    assert [p.file for p in result.problems] == [".devcontainer/bad/devcontainer.json"]
    assert "line 1" in result.problems[0].error


def test_devcontainer_nesting_is_bounded(tmp_path: Path) -> None:
    result = scan(tmp_path, {".devcontainer.json": "[" * 5000 + "]" * 5000})
    assert result.claims == [] and "nested too deeply" in result.problems[0].error


def test_procfile_process_lines() -> None:
    result = scan_fixture("procfile")
    assert rows(result, "Procfile") == [
        ("Procfile.dev", 2, "procfile", "web", 3100, "web", False),
        ("Procfile.dev", 3, "procfile", "api", 4000, "api", False),  # PORT=4000 cmd
        ("Procfile.dev", 4, "procfile", "rails", 3000, "rails", True),  # ${VAR:=3000}
        ("Procfile.dev", 5, "procfile", "websocket", 6100, "websocket", False),  # from .env
        ("Procfile.dev", 6, "procfile", "docs", 8001, "docs", False),
        ("Procfile.dev", 7, "procfile", "redis", 6380, "redis", False),
        ("Procfile.dev", 8, "procfile", "php", 8080, "php", False),
        ("Procfile.dev", 13, "procfile", "env", 4100, "env", False),
        ("Procfile.dev", 14, "procfile", "debug", 3200, "debug", False),  # ${DEBUG:+...} empty
    ]  # not: bare $PORT (Procfile), stripe --forward-to, comments, processes with no port
    implicit = [(c.line, c.service, c.extra) for c in result.claims if c.host_port is None]
    # A dev server with no port: the frameworks table's default, as a note (not a stated port);
    # the bin/vite binstub (vite_ruby, its own config) is not vite.
    assert implicit == [(16, "legacy", {"source": "legacy", "framework": "rails",
                                        "implicit_port": 3000})]


def test_procfile_names() -> None:
    assert is_procfile("Procfile") and is_procfile("Procfile.dev")
    assert is_procfile("web/Procfile.local")
    assert not is_procfile("Procfile.md") and not is_procfile("docs/Procfile.txt")


def test_procfile_stray_lines_are_not_processes(tmp_path: Path) -> None:
    result = scan(tmp_path, {"Procfile": (
        "release: python manage.py migrate\n"
        ".listen(process.env.PORT || 5000)\n"
        "web: python manage.py runserver 0.0.0.0:$PORT --noreload\n")})
    assert result.claims == [] and result.problems == []
