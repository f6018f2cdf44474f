"""port-server on PostgreSQL: the real daemon with --store postgresql://..., unreachable databases
answered with 503 + Retry-After, and passwords kept out of logs and messages."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from conftest import ServerProc, free_port, make_server
from pg_cluster import PASSWORD


def raw_get(server: ServerProc, path: str) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_server_on_postgres_allocates_and_lists(tmp_path: Path, pg_cluster: Any) -> None:
    url = pg_cluster.new_database()
    srv = make_server(tmp_path, ["--store", url, "--host-id", "box1"]).start()
    try:
        r = srv.portctl("allocate", "--app", "a", "--instance", "i", "--service", "web", "--json")
        assert r.returncode == 0, r.stderr
        alloc = json.loads(r.stdout)
        assert alloc["host"] == "box1" and alloc["created"] is True
        again = srv.portctl("allocate", "--app", "a", "--instance", "i", "--service", "web",
                            "--json")
        assert json.loads(again.stdout)["port"] == alloc["port"]
        listed = json.loads(srv.portctl("list", "--json").stdout)
        assert [a["id"] for a in listed] == [alloc["id"]]
        info = srv.client().info()
        assert info["store"] == "PostgresStore" and info["host"] == "box1"
        assert PASSWORD not in json.dumps(info)
        assert srv.portctl("release", "--app", "a").returncode == 0
        assert json.loads(srv.portctl("list", "--json").stdout) == []
    finally:
        srv.stop()
    assert PASSWORD not in srv.log_text()


def test_unreachable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:{free_port()}/nothing"
    srv = make_server(tmp_path, ["--store", url]).start(healthy=False)
    try:
        status, headers, body = raw_get(srv, "/healthz")
        assert status == 503
        assert headers.get("retry-after") == "2"
        assert body["code"] == "store_unavailable"
        assert "database is unavailable" in body["message"]
        assert "someone:***@127.0.0.1" in body["message"]
        assert PASSWORD not in json.dumps(body)
        status, headers, body = raw_get(srv, "/v1/allocations")
        assert status == 503 and headers.get("retry-after") == "2"
        r = srv.portctl("allocate", "--app", "a", "--instance", "i", "--service", "web")
        assert r.returncode == 1
        assert "database is unavailable" in r.stderr and PASSWORD not in r.stderr
        assert srv.proc is not None and srv.proc.poll() is None  # still running
    finally:
        srv.stop()
    assert PASSWORD not in srv.log_text()


def test_store_and_host_id_from_the_config_file(tmp_path: Path, pg_cluster: Any) -> None:
    url = pg_cluster.new_database()
    srv = make_server(tmp_path, config=f'store = "{url}"\nhost_id = "from-config"\n').start()
    try:
        info = srv.client().info()
        assert info["store"] == "PostgresStore" and info["host"] == "from-config"
        r = srv.portctl("allocate", "--app", "a", "--instance", "i", "--service", "s", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["host"] == "from-config"
    finally:
        srv.stop()
    assert PASSWORD not in srv.log_text()
    assert "porttest:***@127.0.0.1" in srv.log_text()  # the store is named, masked
