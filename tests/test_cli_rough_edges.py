"""Bad input found by trying the CLI as a new user: each gives one line naming the flag and the
fix, a non-zero exit, and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ServerProc, free_port
from port_server.cli import output


@pytest.fixture
def srv(module_server: ServerProc) -> ServerProc:
    return module_server


def one_line_error(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: ")
    for word in words:
        assert word in r.stderr, r.stderr


def test_export_to_a_missing_folder_or_to_a_folder(srv: ServerProc, tmp_path: Path) -> None:
    one_line_error(srv.portctl("export", "-o", "/nonexistent/x"), 2, "--output /nonexistent/x")
    one_line_error(srv.portctl("export", "-o", str(tmp_path)), 2, "is a folder", "ports.json")
    assert list(tmp_path.iterdir()) == []


def test_dokploy_url_with_a_broken_ipv6_literal(srv: ServerProc) -> None:
    r = srv.portctl("sync", "dokploy", "--url", "http://[::1", "--api-key", "k")
    one_line_error(r, 2, "--url", "http://127.0.0.1:3000")


def test_skill_install_into_proc_or_a_file(srv: ServerProc) -> None:
    one_line_error(srv.portctl("skill", "install", "--dir", "/proc"), 2, "--dir /proc")
    one_line_error(srv.portctl("skill", "install", "--dir", "/etc/passwd"), 2, "not a folder")


@pytest.mark.parametrize("addr", ["127.0.0.1:99999", "127.0.0.1", "foo"])
@pytest.mark.parametrize("prog", ["portctl", "portman"])
def test_bad_addr_is_a_usage_error(srv: ServerProc, addr: str, prog: str) -> None:
    one_line_error(srv.portctl("--addr", addr, "list", prog=prog), 2, "--addr", "127.0.0.1:51234")
    # ...also when the command never connects, and from the environment
    one_line_error(srv.portctl("--addr", addr, "completion", "bash"), 2, "--addr")
    one_line_error(srv.portctl("list", env={"PORT_SERVER_ADDR": addr}), 2, "PORT_SERVER_ADDR")


def test_a_64_character_name_gets_the_name_rule(srv: ServerProc) -> None:
    rule = "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    for field in ("app", "instance", "service"):
        args = {"app": "a", "instance": "i", "service": "s", field: "x" * 64}
        r = srv.portctl("allocate", *(f"--{k}={v}" for k, v in args.items()))
        one_line_error(r, 2, f"{field}: {rule}")
    one_line_error(srv.portctl("allocate", "--app", "a", "--instance", "i", "--service", "b!"),
                   2, f"service: {rule}")
    one_line_error(srv.portctl("list", "--app", "x" * 64), 2, f"app: {rule}")
    assert json.loads(srv.portctl("list", "--app", "a", "--json").stdout) == []


def test_release_takes_the_port_like_update(srv: ServerProc) -> None:
    r = srv.portctl("allocate", "--app", "rel", "--instance", "i", "--service", "web", "--json")
    port = json.loads(r.stdout)["port"]
    assert srv.portctl("update", str(port), "--note", "n").returncode == 0
    one_line_error(srv.portctl("release", str(port), "--port", str(port + 1)), 2, "differ")
    r = srv.portctl("release", str(port))
    assert r.returncode == 0 and f"released port {port}" in r.stdout, r.stderr
    assert json.loads(srv.portctl("list", "--app", "rel", "--json").stdout) == []


def test_run_help_shows_service_as_required(srv: ServerProc) -> None:
    usage = srv.portctl("run", "--help").stdout.split("\n\n")[0]
    assert "--service SERVICE" in usage and "[--service SERVICE]" not in usage
    one_line_error(srv.portctl("run", "--", "true"), 2, "--service")
    one_line_error(srv.portctl("allocate", "--app", "a"), 2, "--service")


def test_tables_print_each_cell_on_one_line(srv: ServerProc,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    output.table(("ID", "COMMAND"), [(1, "sh -c 'echo a\necho b'\t\x1b[31mred\r")])
    assert capsys.readouterr().out.splitlines() == [
        "ID  COMMAND", "1   sh -c 'echo a echo b'  [31mred"]
    # A real process whose command line is a multi-line script, seen by who and scan -d.
    port = free_port()
    script = (f"import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', {port}))\n"
              "s.listen(); print('up', flush=True)\ntime.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
        who = srv.portctl("who", str(port)).stdout.splitlines()
        assert any("listening on" in ln and "time.sleep(60)" in ln for ln in who), who
        scan = srv.portctl("scan", "-d", "--port-range", f"{port}-{port}").stdout.splitlines()
        assert str(port) in scan[1] and "socket.socket()" in scan[1] and "unregistered" in scan[2]
    finally:
        child.kill()
        child.wait()


def test_skill_install_from_a_subfolder_writes_at_the_repository_root(
        srv: ServerProc, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    r = srv.portctl("skill", "install", cwd=repo / "src" / "pkg")
    assert r.returncode == 0, r.stderr
    assert (repo / ".claude" / "skills" / "port-server" / "SKILL.md").is_file()
    assert not (repo / "src" / ".claude").exists() and not (repo / "src" / "pkg" / ".claude"
                                                            ).exists()
    outside = tmp_path / "plain"  # no repository: the current folder
    outside.mkdir()
    assert srv.portctl("skill", "install", cwd=outside).returncode == 0
    assert (outside / ".claude" / "skills" / "port-server" / "SKILL.md").is_file()
