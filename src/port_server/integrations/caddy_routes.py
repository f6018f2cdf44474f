"""The route table as a whole Caddy JSON config (pure: names in, a dict for ``POST /load`` out).

One server answers every name on the HTTPS port (loopback only). A ``map`` handler looks the
request's host up in the table (string compares, no per-route matchers: a route per name with a
host matcher costs each request about a microsecond per route before it, which halved the
request rate at a hundred names), then ``reverse_proxy`` dials the upstream found;
``localhost`` itself lists the names, and any other name answers 404 with the same list, never
another app. Certificates come from Caddy's internal CA, issued on demand for
whatever ``*.localhost`` name a client asks for (a few milliseconds, locally signed), so a new
name needs no certificate step and an unknown one still gets its 404 page over TLS. A second
server on the HTTP port redirects to HTTPS. HTTP/2 is Caddy's default over TLS; WebSockets and
server-sent events pass through ``reverse_proxy`` (it flushes ``text/event-stream`` responses as
they come by itself; flushing every response, ``flush_interval`` -1, halves the request rate).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from port_server.integrations.proxy_names import DOMAIN, NameTable, url_for
from port_server.records import Record

SERVER = "port_server"
REDIRECT_SERVER = "port_server_redirect"
CA_ID = "local"


class ProxyOptions(Record):
    """Where Caddy listens and keeps its state; ``admin`` is Caddy's admin listen address
    (``unix//path`` or ``127.0.0.1:port``)."""

    admin: str
    storage: str
    https_port: int = 2443
    http_port: int = 2080
    https: bool = True
    bind: tuple[str, ...] = ("127.0.0.1",)

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @property
    def port(self) -> int:
        """The port the names answer on."""
        return self.https_port if self.https else self.http_port


def _listen(bind: Sequence[str], port: int) -> list[str]:
    return [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in bind]


def index_page(table: NameTable, opts: ProxyOptions, title: str) -> str:
    """An HTML page listing every name (the 404 page and ``localhost``'s own page)."""
    items = "\n".join(
        f'<li><a href="{html.escape(url_for(r.name, opts.scheme, opts.port))}">'
        f"{html.escape(r.name)}</a> &rarr; {html.escape(r.upstream)}</li>"
        for r in table.routes)
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in table.problems)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Names served by port-server's proxy:</p><ul>\n{items or '<li>none yet</li>'}"
            f"\n</ul>{'<h2>Not routed</h2><ul>' + problems + '</ul>' if problems else ''}"
            "</body></html>\n")


def _page(status: int, body: str) -> dict[str, Any]:
    return {"handler": "static_response", "status_code": status, "body": body,
            "headers": {"Content-Type": ["text/html; charset=utf-8"],
                        "Cache-Control": ["no-store"]}}


#: The placeholder the map handler fills with the request's upstream ("" for an unknown name).
UPSTREAM = "{port_server.upstream}"


def build_config(table: NameTable, opts: ProxyOptions) -> dict[str, Any]:
    """Caddy's whole config for ``table``: what ``POST /load`` takes."""
    lookup = {"handler": "map", "source": "{http.request.host}", "destinations": [UPSTREAM],
              "mappings": [{"input": r.name, "outputs": [r.upstream]} for r in table.routes],
              "defaults": [""]}
    routes: list[dict[str, Any]] = [
        {"match": [{"host": [DOMAIN]}], "terminal": True,
         "handle": [_page(200, index_page(table, opts, "port-server names"))]},
        {"handle": [lookup]},
        {"match": [{"vars": {UPSTREAM: [""]}}], "terminal": True,
         "handle": [_page(404, index_page(table, opts, "Unknown name"))]},
        {"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": UPSTREAM}]}]},
    ]
    main: dict[str, Any] = {"listen": _listen(opts.bind, opts.port), "routes": routes,
                            "protocols": ["h1", "h2"] if opts.https else ["h1", "h2c"]}
    servers: dict[str, Any] = {SERVER: main}
    apps: dict[str, Any] = {"http": {"http_port": opts.http_port,
                                     "https_port": opts.https_port, "servers": servers}}
    if opts.https:
        main["tls_connection_policies"] = [{}]
        main["automatic_https"] = {"disable_redirects": True}
        suffix = "" if opts.https_port == 443 else f":{opts.https_port}"
        servers[REDIRECT_SERVER] = {
            "listen": _listen(opts.bind, opts.http_port), "protocols": ["h1"],
            "automatic_https": {"disable": True},
            "routes": [{"handle": [{
                "handler": "static_response", "status_code": 308,
                "headers": {"Location": [
                    f"https://{{http.request.host}}{suffix}{{http.request.uri}}"]}}]}]}
        apps["tls"] = {"automation": {"policies": [
            {"issuers": [{"module": "internal", "ca": CA_ID}], "on_demand": True}]}}
        # install_trust false: Caddy must never touch the system trust store by itself;
        # `portctl proxy trust` does that when the user asks.
        apps["pki"] = {"certificate_authorities": {CA_ID: {
            "name": "port-server local CA", "install_trust": False}}}
    else:
        main["automatic_https"] = {"disable": True}
    return {**bootstrap_config(opts), "apps": apps}


def bootstrap_config(opts: ProxyOptions) -> dict[str, Any]:
    """What Caddy starts with: its admin endpoint and storage, no apps yet. ``persist`` false:
    port-server holds the truth, so Caddy keeps no autosave of its own. An empty ``storage``
    keeps Caddy's own (a Caddy that runs as another user, driven through ``[proxy] admin``)."""
    config: dict[str, Any] = {"admin": {"listen": opts.admin, "config": {"persist": False}},
                              "logging": {"logs": {"default": {"level": "ERROR"}}}}
    if opts.storage:
        config["storage"] = {"module": "file_system", "root": opts.storage}
    return config


def root_cert_path(storage: str) -> str:
    """Where Caddy keeps the internal CA's root certificate under ``storage``."""
    return f"{storage.rstrip('/')}/pki/authorities/{CA_ID}/root.crt"
