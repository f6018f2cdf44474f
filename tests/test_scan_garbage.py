"""Every scanner in the SCANNERS table, fed text that is not what it expects: it returns claims
or raises ScanError or RecursionError (both reported by the walker as a problem with the file),
never anything else, and stays quick."""

from __future__ import annotations

import time

import pytest

from port_server.scanners import SCANNERS
from port_server.scanners.base import ScanError, Scanner, SourceFile

NAMES = ("docker-compose.yml", "package.json", ".env", "Makefile", "run.sh",
         ".devcontainer/devcontainer.json", "Procfile", "vite.config.ts", "angular.json",
         "src/main/resources/application.yml", "config/puma.rb", "gunicorn.conf.py", "justfile",
         "mise.toml", "Taskfile.yml", "Tiltfile")

GARBAGE = (
    "",
    "\0\1\2 binary \xff",
    "{" * 3000 + "]" * 10,
    "(" * 3000,
    "[" * 3000,
    "port: " + "9" * 400 + "\nserver.port=" + "1" * 400,
    "web: rails s -p 99999\nport ENV.fetch('PORT') { 70000 }\nbind = '0.0.0.0:0'\n",
    "'unterminated \"string `template ${ /* comment\n" * 50,
    "server: { port: process.env.PORT ? : }\nexport default {{{ }}}\n",
    "tasks:\n  - {{.X | default}}\n  cmd: {{\n",
    "[tasks.x]\nrun = [1, {a = 2}, \"vite --port\"]\n",
    "k8s_resource(port_forwards=[port_forward()], name=None)\nlocal_resource(serve_cmd=[1, 2])\n",
)


def _name_for(scanner: Scanner) -> str:
    return next(n for n in NAMES if scanner.matches(n))


@pytest.mark.parametrize("scanner", SCANNERS, ids=[s.name for s in SCANNERS])
def test_scanner_survives_garbage(scanner: Scanner) -> None:
    rel = _name_for(scanner)
    for text in GARBAGE:
        start = time.perf_counter()
        try:
            claims = scanner.scan(SourceFile(rel, text, {}))
        except (ScanError, RecursionError):
            claims = []
        assert time.perf_counter() - start < 2.0, (scanner.name, text[:30])
        for c in claims:
            assert c.host_port is None or 0 < c.host_port <= 65535, (scanner.name, c)
