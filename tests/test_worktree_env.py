"""One variable per port for env, up, compose-ports and MCP; derived values from [env]
templates (config file and .portctl.toml); `env --export` for direnv."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProc, make_server, require_module
from port_server.exporters.derived_env import FIELDS, TemplateError, render
from port_server.models import Allocation
from test_run import private_pool
from worktree_helpers import add_worktree, make_repo

COMPOSE = """\
services:
  postgres:
    image: postgres
    ports: ["${PG_PORT:-5432}:5432"]
  api:
    image: api
    ports: ["8000:8000"]
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    config = private_pool() + '[env]\nGLOBAL_DB = "postgres://localhost:{postgres.port}/app"\n'
    server = make_server(tmp_path_factory.mktemp("env"), config=config).start()
    try:
        yield server
    finally:
        server.stop()


def test_env_and_up_agree_on_names_and_write_derived_values(srv: ServerProc,
                                                           tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "cafe", {
        "compose.yaml": COMPOSE,
        ".portctl.toml": '[env]\nAPI_URL = "http://{api.host}:{api.port}"\n'
                         'CORS = "http://localhost:{api.port},{{literal}}"\n'})
    wt = add_worktree(repo, tmp_path / "cafe-menu", "menu")
    r = srv.portctl("up", "--json", cwd=wt)
    assert r.returncode == 0, r.stderr
    ports = {o["service"]: o["port"] for o in json.loads(r.stdout)}
    dotenv = (wt / ".env").read_text()
    # up: the compose file's own variable for postgres, API_PORT for the literal one.
    assert f"PG_PORT={ports['postgres']}\n" in dotenv
    assert f"API_PORT={ports['api']}\n" in dotenv
    assert f"API_URL=http://localhost:{ports['api']}\n" in dotenv
    assert f"CORS=http://localhost:{ports['api']},{{literal}}\n" in dotenv
    assert f"GLOBAL_DB=postgres://localhost:{ports['postgres']}/app\n" in dotenv
    assert "POSTGRES_PORT" not in dotenv
    # env: the same names, so `env --write .env` adds no duplicate.
    r = srv.portctl("env", "--json", cwd=wt)
    values = json.loads(r.stdout)
    assert values["PG_PORT"] == ports["postgres"] and "POSTGRES_PORT" not in values
    assert values["API_URL"] == f"http://localhost:{ports['api']}"
    before = (wt / ".env").read_text()
    r = srv.portctl("env", "--write", ".env", cwd=wt)
    assert r.returncode == 0 and (wt / ".env").read_text() == before
    # --export: lines a shell (or direnv: eval "$(portctl env --export)") can eval.
    r = srv.portctl("env", "--export", cwd=wt)
    shell = subprocess.run(["sh", "-c", f'{r.stdout}\necho "$PG_PORT|$CORS"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == f"{ports['postgres']}|http://localhost:{ports['api']},{{literal}}"
    # compose-ports: the variable the compose file uses, with a default.
    r = srv.portctl("compose-ports", "postgres", cwd=wt)
    assert '"${PG_PORT:-5432}:5432"' in r.stdout


def test_mcp_write_env_uses_the_same_names(srv: ServerProc, tmp_path: Path) -> None:
    require_module("mcp", "pip install '.[mcp]' (make test installs it)")
    from port_server.client import RegistryClient
    from port_server.mcp_server import TOOLS

    repo = make_repo(tmp_path, "deli", {"compose.yaml": COMPOSE})
    assert srv.portctl("up", cwd=repo).returncode == 0
    tool = next(t for t in TOOLS if t.name == "write_env")
    with RegistryClient(srv.addr) as client:
        out = tool.run(client, {"app": "deli", "instance": "deli",
                                "file": str(repo / "mcp.env")})
    assert set(out["values"]) >= {"PG_PORT", "API_PORT"}


def alloc(service: str, port: int) -> Allocation:
    return Allocation(id=1, app="a", instance="i", service=service, port=port, created_at="")


def test_templates_render_and_fail_with_the_name_and_the_fix() -> None:
    done = render({"A": "{web.port}/{web.protocol}", "B": "{db.port}"}, [alloc("web", 4000)])
    assert done.values == {"A": "4000/tcp"}
    assert "no allocation for service 'db'" in done.skipped["B"]
    with pytest.raises(TemplateError, match=r"env\.A: \{web\} is not SERVICE\.FIELD"):
        render({"A": "{web}"}, [alloc("web", 1)])
    with pytest.raises(TemplateError, match="fields: app, host"):
        render({"A": "{web.nope}"}, [alloc("web", 1)])
    # Other features add fields (the proxy adds `url`).
    FIELDS["twice"] = lambda a: str(a.port * 2)
    try:
        assert render({"X": "{web.twice}"}, [alloc("web", 21)]).values == {"X": "42"}
    finally:
        del FIELDS["twice"]


def test_a_bad_template_table_is_a_one_line_error(srv: ServerProc, tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "bad", {"compose.yaml": COMPOSE,
                                       ".portctl.toml": '[env]\n"1X" = "x"\n'})
    r = srv.portctl("up", cwd=repo)
    assert r.returncode == 2
    assert "env.1X: not a variable name" in r.stderr and "Traceback" not in r.stderr
    assert not (repo / ".env").exists()
    assert json.loads(srv.portctl("list", "--app", "bad", "--json").stdout) == []
    (repo / ".portctl.toml").write_text('[env]\nURL = "http://{api.hostname}"\n')
    r = srv.portctl("up", cwd=repo)
    assert r.returncode == 2 and "env.URL: {api.hostname} is not SERVICE.FIELD" in r.stderr
    assert json.loads(srv.portctl("list", "--app", "bad", "--json").stdout) == []
