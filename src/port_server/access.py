"""Who may change an allocation: pure policy over ``Actor`` and ``Allocation`` (plus the passwd
and group databases). Called by the service before every release and update.

An allocation is owned by an OS user when its ``owner`` is a local user name (the default for
allocations made by a kernel-identified caller); any other owner is a label, not enforced.
Root, members of the configured admin group and trusted jobs/token holders are admins.
Protected allocations need ``force`` on top of that; ``force`` never overrides ownership.
"""

from __future__ import annotations

import os

from port_server.errors import PermissionDenied, Protected
from port_server.models import NAME_RE, Actor, Allocation


def is_admin(who: Actor, admin_group: str = "") -> bool:
    """Root, a member of ``admin_group``, or a trusted job/token holder."""
    if who.admin or who.uid == 0:
        return True
    return bool(admin_group) and who.uid is not None and in_group(who.uid, admin_group)


def authorize(alloc: Allocation, who: Actor, verb: str, force: bool = False,
              admin_group: str = "") -> None:
    """May ``who`` ``verb`` (release/update/renew) ``alloc``? Raise PermissionDenied/Protected."""
    owner_uid = user_uid(alloc.owner)
    if owner_uid is not None and who.uid != owner_uid and not is_admin(who, admin_group):
        admins = f"root or a member of group {admin_group}" if admin_group else "root"
        raise PermissionDenied(
            f"permission denied: {alloc.port} is owned by {alloc.owner}; only"
            f" {alloc.owner} or {admins} may {verb} it", owner=alloc.owner, port=alloc.port)
    if alloc.protected and not force:
        raise Protected(
            f"port {alloc.port} (id={alloc.id}) for {alloc.key} is protected; pass --force"
            f" to {verb} it anyway", holder=alloc.to_dict())


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
