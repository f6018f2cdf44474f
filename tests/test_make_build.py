"""`make build` leaves bin/port-server, bin/portctl and bin/portman runnable from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, require_tool


def test_make_build_leaves_runnable_wrappers(tmp_path: Path) -> None:
    require_tool("make", "apt-get install make")
    venv = Path(sys.executable).parent.parent
    stamp = tmp_path / "installed"  # newer than pyproject.toml: make reuses the test's venv
    stamp.touch()
    r = subprocess.run(["make", "-C", str(REPO), "build", f"VENV={venv}", f"STAMP={stamp}"],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout + r.stderr
    for cmd in ("port-server", "portctl", "portman"):
        wrapper = REPO / "bin" / cmd
        assert wrapper.exists() and os.access(wrapper, os.X_OK)
        out = subprocess.run([str(wrapper), "--help"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                         "HOME": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        assert "usage:" in out.stdout
