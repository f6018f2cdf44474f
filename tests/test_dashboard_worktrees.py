"""The dashboard's worktree view in a real browser: allocations grouped by project with one
section per checkout and its path, and the prune button releasing a removed worktree's ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ServerProc
from test_dashboard_browser import PageErrors, browser, listed, page, row  # noqa: F401
from worktree_helpers import add_worktree, git, make_repo


def test_projects_checkouts_and_prune(server: ServerProc, page: Any,  # noqa: F811
                                      tmp_path: Path) -> None:
    errors = PageErrors(page)
    repo = make_repo(tmp_path, "shop", {"README": "x"})
    wt = add_worktree(repo, tmp_path / "shop-cart", "cart")
    other = make_repo(tmp_path, "blog", {"README": "x"})
    for folder, service in ((repo, "web"), (wt, "web"), (wt, "db"), (other, "web")):
        assert server.portctl("allocate", "--service", service, cwd=folder).returncode == 0
    gone = {a["id"] for a in listed(server) if a["instance"] == "shop-cart"}
    page.goto(f"http://{server.addr}/?refresh=1")
    page.locator("section.group").first.wait_for()
    projects = page.eval_on_selector_all("section.project", "els => els.map(e => e.dataset.app)")
    assert projects == ["blog", "shop"]
    shop = page.locator("section.project[data-app='shop']")
    assert shop.locator("section.group").evaluate_all(
        "els => els.map(e => e.dataset.instance)") == ["shop", "shop-cart"]
    assert "2 checkouts, 3 ports" in shop.locator("h3").inner_text()
    cart = shop.locator("section.group[data-instance='shop-cart'] h4")
    assert str(wt.resolve()) in cart.inner_text()

    # Nothing to prune yet; then the worktree goes, and the button lists and releases its ports.
    page.get_by_role("button", name="Prune removed worktrees").click()
    page.get_by_text("No removed worktrees: nothing to prune.").wait_for()
    git("worktree", "remove", str(wt), cwd=repo)
    page.get_by_role("button", name="Prune removed worktrees").click()
    dialog = page.locator("#confirm-dialog")
    dialog.get_by_text("Release 2 ports?").wait_for()  # after the server's dry run answers
    assert str(wt.resolve()) in dialog.inner_text()
    dialog.get_by_role("button", name="Release").click()
    page.get_by_text("Released 2 ports of removed worktrees.").wait_for()
    for alloc_id in gone:
        assert row(page, alloc_id).count() == 0
    assert {a["instance"] for a in listed(server)} == {"shop", "blog"}
    assert errors.items == []
