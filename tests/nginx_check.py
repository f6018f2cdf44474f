"""Run the real ``nginx -t`` on a generated snippet, wrapped in a minimal main config whose pid,
error log and temp paths all live in a temp dir (Debian's nginx-light; .ci/run installs it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import require_tool


def nginx_binary() -> str:
    return require_tool("nginx", "apt-get install nginx-light",
                        paths=("/usr/sbin/nginx", "/usr/local/sbin/nginx"))


def nginx_t(tmp: Path, snippet: str) -> subprocess.CompletedProcess[str]:
    root = tmp / "nginx"
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    (root / "dokploy-nginx.conf").write_text(snippet)
    temp = "\n".join(f"    {name}_temp_path {root}/tmp/{name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"pid {root}/nginx.pid;\n"
        f"error_log {root}/logs/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    access_log {root}/logs/access.log;\n"
        f"{temp}\n"
        f"    include {root}/dokploy-nginx.conf;\n"
        "}\n")
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(root), "-c", str(root / "nginx.conf"),
         "-e", str(root / "logs" / "error.log")],
        capture_output=True, text=True, timeout=30)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl", "apt-get install openssl")
    cert, key = tmp / "test.crt", tmp / "test.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=port-server-test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
