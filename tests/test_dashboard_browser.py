"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against a real
port-server subprocess, with allocations made by the real CLI and client.

Playwright's own browser download is never used (``playwright install`` needs the network); the
tests drive /usr/bin/chromium, which .ci/run installs. Screenshots land in each test's tmp dir.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProc
from port_server.models import AllocationRequest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium per module, on a fresh profile directory."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
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
        # Until the live scan exists on the server, the page's one probe of it is a logged 404;
        # a test that provokes an error response names its URL in ``expected``.
        url = msg.location.get("url", "")
        if msg.type == "error" and not url.endswith(("/v1/scan", *self.expected)):
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

    # Without the live scan the page still works and says so.
    assert "not available" in page.locator("#scan-info").inner_text() or \
        "ports seen" in page.locator("#scan-info").inner_text()

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
    ports = [int(p) for p in shop.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.port)")]
    assert ports == sorted(ports)
    port_header.locator("button").focus()
    page.keyboard.press("Enter")
    assert shop.locator("th", has_text="Port").get_attribute("aria-sort") == "descending"
    # Wait for two auto-refreshes: the order and the keyboard focus must both survive them.
    page.evaluate("window.__loads = 0; new MutationObserver(() => window.__loads++)"
                  ".observe(document.querySelector('#updated'), {childList: true})")
    wait_until(lambda: page.evaluate("window.__loads") >= 2)
    ports_desc = [int(p) for p in shop.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.port)")]
    assert ports_desc == sorted(ports, reverse=True)
    assert page.evaluate("document.activeElement.textContent").startswith("Port")
    shop.locator("th", has_text="Service").locator("button").click()
    services = shop.locator("tbody tr td:nth-child(2)").all_inner_texts()
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

    page.screenshot(path=str(tmp_path / "dashboard-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    # At phone width rows become cards; nothing may force the page wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#sort-select").is_visible()
    page.screenshot(path=str(tmp_path / "dashboard-390.png"), full_page=True)
    assert errors.items == []
