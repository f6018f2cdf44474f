"""portctl's seed 001 features, in process over the app: metadata flags, update, filters, CSV,
suggest, pools and --type auto."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import InProcess, isolated_env
from port_server.settings import Settings, load_settings

TYPE_INFERENCE = """
[type_inference]
monitoring = ["uptime"]
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The server's settings, with this module's type-inference table."""
    config = tmp_path / "config.toml"
    config.write_text(TYPE_INFERENCE)
    return load_settings(env=isolated_env(tmp_path), config_path=config)


@pytest.fixture
def srv(inproc: InProcess) -> InProcess:
    """portctl in process over the app: these tests need no real daemon."""
    return inproc


def run_json(srv: InProcess, *argv: str) -> Any:
    r = srv.portctl(*argv, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_allocate_with_metadata_and_list_columns(srv: InProcess) -> None:
    a = run_json(srv, "allocate", "--app", "fibre", "--instance", "prod", "--service", "web",
                 "--type", "web", "--owner", "velo", "--env", "production", "--status", "active",
                 "--url", "https://app.fibreflow.app", "--note", "main site")
    assert 3000 <= a["port"] <= 3099
    assert (a["type"], a["owner"], a["environment"], a["status"], a["url"], a["note"]) == (
        "web", "velo", "production", "active", "https://app.fibreflow.app", "main site")
    assert a["source"] == "manual"
    r = srv.portctl("list", "--app", "fibre")
    header = r.stdout.splitlines()[0].split()
    assert header == ["ID", "PORT", "APP", "INSTANCE", "SERVICE", "TYPE", "OWNER", "ENV",
                      "STATUS", "URL", "NOTE", "CREATED"]
    r = srv.portctl("allocate", "--app", "plain", "--instance", "i", "--service", "s")
    assert r.returncode == 0
    plain = srv.portctl("list", "--app", "plain").stdout.splitlines()[0].split()
    # the owner defaults to the caller's OS user name (issue 8), so OWNER shows
    assert plain == ["ID", "PORT", "APP", "INSTANCE", "SERVICE", "OWNER", "CREATED"]


def test_list_filters(srv: InProcess) -> None:
    for svc, typ, owner, env, status in (("f-api", "api", "ann", "staging", "active"),
                                         ("f-db", "db", "bob", "staging", "inactive"),
                                         ("f-ml", "ml", "ann", "production", "active")):
        run_json(srv, "allocate", "--app", "filt", "--instance", "i", "--service", svc,
                 "--type", typ, "--owner", owner, "--env", env, "--status", status)

    def services(*flt: str) -> set[str]:
        return {a["service"] for a in run_json(srv, "list", "--app", "filt", *flt)}

    assert services("--type", "api") == {"f-api"}
    assert services("--owner", "ann") == {"f-api", "f-ml"}
    assert services("--env", "staging") == {"f-api", "f-db"}
    assert services("--status", "inactive") == {"f-db"}
    assert services("--owner", "ann", "--env", "production") == {"f-ml"}
    assert services("--source", "manual") == {"f-api", "f-db", "f-ml"}
    assert services("--source", "import") == set()


def test_list_csv(srv: InProcess) -> None:
    run_json(srv, "allocate", "--app", "csvapp", "--instance", "i", "--service", "s",
             "--owner", "@evil", "--note", "one, \"two\"")
    r = srv.portctl("list", "--app", "csvapp", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert len(rows) == 1
    assert rows[0]["owner"] == "'@evil"
    assert rows[0]["note"] == "one, \"two\""
    assert rows[0]["service"] == "s" and rows[0]["app"] == "csvapp"


def test_update_by_port_and_id(srv: InProcess) -> None:
    a = run_json(srv, "allocate", "--app", "upd", "--instance", "i", "--service", "s",
                 "--note", "first")
    b = run_json(srv, "update", str(a["port"]), "--status", "needs_pairing", "--owner", "x")
    assert (b["id"], b["port"], b["status"], b["owner"], b["note"]) == (
        a["id"], a["port"], "needs_pairing", "x", "first")
    c = run_json(srv, "update", "--id", str(a["id"]), "--note", "", "--env", "staging",
                 "--url", "http://localhost:1")
    assert (c["note"], c["environment"], c["status"]) == ("", "staging", "needs_pairing")
    r = srv.portctl("update", str(a["port"]), "--type", "gpu")
    assert r.returncode == 2 and "unknown pool 'gpu'" in r.stderr
    r = srv.portctl("update", str(a["port"]), "--id", str(a["id"]), "--status", "x")
    assert r.returncode == 2 and "not both" in r.stderr
    r = srv.portctl("update", "--id", "99999", "--status", "x")
    assert r.returncode == 1 and "not found" in r.stderr
    r = srv.portctl("update", str(a["port"]), "--note", "bad\x01char")
    assert r.returncode == 2 and "note" in r.stderr
    assert run_json(srv, "list", "--app", "upd")[0] == c
    r = srv.portctl("update", str(a["port"]), "--host", "elsewhere", "--status", "x")
    assert r.returncode == 1 and f"no allocation holds port {a['port']}" in r.stderr
    d = run_json(srv, "update", str(a["port"]), "--host", c["host"], "--status", "back")
    assert (d["id"], d["status"]) == (a["id"], "back")


def test_suggest_and_pools(srv: InProcess) -> None:
    before = run_json(srv, "list")
    ports = run_json(srv, "suggest", "--type", "api", "--count", "3")
    assert len(ports) == 3 == len(set(ports))
    assert all(8000 <= p <= 8099 for p in ports) and 8000 not in ports  # 8000 is skip-listed
    assert run_json(srv, "list") == before
    r = srv.portctl("suggest", "--type", "ml")
    assert r.returncode == 0 and 8100 <= int(r.stdout.strip()) <= 8199
    r = srv.portctl("suggest", "--type", "nope")
    assert r.returncode == 2 and "unknown pool 'nope'" in r.stderr

    pools = {p["name"]: p for p in run_json(srv, "pools")}
    assert (pools["api"]["lo"], pools["api"]["hi"], pools["api"]["size"]) == (8000, 8099, 100)
    used = pools["api"]["used"]
    run_json(srv, "allocate", "--app", "pool", "--instance", "i", "--service", "s",
             "--type", "api")
    assert {p["name"]: p for p in run_json(srv, "pools")}["api"]["used"] == used + 1
    table = srv.portctl("pools").stdout
    assert table.splitlines()[0].split() == ["POOL", "RANGE", "SIZE", "USED", "FREE"]
    assert "8000-8099" in table


def test_type_auto_uses_the_table_and_the_config(srv: InProcess) -> None:
    a = run_json(srv, "allocate", "--app", "auto", "--instance", "i", "--service", "grafana",
                 "--type", "auto")
    assert a["type"] == "monitoring" and 9000 <= a["port"] <= 9099
    b = run_json(srv, "allocate", "--app", "auto", "--instance", "i", "--service",
                 "uptime-kuma", "--type", "auto")
    assert b["type"] == "monitoring"
    c = run_json(srv, "allocate", "--app", "auto", "--instance", "i", "--service", "worker")
    assert c["type"] == ""  # inference is off unless asked for
