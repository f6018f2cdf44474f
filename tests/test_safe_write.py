"""Every file the tool writes goes through safe_write: random temp name beside the target, fsync,
rename, mode (and owner) kept, symlinks refused unless --follow-symlinks. The attacks are a
repository that commits symlinks where portctl writes (the target itself, the old fixed temporary
name ``..env.portctl-tmp``, a folder of the skill) and a ``.env`` made 0600 by its owner."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import ServerProc, require_root
from port_server.errors import InvalidInput
from port_server.safe_write import make_dirs, umask, write_file

VICTIM_TEXT = "# the victim's own file\nalias ls='ls --color'\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the project the attacker wants overwritten (a stand-in ~/.bashrc)."""
    path = tmp_path / "home" / ".bashrc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VICTIM_TEXT)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_mode_content_and_no_leftovers(tmp_path: Path) -> None:
    target = write_file(tmp_path / "out.txt", "hello\n")
    assert target.read_text() == "hello\n"
    assert mode_of(target) == 0o666 & ~umask()
    assert write_file(tmp_path / "secret", b"x", new_mode=0o600) and mode_of(
        tmp_path / "secret") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "secret"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    env.chmod(0o600)
    write_file(env, "A=2\n")
    assert env.read_text() == "A=2\n" and mode_of(env) == 0o600
    env.chmod(0o640)
    write_file(env, "A=3\n")
    assert mode_of(env) == 0o640


def test_owner_is_kept_when_root_rewrites_a_users_file(tmp_path: Path) -> None:
    require_root("rewrite another user's file")
    path = tmp_path / "theirs"
    path.write_text("x")
    os.chown(path, 65534, 65534)
    write_file(path, "y")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, path.read_text()) == (65534, 65534, "y")


def test_a_symlink_target_is_refused_unless_asked(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / ".env"
    link.symlink_to(victim)
    with pytest.raises(InvalidInput) as err:
        write_file(link, "PWNED=1\n", field="write")
    assert err.value.message == (
        f"{link} is a symbolic link (to {victim}); refusing to write through it: remove the"
        " link, or pass --follow-symlinks to write to the file it points to")
    assert err.value.field == "write"
    assert victim.read_text() == VICTIM_TEXT and link.is_symlink()
    write_file(link, "MINE=1\n", follow_symlinks=True)  # the user's explicit choice
    assert link.is_symlink() and victim.read_text() == "MINE=1\n"


def test_dangling_links_folders_and_devices_are_refused(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInput, match="is a symbolic link"):
        write_file(dangling, "x")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(InvalidInput, match="is not a regular file"):
        write_file(tmp_path, "x")
    with pytest.raises(InvalidInput, match="is not a regular file"):
        write_file("/dev/null", "x", follow_symlinks=True)


def test_a_planted_temp_name_is_never_used(tmp_path: Path, victim: Path) -> None:
    """The old writers used a fixed ``..env.portctl-tmp``; a repo could commit it as a link."""
    planted = tmp_path / "..env.portctl-tmp"
    planted.symlink_to(victim)
    for _ in range(20):
        write_file(tmp_path / ".env", "A=1\n")
    assert victim.read_text() == VICTIM_TEXT and planted.is_symlink()
    assert {p.name for p in tmp_path.iterdir()} == {".env", "..env.portctl-tmp", "home"}


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot write it"):
        write_file(tmp_path / "missing" / "f", "x")
    if os.geteuid() != 0:  # root may write into a read-only folder anyway
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(InvalidInput, match="cannot write it"):
            write_file(ro / "f", "x")
        assert list(ro.iterdir()) == []


def test_linked_folders_below_a_root_are_refused(tmp_path: Path, victim: Path) -> None:
    root = tmp_path / "repo"
    (root / ".claude").mkdir(parents=True)
    (root / ".claude" / "skills").symlink_to(victim.parent)
    with pytest.raises(InvalidInput, match="skills is a symbolic link"):
        write_file(root / ".claude" / "skills" / "SKILL.md", "x", below=root)
    with pytest.raises(InvalidInput, match="skills is a symbolic link"):
        make_dirs(root / ".claude" / "skills" / "port-server", below=root)
    assert sorted(p.name for p in victim.parent.iterdir()) == [".bashrc"]


# -- every command that writes a file ------------------------------------------------------


def test_env_write_refuses_links_and_keeps_0600(server: ServerProc, tmp_path: Path,
                                                victim: Path) -> None:
    r = server.portctl("allocate", "--app", "shop", "--instance", "dev", "--service", "web")
    assert r.returncode == 0, r.stderr
    project = tmp_path / "project"
    project.mkdir()
    env = project / ".env"
    env.symlink_to(victim)
    (project / "..env.portctl-tmp").symlink_to(victim)
    args = ("env", "--app", "shop", "--instance", "dev", "--write", str(env))
    r = server.portctl(*args)
    assert r.returncode == 2 and "is a symbolic link" in r.stderr, r.stderr
    assert "--follow-symlinks" in r.stderr and victim.read_text() == VICTIM_TEXT
    env.unlink()
    env.write_text("SECRET=x\n")
    env.chmod(0o600)
    r = server.portctl(*args)
    assert r.returncode == 0, r.stderr
    assert "WEB_PORT=" in env.read_text() and mode_of(env) == 0o600
    assert victim.read_text() == VICTIM_TEXT
    env.unlink()
    env.symlink_to(victim)
    r = server.portctl(*args, "--follow-symlinks")
    assert r.returncode == 0 and "WEB_PORT=" in victim.read_text(), r.stderr


def test_up_refuses_links_at_the_env_and_the_override(server: ServerProc, tmp_path: Path,
                                                      victim: Path) -> None:
    project = tmp_path / "wt"
    project.mkdir()
    (project / "compose.yaml").write_text(
        'services:\n  web:\n    ports: ["${WEB_PORT:-8080}:80"]\n  api:\n    ports: ["9123:80"]\n')
    (project / "..env.portctl-tmp").symlink_to(victim)
    up = ("up", str(project), "--app", "upapp", "--instance", "wt")
    link = project / ".env"
    link.symlink_to(victim)
    r = server.portctl(*up)
    assert r.returncode == 2 and f"{link} is a symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == VICTIM_TEXT
    link.unlink()
    # A link at compose.override.yaml is read as the project's own override, never written:
    (project / "compose.override.yaml").unlink()  # the one up generated above
    (project / "compose.override.yaml").symlink_to(victim)
    r = server.portctl(*up)
    assert r.returncode == 0 and victim.read_text() == VICTIM_TEXT, r.stderr
    (project / "compose.override.yaml").unlink()
    (project / "compose.portctl.yaml").unlink()
    (project / ".env").unlink()
    # A project with its own override gets compose.portctl.yaml: planted as a link, refused.
    (project / "compose.override.yaml").write_text("services: {}\n")
    (project / "compose.portctl.yaml").symlink_to(victim)
    r = server.portctl(*up)
    assert r.returncode == 2 and "compose.portctl.yaml is a symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == VICTIM_TEXT
    (project / "compose.portctl.yaml").unlink()
    r = server.portctl("up", str(project), "--app", "upapp", "--instance", "wt")
    assert r.returncode == 0, r.stderr
    assert "WEB_PORT=" in (project / ".env").read_text() and victim.read_text() == VICTIM_TEXT


def test_export_output_refuses_a_link(server: ServerProc, tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "ports.json"
    link.symlink_to(victim)
    r = server.portctl("export", "-o", str(link))
    assert r.returncode == 2 and "is a symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == VICTIM_TEXT
    r = server.portctl("export", "-o", str(link), "--follow-symlinks")
    assert r.returncode == 0 and json.loads(victim.read_text()) is not None, r.stderr


def test_skill_install_force_refuses_planted_links(server: ServerProc, tmp_path: Path,
                                                   victim: Path) -> None:
    repo = tmp_path / "cloned"
    skill = repo / ".claude" / "skills" / "port-server"
    skill.mkdir(parents=True)
    (repo / ".git").mkdir()
    (skill / "SKILL.md").symlink_to(victim)
    r = server.portctl("skill", "install", "--force", cwd=repo)
    assert r.returncode == 2 and "SKILL.md is a symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == VICTIM_TEXT
    (skill / "SKILL.md").unlink()
    skill.rmdir()
    skill.symlink_to(victim.parent)  # the whole skill folder planted as a link
    r = server.portctl("skill", "install", "--force", cwd=repo)
    assert r.returncode == 2 and "port-server is a symbolic link" in r.stderr, r.stderr
    assert sorted(p.name for p in victim.parent.iterdir()) == [".bashrc"]
    skill.unlink()
    r = server.portctl("skill", "install", cwd=repo)
    assert r.returncode == 0 and (skill / "SKILL.md").is_file(), r.stderr


def test_mcp_write_env_refuses_a_link(server: ServerProc, victim: Path) -> None:
    from conftest import require_module

    require_module("mcp", "pip install '.[mcp]' (make test installs it)")
    from test_mcp import run_calls

    server.portctl("allocate", "--app", "shop", "--instance", "dev", "--service", "web")
    project = server.tmp / "shop"
    project.mkdir()
    (project / ".env").symlink_to(victim)
    _, (result,) = run_calls(server, [
        ("write_env", {"app": "shop", "instance": "dev", "file": "shop/.env"})])
    assert result.is_error and "is a symbolic link" in result.content[0].text
    assert victim.read_text() == VICTIM_TEXT


def test_every_skill_file_and_folder_refuses_a_planted_link(tmp_path: Path,
                                                            victim: Path) -> None:
    from port_server.cli.skill import MANIFEST, SKILL_NAME, install, source_files

    skills = tmp_path / "repo" / ".claude" / "skills"
    rels = [*source_files(), MANIFEST]
    folders = sorted({str(Path(rel).parent) for rel in rels} - {"."})
    for rel in [*rels, *folders]:
        target = skills / SKILL_NAME / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        target.symlink_to(victim if rel in rels else victim.parent)
        with pytest.raises(InvalidInput, match="is a symbolic link"):
            install(skills, force=True, below=tmp_path / "repo")
        assert victim.read_text() == VICTIM_TEXT
        assert sorted(p.name for p in victim.parent.iterdir()) == [".bashrc"]
        target.unlink()


def test_git_exclude_link_is_left_alone(tmp_path: Path, victim: Path) -> None:
    import subprocess

    from port_server.workflows.compose_files import git_exclude

    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    exclude = tmp_path / "repo" / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.unlink(missing_ok=True)
    exclude.symlink_to(victim)
    git_exclude(tmp_path / "repo", ["compose.override.yaml"])
    assert victim.read_text() == VICTIM_TEXT and exclude.is_symlink()


def test_proxy_hosts_file_link_is_refused(tmp_path: Path, victim: Path) -> None:
    import argparse

    from port_server.cli.proxy import _hosts

    link = tmp_path / "hosts"
    link.symlink_to(victim)
    args = argparse.Namespace(write=True, file=str(link), follow_symlinks=False)
    with pytest.raises(InvalidInput, match="hosts is a symbolic link"):
        _hosts({"routes": [{"name": "shop.localhost"}]}, args)
    assert victim.read_text() == VICTIM_TEXT


def test_install_service_unit_link_is_refused(tmp_path: Path, victim: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from port_server.server.install_service import UNIT_NAME, run, unit_dir

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    unit = unit_dir() / UNIT_NAME
    unit.parent.mkdir(parents=True)
    unit.symlink_to(victim)
    assert run(["--no-enable"]) == 2
    assert victim.read_text() == VICTIM_TEXT


def test_a_pidfile_link_stops_the_server_before_it_writes(tmp_path: Path, victim: Path) -> None:
    from conftest import make_server

    link = tmp_path / "pid"
    link.symlink_to(victim)
    srv = make_server(tmp_path / "srv", args=["--pidfile", str(link), "--unix-socket", "none"])
    with pytest.raises(RuntimeError, match="pid is a symbolic link"):
        srv.start(timeout=20)
    srv.stop()
    assert victim.read_text() == VICTIM_TEXT
