"""portctl run with tools that ignore $PORT: each real tool gets the allocated port the way it
expects it (--port N, --bind host:N, --dev-addr, a positional) and serves on it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, make_server, require_tool
from port_server.frameworks import detect, from_config, has_port
from test_run import _fetch, _wait_for_pid, private_pool


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    config = private_pool() + ('[frameworks.hello-serve]\nmatch = "hello-serve"\n'
                               'port_args = "--listen-on {port}"\n')
    server = make_server(tmp_path_factory.mktemp("fw"), config=config).start()
    try:
        yield server
    finally:
        server.stop()


def _tool(name: str) -> str:
    return require_tool(name, f"pip install {name} (the dev extra has it)", [str(BIN / name)])


APP_ASGI = '''
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi says hi"})
'''
APP_WSGI = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi says hi"]
'''
APP_FLASK = '''
from flask import Flask
app = Flask(__name__)

@app.get("/")
def index():
    return "flask says hi"
'''


def _serve(srv: ServerProc, folder: Path, service: str, *cmd: str) -> tuple[bytes, str]:
    """Run ``cmd`` through portctl run in ``folder``; (what / answers, the recorded command)."""
    proc = subprocess.Popen([str(BIN / "portctl"), "run", "--app", "fw", "--instance", "t",
                             "--service", service, "--ephemeral", "--", *cmd],
                            env=srv.env, cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        alloc = _wait_for_pid(srv, service, timeout=30)
        body = _fetch(alloc.port, timeout=30)
        return body, alloc.command
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_uvicorn_serves_on_the_allocated_port(srv: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "asgiapp.py").write_text(APP_ASGI)
    body, command = _serve(srv, tmp_path, "uvicorn", _tool("uvicorn"), "asgiapp:app")
    assert body == b"asgi says hi"
    assert " --port " in command


def test_gunicorn_serves_on_the_allocated_port(srv: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "wsgiapp.py").write_text(APP_WSGI)
    body, command = _serve(srv, tmp_path, "gunicorn", _tool("gunicorn"), "wsgiapp:app")
    assert body == b"wsgi says hi"
    assert " --bind 127.0.0.1:" in command


def test_flask_run_serves_on_the_allocated_port(srv: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "flaskapp.py").write_text(APP_FLASK)
    body, command = _serve(srv, tmp_path, "flask", _tool("flask"), "--app", "flaskapp", "run")
    assert body == b"flask says hi"
    assert " --port " in command


def test_mkdocs_serve_serves_on_the_allocated_port(srv: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "mkdocs.yml").write_text("site_name: Worktree Docs\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Hello from mkdocs\n")
    body, command = _serve(srv, tmp_path, "mkdocs", _tool("mkdocs"), "serve")
    assert b"Hello from mkdocs" in body
    assert " --dev-addr 127.0.0.1:" in command


def test_http_server_gets_a_positional_port(srv: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("x")
    body, command = _serve(srv, tmp_path, "static", sys.executable, "-m", "http.server",
                           "--bind", "127.0.0.1")
    assert b"marker.txt" in body
    # The port goes right after the module name: http.server N --bind 127.0.0.1
    assert " -m http.server " in command and command.endswith(" --bind 127.0.0.1")


def test_port_options_are_not_doubled_and_placeholders_win(srv: ServerProc,
                                                          tmp_path: Path) -> None:
    script = tmp_path / "hello-serve"
    script.write_text("#!/bin/sh\necho \"args: $*\"\n")
    script.chmod(0o755)
    r = srv.portctl("run", "--app", "fw", "--instance", "plan", "--service", "cfg",
                    "--ephemeral", "--", str(script), "x", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # A framework from the config file's [frameworks.NAME] table.
    assert r.stdout.startswith("args: x --listen-on ")
    r = srv.portctl("run", "--app", "fw", "--instance", "plan", "--service", "cfg",
                    "--ephemeral", "--", str(script), "{port}", cwd=tmp_path)
    assert "--listen-on" not in r.stdout
    r = srv.portctl("run", "--app", "fw", "--instance", "plan", "--service", "cfg",
                    "--ephemeral", "--framework", "none", "--", str(script), cwd=tmp_path)
    assert r.stdout.strip() == "args:"
    r = srv.portctl("run", "--app", "fw", "--instance", "plan", "--service", "cfg",
                    "--framework", "nope", "--", "true", cwd=tmp_path)
    assert r.returncode == 2 and "--framework 'nope': unknown" in r.stderr


@pytest.mark.parametrize(("cmd", "added"), [
    ("vite", ["--port", "{port}", "--strictPort"]),
    ("npx --yes vite dev", ["--port", "{port}", "--strictPort"]),
    ("svelte-kit dev", ["--port", "{port}", "--strictPort"]),
    ("remix vite:dev", ["--port", "{port}", "--strictPort"]),
    ("astro dev", ["--port", "{port}"]),
    ("ng serve", ["--port", "{port}"]),
    ("npx storybook dev", ["-p", "{port}"]),
    ("expo start", ["--port", "{port}"]),
    ("bundle exec rails s", ["-p", "{port}"]),
    ("flask --app x run", ["--port", "{port}"]),
    ("hugo server", ["--port", "{port}"]),
    ("jekyll serve", ["--port", "{port}"]),
])
def test_options_are_appended(cmd: str, added: list[str]) -> None:
    argv = cmd.split()
    found = detect(argv)
    assert found is not None and not has_port(argv, found)
    from port_server.frameworks import with_port

    assert with_port(argv, found, "{port}") == [*argv, *added]


@pytest.mark.parametrize(("cmd", "expected"), [
    ("python manage.py runserver --noreload",
     "python manage.py runserver 127.0.0.1:{port} --noreload"),
    ("php -S", "php -S 127.0.0.1:{port}"),
    ("python3 -m http.server -d web", "python3 -m http.server {port} -d web"),
])
def test_positional_addresses_go_after_the_command(cmd: str, expected: str) -> None:
    from port_server.frameworks import with_port

    found = detect(cmd.split())
    assert found is not None
    assert " ".join(with_port(cmd.split(), found, "{port}")) == expected


@pytest.mark.parametrize("cmd", ["php -S localhost:8000", "gunicorn -b 0.0.0.0:1 a:b",
                                 "vite --port=4000", "rails s -p 3001"])
def test_a_port_in_the_command_is_kept(cmd: str) -> None:
    found = detect(cmd.split())
    assert found is not None and has_port(cmd.split(), found)


def test_npm_scripts_are_looked_up_in_package_json(srv: ServerProc, tmp_path: Path) -> None:
    from port_server.cli.run_args import port_argv

    (tmp_path / "package.json").write_text('{"scripts": {"dev": "vite --host"}}')
    argv, note = port_argv(["npm", "run", "dev"], None, tmp_path)
    assert argv == ["npm", "run", "dev", "--", "--port", "{port}", "--strictPort"]
    assert note.startswith("vite:")
    argv, _ = port_argv(["pnpm", "dev"], None, tmp_path)
    assert argv == ["pnpm", "dev", "--port", "{port}", "--strictPort"]


def test_config_frameworks_are_checked() -> None:
    assert from_config({"bun": {"match": "bun dev", "port_args": "--port {port}"}})[0].name \
        == "bun"
    with pytest.raises(ValueError, match=r"frameworks.bun.port_args: must contain \{port\}"):
        from_config({"bun": {"match": "bun dev", "port_args": "--port"}})
    with pytest.raises(ValueError, match=r"frameworks\.bun\.colour: unknown key"):
        from_config({"bun": {"match": "bun dev", "port_args": "-p {port}", "colour": 1}})
