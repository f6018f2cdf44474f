"""portman: every seed 001 command line as written, bad input, and portman and portctl seeing the
same registry; in process over the app, and against a real port-server where it is reached by
address."""

from __future__ import annotations

import csv
import io
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import InProcess, ServerProc, free_port, make_server
from port_server.exporters.csv_table import CSV_COLUMNS


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """A real port-server, for the commands that reach it by address."""
    server = make_server(tmp_path_factory.mktemp("portman")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def srv(inproc: InProcess) -> InProcess:
    """portman and portctl in process over the app (a fresh registry per test)."""
    return inproc


def listed(srv: InProcess | ServerProc, *filters: str) -> list[dict[str, object]]:
    r = srv.portctl("list", "--json", *filters)
    assert r.returncode == 0, r.stderr
    data: list[dict[str, object]] = json.loads(r.stdout)
    return data


def by_service(srv: InProcess, service: str) -> dict[str, object]:
    rows = listed(srv, "--app", "portman", "--service", service)
    assert len(rows) == 1, rows
    return rows[0]


def test_allocate_by_type(srv: InProcess) -> None:
    r = srv.portman("allocate", "myservice", "-t", "api")
    assert r.returncode == 0, r.stderr
    assert "for portman/default/myservice" in r.stdout
    row = by_service(srv, "myservice")
    assert 8000 <= int(str(row["port"])) <= 8099
    assert (row["instance"], row["type"], row["status"]) == ("default", "api", "active")
    again = srv.portman("allocate", "myservice", "-t", "api")
    assert again.returncode == 0 and "already allocated" in again.stdout


def test_allocate_with_owner(srv: InProcess) -> None:
    r = srv.portman("allocate", "my-api", "-t", "api", "-o", "louis")
    assert r.returncode == 0, r.stderr
    row = by_service(srv, "my-api")
    assert (row["type"], row["owner"]) == ("api", "louis")
    assert 8000 <= int(str(row["port"])) <= 8099


def test_allocate_specific_port_and_free_text_name(srv: InProcess) -> None:
    r = srv.portman("allocate", "my-service", "-p", "8085")
    assert r.returncode == 0, r.stderr
    assert by_service(srv, "my-service")["port"] == 8085
    r = srv.portman("allocate", "Hein's Development", "-p", "3005", "-e", "development")
    assert r.returncode == 0, r.stderr
    row = by_service(srv, "Hein-s-Development")
    assert (row["port"], row["environment"]) == (3005, "development")


def test_register_a_running_service_port(srv: InProcess) -> None:
    """The seed's "Port Shows as Unregistered" recipe: the port is bound by a running service."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        bound = s.getsockname()[1]
        plain = srv.portctl("allocate", "--app", "x", "--instance", "y", "--service", "z",
                            "--port", str(bound))
        assert plain.returncode == 1 and "in use" in plain.stderr
        r = srv.portman("allocate", "service-name", "-p", str(bound))
        assert r.returncode == 0, r.stderr
        assert "registering it for service-name anyway" in r.stderr
    assert by_service(srv, "service-name")["port"] == bound
    assert srv.portman("release", str(bound)).returncode == 0


def test_update_status_and_note(srv: InProcess) -> None:
    assert srv.portman("allocate", "WhatsApp Sender", "-p", "8081").returncode == 0
    before = by_service(srv, "WhatsApp-Sender")
    r = srv.portman("update", "8081", "needs_pairing", "-n", "Session destroyed")
    assert r.returncode == 0, r.stderr
    row = by_service(srv, "WhatsApp-Sender")
    assert (row["status"], row["note"]) == ("needs_pairing", "Session destroyed")
    assert (row["id"], row["port"]) == (before["id"], before["port"])
    assert row["updated_at"] >= before["updated_at"]  # type: ignore[operator]
    assert srv.portman("update", "8081", "inactive").returncode == 0
    row = by_service(srv, "WhatsApp-Sender")
    assert (row["status"], row["note"]) == ("inactive", "Session destroyed")


def test_check_names_the_holder(srv: InProcess) -> None:
    assert srv.portman("allocate", "FibreFlow Production", "-p", "3000", "-o", "velo",
                       "-u", "https://app.fibreflow.app").returncode == 0
    r = srv.portman("check", "3000")
    assert r.returncode == 1
    assert "portman/default/FibreFlow-Production" in r.stdout
    assert "owner velo" in r.stdout and "https://app.fibreflow.app" in r.stdout
    free = free_port()
    r = srv.portman("check", str(free))
    assert r.returncode == 0 and "available" in r.stdout


def test_list_and_csv(srv: InProcess) -> None:
    r = srv.portman("allocate", "csv-probe", "-t", "web", "-n", "=1+1, \"quoted\"")
    assert r.returncode == 0, r.stderr
    r = srv.portman("list")
    assert r.returncode == 0
    assert "csv-probe" in r.stdout and "STATUS" in r.stdout and "TYPE" in r.stdout
    ports = [int(line.split()[1]) for line in r.stdout.splitlines()[1:]]
    assert ports == sorted(ports)
    r = srv.portman("list", "-c")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == len(listed(srv))
    probe = next(rec for rec in records if rec["service"] == "csv-probe")
    assert probe["note"] == "'=1+1, \"quoted\""
    assert probe["type"] == "web" and probe["app"] == "portman"


def test_portman_and_portctl_share_the_registry(srv: InProcess) -> None:
    r = srv.portctl("allocate", "--app", "shop", "--instance", "dev", "--service", "db",
                    "--type", "db", "--owner", "ann", "--json")
    assert r.returncode == 0, r.stderr
    port = json.loads(r.stdout)["port"]
    r = srv.portman("list")
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[1] == str(port))
    assert "shop" in line and "ann" in line
    assert srv.portman("list", "-o", "ann", "--json").stdout.count('"port"') == 1
    r = srv.portman("allocate", "shared-check", "-t", "monitoring")
    assert r.returncode == 0
    assert listed(srv, "--app", "portman", "--type", "monitoring")[0]["service"] == "shared-check"


def test_release_by_name_and_by_port(srv: InProcess) -> None:
    assert srv.portman("allocate", "short-lived", "-p", "8086").returncode == 0
    assert srv.portman("allocate", "short-lived-2", "-t", "ml").returncode == 0
    r = srv.portman("release", "short-lived")
    assert r.returncode == 0 and "released port 8086" in r.stdout
    r = srv.portman("release", str(by_service(srv, "short-lived-2")["port"]))
    assert r.returncode == 0 and "short-lived-2" in r.stdout
    assert listed(srv, "--service", "short-lived") == []
    r = srv.portman("release", "never-allocated")
    assert r.returncode == 1 and "nothing to release" in r.stdout


@pytest.mark.parametrize(("argv", "code", "message"), [
    (("allocate", "x1", "-t", "gpu"), 2, "type: unknown pool 'gpu'"),
    (("allocate", "x2", "-p", "70000"), 2, "out of range"),
    (("allocate", "x3", "-p", "abc"), 2, "is not a port"),
    (("check", "http"), 2, "is not a port"),
    (("update", "65001", "inactive"), 1, "no allocation holds port 65001"),
    (("update", "8085"), 2, "nothing to update"),
    (("update", "8085", "active", "-s", "inactive"), 2, "status given twice"),
    (("frobnicate",), 2, "invalid choice"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(
        srv: InProcess, argv: tuple[str, ...], code: int, message: str) -> None:
    before = listed(srv)
    r = srv.portman(*argv)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert listed(srv) == before


def test_scan_and_sync_dispatch(real: ServerProc, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from port_server.cli import portman

    (tmp_path / "portman_fake_sync.py").write_text(
        "def portman_sync(args_list, ctx):\n"
        "    print('sync got', args_list, len(ctx.client.list()))\n"
        "    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(portman.EXTERNAL_COMMANDS, "sync",
                        ("portman_fake_sync", "portman_sync", "help"))
    assert portman.main(["--addr", real.addr, "sync", "--dry-run", "--nginx"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sync got ['--dry-run', '--nginx'] ")
    sys.modules.pop("portman_fake_sync", None)


def test_scan_and_sync_command_lines_run(real: ServerProc) -> None:
    srv = real
    """Until the scan/sync features land these say so (exit 2); after, they run as the seed says."""
    from importlib.util import find_spec

    for argv, module in ((("scan",), "scan"), (("scan", "-d"), "scan"),
                         (("sync", "--dry-run"), "sync")):
        r = srv.portman(*argv)
        if find_spec(f"port_server.cli.{module}") is None:
            assert r.returncode == 2
            assert f"portman {module} is not available yet" in r.stderr
        else:
            assert "not available yet" not in r.stderr
            assert "Traceback" not in r.stderr


def test_portman_start_up_imports_nothing_heavy() -> None:
    from test_cli_imports import FORBIDDEN, imported_by

    names = imported_by("from port_server.cli.portman import build_parser; build_parser()")
    bad = sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))
    assert bad == [], f"portman's start-up imports heavy modules: {bad}"
    assert "port_server.cli.portman" in names and "port_server.cli.metadata" in names


def test_every_command_has_help_and_is_in_the_readme() -> None:
    import argparse

    from conftest import documentation
    from port_server.cli import build_parser as portctl_parser
    from port_server.cli.portman import build_parser

    readme = documentation()
    for parser, prog, names in (
        (build_parser(), "portman", None),
        (portctl_parser(), "portctl", {"update", "suggest", "pools", "import", "export"}),
    ):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name in names or set(sub.choices):
            assert helps.get(name), f"{prog} {name} has no help text"
            assert f"`{prog} {name}" in readme, f"{prog} {name} is not in the docs"
