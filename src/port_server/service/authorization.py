"""The one authorization point: who may change what. Every mutation of the service (allocate with
an owner or a process, release, update, renew, reclaim, import, sync) and every other mutating
route (the proxy) asks ``Authorization`` before it writes; nothing else decides.

- An allocation is owned by an OS user when its ``owner`` is a local user name (the default for
  allocations made by a kernel-identified caller); any other owner is a label, not enforced.
- Admins: root, members of the configured admin group, the user the server runs as (who owns
  its data anyway), the server's own jobs and bearer-token holders. They may change anything;
  ``force`` is still needed for a protected allocation.
- The owner may change their allocation; a protected one needs ``force`` on top. A protected
  allocation no OS user owns (a team label, a sync's) changes only by an admin.
- An *unknown* caller (the kernel could not vouch for a uid: ``server/peer.py``) may read and
  allocate, and may change only unprotected allocations no OS user owns.
- ``force`` never overrides ownership or someone else's protection for a non-admin.
- Naming an OS user other than yourself as owner (allocate, update, import), or tying a lease
  to another user's process, needs admin. Syncing from an outside source needs admin or one of
  the configured ``sync_users``; the audit log names the real caller ("alice via dokploy-sync").

Denials are ``PermissionDenied`` (403) and say who may ("only alice or root may release it").
"""

from __future__ import annotations

import os

from port_server.errors import PermissionDenied, Protected
from port_server.models import NAME_RE, Actor, Allocation
from port_server.settings import SecuritySettings
from port_server.system.users import user_name

UNKNOWN_HINT = ("the server could not tell who you are (the kernel named no owner for your"
                " connection); use the Unix socket, or keep the connection open until the answer")


class Authorization:
    """The policy above, bound to the server's ``[security]`` settings and its own uid."""

    def __init__(self, security: SecuritySettings, server_uid: int | None = None) -> None:
        self.admin_group = security.admin_group
        self.sync_users = frozenset(security.sync_users)
        self.server_uid = os.geteuid() if server_uid is None else server_uid

    def is_admin(self, who: Actor) -> bool:
        if who.admin or who.uid == 0 or (who.uid is not None and who.uid == self.server_uid):
            return True
        return bool(self.admin_group) and who.uid is not None and in_group(
            who.uid, self.admin_group)

    def admins(self) -> str:
        return f"root or a member of group {self.admin_group}" if self.admin_group else "root"

    def who_may(self, owner: str) -> str:
        """'alice or root', 'root or a member of group ops' (never 'root or root')."""
        rest = self.admins()
        if owner == "root":
            return rest
        return f"{owner}, {rest}" if self.admin_group else f"{owner} or {rest}"

    def change(self, alloc: Allocation, who: Actor, verb: str, force: bool = False) -> None:
        """May ``who`` ``verb`` (release, update, renew, reclaim, replace) ``alloc``? Raise
        PermissionDenied, or Protected when only ``force`` is missing."""
        admin = self.is_admin(who)
        owner_uid = user_uid(alloc.owner)
        unknown = who.uid is None and not admin
        if owner_uid is not None and who.uid != owner_uid and not admin:
            hint = f"; {UNKNOWN_HINT}" if unknown else ""
            raise PermissionDenied(
                f"permission denied: port {alloc.port} is owned by {alloc.owner}; only"
                f" {self.who_may(alloc.owner)} may {verb} it{hint}",
                owner=alloc.owner, port=alloc.port)
        if alloc.protected and not admin and (owner_uid is None or unknown):
            why = UNKNOWN_HINT if unknown else (
                f"only {self.admins()} may {verb} a protected allocation no OS user owns")
            raise PermissionDenied(
                f"permission denied: port {alloc.port} (id={alloc.id}) is protected; {why}",
                owner=alloc.owner, port=alloc.port)
        if alloc.protected and not force:
            raise Protected(
                f"port {alloc.port} (id={alloc.id}) for {alloc.key} is protected; pass --force"
                f" to {verb} it anyway", holder=alloc.to_dict())

    def refusal(self, alloc: Allocation, who: Actor, verb: str, force: bool = False
                ) -> str | None:
        """Why ``who`` may not ``verb`` ``alloc`` (``change``'s message), or None if they may."""
        try:
            self.change(alloc, who, verb, force)
        except (PermissionDenied, Protected) as exc:
            return exc.message
        return None

    def name_owner(self, owner: str, who: Actor, field: str = "owner") -> None:
        """Naming an OS user other than the caller as ``owner`` needs admin (a label is fine)."""
        uid = user_uid(owner)
        if uid is None or uid == who.uid or self.is_admin(who):
            return
        raise PermissionDenied(
            f"permission denied: {field}: {owner} is another OS user; only {self.admins()} may"
            " allocate for someone else (leave the owner out to own it yourself)", owner=owner)

    def use_process(self, pid: int, who: Actor) -> None:
        """A lease on (or adoption of) another user's process needs admin."""
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except (OSError, ValueError):
            return  # no such process: validation answers for that
        if uid == who.uid or self.is_admin(who):
            return
        raise PermissionDenied(
            f"permission denied: pid: process {pid} belongs to {user_name(uid)}; only"
            f" {self.who_may(user_name(uid))} may register it", pid=pid)

    def require_admin(self, who: Actor, what: str, also: frozenset[str] = frozenset()) -> None:
        """Raise PermissionDenied unless ``who`` is an admin (or a user named in ``also``)."""
        if self.is_admin(who) or (who.uid is not None and who.name in also):
            return
        hint = f"; {UNKNOWN_HINT}" if who.uid is None else ""
        extra = "".join(f", {name}" for name in sorted(also))
        raise PermissionDenied(f"permission denied: only {self.admins()}{extra} may {what}{hint}")

    def sync(self, who: Actor, source: str) -> Actor:
        """Check that ``who`` may sync ``source``; the actor the audit log records for it."""
        self.require_admin(
            who, f"sync {source} (add the user to [security] sync_users to allow it)",
            also=self.sync_users)
        job = f"{source}-sync"
        if who.via == "system":
            return Actor.system(job)
        return Actor(name=f"{who.name} via {job}", uid=who.uid, admin=True, via=who.via)


def user_uid(name: str) -> int | None:
    """The uid of local user ``name``, or None when ``name`` is not a user (a label)."""
    import pwd

    if not name or not NAME_RE.match(name):
        return None
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def in_group(uid: int, group: str) -> bool:
    import grp
    import pwd

    try:
        gid = grp.getgrnam(group).gr_gid
        user = pwd.getpwuid(uid)
    except KeyError:
        return False
    return gid in os.getgrouplist(user.pw_name, user.pw_gid)
