"""Who may change what: pure policy over ``Actor`` and ``Allocation`` (plus the passwd and group
databases). The service asks it before every mutation; nothing else decides.

- An allocation is owned by an OS user when its ``owner`` is a local user name (the default for
  allocations made by a kernel-identified caller); any other owner is a label, not enforced.
- Admins (root, members of the configured admin group, the server's own jobs and token holders)
  may change anything; ``force`` is still needed for a protected allocation.
- The owner may change their allocation; a protected one needs ``force`` on top. A protected
  allocation no OS user owns (a label such as a team, or a sync's) changes only by an admin.
- An *unknown* caller (the kernel could not vouch for a uid: see ``server/peer.py``) may read
  and allocate, and may change only unprotected allocations no OS user owns.
- ``force`` never overrides ownership or someone else's protection for a non-admin.
- Naming an OS user other than yourself as an owner (allocate, update, import) needs admin.
"""

from __future__ import annotations

import os

from port_server.errors import PermissionDenied, Protected
from port_server.models import NAME_RE, Actor, Allocation

UNKNOWN_HINT = ("the server could not tell who you are (the kernel named no owner for your"
                " connection); use the Unix socket, or keep the connection open until the answer")


def is_admin(who: Actor, admin_group: str = "") -> bool:
    """Root, a member of ``admin_group``, or a trusted job/token holder."""
    if who.admin or who.uid == 0:
        return True
    return bool(admin_group) and who.uid is not None and in_group(who.uid, admin_group)


def is_unknown(who: Actor) -> bool:
    """Nobody the kernel vouched for, and no admin either."""
    return who.uid is None and not who.admin


def admins(admin_group: str = "") -> str:
    return f"root or a member of group {admin_group}" if admin_group else "root"


def who_may(owner: str, admin_group: str = "") -> str:
    """'alice or root', 'root or a member of group ops' (never 'root or root')."""
    rest = admins(admin_group)
    if owner == "root":
        return rest
    return f"{owner}, {rest}" if admin_group else f"{owner} or {rest}"


def authorize(alloc: Allocation, who: Actor, verb: str, force: bool = False,
              admin_group: str = "") -> None:
    """May ``who`` ``verb`` (release/update/renew/replace) ``alloc``? Raise PermissionDenied or
    Protected."""
    admin = is_admin(who, admin_group)
    owner_uid = user_uid(alloc.owner)
    if owner_uid is not None and who.uid != owner_uid and not admin:
        hint = f"; {UNKNOWN_HINT}" if is_unknown(who) else ""
        raise PermissionDenied(
            f"permission denied: port {alloc.port} is owned by {alloc.owner}; only"
            f" {who_may(alloc.owner, admin_group)} may {verb} it{hint}",
            owner=alloc.owner, port=alloc.port)
    if alloc.protected and not admin and (owner_uid is None or is_unknown(who)):
        why = UNKNOWN_HINT if is_unknown(who) else (
            f"only {admins(admin_group)} may {verb} a protected allocation no OS user owns")
        raise PermissionDenied(
            f"permission denied: port {alloc.port} (id={alloc.id}) is protected; {why}",
            owner=alloc.owner, port=alloc.port)
    if alloc.protected and not force:
        raise Protected(
            f"port {alloc.port} (id={alloc.id}) for {alloc.key} is protected; pass --force"
            f" to {verb} it anyway", holder=alloc.to_dict())


def may(alloc: Allocation, who: Actor, force: bool = False, admin_group: str = "") -> bool:
    """``authorize`` as a yes/no answer (for planning which holders an import may replace)."""
    try:
        authorize(alloc, who, "change", force, admin_group)
    except (PermissionDenied, Protected):
        return False
    return True


def authorize_owner(owner: str, who: Actor, field: str = "owner", admin_group: str = "") -> None:
    """Naming an OS user other than the caller as ``owner`` needs admin (a label is fine)."""
    uid = user_uid(owner)
    if uid is None or uid == who.uid or is_admin(who, admin_group):
        return
    raise PermissionDenied(
        f"permission denied: {field} {owner!r} is another OS user; only"
        f" {admins(admin_group)} may allocate for someone else (omit --owner to own it"
        " yourself)", owner=owner)


def require_admin(who: Actor, what: str, admin_group: str = "",
                  also: frozenset[str] = frozenset()) -> None:
    """Raise PermissionDenied unless ``who`` is an admin (or one of the user names ``also``)."""
    if is_admin(who, admin_group) or (who.uid is not None and who.name in also):
        return
    hint = f"; {UNKNOWN_HINT}" if is_unknown(who) else ""
    extra = f", {', '.join(sorted(also))}" if also else ""
    raise PermissionDenied(
        f"permission denied: only {admins(admin_group)}{extra} may {what}{hint}")


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
