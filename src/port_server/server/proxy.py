"""The proxy manager: runs Caddy for the server and keeps its routes in step with the registry.

``start`` launches ``caddy run`` (its admin API on a Unix socket in the data dir; state, the
internal CA included, in ``<data_dir>/proxy/caddy``) unless ``[proxy] admin`` names a Caddy
that already runs, then pushes the route table. From then on every committed change of
allocations sets a flag (``service.add_listener``); a pusher thread coalesces the flags for a
few milliseconds, rebuilds the table from the registry and ``POST``s it to ``/load`` when it
differs from the last push. The server's event loop never waits on Caddy.

The enabled state survives restarts (``proxy/state.json``): a server that starts with the
proxy enabled starts Caddy again, or adopts the one still running from before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from port_server.errors import FeatureUnavailable, UpstreamError
from port_server.integrations import caddy_routes, proxy_names
from port_server.integrations.caddy_admin import INSTALL_HINT, CaddyAdmin, find_caddy
from port_server.leases import process_alive
from port_server.models import Allocation, AllocationFilter
from port_server.records import to_plain
from port_server.server.proxy_os import (
    free_loopback_port,
    ipv6_loopback,
    main_worktree_checker,
)
from port_server.service import RegistryService
from port_server.settings import Settings

log = logging.getLogger("port_server.proxy")

#: Changes arriving this close together are pushed once.
COALESCE_SECONDS = 0.01
START_TIMEOUT = 10.0
#: With other hosts' allocations routed, how often to look for changes made by their servers.
REFRESH_SECONDS = 2.0
#: How often the pusher checks that the Caddy it started still runs.
WATCH_SECONDS = 2.0
#: Unix socket paths longer than this do not fit sockaddr_un: fall back to loopback TCP.
MAX_SOCKET_PATH = 100










class ProxyManager:
    def __init__(self, service: RegistryService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.conf = settings.proxy
        self.dir = settings.data_dir / "proxy"
        self.state_file = self.dir / "state.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.table = proxy_names.NameTable()
        self.last_error = ""
        self.last_push = 0.0
        self.pushes = 0
        self._pushed: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._dirty = threading.Event()
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._opts: caddy_routes.ProxyOptions | None = None
        #: In memory, for url_for on every listed allocation (no file read per call).
        state = self._state()
        self._enabled = bool(state.get("enabled"))
        #: Other hosts' allocations too (config, or `portctl proxy start --all-hosts`).
        self.all_hosts = self.conf.all_hosts or bool(state.get("all_hosts"))

    # -- configuration -----------------------------------------------------------------

    def options(self) -> caddy_routes.ProxyOptions:
        if self._opts is None:
            admin = self.conf.admin or self._state().get("admin") or self._own_admin()
            bind = ("127.0.0.1", "::1") if ipv6_loopback() else ("127.0.0.1",)
            self._opts = caddy_routes.ProxyOptions(
                admin=admin, storage="" if self.conf.admin else str(self.dir / "caddy"),
                https_port=self.conf.https_port,
                http_port=self.conf.http_port, https=self.conf.https, bind=bind)
        return self._opts

    def _own_admin(self) -> str:
        path = self.dir / "admin.sock"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return f"unix/{path}"
        return f"127.0.0.1:{free_loopback_port()}"

    @property
    def admin(self) -> CaddyAdmin:
        return CaddyAdmin(self.options().admin, timeout=10.0)

    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self, **data: Any) -> None:
        from port_server.safe_write import write_file

        self._enabled = bool(data.get("enabled"))
        self.all_hosts = self.conf.all_hosts or bool(data.get("all_hosts"))
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(self.state_file, json.dumps(data) + "\n", new_mode=0o600)

    @property
    def enabled(self) -> bool:
        return bool(self._state().get("enabled"))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, all_hosts: bool | None = None) -> dict[str, Any]:
        """Start (or adopt) Caddy, push the routes, and keep them pushed. Idempotent.
        ``all_hosts`` also routes other hosts' allocations (None: as before)."""
        with self._lock:
            opts = self.options()
            if not self.admin.alive():
                if self.conf.admin:
                    raise UpstreamError(f"no Caddy answers at the configured admin address"
                                        f" {self.conf.admin}; start it, or remove [proxy] admin")
                self._launch(opts)
            self._pushed = None
            if all_hosts is None:
                all_hosts = bool(self._state().get("all_hosts"))
            self._save_state(enabled=True, admin=opts.admin, all_hosts=all_hosts,
                             pid=self.proc.pid if self.proc else self._state().get("pid"))
            try:
                self.push()
            except UpstreamError:
                if not self.conf.admin:  # never stop a Caddy someone else runs
                    self._terminate()
                self._save_state(enabled=False)
                raise
            if self._thread is None or not self._thread.is_alive():
                self._quit.clear()
                self._thread = threading.Thread(target=self._run, name="port-server-proxy",
                                                 daemon=True)
                self._thread.start()
                self.service.add_listener(self.changed)
            self._dirty.set()  # the pusher re-reads all_hosts (its refresh) at once
            return self.status()

    def _launch(self, opts: caddy_routes.ProxyOptions) -> None:
        caddy = find_caddy(self.conf.caddy)
        if caddy is None:
            raise FeatureUnavailable(f"the proxy needs Caddy, which is not installed;"
                                     f" {INSTALL_HINT}")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if opts.admin.startswith("unix/"):
            Path(opts.admin[len("unix/"):]).unlink(missing_ok=True)
        logfile = (self.dir / "caddy.log").open("ab")
        env = {**os.environ, "XDG_DATA_HOME": str(self.dir), "XDG_CONFIG_HOME": str(self.dir)}
        proc = subprocess.Popen(
            [caddy, "run", "--config", "/dev/stdin"], stdin=subprocess.PIPE, stdout=logfile,
            stderr=subprocess.STDOUT, env=env, cwd=str(self.dir), start_new_session=True)
        logfile.close()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(caddy_routes.bootstrap_config(opts)).encode())
        proc.stdin.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.admin.alive():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise UpstreamError(f"Caddy ({caddy}) did not start: {self._log_tail()}")
            time.sleep(0.02)
        self.proc = proc

    def _log_tail(self) -> str:
        try:
            lines = (self.dir / "caddy.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:400] if lines else "no log"

    def stop(self) -> dict[str, Any]:
        """Stop pushing, stop the Caddy we run, and remember that the proxy is off."""
        with self._lock:
            self._stop_pusher()
            if not self.conf.admin:
                self._terminate()
            else:  # someone else's Caddy keeps running, without our names
                with contextlib.suppress(UpstreamError):
                    self.admin.load(caddy_routes.bootstrap_config(self.options()))
            self._save_state(enabled=False)
            self._pushed = None
            return self.status()

    def resume(self) -> None:
        """At server start: bring the proxy back if it was enabled, or start it when the config
        says ``[proxy] start = true`` (never fails the server)."""
        if not self.enabled and not self.conf.start:
            return
        try:
            self.start()
        except Exception as exc:
            self.last_error = str(exc)
            log.warning("could not start the proxy again: %s", exc)

    def close(self) -> None:
        """At server exit: stop pushing and stop our Caddy; the enabled state stays."""
        with self._lock:
            self._stop_pusher()
            if self.proc is not None or (self.enabled and not self.conf.admin):
                self._terminate()

    def _stop_pusher(self) -> None:
        if self.changed in self.service.listeners:
            self.service.listeners.remove(self.changed)
        self._quit.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _terminate(self) -> None:
        with contextlib.suppress(UpstreamError):  # not answering: the pid decides below
            self.admin.stop()
        proc, self.proc = self.proc, None
        pid = proc.pid if proc is not None else self._state().get("pid")
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif isinstance(pid, int) and process_alive(pid, None):
            deadline = time.monotonic() + 5
            while process_alive(pid, None) and time.monotonic() < deadline:
                time.sleep(0.05)
            if process_alive(pid, None):
                os.kill(pid, signal.SIGKILL)

    # -- pushing -----------------------------------------------------------------------

    def changed(self) -> None:
        """The service's change listener: cheap, runs on the writer's thread."""
        self._dirty.set()

    def _run(self) -> None:
        while not self._quit.is_set():
            # Other hosts' servers change the shared registry without telling this one: look
            # again every REFRESH_SECONDS (a push happens only when the table changed). And
            # every WATCH_SECONDS at least, to start our Caddy again if it died.
            changed = self._dirty.wait(REFRESH_SECONDS if self.all_hosts else WATCH_SECONDS)
            if self._quit.is_set():
                return
            if changed:
                time.sleep(COALESCE_SECONDS)
                self._dirty.clear()
            try:
                if self._revive() or changed or self.all_hosts:
                    self.push()
            except Exception as exc:  # keep the thread: the next change retries
                self.last_error = str(exc)
                log.warning("proxy route push failed: %s", exc)

    def _revive(self) -> bool:
        """Start the Caddy we run again when it has exited (crashed, or killed by hand)."""
        with self._lock:
            if self.proc is None or self.proc.poll() is None or self._quit.is_set():
                return False
            log.warning("Caddy (pid %s) exited with %s; starting it again", self.proc.pid,
                        self.proc.returncode)
            self.proc = None
            self._launch(self.options())
            self._pushed = None
            self._save_state(enabled=True, admin=self.options().admin, all_hosts=self.all_hosts,
                             pid=self.proc.pid if self.proc else None)
            return True

    def allocations(self) -> list[Allocation]:
        host = "*" if self.all_hosts else self.service.host
        return self.service.list(AllocationFilter(host=host))

    def build(self) -> tuple[proxy_names.NameTable, dict[str, Any]]:
        table = proxy_names.build_table(self.allocations(), self.service.host,
                                        self.conf.default_service, self.all_hosts,
                                        is_main=main_worktree_checker())
        return table, caddy_routes.build_config(table, self.options())

    def push(self) -> bool:
        """Build the table and load it into Caddy if it changed; True when it loaded."""
        with self._lock:
            table, config = self.build()
            self.table = table
            if config == self._pushed:
                return False
            try:
                self.admin.load(config)
            except UpstreamError as exc:
                if "address already in use" in exc.message:
                    exc = UpstreamError(
                        f"Caddy cannot listen on port {self.conf.https_port} or"
                        f" {self.conf.http_port}: another program uses it; choose free ports"
                        " with [proxy] https_port and http_port in config.toml"
                        f" ({exc.message})")
                self.last_error = exc.message
                raise exc from None
            self._pushed = config
            self.last_error = ""
            self.last_push = time.time()
            self.pushes += 1
            return True

    # -- reading -----------------------------------------------------------------------

    def running(self) -> bool:
        return self.admin.alive()

    def ca_path(self) -> str:
        """The internal CA's root certificate: in our storage, or (a Caddy with storage of its
        own) fetched from its admin API into the data dir."""
        opts = self.options()
        if opts.storage:
            return caddy_routes.root_cert_path(opts.storage)
        path = self.dir / "root.crt"
        if not path.is_file():
            try:
                info = self.admin.request("GET", f"/pki/ca/{caddy_routes.CA_ID}")
            except UpstreamError:
                return ""
            from port_server.safe_write import write_file

            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_file(path, str(info.get("root_certificate", "")), new_mode=0o644)
        return str(path)

    def refresh(self) -> None:
        """Rebuild the table for reading (status) without pushing."""
        with self._lock:
            self.table, _ = self.build()

    def url_for(self, alloc: Allocation) -> str:
        """The proxy URL of ``alloc``; empty when it has no name or the proxy is off."""
        if not self._enabled or not alloc.http or alloc.protocol != "tcp":
            return ""
        if alloc.host and alloc.host != self.service.host and not self.all_hosts:
            return ""
        try:
            name = proxy_names.service_name(alloc, self.service.host)
        except Exception:
            return ""
        opts = self.options()
        return proxy_names.url_for(name, opts.scheme, opts.port)

    def status(self) -> dict[str, Any]:
        opts = self.options()
        running = self.running()
        state = self._state()
        return {
            "enabled": bool(state.get("enabled")), "running": running,
            "pid": self.proc.pid if self.proc is not None else state.get("pid"),
            "managed": not self.conf.admin, "admin": opts.admin,
            "caddy": find_caddy(self.conf.caddy) or "",
            "scheme": opts.scheme, "https_port": opts.https_port, "http_port": opts.http_port,
            "bind": list(opts.bind), "all_hosts": self.all_hosts,
            "ca": self.ca_path() if opts.https else "",
            "index": proxy_names.url_for(proxy_names.DOMAIN, opts.scheme, opts.port),
            "routes": [{**to_plain(r), "url": proxy_names.url_for(r.name, opts.scheme, opts.port)}
                       for r in self.table.routes],
            "problems": list(self.table.problems),
            "pushes": self.pushes, "last_push": self.last_push, "last_error": self.last_error,
        }
