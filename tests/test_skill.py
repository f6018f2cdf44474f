"""The agent skill: shipped files, `portctl skill install` in each mode, and every command it shows.

The last test is what keeps the skill honest: each `portctl ...` line in a bash block of SKILL.md
and references/WORKFLOW.md runs, in order, against a real server, and the `# -> ...` output lines
shown under it must match what it printed (numbers aside: ports depend on the machine).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, free_port, make_server, require_tool
from test_run import private_pool

SKILL_DIR = Path(__file__).resolve().parent.parent / "src" / "port_server" / "skill"
SKILL_FILES = ("SKILL.md", "references/WORKFLOW.md")
QUERIES = ("portctl check ", "portctl who ", "portctl scan ")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    srv = make_server(tmp_path_factory.mktemp("skill")).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_front_matter() -> None:
    text = (SKILL_DIR / "SKILL.md").read_text()
    assert text.startswith("---\n")
    head = text.split("---\n")[1]
    fields = dict(line.split(": ", 1) for line in head.strip().splitlines())
    assert fields["name"] == "port-server"
    assert "Use whenever" in fields["description"]
    assert fields["allowed-tools"] == "Bash(portctl *)"
    assert "references/WORKFLOW.md" in text


def _files(folder: Path) -> dict[str, str]:
    return {rel: (folder / rel).read_text() for rel in SKILL_FILES}


def test_install_into_project(shared_server: ServerProc, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    r = shared_server.portctl("skill", "install", cwd=project)
    assert r.returncode == 0, r.stderr
    target = project / ".claude" / "skills" / "port-server"
    assert "2 created" in r.stdout and str(target) in r.stdout
    assert _files(target) == _files(SKILL_DIR)
    manifest = json.loads((target / ".port-server-skill.json").read_text())
    assert set(manifest["files"]) == set(SKILL_FILES)

    again = shared_server.portctl("skill", "install", cwd=project)
    assert "2 unchanged" in again.stdout

    # An outdated file as we wrote it is updated in place...
    (target / "SKILL.md").write_text("old version\n")
    manifest["files"]["SKILL.md"] = __import__("hashlib").sha256(b"old version\n").hexdigest()
    (target / ".port-server-skill.json").write_text(json.dumps(manifest))
    r = shared_server.portctl("skill", "install", "--json", cwd=project)
    actions = {Path(f["path"]).name: f["action"] for f in json.loads(r.stdout)[0]["files"]}
    assert actions == {"SKILL.md": "updated", "WORKFLOW.md": "unchanged"}
    assert (target / "SKILL.md").read_text() == (SKILL_DIR / "SKILL.md").read_text()

    # ...but a file the user edited is kept unless --force.
    edited = (target / "references" / "WORKFLOW.md")
    edited.write_text(edited.read_text() + "\nmy own notes\n")
    r = shared_server.portctl("skill", "install", cwd=project)
    assert r.returncode == 0
    assert "1 kept" in r.stdout and "--force" in r.stderr
    assert edited.read_text().endswith("my own notes\n")
    r = shared_server.portctl("skill", "install", "--force", cwd=project)
    assert "1 updated" in r.stdout
    assert edited.read_text() == (SKILL_DIR / "references" / "WORKFLOW.md").read_text()


def test_install_global_only_where_agent_homes_exist(shared_server: ServerProc,
                                                     tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".agents").mkdir()
    r = shared_server.portctl("skill", "install", "--global", env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    for agent in (".claude", ".agents"):
        assert _files(home / agent / "skills" / "port-server") == _files(SKILL_DIR)
    assert not (home / ".codex").exists()


def test_install_global_without_agent_homes_uses_claude(shared_server: ServerProc,
                                                        tmp_path: Path) -> None:
    home = tmp_path / "bare-home"
    home.mkdir()
    r = shared_server.portctl("skill", "install", "--global", env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert (home / ".claude" / "skills" / "port-server" / "SKILL.md").is_file()


def test_install_dir(shared_server: ServerProc, tmp_path: Path) -> None:
    r = shared_server.portctl("skill", "install", "--dir", str(tmp_path / "skills"))
    assert r.returncode == 0, r.stderr
    assert _files(tmp_path / "skills" / "port-server") == _files(SKILL_DIR)
    usage = shared_server.portctl("skill", "install", "--dir", "x", "--global")
    assert usage.returncode == 2


def test_make_install_skill(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    repo = Path(__file__).resolve().parent.parent
    r = subprocess.run(["make", "-s", "-C", str(repo), "install-skill"], capture_output=True,
                       text=True, env={"HOME": str(home), "PATH": f"{BIN}:/usr/bin:/bin"},
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (home / ".codex" / "skills" / "port-server" / "SKILL.md").is_file()


# -- every command shown in the skill runs ---------------------------------------------------


def skill_commands() -> list[tuple[str, str, list[str]]]:
    """(file, command line, expected output lines) for each portctl line in a bash block."""
    found = []
    for rel in SKILL_FILES:
        in_bash = False
        for line in (SKILL_DIR / rel).read_text().splitlines():
            if line.startswith("```"):
                in_bash = line.strip() == "```bash"
                continue
            if not in_bash:
                continue
            if line.startswith("# -> ") and found and found[-1][0] == rel:
                found[-1][2].append(line[len("# -> "):])
            elif re.search(r"(^|\$\()portctl ", line):
                found.append((rel, line, []))
    return found


def _normalise(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def _run_long(server: ServerProc, line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A `portctl run` of a server: wait until it serves, then stop it like a user would."""
    proc = subprocess.Popen(["bash", "-c", f"exec {line}"], env=server.env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    port = None
    while time.monotonic() < deadline and port is None:
        for alloc in server.client().list():
            if alloc.pid and alloc.command in line.replace("{port}", str(alloc.port)):
                port = alloc.port
        time.sleep(0.1)
    assert port is not None, f"{line}: never recorded its process"
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(line, proc.returncode, out, err)


def test_skill_commands_are_many_and_cover_the_verbs() -> None:
    lines = " ".join(line for _, line, _ in skill_commands())
    for verb in ("allocate", "list", "check", "release", "run", "health", "start", "doctor",
                 "scan-project", "register", "env", "scan", "who"):
        assert f"portctl {verb}" in lines


@pytest.mark.parametrize("skill_file", SKILL_FILES)
def test_every_skill_command_runs(skill_file: str, tmp_path: Path) -> None:
    """Each file on a fresh registry, in order: an agent may read either one on its own."""
    require_tool("jq", "apt-get install jq")  # the skill's recipes pipe --json into jq
    server = make_server(tmp_path, config=private_pool()).start()  # its runs bind for real
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The project the skill's "existing project" commands look at: one host-bound port (free
    # here, chosen now) and one container-only port that must not be registered.
    project = workdir if skill_file == "SKILL.md" else workdir / "legacy"
    project.mkdir(exist_ok=True)
    (project / "docker-compose.yml").write_text(
        f'services:\n  postgres:\n    image: postgres:16\n    ports:\n'
        f'      - "{free_port()}:5432"\n  mailcatcher:\n    image: mailhog\n    ports:\n'
        '      - "1025"\n')
    commands = [c for c in skill_commands() if c[0] == skill_file]
    assert len(commands) >= 8
    try:
        for rel, line, expected in commands:
            if line.startswith("portctl run") and "http.server" in line:
                r = _run_long(server, line, workdir)
                ok = {0, 128 + signal.SIGTERM}
            else:
                r = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], env=server.env,
                                   cwd=workdir, capture_output=True, text=True, timeout=60)
                # check/who/scan answer 1 for "something holds it": an answer, not a failure
                ok = {0, 1} if f"{line} ".startswith(QUERIES) else {0}
            assert r.returncode in ok, f"{rel}: `{line}` exited {r.returncode}: {r.stderr}"
            assert "Traceback" not in r.stderr, f"{rel}: `{line}`: {r.stderr}"
            said = _normalise(r.stdout + r.stderr)
            for want in expected:
                assert _normalise(want) in said, f"{rel}: `{line}` printed {r.stdout + r.stderr}"
        # --ephemeral runs leave nothing behind
        assert not [a for a in server.client().list() if a.service in ("docs", "preview")]
    finally:
        server.stop()
