"""A fake Dokploy API on loopback, for tests: the one third-party service that cannot run here.

It follows Dokploy's REST shape (``GET /api/<router>.<procedure>?<kind>Id=...``, raw JSON, 401
``{"message": "Unauthorized"}``) and serves ``project.all`` in each of its three shapes:

- ``legacy``  (< 0.25): services hang directly off the project, full rows;
- ``environments`` (0.25 - 0.28.2): services under ``project.environments[]``, full rows;
- ``slim``    (>= 0.28.3): environments list ids, names and status only.

Payloads are realistic, secrets included (database passwords, env values, registry credentials):
``SECRETS`` lists every one so tests can check none leaks. Tests change ``fake.projects`` to make
Dokploy publish something else, and ``fake.faults`` to make a procedure fail.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "dkp_test_key_0123456789"
SECRETS = (
    "S3cr3t-db-pass", "jwt-top-secret-123", "registry-pass-999", "pg-password-abc",
    "redis-secret-xyz", "compose-secret-pw", "compose-env-token", "mysql-root-secret",
    "mongo-secret-777", "mariadb-secret-555", "project-env-secret", "libsql-secret-42",
    "ssh-private-key-material", API_KEY,
)
VERSIONS = {"legacy": "v0.24.3", "environments": "v0.26.5", "slim": "v0.30.2"}
KINDS = ("application", "compose", "postgres", "mysql", "mariadb", "mongo", "redis", "libsql")

QFIELD_COMPOSE = """\
services:
  app:
    image: opengisch/qfieldcloud-app:latest
    ports:
      - "8082:8000"
    environment:
      SECRET_KEY: compose-secret-pw
  db:
    image: postgis/postgis:16-3.4
    ports:
      - "${DB_PORT:-5434}:5432"
    environment:
      POSTGRES_PASSWORD: compose-secret-pw
  worker:
    image: opengisch/qfieldcloud-worker:latest
    ports:
      - "9100"
"""

OCR_CONVERTED = """\
services:
  ocr:
    image: ghcr.io/velo/ocr:4
    ports:
      - target: 8095
        published: 8095
        protocol: tcp
    environment:
      API_TOKEN: compose-env-token
"""


def _domain(host: str, port: int, https: bool = True, path: str = "/",
            service_name: str | None = None, enabled: bool | None = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "domainId": f"dom-{host}-{path}", "host": host, "https": https, "port": port,
        "path": path, "serviceName": service_name, "certificateType": "letsencrypt",
        "uniqueConfigKey": 1, "createdAt": "2025-05-01T10:00:00.000Z"}
    if enabled is not None:
        d["enabled"] = enabled
    return d


def _app(app_id: str, name: str, ports: list[tuple[int, int, str]], domains: list[Any],
         status: str = "done", server_id: str | None = None) -> dict[str, Any]:
    return {
        "applicationId": app_id, "name": name, "appName": f"{name}-a1b2c3",
        "description": None, "applicationStatus": status, "serverId": server_id,
        "env": "DATABASE_URL=postgres://fibre:S3cr3t-db-pass@db:5432/app\n"
               "JWT_SECRET=jwt-top-secret-123",
        "buildArgs": None, "registryUrl": "ghcr.io", "username": "velo",
        "password": "registry-pass-999", "sourceType": "github", "endpointSpecSwarm": None,
        "ports": [{"portId": f"{app_id}-p{i}", "publishedPort": pub, "targetPort": tgt,
                   "protocol": proto, "publishMode": "ingress", "applicationId": app_id}
                  for i, (pub, tgt, proto) in enumerate(ports)],
        "domains": domains, "createdAt": "2025-05-01T10:00:00.000Z",
    }


def _db(kind: str, db_id: str, name: str, external: int | None, secret: str,
        status: str = "done") -> dict[str, Any]:
    row: dict[str, Any] = {
        f"{kind}Id": db_id, "name": name, "appName": f"{name}-d4e5f6", "description": "",
        "databaseUser": "app", "databasePassword": secret, "externalPort": external,
        "applicationStatus": status, "serverId": None, "env": f"EXTRA={secret}",
        "dockerImage": f"{kind}:latest", "createdAt": "2025-05-01T10:00:00.000Z"}
    if kind in ("mysql", "mariadb", "mongo"):
        row["databaseRootPassword"] = secret
    return row


def default_projects() -> list[dict[str, Any]]:
    """Two projects; one environment is absent before 0.25 (see ``legacy``)."""
    return [
        {"projectId": "prj-fibre", "name": "FibreFlow", "description": "production stack",
         "env": "PROJECT_TOKEN=project-env-secret", "createdAt": "2025-04-01T10:00:00.000Z",
         "environments": [
             {"environmentId": "env-fibre-prod", "name": "production", "isDefault": True,
              "services": {
                  "application": [_app("app-web", "web", [(3005, 3000, "tcp")], [
                      _domain("app.fibreflow.app", 3000),
                      _domain("app.fibreflow.app", 8080, path="/admin"),
                      _domain("old.fibreflow.app", 3000, enabled=False)])],
                  "postgres": [_db("postgres", "pg-main", "fibreflow-db", 5433,
                                   "pg-password-abc")],
                  "redis": [_db("redis", "redis-cache", "cache", None, "redis-secret-xyz")],
                  "compose": [{
                      "composeId": "cmp-qfield", "name": "qfield", "appName": "qfield-x9y8",
                      "composeStatus": "done", "sourceType": "raw", "serverId": None,
                      "composeType": "docker-compose", "composeFile": QFIELD_COMPOSE,
                      "env": "DB_PORT=5435\nAPI_TOKEN=compose-env-token",
                      "domains": [_domain("qfield.fibreflow.app", 8000, service_name="app")],
                      "createdAt": "2025-05-01T10:00:00.000Z"}],
              }},
             {"environmentId": "env-fibre-stage", "name": "staging", "isDefault": False,
              "services": {
                  "application": [_app("app-web-stage", "web", [(3006, 3000, "tcp")],
                                       [_domain("vf.fibreflow.app", 3000, https=False)],
                                       status="running")]}},
         ]},
        {"projectId": "prj-tools", "name": "Tools", "description": "",
         "env": "", "createdAt": "2025-04-02T10:00:00.000Z",
         "environments": [
             {"environmentId": "env-tools-prod", "name": "production", "isDefault": True,
              "services": {
                  "application": [
                      _app("app-wa", "WhatsApp Sender", [(8081, 8081, "tcp"),
                                                         (8081, 8081, "udp")], [],
                           status="error"),
                      _app("app-edge", "edge-api", [(8200, 80, "tcp")],
                           [_domain("api.edge.example.com", 80)], server_id="srv-1")],
                  "mysql": [_db("mysql", "my-wiki", "wiki-db", 3307, "mysql-root-secret")],
                  "mariadb": [_db("mariadb", "maria-old", "legacy-db", None,
                                  "mariadb-secret-555")],
                  "mongo": [_db("mongo", "mongo-ev", "events", 27018, "mongo-secret-777")],
                  "compose": [{
                      "composeId": "cmp-ocr", "name": "ocr", "appName": "ocr-q1w2",
                      "composeStatus": "idle", "sourceType": "github", "serverId": None,
                      "composeType": "docker-compose", "composeFile": "",
                      "env": "API_TOKEN=compose-env-token",
                      "domains": [_domain("ocr.example.com", 8095, service_name="ocr")],
                      "createdAt": "2025-05-01T10:00:00.000Z"}],
                  "libsql": [{**_db("libsql", "lib-turso", "turso", 8090, "libsql-secret-42"),
                              "externalGRPCPort": 5011, "externalAdminPort": None}],
              }},
         ]},
    ]


SERVERS = {"srv-1": {"serverId": "srv-1", "name": "edge-1", "ipAddress": "10.0.0.7",
                     "port": 22, "username": "root", "sshKeyId": "key-1",
                     "sshKey": {"privateKey": "ssh-private-key-material"}}}


class FakeDokploy:
    def __init__(self, shape: str = "slim", auth: str = "x-api-key") -> None:
        self.shape = shape
        self.auth = auth  # "x-api-key" or "bearer" (servers before 0.19)
        self.projects = default_projects()
        self.converted = {"cmp-ocr": OCR_CONVERTED}
        #: procedure -> ("status", code) | ("malformed",) | ("delay", seconds) | ("body", obj)
        self.faults: dict[str, tuple[Any, ...]] = {}
        self.requests: list[str] = []
        #: seconds every answer waits, to play a Dokploy across a network
        self.latency = 0.0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeDokploy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the data -------------------------------------------------------------------------

    def _libsql_known(self) -> bool:
        return self.shape == "slim"  # libsql arrived in 0.29

    def services(self) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
        for project in self.projects:
            for env in project["environments"]:
                for kind, rows in env["services"].items():
                    if kind == "libsql" and not self._libsql_known():
                        continue
                    for row in rows:
                        yield kind, row, env, project

    def project_all(self) -> list[dict[str, Any]]:
        out = []
        for project in self.projects:
            head = {k: v for k, v in project.items() if k != "environments"}
            head["organizationId"] = "org-1"
            head["projectTags"] = []
            if self.shape == "legacy":  # before environments: the production one only
                env = next(e for e in project["environments"] if e["name"] == "production")
                for kind in KINDS[:-1]:
                    key = "applications" if kind == "application" else kind
                    head[key] = copy.deepcopy(env["services"].get(kind, []))
                out.append(head)
                continue
            envs = []
            for env in project["environments"]:
                e = {"environmentId": env["environmentId"], "name": env["name"],
                     "isDefault": env["isDefault"]}
                for kind in KINDS:
                    if kind == "libsql" and not self._libsql_known():
                        continue
                    key = "applications" if kind == "application" else kind
                    rows = env["services"].get(kind, [])
                    if self.shape == "slim":
                        e[key] = [self._slim(kind, r) for r in rows]
                    else:
                        e[key] = copy.deepcopy(rows)
                envs.append(e)
            head["environments"] = envs
            out.append(head)
        return out

    @staticmethod
    def _slim(kind: str, row: dict[str, Any]) -> dict[str, Any]:
        if kind == "application":
            return {k: row[k] for k in ("applicationId", "name", "applicationStatus")}
        if kind == "compose":
            return {k: row[k] for k in ("composeId", "name", "composeStatus")}
        return {f"{kind}Id": row[f"{kind}Id"]}

    def one(self, kind: str, ident: str) -> dict[str, Any] | None:
        for k, row, env, project in self.services():
            if k == kind and row[f"{kind}Id"] == ident:
                if self.shape == "legacy" and env["name"] != "production":
                    return None
                data = copy.deepcopy(row)
                head = {k: v for k, v in project.items() if k != "environments"}
                data["environment"] = {"environmentId": env["environmentId"],
                                       "name": env["name"], "project": copy.deepcopy(head)}
                data["mounts"] = []
                if row.get("serverId"):
                    data["server"] = copy.deepcopy(SERVERS[row["serverId"]])
                return data
        return None

    # -- HTTP ------------------------------------------------------------------------------

    def answer(self, procedure: str, query: dict[str, str], headers: Any) -> tuple[int, Any]:
        if procedure == "health":
            return 200, {"status": "ok"}
        if self.auth == "bearer":
            ok = headers.get("Authorization") == f"Bearer {API_KEY}"
        else:
            ok = headers.get("x-api-key") == API_KEY
        if not ok:
            return 401, {"message": "Unauthorized"}
        if procedure == "settings.getDokployVersion":
            return 200, VERSIONS[self.shape]
        if procedure == "project.all":
            return 200, self.project_all()
        if procedure == "server.one":
            server = SERVERS.get(query.get("serverId", ""))
            return (200, server) if server else (404, {"message": "Server not found"})
        if procedure == "compose.getConvertedCompose":
            text = self.converted.get(query.get("composeId", ""))
            return (200, text) if text is not None else (404, {"message": "Compose not found"})
        router, _, proc = procedure.partition(".")
        if proc == "one" and router in KINDS:
            ident = query.get(f"{router}Id")
            if not ident:
                return 400, {"message": f"Input validation failed: {router}Id is required",
                             "code": "BAD_REQUEST"}
            data = self.one(router, ident)
            if data is None:
                return 404, {"message": f"{router} not found", "code": "NOT_FOUND"}
            return 200, data
        return 404, {"message": "No procedure found on path", "code": "NOT_FOUND"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if not parts.path.startswith("/api/"):
                    self._send(404, b'{"message":"Not Found"}')
                    return
                procedure = parts.path[len("/api/"):]
                fake.requests.append(procedure)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fault = fake.faults.get(procedure)
                if fake.latency:
                    time.sleep(fake.latency)
                if fault and fault[0] == "delay":
                    time.sleep(fault[1])
                if fault and fault[0] == "malformed":
                    self._send(200, b'{"projects": [ {"name": "trunc')
                    return
                if fault and fault[0] == "status":
                    self._send(fault[1], json.dumps({"message": "fault"}).encode())
                    return
                if fault and fault[0] == "body":
                    self._send(200, json.dumps(fault[1]).encode())
                    return
                status, body = fake.answer(procedure, query, self.headers)
                self._send(status, json.dumps(body).encode())

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler
