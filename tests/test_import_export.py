"""portctl import/export: seed 001's registry file, portctl's own export, conflicts that change
nothing, malformed files, and the export -> import round trip."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from conftest import InProcess, ServerProc, make_server

FIXTURE = Path(__file__).parent / "fixtures" / "port_registry_seed001.json"

#: The seed's example allocations: port -> (service, environment, status, owner, url, type).
SEED = {
    3000: ("FibreFlow-Production", "production", "active", "velo", "https://app.fibreflow.app",
           ""),
    8082: ("QFieldCloud", "production", "active", "", "https://qfield.fibreflow.app", ""),
    8081: ("WhatsApp-Sender", "production", "needs_pairing", "", "", ""),
    8091: ("Storage-API", "production", "active", "", "", "api"),
    8095: ("OCR-Service", "production", "active", "", "", "api"),
    8100: ("VLM-Service", "production", "active", "", "", "ml"),
    3005: ("Hein-s-Development", "development", "active", "hein", "", ""),
    3006: ("Louis-s-Staging", "staging", "active", "louis", "https://vf.fibreflow.app", ""),
}


def registry(srv: ServerProc | InProcess) -> list[dict[str, Any]]:
    r = srv.portctl("list", "--json")
    assert r.returncode == 0, r.stderr
    return sorted(json.loads(r.stdout), key=lambda a: (a["port"], a["protocol"]))


def comparable(allocs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A registry as content: ids are the target's to assign."""
    return [{k: v for k, v in a.items() if k != "id"} for a in allocs]


def test_import_seed_registry_reproduces_the_examples(inproc: InProcess) -> None:
    server = inproc
    r = server.portctl("import", str(FIXTURE))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("added 8, already matched 0, conflicts 0")
    rows = {a["port"]: a for a in registry(server)}
    assert set(rows) == set(SEED)
    for port, (service, env, status, owner, url, typ) in SEED.items():
        a = rows[port]
        assert (a["app"], a["instance"], a["service"]) == ("portman", "default", service)
        assert (a["environment"], a["status"], a["owner"], a["url"], a["type"]) == (
            env, status, owner, url, typ), port
        assert a["source"] == "import"
    assert rows[8081]["note"] == "needs re-pairing"
    assert rows[8100]["note"] == "Qwen3-VL-8B"
    # the same registry through portman's eyes
    check = server.portman("check", "3000")
    assert check.returncode == 1 and "FibreFlow-Production" in check.stdout
    assert "https://app.fibreflow.app" in check.stdout

    again = server.portctl("import", str(FIXTURE))
    assert again.returncode == 0
    assert again.stdout.startswith("added 0, already matched 8, conflicts 0")
    assert len(registry(server)) == 8


def test_conflicts_change_nothing_unless_forced(inproc: InProcess, tmp_path: Path) -> None:
    server = inproc
    assert server.portctl("import", str(FIXTURE)).returncode == 0
    assert server.portman("update", "8081", "active", "-n", "paired again").returncode == 0
    held = server.portctl("allocate", "--app", "other", "--instance", "i", "--service", "s",
                          "--port", "8300", "--force")
    assert held.returncode == 0
    doc = json.loads(FIXTURE.read_text())
    doc["allocations"]["8300"] = {"service": "Grabs 8300", "status": "active"}
    doc["allocations"]["8400"] = {"service": "Brand New", "status": "active"}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    before = registry(server)

    dry = server.portctl("import", str(path), "--dry-run")
    assert dry.returncode == 1
    assert "would add 1, already matched 7, conflicts 2 (nothing changed)" in dry.stdout
    assert "status 'active' -> 'needs_pairing'" in dry.stdout
    assert "port 8300/tcp is held by other/i/s" in dry.stdout
    assert registry(server) == before

    refused = server.portctl("import", str(path))
    assert refused.returncode == 1
    assert "2 conflict(s)" in refused.stderr and "nothing was changed" in refused.stderr
    assert registry(server) == before  # all or nothing: 8400 was not added either

    forced = server.portctl("import", str(path), "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    report = json.loads(forced.stdout)
    assert report["applied"] and len(report["added"]) == 2
    assert [a["service"] for a in report["replaced"]] == ["s"]
    rows = {a["port"]: a for a in registry(server)}
    assert rows[8300]["service"] == "Grabs-8300" and rows[8400]["service"] == "Brand-New"
    assert rows[8081]["status"] == "needs_pairing"
    assert rows[8081]["note"] == "needs re-pairing"
    assert rows[8081]["id"] == {a["port"]: a for a in before}[8081]["id"]  # updated in place


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON"),
    ('"text"', "not a registry"),
    ('{"ports": {}}', "not a registry"),
    ('{"allocations": 5}', "allocations: must be an object keyed by port or a list"),
    ('{"allocations": {"http": {"service": "x"}}}', "'http' is not a port"),
    ('{"allocations": {"70000": {"service": "x"}}}', "'70000' is not a port"),
    ('{"allocations": {"3000": "FibreFlow"}}', "allocations['3000']: must be an object"),
    ('{"allocations": {"3000": {"status": "active"}}}', "allocations['3000'].service: missing"),
    ('{"allocations": {"3000": {"service": ["x"]}}}', "service: must be text"),
    ('{"allocations": [{"app": "a", "instance": "i", "service": "s"}]}',
     "allocations[0].port: missing"),
    ('{"allocations": [{"app": "a b", "instance": "i", "service": "s", "port": 1}]}',
     "allocations[0].app: 'a b' is not a valid name"),
    ('{"allocations": {"3000": {"service": "x", "type": "gpu"}}}', "unknown pool 'gpu'"),
    ('{"allocations": {"3000": {"service": "x"}, "3001": {"service": "y", "app": "-"}}}',
     "is not a valid name"),
])
def test_malformed_files_are_clear_errors(tmp_path_factory: pytest.TempPathFactory,
                                          shared: ServerProc, content: str,
                                          message: str) -> None:
    path = tmp_path_factory.mktemp("bad") / "bad.json"
    path.write_text(content)
    before = registry(shared)
    r = shared.portctl("import", str(path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert registry(shared) == before


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = make_server(tmp_path_factory.mktemp("shared")).start()
    assert srv.portctl("import", str(FIXTURE)).returncode == 0
    try:
        yield srv
    finally:
        srv.stop()


def test_missing_file_and_duplicate_entries(shared: ServerProc, tmp_path: Path) -> None:
    r = shared.portctl("import", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "cannot read it" in r.stderr
    dup = [{"app": "a", "instance": "i", "service": "s", "port": 4001},
           {"app": "a", "instance": "i", "service": "s", "port": 4002}]
    r = shared.portctl("import", "-", input=json.dumps(dup))
    assert r.returncode == 1 and "appears twice" in r.stderr  # a conflict within the file


def test_import_registers_ports_bound_on_this_machine(shared: ServerProc) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        bound = s.getsockname()[1]
        doc = {"allocations": {str(bound): {"service": "already running"}}}
        r = shared.portctl("import", "-", input=json.dumps(doc))
        assert r.returncode == 0, r.stderr
    assert any(a["port"] == bound and a["service"] == "already-running"
               for a in registry(shared))


def seed_varied_registry(srv: ServerProc | InProcess) -> None:
    assert srv.portctl("import", str(FIXTURE)).returncode == 0
    for argv in (
        ("--app", "shop", "--instance", "dev", "--service", "api", "--type", "api",
         "--owner", "=ann", "--note", 'with, "quotes"'),
        ("--app", "shop", "--instance", "dev", "--service", "db", "--type", "db"),
        ("--app", "shop", "--instance", "feat-x", "--service", "web", "--status", "inactive"),
    ):
        r = srv.portctl("allocate", *argv)
        assert r.returncode == 0, r.stderr
    assert srv.portman("update", "8081", "needs_pairing", "-n", "Session destroyed"
                       ).returncode == 0


@pytest.mark.parametrize("fmt", ["json", "portman"])
def test_round_trip_into_an_empty_server(inproc: InProcess, tmp_path: Path, fmt: str) -> None:
    """Exported in process, imported into a real, empty port-server."""
    server = inproc
    seed_varied_registry(server)
    exported = server.portctl("export", "--format", fmt)
    assert exported.returncode == 0, exported.stderr
    target = make_server(tmp_path / "target").start()
    try:
        r = target.portctl("import", "-", input=exported.stdout)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("added 11, already matched 0, conflicts 0")
        original, copy = registry(server), registry(target)
        if fmt == "json":
            assert comparable(copy) == comparable(original)
        else:  # the seed's format carries names, ports and metadata, not timestamps of updates
            keep = ("app", "instance", "service", "port", "protocol", "type", "owner",
                    "environment", "status", "url", "note", "source", "created_at")
            assert [{k: a[k] for k in keep} for a in copy] == [
                {k: a[k] for k in keep} for a in original]
        again = target.portctl("import", "-", input=exported.stdout)
        assert again.stdout.startswith("added 0, already matched 11, conflicts 0")
    finally:
        target.stop()


def test_export_csv_and_to_a_file(shared: ServerProc, tmp_path: Path) -> None:
    r = shared.portctl("export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert {int(row["port"]) for row in rows} >= set(SEED)
    out = tmp_path / "reg.json"
    r = shared.portctl("export", "-o", str(out))
    assert r.returncode == 0 and out.is_file()
    doc = json.loads(out.read_text())
    assert doc["format"] == "port-server" and doc["version"] == 1
    assert len(doc["allocations"]) == len(registry(shared))
    r = shared.portctl("export", "--format", "xml")
    assert r.returncode == 2 and "invalid choice" in r.stderr
