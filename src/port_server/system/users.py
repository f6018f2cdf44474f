"""User names for uids: one cache for every caller (live scan, peer identity, authorization)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    """The account name of ``uid``, or ``uid<N>`` when the system has no such account."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"
