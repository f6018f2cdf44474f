"""The proxy: how soon a new name answers, and what the proxy costs per request.

1. Route latency: from `portctl allocate` returning to https://NAME answering 200 through
   Caddy (each name new: its certificate is issued on the first handshake). Target p99 <= 1 s.
2. Throughput: requests/s through the proxy over one kept-alive connection, as a ratio of
   requests/s straight to the same backend (target >= 0.3), over HTTP/1.1 and over HTTP/2;
   beside it a hand-written minimal Caddy route (reverse_proxy, TLS) to the same backend, run
   by the same Caddy binary: what Caddy itself costs, so the two ratios can be compared.

Two backends, each in its own process: a minimal asyncio server (~30k req/s: the proxy's
cost shows fully) and Python's http.server (a typical dev server's pace). Rounds alternate
between direct, plain Caddy and the proxy; each figure is the median of the rounds.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BIN, free_port, running_server, table
from port_server.client import RegistryClient
from port_server.integrations.caddy_admin import INSTALL_HINT, find_caddy

BACKEND = r"""
import asyncio, sys
BODY = b'{"ok": true}'
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.t.write(RESP)
async def main():
    loop = asyncio.get_running_loop()
    for port in sys.argv[1:]:
        await loop.create_server(P, "127.0.0.1", int(port))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

DEV_BACKEND = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait out delayed ACKs (40 ms)
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "12")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
srv.serve_forever()
"""

LATENCY_RUNS = 40
SECONDS = 0.6
ROUNDS = 5


def get_loop(sock: socket.socket, host: str, seconds: float) -> float:
    """Requests/s of sequential GETs on one kept-alive HTTP/1.1 connection."""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    count, buf = 0, b""
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        sock.sendall(request)
        while True:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    buf = rest[length:]
                    break
            buf += sock.recv(65536)
        count += 1
    return count / (time.perf_counter() - start)


def tls_to(port: int, name: str, ca: str, alpn: str = "http/1.1") -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols([alpn])
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=name)


def status_of(port: int, name: str, ca: str) -> int:
    try:
        with tls_to(port, name, ca) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            parts = sock.recv(64).split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 else 0
    except OSError:  # a listener swapped by a reload may drop a connection: try again
        return 0


def h2_rate(url: str, name: str, ca: str | None, seconds: float) -> float:
    import httpx

    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else False
    with httpx.Client(http2=ca is not None, verify=verify) as client:
        ext = {"sni_hostname": name} if ca else {}
        client.get(url, headers={"Host": name}, extensions=ext)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.get(url, headers={"Host": name}, extensions=ext)
            count += 1
        return count / (time.perf_counter() - start)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    if find_caddy() is None:
        print(f"skipped: Caddy is missing; {INSTALL_HINT}")
        return
    https_port, http_port = free_port(), free_port()
    ports = [free_port() for _ in range(LATENCY_RUNS + 1)]
    backend = start_backend(BACKEND, ports)
    with tempfile.TemporaryDirectory(prefix="psbench-proxy-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(f"[proxy]\nhttps_port = {https_port}\nhttp_port = {http_port}\n")
        os.environ["PORT_SERVER_CONFIG"] = str(config)
        try:
            with running_server() as (addr, env), RegistryClient(addr) as client:
                ca = client.proxy("start")["ca"]
                latencies = []
                for i, port in enumerate(ports[1:]):
                    name = f"web.dev.app{i}.localhost"
                    subprocess.run([str(BIN / "portctl"), "allocate", "--app", f"app{i}",
                                    "--instance", "dev", "--service", "web", "--type", "web",
                                    "--port", str(port), "--force"],
                                   env=env, check=True, capture_output=True)
                    returned = time.perf_counter()
                    while status_of(https_port, name, ca) != 200:
                        time.sleep(0.002)
                    latencies.append((time.perf_counter() - returned) * 1000)
                subprocess.run([str(BIN / "portctl"), "allocate", "--app", "shop", "--instance",
                                "dev", "--service", "web", "--type", "web", "--port",
                                str(ports[0]), "--force"], env=env, check=True,
                               capture_output=True)
                name = "web.dev.shop.localhost"
                while status_of(https_port, name, ca) != 200:
                    time.sleep(0.01)
                rates = throughput(ports[0], https_port, name, ca)
                dev_port = free_port()
                dev = start_backend(DEV_BACKEND, [dev_port])
                try:
                    subprocess.run([str(BIN / "portctl"), "allocate", "--app", "shop",
                                    "--instance", "dev", "--service", "api", "--type", "api",
                                    "--port", str(dev_port), "--force"], env=env, check=True,
                                   capture_output=True)
                    while status_of(https_port, "api.dev.shop.localhost", ca) != 200:
                        time.sleep(0.01)
                    dev_rates = throughput(dev_port, https_port, "api.dev.shop.localhost", ca)
                finally:
                    dev.terminate()
                    dev.wait(10)
                client.proxy("stop")
        finally:
            os.environ.pop("PORT_SERVER_CONFIG", None)
            backend.terminate()
            backend.wait(10)
    table(("route latency after `portctl allocate` returns", "ms"), [
        (f"p50 ({LATENCY_RUNS} new names)", f"{statistics.median(latencies):.1f}"),
        ("p99 (target <= 1000)", f"{pct(latencies, 0.99):.1f}"),
        ("max", f"{max(latencies):.1f}")])
    print()
    rows = []
    for label, r in (("asyncio backend", rates), ("http.server backend", dev_rates)):
        for proto in ("h1", "h2"):
            direct, plain, ours = r[f"direct {proto}"], r[f"caddy {proto}"], r[f"proxy {proto}"]
            rows.append((f"{label}, {'HTTP/1.1' if proto == 'h1' else 'HTTP/2 (httpx)'}",
                         f"{direct:.0f}", f"{plain:.0f}", f"{ours:.0f}",
                         f"{plain / direct:.2f}", f"{ours / direct:.2f}"))
    table(("one kept-alive connection, req/s", "direct", "plain Caddy", "proxy",
           "Caddy ratio", "proxy ratio (>= 0.3)"), rows)


def start_backend(code: str, ports: list[int]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, ports)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def plain_caddy(backend: int, port: int, storage: str) -> subprocess.Popen[bytes]:
    """The same Caddy binary with a minimal hand-written route: TLS + reverse_proxy."""
    caddy = find_caddy()
    assert caddy is not None
    config = {"admin": {"disabled": True}, "storage": {"module": "file_system", "root": storage},
              "logging": {"logs": {"default": {"level": "ERROR"}}},
              "apps": {"http": {"servers": {"s": {
                  "listen": [f"127.0.0.1:{port}"], "tls_connection_policies": [{}],
                  "automatic_https": {"disable_redirects": True},
                  "routes": [{"handle": [{"handler": "reverse_proxy",
                                          "upstreams": [{"dial": f"127.0.0.1:{backend}"}]}]}]}}},
                       "tls": {"automation": {"policies": [{"issuers": [{"module": "internal"}],
                                                            "on_demand": True}]}},
                       "pki": {"certificate_authorities": {"local": {"install_trust": False}}}}}
    proc = subprocess.Popen([caddy, "run", "--config", "/dev/stdin"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    return proc


def throughput(backend: int, https_port: int, name: str, ca: str) -> dict[str, float]:
    """Median req/s per way of reaching ``backend``, rounds interleaved."""
    plain_port = free_port()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="psbench-caddy-") as storage:
        caddy = plain_caddy(backend, plain_port, storage)
        plain_ca = f"{storage}/pki/authorities/local/root.crt"
        try:
            while status_of(plain_port, name, plain_ca) != 200:
                time.sleep(0.02)
            for _ in range(ROUNDS):
                with socket.create_connection(("127.0.0.1", backend)) as sock:
                    samples.setdefault("direct h1", []).append(get_loop(sock, name, SECONDS))
                with tls_to(plain_port, name, plain_ca) as sock:
                    samples.setdefault("caddy h1", []).append(get_loop(sock, name, SECONDS))
                with tls_to(https_port, name, ca) as sock:
                    samples.setdefault("proxy h1", []).append(get_loop(sock, name, SECONDS))
                samples.setdefault("direct h2", []).append(
                    h2_rate(f"http://127.0.0.1:{backend}/", name, None, SECONDS))
                samples.setdefault("caddy h2", []).append(
                    h2_rate(f"https://127.0.0.1:{plain_port}/", name, plain_ca, SECONDS))
                samples.setdefault("proxy h2", []).append(
                    h2_rate(f"https://127.0.0.1:{https_port}/", name, ca, SECONDS))
        finally:
            caddy.terminate()
            caddy.wait(10)
    return {k: statistics.median(v) for k, v in samples.items()}


if __name__ == "__main__":
    main()
