"""Issue 8 in process: who may change what, protection, leases and the audit trail.

RegistryService with a real SQLite file. OS users are the real ones of this machine: root (uid 0)
and, for "another user", a name that exists in /etc/passwd but is not root ("daemon", "nobody").
"""

from __future__ import annotations

import pwd
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import missing
from port_server.errors import InvalidInput, PermissionDenied, ProcessNotFound, Protected
from port_server.models import Actor, AllocationFilter, AllocationRequest, AuditFilter
from port_server.service import RegistryService
from port_server.settings import SecuritySettings, Settings
from port_server.store.sqlite import SQLiteStore


def other_users() -> list[pwd.struct_passwd]:
    return [u for u in pwd.getpwall() if u.pw_uid not in (0,) and u.pw_name.isalnum()][:2]


USERS = other_users()


@pytest.fixture
def needs_two_users() -> None:
    if len(USERS) < 2:
        missing("two non-root users in /etc/passwd", "useradd two users (any names)")


def as_user(u: pwd.struct_passwd) -> Actor:
    return Actor(name=u.pw_name, uid=u.pw_uid, via="tcp")


def req(service: str, **kw: object) -> AllocationRequest:
    return AllocationRequest(app="app", instance="dev", service=service, **kw)  # type: ignore[arg-type]


@pytest.fixture
def svc(tmp_path: Path, settings: Settings) -> RegistryService:
    return RegistryService(SQLiteStore(tmp_path / "own.db"), settings)


@pytest.mark.usefixtures("needs_two_users")
def test_owner_defaults_to_the_callers_user_name(svc: RegistryService) -> None:
    alice = USERS[0]
    alloc = svc.allocate(req("web"), actor=as_user(alice)).allocation
    assert alloc.owner == alice.pw_name
    labelled = svc.allocate(req("db", owner="team-x"), actor=as_user(alice)).allocation
    assert labelled.owner == "team-x"
    # an in-process caller has no uid: no owner is invented
    assert svc.allocate(req("api")).allocation.owner == ""


@pytest.mark.usefixtures("needs_two_users")
def test_another_user_may_not_release_or_update(svc: RegistryService) -> None:
    alice, bob = USERS
    alloc = svc.allocate(req("web"), actor=as_user(alice)).allocation
    with pytest.raises(PermissionDenied) as err:
        svc.release_id(alloc.id, actor=as_user(bob))
    assert err.value.message.startswith(
        f"permission denied: port {alloc.port} is owned by {alice.pw_name}")
    with pytest.raises(PermissionDenied):
        svc.update(alloc.id, {"note": "mine now"}, actor=as_user(bob))
    with pytest.raises(PermissionDenied):  # a filter that matches it releases nothing at all
        svc.release(AllocationFilter(app="app"), actor=as_user(bob))
    with pytest.raises(PermissionDenied):  # force does not override ownership
        svc.release_id(alloc.id, actor=as_user(bob), force=True)
    assert svc.get(alloc.id) == alloc
    # the owner may, and so may root
    assert svc.update(alloc.id, {"note": "ok"}, actor=as_user(alice)).note == "ok"
    assert svc.release_id(alloc.id, actor=Actor("root", uid=0, via="unix")).id == alloc.id


@pytest.mark.usefixtures("needs_two_users")
def test_admin_group_members_may_change_anything(tmp_path: Path, settings: Settings) -> None:
    alice, bob = USERS
    group = __import__("grp").getgrgid(bob.pw_gid).gr_name  # bob's primary group
    svc = RegistryService(SQLiteStore(tmp_path / "adm.db"), replace(
        settings, security=replace(settings.security, admin_group=group)))
    alloc = svc.allocate(req("web"), actor=as_user(alice)).allocation
    if alice.pw_gid != bob.pw_gid:
        assert not svc.is_admin(as_user(alice))
    assert svc.is_admin(as_user(bob))
    assert svc.release_id(alloc.id, actor=as_user(bob)).id == alloc.id


def test_labels_that_are_not_users_are_not_enforced(svc: RegistryService) -> None:
    alloc = svc.allocate(req("web", owner="Hein's Development")).allocation
    stranger = Actor("someone", uid=54321, via="tcp")
    assert svc.release_id(alloc.id, actor=stranger).id == alloc.id


def test_protected_needs_force(svc: RegistryService) -> None:
    alloc = svc.allocate(req("web", protected=True)).allocation
    with pytest.raises(Protected, match="pass --force"):
        svc.release_id(alloc.id)
    with pytest.raises(Protected):
        svc.release(AllocationFilter(app="app"))
    with pytest.raises(Protected):
        svc.update(alloc.id, {"protected": False})
    assert svc.update(alloc.id, {"note": "n"}, force=True).note == "n"
    assert svc.release_id(alloc.id, force=True).id == alloc.id


def test_production_is_protected_by_default_and_configurable(tmp_path: Path,
                                                             settings: Settings) -> None:
    svc = RegistryService(SQLiteStore(tmp_path / "p.db"), settings)
    assert svc.allocate(req("web", environment="production")).allocation.protected
    assert not svc.allocate(req("dev", environment="development")).allocation.protected
    custom = RegistryService(SQLiteStore(tmp_path / "q.db"), replace(
        settings, security=SecuritySettings(protected_environments=("prod", "staging"))))
    assert not custom.allocate(req("web", environment="production")).allocation.protected
    assert custom.allocate(req("stg", environment="staging")).allocation.protected


class Clock:
    def __init__(self) -> None:
        self.now = "2030-01-01T00:00:00.000000Z"

    def __call__(self) -> str:
        return self.now


def test_ttl_lease_expires_and_is_reclaimed_by_the_reaper(tmp_path: Path,
                                                          settings: Settings) -> None:
    clock = Clock()
    svc = RegistryService(SQLiteStore(tmp_path / "t.db"), settings, clock=clock)
    leased = svc.allocate(req("web", ttl="2h")).allocation
    forever = svc.allocate(req("db")).allocation
    guarded = svc.allocate(req("prod", ttl=1, protected=True)).allocation
    assert leased.expires_at == "2030-01-01T02:00:00.000000Z"
    clock.now = "2030-01-01T01:59:59.000000Z"
    assert svc.reap() == []
    clock.now = "2030-01-01T02:00:01.000000Z"
    assert [(a.id, r) for a, r in svc.reap(dry_run=True)] == [
        (leased.id, "lease expired at 2030-01-01T02:00:00.000000Z")]
    assert svc.get(leased.id) == leased  # a dry run changes nothing
    assert [a.id for a, _ in svc.reap()] == [leased.id]
    assert {a.id for a in svc.list()} == {forever.id, guarded.id}
    entry = svc.log(AuditFilter(action="reclaim"))[0]
    assert (entry.actor, entry.alloc_id, entry.before, entry.after) == (
        "reaper", leased.id, leased.to_dict(), None)
    assert entry.reason.startswith("lease expired")


def test_renew_extends_the_lease(tmp_path: Path, settings: Settings) -> None:
    clock = Clock()
    svc = RegistryService(SQLiteStore(tmp_path / "r.db"), settings, clock=clock)
    alloc = svc.allocate(req("web", ttl="1m")).allocation
    clock.now = "2030-01-01T00:00:30.000000Z"
    assert svc.renew(alloc.id, "1h").expires_at == "2030-01-01T01:00:30.000000Z"
    clock.now = "2030-01-01T00:05:00.000000Z"
    assert svc.reap() == []
    with pytest.raises(InvalidInput, match="ttl"):
        svc.renew(alloc.id, "soon")


def test_pid_lease_ends_with_the_process_and_survives_pid_reuse(svc: RegistryService) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alloc = svc.allocate(req("web", pid=child.pid)).allocation
        assert alloc.pid == child.pid and alloc.pid_start is not None
        # a pid recorded by an adopting scan is information, not a lease
        adopted = svc.allocate(req("adopted", pid=child.pid, source="scan")).allocation
        assert svc.reap() == []
        # The same pid with another start time is another process: the lease has ended.
        impostor = svc.allocate(req("other", pid=child.pid)).allocation
        with svc.raw_store.write() as tx:
            tx.update(impostor.id, {"pid_start": alloc.pid_start - 1000})
        assert [a.id for a, _ in svc.reap()] == [impostor.id]
    finally:
        child.kill()
        child.wait()
    reclaimed = svc.reap()
    assert [(a.id, r) for a, r in reclaimed] == [(alloc.id, f"process {child.pid} exited")]
    assert svc.get(adopted.id) == adopted
    with pytest.raises(ProcessNotFound, match="no process"):
        svc.allocate(req("gone", pid=child.pid))


def test_every_mutation_is_audited_with_actor_and_states(svc: RegistryService) -> None:
    me = Actor("root", uid=0, via="unix")
    alloc = svc.allocate(req("web"), actor=me).allocation
    updated = svc.update(alloc.id, {"note": "hello"}, actor=me)
    svc.release_id(alloc.id, actor="dokploy-sync")
    entries = svc.log(AuditFilter(app="app"))
    assert [(e.action, e.actor, e.actor_uid) for e in entries] == [
        ("allocate", "root", 0), ("update", "root", 0), ("release", "dokploy-sync", None)]
    assert entries[0].before is None and entries[0].after == alloc.to_dict()
    assert entries[1].before == alloc.to_dict() and entries[1].after == updated.to_dict()
    assert entries[2].before == updated.to_dict() and entries[2].after is None
    assert svc.log(AuditFilter(port=alloc.port, action="update"))[0].id == entries[1].id
    assert svc.log(AuditFilter(since="2999-01-01T00:00:00.000000Z")) == []
    # a refused change leaves no trace and changes nothing
    svc.allocate(req("p", protected=True))
    before = len(svc.log())
    with pytest.raises(Protected):
        svc.release(AllocationFilter(service="p"))
    assert len(svc.log()) == before


def test_audit_retention(tmp_path: Path, settings: Settings) -> None:
    clock = Clock()
    sec = replace(settings.security, audit_retention_days=1, audit_max_entries=3)
    svc = RegistryService(SQLiteStore(tmp_path / "a.db"), replace(settings, security=sec),
                          clock=clock)
    svc.allocate(req("old"))
    clock.now = "2030-01-03T00:00:00.000000Z"
    for i in range(4):
        svc.allocate(req(f"s{i}"))
    assert svc.prune_audit() == 2  # the 2-day-old entry, then the oldest beyond 3
    assert [e.after["service"] for e in svc.log() if e.after] == ["s1", "s2", "s3"]


def test_import_is_audited_and_keeps_the_files_protection(svc: RegistryService) -> None:
    from port_server.models import Allocation

    entries = [Allocation(id=0, app="fibre", instance="prod", service="web", port=23457,
                          created_at="", environment="production", protected=True),
               Allocation(id=0, app="fibre", instance="dev", service="web", port=23458,
                          created_at="", environment="production")]
    report = svc.import_allocations(entries)
    by_instance = {a.instance: a for a in report.added}
    # an import records what the file says (seed 001's files have no protection field)
    assert by_instance["prod"].protected and not by_instance["dev"].protected
    entries_logged = svc.log(AuditFilter(app="fibre"))
    assert {e.action for e in entries_logged} == {"import"}
    assert {e.after["instance"] for e in entries_logged if e.after} == {"prod", "dev"}


def test_sync_is_audited_as_the_sync_job(svc: RegistryService) -> None:
    desired = [AllocationRequest(app="fibre", instance="prod", service="api", port=23461,
                                 source="dokploy")]
    svc.sync("dokploy", desired)
    svc.sync("dokploy", [])  # the project is gone: the sync removes its allocation
    logged = svc.log(AuditFilter(app="fibre"))
    assert [(e.action, e.actor, e.before is None, e.after is None) for e in logged] == [
        ("sync", "dokploy-sync", True, False), ("sync", "dokploy-sync", False, True)]
