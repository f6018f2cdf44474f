"""Time `portctl scan-project --json` on a generated 10,000-file project tree (target <= 2 s).

The tree mixes ordinary source files with the files the scanners read: compose files, package.json,
.env files, Makefiles, vite configs, Procfiles, Spring properties, justfiles and Tiltfiles (about 8%
of the files), plus a node_modules folder the walk must skip.
Prints a small table: files, claims found, median and worst wall time of the command.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 10_000
RUNS = 5
PORTCTL = Path(sys.executable).parent / "portctl"


def make_tree(root: Path, files: int = FILES) -> int:
    """Write ``files`` files under ``root``; return how many were written."""
    written = 0
    folder_index = 0
    while written < files:
        folder = root / f"pkg{folder_index // 10}" / f"mod{folder_index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        port = 20000 + folder_index
        special = {
            "docker-compose.yml": f'services:\n  svc{folder_index}:\n    image: x\n    ports:\n'
                                  f'      - "{port}:80"\n      - "127.0.0.1:{port + 5000}:81"\n',
            "package.json": json.dumps({"name": f"p{folder_index}", "scripts": {
                "dev": f"vite --port {port + 10000}", "build": "tsc -p ."}}),
            ".env": f"# env\nAPP_PORT={port + 20000}\nNAME=x\n",
            "Makefile": f"run:\n\tdocker run -p {port + 30000}:80 img\n",
            # the newer scanners' files: a dev-server config, a Procfile, Spring, a task runner
            "vite.config.ts": "export default defineConfig({ server: { port: "
                              f"{port + 100} }}, plugins: [react()] }})\n",
            "Procfile": f"web: bin/rails server -p {port + 200}\nworker: sidekiq\n",
            "application.properties": f"server.port={port + 300}\nspring.datasource.url=x\n",
            "justfile": f"serve port=\"{port + 400}\":\n"
                        "    mkdocs serve -a localhost:{{port}}\n",
            "Tiltfile": f"k8s_resource('api', port_forwards=['{port + 500}:80'])\n",
        }
        for name, text in special.items():
            if folder_index % 4 == 0 and written < files:
                (folder / name).write_text(text)
                written += 1
        for i in range(50):
            if written >= files:
                break
            suffix = (".py", ".js", ".md", ".ts", ".json")[i % 5]
            (folder / f"file{i}{suffix}").write_text(f"# file {i}\nvalue = {i}\n" * 20)
            written += 1
        if folder_index == 0:  # a vendored folder the walk skips entirely
            nm = root / "node_modules" / "dep"
            nm.mkdir(parents=True)
            (nm / "package.json").write_text('{"scripts": {"x": "vite --port 1"}}')
        folder_index += 1
    return written


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_tree(root)
        timings = []
        claims = 0
        for _ in range(RUNS):
            start = time.perf_counter()
            proc = subprocess.run([str(PORTCTL), "scan-project", "--json", str(root)],
                                  capture_output=True, text=True, check=True)
            timings.append(time.perf_counter() - start)
            claims = len(json.loads(proc.stdout))
    median = statistics.median(timings)
    print(f"{'files':>8} {'claims':>8} {'median s':>10} {'worst s':>9} {'target s':>9}")
    print(f"{files:>8} {claims:>8} {median:>10.3f} {max(timings):>9.3f} {2.0:>9.1f}")
    return 0 if median <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
