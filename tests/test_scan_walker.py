"""The project walker: skipped folders, .gitignore, symlinks, big/binary/malformed files, YAML
bombs. Each test builds its own tree."""

from __future__ import annotations

import os
import time
from pathlib import Path

from port_server.scanners.project import MAX_FILE_BYTES
from scan_helpers import scan, write_project

COMPOSE = 'services:\n  web:\n    ports: ["{port}:80"]\n'


def test_skips_vendor_folders_virtualenvs_and_gitignored(tmp_path: Path) -> None:
    write_project(tmp_path, {
        "compose.yaml": COMPOSE.format(port=8000),
        ".git/compose.yaml": COMPOSE.format(port=8001),
        "node_modules/pkg/package.json": '{"scripts": {"x": "vite --port 8002"}}',
        "vendor/compose.yaml": COMPOSE.format(port=8003),
        ".venv/compose.yaml": COMPOSE.format(port=8004),
        "myenv/pyvenv.cfg": "home = /usr\n",
        "myenv/compose.yaml": COMPOSE.format(port=8005),
        ".gitignore": "build/\n*.local.yml\n/secret.env\n!keep/build/\n",
        "build/compose.yaml": COMPOSE.format(port=8006),
        "compose.local.yml": COMPOSE.format(port=8007),
        "secret.env": "SECRET_PORT=8008\n",
        "sub/.gitignore": "ignored/\n",
        "sub/ignored/compose.yaml": COMPOSE.format(port=8009),
        "sub/compose.yaml": COMPOSE.format(port=8010),
        "env/app.env": "APP_PORT=8011\n",
    })
    result = scan(tmp_path)
    assert sorted(c.host_port for c in result.claims if c.host_port) == [8000, 8010, 8011]


def test_symlinks_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    outside = write_project(tmp_path / "outside", {"compose.yaml": COMPOSE.format(port=9001)})
    project = write_project(tmp_path / "project", {"compose.yaml": COMPOSE.format(port=9000)})
    os.symlink(outside, project / "linked-dir")
    os.symlink(outside / "compose.yaml", project / "docker-compose.yml")
    os.symlink(project, project / "loop")
    os.symlink(project / "compose.yaml", project / "compose.override.yaml")
    result = scan(project)
    found = sorted((c.file, c.host_port) for c in result.claims)
    assert found == [("compose.override.yaml", 9000), ("compose.yaml", 9000)]
    assert any("outside" in n.error for n in result.notes)


def test_big_binary_and_malformed_files(tmp_path: Path) -> None:
    write_project(tmp_path, {
        "compose.yaml": COMPOSE.format(port=7000),
        "broken/docker-compose.yml": "services:\n  web:\n    ports: [\"80:80\"\n",
        "bad/compose.yaml": 'services:\n  w:\n    ports: ["70000:80", "7001:80"]\n',
    })
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "compose.yaml").write_text("# pad\n" * (MAX_FILE_BYTES // 6 + 10))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "compose.yaml").write_bytes(b"services:\x00\x01" + b"\xff" * 100)
    result = scan(tmp_path)
    assert sorted(c.host_port for c in result.claims if c.host_port) == [7000, 7001]
    problems = {p.file: p.error for p in result.problems}
    assert set(problems) == {"broken/docker-compose.yml", "bad/compose.yaml"}
    assert "line" in problems["broken/docker-compose.yml"]
    assert "70000" in problems["bad/compose.yaml"]
    assert [n.file for n in result.notes] == ["big/compose.yaml"]
    assert "MiB" in result.notes[0].error


def test_yaml_alias_bomb_is_bounded(tmp_path: Path) -> None:
    # Nested lists of aliases: ports entries that are lists are not port entries; never walked.
    lines = ['a0: &a0 ["1:1"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    lines.append("services:\n  bomb:\n    ports: *a11")
    write_project(tmp_path / "lists", {"compose.yaml": "\n".join(lines) + "\n"})
    # Merge keys of merge keys: walking them would visit 10**11 nodes; the budget stops it.
    lines = ["m0: &m0 {k: 1}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}")
    lines.append("services:\n  bomb:\n    <<: *m11\n    ports: ['2:2']")
    write_project(tmp_path / "merges", {"compose.yaml": "\n".join(lines) + "\n"})
    start = time.monotonic()
    lists = scan(tmp_path / "lists")
    merges = scan(tmp_path / "merges")
    assert time.monotonic() - start < 5
    assert lists.claims == [] and lists.problems == []
    assert merges.claims == []
    assert "alias" in merges.problems[0].error


def test_gitignore_follows_git_escapes_trailing_spaces_and_nesting(tmp_path: Path) -> None:
    """What git itself ignores (checked against `git check-ignore` semantics by hand)."""
    from port_server.scanners import gitignore

    rules = gitignore.parse("# comment\n\\#literal.env\nspaced\\ \ntrail.env   \n*.log\n"
                            "!keep.log\nbuild/\n/anchored.env\n**/deep/*.env\n")
    assert gitignore.ignored(rules, "#literal.env", False)
    assert gitignore.ignored(rules, "spaced ", False)
    assert not gitignore.ignored(rules, "spaced", False)
    assert gitignore.ignored(rules, "trail.env", False)  # trailing spaces are not part of it
    assert gitignore.ignored(rules, "a/b/x.log", False)
    assert not gitignore.ignored(rules, "keep.log", False)
    assert gitignore.ignored(rules, "build", True) and not gitignore.ignored(rules, "build", False)
    assert gitignore.ignored(rules, "anchored.env", False)
    assert not gitignore.ignored(rules, "sub/anchored.env", False)
    assert gitignore.ignored(rules, "x/y/deep/z.env", False)
    # A nested list keeps the outer verdict unless one of its own patterns matches.
    inner = gitignore.parse("!x.log\n")
    assert gitignore.ignored(inner, "other.txt", False, current=True)
    assert not gitignore.ignored(inner, "x.log", False, current=True)
