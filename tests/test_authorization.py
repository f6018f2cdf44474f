"""The one authorization point (service/authorization.py) through the service: owners named for
others, import --force over others' allocations, sync, gc, process leases, protected labels,
unknown callers, and denials that say who may (never "only root or root")."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import missing
from port_server.errors import PermissionDenied, Protected
from port_server.models import Actor, Allocation, AllocationRequest
from port_server.service import RegistryService
from port_server.service.authorization import Authorization
from port_server.settings import SecuritySettings, Settings
from port_server.store.sqlite import SQLiteStore

ROOT = Actor("root", uid=0, via="unix")
#: A real, non-root OS user that the server (this test) does not run as.
STRANGER = Actor("nobody", uid=65534, via="tcp")
UNKNOWN = Actor("unknown", uid=None, via="tcp")


@pytest.fixture(autouse=True)
def _stranger_is_a_stranger() -> None:
    import pwd

    try:
        assert pwd.getpwuid(65534).pw_name == "nobody"
    except (KeyError, AssertionError):
        missing("user nobody (uid 65534)", "create it with useradd")
    if os.geteuid() == 65534:
        missing("a user other than the test's", "run the tests as another user")


def req(service: str, **kw: object) -> AllocationRequest:
    return AllocationRequest(app="app", instance="i", service=service, **kw)  # type: ignore[arg-type]


def test_naming_another_os_user_as_owner_needs_admin(service: RegistryService) -> None:
    with pytest.raises(PermissionDenied, match="owner: root is another OS user; only root may"):
        service.allocate(req("a", owner="root"), actor=STRANGER)
    assert service.allocate(req("b", owner="velo"), actor=STRANGER).allocation.owner == "velo"
    mine = service.allocate(req("c", owner="nobody"), actor=STRANGER).allocation
    assert service.allocate(req("d", owner="nobody"), actor=ROOT).allocation.owner == "nobody"
    with pytest.raises(PermissionDenied, match="owner: root is another OS user"):
        service.update(mine.id, {"owner": "root"}, actor=STRANGER)
    assert service.get(mine.id).owner == "nobody"


def test_a_lease_on_another_users_process_needs_admin(service: RegistryService) -> None:
    with pytest.raises(PermissionDenied, match="process 1 belongs to root"):
        service.allocate(req("a", pid=1), actor=STRANGER)
    assert service.list() == []


def test_import_force_replaces_only_what_the_caller_may_change(service: RegistryService) -> None:
    roots = service.allocate(req("db", port=41901, force=True), actor=ROOT).allocation
    label = service.allocate(req("web", port=41902, force=True, owner="velo"),
                             actor=ROOT).allocation
    entry = replace(roots, id=0, app="takeover", owner="")
    with pytest.raises(PermissionDenied) as err:
        service.import_allocations([entry, replace(label, id=0, app="takeover2", owner="")],
                                   force=True, actor=STRANGER)
    assert err.value.message.startswith(
        "permission denied: port 41901 is owned by root; only root may replace it;"
        " --force replaces only allocations you may change, and 1 conflict(s)")
    report = err.value.extra["report"]
    assert [c["entry"]["port"] for c in report["conflicts"]] == [41901]
    assert service.list() == [roots, label]
    # a label's unprotected allocation is not owned by anyone: the file may win over it
    done = service.import_allocations([replace(label, id=0, app="takeover2", owner="")],
                                      force=True, actor=STRANGER)
    assert [a.id for a in done.replaced] == [label.id]
    team = service.allocate(req("prod", port=41904, force=True, owner="velo", protected=True),
                            actor=ROOT).allocation
    with pytest.raises(PermissionDenied, match=r"41904 .* is protected; only root may replace"):
        service.import_allocations([replace(team, id=0, app="takeover3", owner="",
                                            protected=False)], force=True, actor=STRANGER)
    assert service.get(team.id) == team
    with pytest.raises(PermissionDenied, match=r"allocations\[0\].owner: root is another"):
        service.import_allocations([replace(roots, id=0, port=41903, service="x")],
                                   actor=STRANGER)


def test_sync_needs_admin_or_a_sync_user_and_the_log_names_the_caller(
        tmp_path: Path, settings: Settings) -> None:
    desired = [req("web", port=41910, source="dokploy")]
    plain = RegistryService(SQLiteStore(tmp_path / "a.db"), settings)
    with pytest.raises(PermissionDenied, match="only root may sync dokploy"):
        plain.sync("dokploy", desired, actor=STRANGER)
    with pytest.raises(PermissionDenied, match="could not tell who you are"):
        plain.sync("dokploy", desired, actor=UNKNOWN)
    assert plain.list() == []
    assert plain.sync("dokploy", desired, dry_run=True, actor=STRANGER)[0].action == "add"
    plain.sync("dokploy", desired, actor=ROOT)
    assert plain.log()[-1].actor == "root via dokploy-sync"
    allowed = replace(settings, security=replace(settings.security, sync_users=("nobody",)))
    svc = RegistryService(SQLiteStore(tmp_path / "b.db"), allowed)
    svc.sync("dokploy", desired, actor=STRANGER)
    assert [(e.action, e.actor, e.actor_uid) for e in svc.log()] == [
        ("sync", "nobody via dokploy-sync", 65534)]


def test_gc_by_a_non_admin_reclaims_nothing_of_others(service: RegistryService) -> None:
    roots = service.allocate(req("job", ttl="1h"), actor=ROOT).allocation
    with service.raw_store.write() as tx:
        tx.update(roots.id, {"expires_at": "2001-01-01T00:00:00.000000Z"})
    with pytest.raises(PermissionDenied, match="reclaims ended leases itself every"):
        service.reap(actor=STRANGER)
    assert [a.id for a in service.list()] == [roots.id]
    assert [a.id for a, _ in service.reap(actor=ROOT)] == [roots.id]


def test_protected_labels_and_unknown_callers(service: RegistryService) -> None:
    team = service.allocate(req("api", owner="velo", protected=True), actor=ROOT).allocation
    mine = service.allocate(req("own", protected=True), actor=STRANGER).allocation
    loose = service.allocate(req("loose"), actor=UNKNOWN).allocation
    assert loose.owner == ""  # an unknown caller owns nothing
    with pytest.raises(PermissionDenied, match="only root may release a protected allocation"
                                               " no OS user owns"):
        service.release_id(team.id, force=True, actor=STRANGER)
    with pytest.raises(Protected):  # the owner: force still needed ...
        service.release_id(mine.id, actor=STRANGER)
    with pytest.raises(PermissionDenied, match="could not tell who you are"):
        service.release_id(mine.id, force=True, actor=UNKNOWN)
    with pytest.raises(PermissionDenied, match="could not tell who you are"):
        service.update(team.id, {"note": "x"}, force=True, actor=UNKNOWN)
    assert service.release_id(mine.id, force=True, actor=STRANGER).id == mine.id  # ... and enough
    assert service.release_id(loose.id, actor=UNKNOWN).id == loose.id
    assert service.release_id(team.id, force=True, actor=ROOT).id == team.id


def test_denials_say_who_may() -> None:
    alloc = Allocation(id=7, app="a", instance="i", service="s", port=4000, created_at="",
                       owner="root")
    plain = Authorization(SecuritySettings(), server_uid=1)
    with pytest.raises(PermissionDenied) as err:
        plain.change(alloc, STRANGER, "release")
    assert err.value.message == ("permission denied: port 4000 is owned by root; only root may"
                                 " release it")
    ops = Authorization(SecuritySettings(admin_group="ops"), server_uid=1)
    with pytest.raises(PermissionDenied) as err:
        ops.change(alloc, STRANGER, "release")
    assert "only root or a member of group ops may release it" in err.value.message
    assert ops.who_may("alice") == "alice, root or a member of group ops"
    assert plain.who_may("alice") == "alice or root"
    assert plain.is_admin(Actor("svc", uid=1, via="unix"))  # the server's own user
    assert not plain.is_admin(STRANGER) and not plain.is_admin(UNKNOWN)
