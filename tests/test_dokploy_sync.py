"""Dokploy sync end to end: the real portctl against a real port-server, reading a fake Dokploy on
loopback that serves each ``project.all`` shape; nginx configs checked by the real ``nginx -t``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ServerProc, free_port, make_server
from fake_dokploy import API_KEY, SECRETS, FakeDokploy
from nginx_check import nginx_t, self_signed
from port_server.models import AllocationFilter

SHAPES = ("legacy", "environments", "slim")
OWN = {("dokploy", "main", "ui", 3000, "tcp"), ("dokploy", "main", "traefik-http", 80, "tcp"),
       ("dokploy", "main", "traefik-https", 443, "tcp"),
       ("dokploy", "main", "traefik-http3", 443, "udp")}
LEGACY = OWN | {
    ("FibreFlow", "production", "web", 3005, "tcp"),
    ("FibreFlow", "production", "fibreflow-db", 5433, "tcp"),
    ("FibreFlow", "production", "qfield.app", 8082, "tcp"),
    ("FibreFlow", "production", "qfield.db", 5435, "tcp"),  # ${DB_PORT:-5434} with DB_PORT=5435
    ("Tools", "production", "WhatsApp-Sender-8081-tcp", 8081, "tcp"),
    ("Tools", "production", "WhatsApp-Sender-8081-udp", 8081, "udp"),
    ("Tools", "production", "wiki-db", 3307, "tcp"),
    ("Tools", "production", "events", 27018, "tcp"),
    ("Tools", "production", "ocr.ocr", 8095, "tcp"),  # from compose.getConvertedCompose
}
ENVIRONMENTS = LEGACY | {("FibreFlow", "staging", "web", 3006, "tcp")}
SLIM = ENVIRONMENTS | {("Tools", "production", "turso", 8090, "tcp"),
                       ("Tools", "production", "turso-grpc", 5011, "tcp")}
EXPECTED = {"legacy": LEGACY, "environments": ENVIRONMENTS, "slim": SLIM}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    srv = make_server(tmp_path_factory.mktemp("dokploy")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(shared_server: ServerProc) -> Iterator[ServerProc]:
    """One port-server for the module (they take seconds to start on a busy machine); each test
    starts from an empty registry on this host and no config file."""
    yield shared_server
    config = shared_server.data_dir / "config.toml"
    config.unlink(missing_ok=True)
    with shared_server.client() as client:
        for alloc in client.list(AllocationFilter(host="*")):
            client.release_id(alloc.id, force=True)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeDokploy]:
    shape = getattr(request, "param", "slim")
    dokploy = FakeDokploy(shape).start()
    try:
        yield dokploy
    finally:
        dokploy.stop()


def sync(server: ServerProc, fake: FakeDokploy, *args: str,
         key: str = API_KEY) -> subprocess.CompletedProcess[str]:
    return server.portctl("sync", "dokploy", "--url", fake.url, *args,
                          env={"DOKPLOY_API_KEY": key})


def listed(server: ServerProc) -> list[dict[str, Any]]:
    r = server.portctl("list", "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def keys(allocs: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(a["app"], a["instance"], a["service"], a["port"], a["protocol"]) for a in allocs}


def by_key(allocs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{a['app']}/{a['instance']}/{a['service']}": a for a in allocs}


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def assert_db_clean(server: ServerProc) -> None:
    files = list(server.data_dir.glob("registry.db*"))
    assert files
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} stored in {path.name}"


@pytest.mark.parametrize("fake", SHAPES, indirect=True)
def test_dry_run_then_apply_is_idempotent(server: ServerProc, fake: FakeDokploy) -> None:
    seen: list[str] = []
    dry = sync(server, fake, "--dry-run")
    seen += [dry.stdout, dry.stderr]
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing changed" in dry.stdout
    assert f"{len(EXPECTED[fake.shape])} add" in dry.stdout
    assert listed(server) == []

    applied = sync(server, fake)
    seen += [applied.stdout, applied.stderr]
    assert applied.returncode == 0, applied.stderr
    assert "applied" in applied.stdout
    allocs = listed(server)
    assert keys(allocs) == EXPECTED[fake.shape]
    assert {a["source"] for a in allocs} == {"dokploy"}
    rows = by_key(allocs)
    web = rows["FibreFlow/production/web"]
    assert (web["url"], web["status"], web["environment"]) == (
        "https://app.fibreflow.app", "active", "production")
    assert rows["FibreFlow/production/qfield.app"]["url"] == "https://qfield.fibreflow.app"
    assert rows["Tools/production/WhatsApp-Sender-8081-tcp"]["status"] == "error"
    assert rows["Tools/production/ocr.ocr"]["status"] == "inactive"
    assert rows["Tools/production/wiki-db"]["type"] == "db"
    assert "container 3306/tcp" in rows["Tools/production/wiki-db"]["note"]
    if fake.shape != "legacy":
        assert rows["FibreFlow/staging/web"]["status"] == "deploying"
        assert rows["FibreFlow/staging/web"]["url"] == "http://vf.fibreflow.app"
    assert "edge-1" in applied.stderr  # services on the remote server are named, not synced

    again = sync(server, fake, "--json")
    seen += [again.stdout, again.stderr]
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["summary"] == {"add": 0, "update": 0, "unchanged": len(EXPECTED[fake.shape]),
                                 "remove": 0, "conflict": 0}
    assert result["dokploy"]["shape"] == fake.shape
    assert listed(server) == allocs  # nothing rewritten, not even updated_at

    conf = server.portctl("nginx", "--listen", "18080")
    seen += [conf.stdout, conf.stderr]
    assert conf.returncode == 0, conf.stderr
    assert "proxy_pass http://127.0.0.1:3005;" in conf.stdout
    checked = nginx_t(server.tmp, conf.stdout)
    assert checked.returncode == 0, checked.stderr
    assert_no_secrets(*seen, server.log_text())
    assert_db_clean(server)


def test_conflicts_are_reported_never_overwritten(server: ServerProc,
                                                  fake: FakeDokploy) -> None:
    held = server.portctl("allocate", "--app", "legacy", "--instance", "prod", "--service",
                          "old-web", "--port", "3005", "--force", "--json")
    named = server.portctl("allocate", "--app", "FibreFlow", "--instance", "production",
                           "--service", "fibreflow-db", "--port", "6543", "--force", "--json")
    assert held.returncode == 0 and named.returncode == 0, held.stderr + named.stderr
    before = {a["id"]: a for a in listed(server)}

    r = sync(server, fake)
    assert r.returncode == 0, r.stderr
    conflicts = [line for line in r.stdout.splitlines() if line.startswith("conflict")]
    assert len(conflicts) == 2
    assert any("3005" in line and "legacy/prod/old-web" in line for line in conflicts)
    assert any("fibreflow-db" in line and "'manual'" in line for line in conflicts)
    assert "2 conflict(s)" in r.stderr
    after = {a["id"]: a for a in listed(server)}
    for alloc_id, alloc in before.items():
        assert after[alloc_id] == alloc  # untouched
    assert keys(list(after.values())) >= SLIM - {
        ("FibreFlow", "production", "web", 3005, "tcp"),
        ("FibreFlow", "production", "fibreflow-db", 5433, "tcp")}

    again = json.loads(sync(server, fake, "--json").stdout)
    assert again["summary"]["conflict"] == 2
    assert again["summary"]["add"] == 0 and again["summary"]["update"] == 0


def test_updates_moves_swaps_and_removals_touch_only_dokploy(server: ServerProc,
                                                               fake: FakeDokploy) -> None:
    assert sync(server, fake).returncode == 0
    manual = server.portctl("allocate", "--app", "mine", "--instance", "dev", "--service",
                            "api", "--port", "4111", "--force", "--json")
    assert manual.returncode == 0
    fibre, tools = fake.projects
    prod, staging = fibre["environments"]
    prod_web = prod["services"]["application"][0]
    stage_web = staging["services"]["application"][0]
    prod_web["ports"][0]["publishedPort"], stage_web["ports"][0]["publishedPort"] = 3006, 3005
    stage_web["applicationStatus"] = "done"
    prod["services"]["postgres"][0]["externalPort"] = None  # unpublished: its allocation goes
    tools["environments"][0]["services"]["application"].pop(0)  # WhatsApp Sender deleted
    before = by_key(listed(server))

    dry = sync(server, fake, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["summary"]["update"] == 2 and plan["summary"]["remove"] == 3
    assert by_key(listed(server)) == before

    r = sync(server, fake)
    assert r.returncode == 0, r.stderr
    assert "3005->3006" in r.stdout and "3006->3005" in r.stdout
    rows = by_key(listed(server))
    assert rows["FibreFlow/production/web"]["port"] == 3006
    assert rows["FibreFlow/staging/web"]["port"] == 3005
    assert rows["FibreFlow/staging/web"]["status"] == "active"
    for gone in ("FibreFlow/production/fibreflow-db", "Tools/production/WhatsApp-Sender-8081-tcp",
                 "Tools/production/WhatsApp-Sender-8081-udp"):
        assert gone not in rows
    manual_row = {k: v for k, v in json.loads(manual.stdout).items() if k != "created"}
    assert rows["mine/dev/api"] == manual_row  # untouched
    again = json.loads(sync(server, fake, "--json").stdout)["summary"]
    assert again["add"] == again["update"] == again["remove"] == again["conflict"] == 0


def test_remote_server_syncs_into_its_own_host(server: ServerProc, fake: FakeDokploy) -> None:
    r = sync(server, fake, "--server", "edge-1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["host"] == "edge-1"
    adds = {(it["app"], it["service"], it["port"]) for it in result["plan"]}
    assert ("Tools", "edge-api", 8200) in adds
    assert ("dokploy", "ui", 3000) not in adds  # the UI runs on the Dokploy host only
    assert ("dokploy", "traefik-https", 443) in adds
    assert listed(server) == []  # this host's registry is unchanged
    edge = server.portctl("list", "--host", "edge-1", "--json")
    assert {(a["service"], a["port"], a["host"]) for a in json.loads(edge.stdout)} >= {
        ("edge-api", 8200, "edge-1"), ("traefik-https", 443, "edge-1")}
    again = json.loads(sync(server, fake, "--server", "edge-1", "--json").stdout)
    assert again["summary"]["unchanged"] == len(again["plan"])
    unknown = sync(server, fake, "--server", "nowhere")
    assert unknown.returncode == 2
    assert "edge-1" in unknown.stderr


def test_monitoring_port_when_on(server: ServerProc, fake: FakeDokploy) -> None:
    r = sync(server, fake, "--monitoring", "--dry-run", "--json")
    plan = json.loads(r.stdout)["plan"]
    assert ("monitoring", 4500) in {(it["service"], it["port"]) for it in plan}


def test_bearer_fallback_for_old_servers(server: ServerProc) -> None:
    old = FakeDokploy("legacy", auth="bearer").start()
    try:
        r = sync(server, old)
        assert r.returncode == 0, r.stderr
        assert keys(listed(server)) == LEGACY
    finally:
        old.stop()


# -- failures: one line, exit 1, registry untouched ------------------------------------------

@pytest.fixture
def kept(server: ServerProc) -> ServerProc:
    r = server.portctl("allocate", "--app", "keep", "--instance", "me", "--service", "web",
                       "--port", "3005", "--force")
    assert r.returncode == 0, r.stderr
    return server


FAILURES = {
    "bad-key": ({}, ("--timeout", "5"), "401 Unauthorized"),
    "404-project-all": ({"project.all": ("status", 404)}, (), "GET /api/project.all: 404"),
    "404-one": ({"application.one": ("status", 404)}, (), "GET /api/application.one: 404"),
    "500": ({"project.all": ("status", 500)}, (), "HTTP 500"),
    "timeout": ({"project.all": ("delay", 1.5)}, ("--timeout", "0.4"), "no answer within 0.4s"),
    "malformed": ({"project.all": ("malformed",)}, (), "malformed JSON"),
    "unknown-shape": ({"project.all": ("body", {"projects": []})}, (), "unknown answer shape"),
    "unknown-one": ({"postgres.one": ("body", ["no", "name"])}, (), "GET /api/postgres.one"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failures_are_one_line_and_change_nothing(kept: ServerProc, case: str) -> None:
    faults, extra, expected = FAILURES[case]
    before = listed(kept)
    assert before
    dokploy = FakeDokploy("slim")
    dokploy.faults.update(faults)
    dokploy.start()
    try:
        r = sync(kept, dokploy, *extra,
                 key="wrong-key" if case == "bad-key" else API_KEY)
    finally:
        dokploy.stop()
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: Dokploy GET /api/")
    assert expected in lines[0]
    assert r.stdout == ""
    assert listed(kept) == before
    assert_no_secrets(r.stderr, "wrong-key")


def test_unreachable_dokploy(kept: ServerProc) -> None:
    before = listed(kept)
    url = f"http://127.0.0.1:{free_port()}"
    r = kept.portctl("sync", "dokploy", "--url", url, "--api-key", API_KEY)
    assert r.returncode == 1
    assert r.stderr.startswith("error: Dokploy GET /api/") and "cannot reach" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert listed(kept) == before


@pytest.mark.parametrize("args, field", [
    ((), "--url"), (("--url", "http://127.0.0.1:9"), "--api-key"),
    (("--url", "ftp://x", "--api-key", "k"), "--url"),
])
def test_usage_errors_exit_2(server: ServerProc, args: tuple[str, ...], field: str) -> None:
    r = server.portctl("sync", "dokploy", *args, env={"DOKPLOY_API_KEY": ""})
    assert r.returncode == 2, r.stderr
    assert field in r.stderr and "Traceback" not in r.stderr


# -- portman sync (seed 001) --------------------------------------------------------------------

def portman_sync(server: ServerProc, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``portman sync ARGS`` through the function the portman script dispatches to."""
    from port_server.cli import Context
    from port_server.cli.sync import portman_sync as run

    for name in ("HOME", "PORT_SERVER_HOME", "PORT_SERVER_ADDR"):
        monkeypatch.setenv(name, server.env[name])
    ctx = Context(server.addr)
    try:
        code = run(list(args), ctx)
    finally:
        ctx.close()
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fake", SHAPES, indirect=True)
def test_portman_sync_seed_commands(server: ServerProc, fake: FakeDokploy,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # seed 001 runs bare `portman sync`: Dokploy's address and key come from the config file.
    (server.data_dir / "config.toml").write_text(
        f'[dokploy]\nurl = "{fake.url}"\napi_key = "{API_KEY}"\nlisten = 18081\n')
    monkeypatch.delenv("DOKPLOY_URL", raising=False)
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    code, out, err = portman_sync(server, monkeypatch, capsys, "--dry-run")
    assert code == 0, err
    assert "dry run: nothing changed" in out
    assert listed(server) == []
    code, out2, err2 = portman_sync(server, monkeypatch, capsys)
    assert code == 0, err2
    assert keys(listed(server)) == EXPECTED[fake.shape]
    code, conf, err3 = portman_sync(server, monkeypatch, capsys, "--nginx")
    assert code == 0, err3
    assert "listen 18081;" in conf
    assert "proxy_pass http://10.0.0.7:8200;" in conf  # the remote server's address
    assert "# WARNING: skipped app.fibreflow.app/admin: container port 8080" in conf
    assert "old.fibreflow.app" not in conf  # a disabled domain
    written = server.tmp / "dokploy-nginx.conf"
    written.write_text(conf)
    checked = nginx_t(server.tmp, written.read_text())
    assert checked.returncode == 0, checked.stderr
    assert_no_secrets(out, err, out2, err2, conf, err3)
    assert_db_clean(server)


def test_nginx_https_blocks_with_certificates(server: ServerProc, fake: FakeDokploy,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = self_signed(server.tmp)
    monkeypatch.setenv("DOKPLOY_URL", fake.url)
    monkeypatch.setenv("DOKPLOY_API_KEY", API_KEY)
    code, conf, err = portman_sync(server, monkeypatch, capsys, "--nginx", "--listen", "18082",
                                   "--ssl-listen", "18443", "--cert", str(cert), "--key",
                                   str(key))
    assert code == 0, err
    assert "listen 18443 ssl;" in conf and f"ssl_certificate {cert};" in conf
    checked = nginx_t(server.tmp, conf)
    assert checked.returncode == 0, checked.stderr
    no_certs = server.portctl("nginx")
    assert no_certs.returncode == 0 and " ssl;" not in no_certs.stdout
    half = server.portctl("nginx", "--cert", str(cert))
    assert half.returncode == 2 and "--key" in half.stderr


def test_sync_commands_have_help_and_are_documented() -> None:
    from conftest import documentation
    from port_server.cli import build_parser
    from port_server.cli.sync import portman_parser

    readme = documentation()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    sync = sub.choices["sync"]  # type: ignore[index]
    platforms = next(a for a in sync._actions if a.dest == "platform")
    assert platforms.choices["dokploy"].description  # type: ignore[index]
    assert sub.choices["nginx"].description  # type: ignore[index]
    assert portman_parser().description
    for text in ("portctl sync dokploy", "portctl nginx", "portman sync --dry-run",
                 "portman sync --nginx > dokploy-nginx.conf", "POST /v1/sync/dokploy",
                 "upstream_error"):
        assert text in readme, text


def test_sync_without_platform_is_usage_error(server: ServerProc) -> None:
    r = server.portctl("sync")
    assert r.returncode == 2 and "portctl sync dokploy" in r.stderr


@pytest.mark.parametrize("fake", SHAPES, indirect=True)
def test_portman_executable_runs_the_seed_lines(server: ServerProc, fake: FakeDokploy) -> None:
    """Seed 001, verbatim, through the real `portman` script (which dispatches to portman_sync)."""
    env = {**server.env, "DOKPLOY_URL": fake.url, "DOKPLOY_API_KEY": API_KEY}
    dry = subprocess.run("portman sync --dry-run", shell=True, cwd=server.tmp, env=env,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing changed" in dry.stdout and listed(server) == []
    applied = subprocess.run("portman sync", shell=True, cwd=server.tmp, env=env,
                             capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    assert keys(listed(server)) == EXPECTED[fake.shape]
    made = subprocess.run("portman sync --nginx > dokploy-nginx.conf", shell=True,
                          cwd=server.tmp, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    conf = (server.tmp / "dokploy-nginx.conf").read_text()
    assert "proxy_pass http://127.0.0.1:3005;" in conf and "listen 8080;" in conf
    checked = nginx_t(server.tmp, conf)
    assert checked.returncode == 0, checked.stderr
    assert_no_secrets(dry.stdout, dry.stderr, applied.stdout, applied.stderr, made.stderr, conf)


def test_portman_sync_failure_is_one_line(kept: ServerProc, fake: FakeDokploy) -> None:
    before = listed(kept)
    r = kept.portman("sync", "--url", fake.url, env={"DOKPLOY_API_KEY": "wrong-key"})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: Dokploy GET /api/settings.getDokployVersion: 401 Unauthorized; check --api-key"
        " or $DOKPLOY_API_KEY"]
    assert listed(kept) == before
