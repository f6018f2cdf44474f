"""Every file port-server writes goes through ``write_file``: the one safe way to write a file.

- a temporary file with a random name in the target's own folder (``tempfile.mkstemp``:
  ``O_CREAT | O_EXCL``, mode 0600), so a name planted in advance (a symlink a cloned repository
  commits, say) is never opened, and the rename below stays on one file system;
- the data written, flushed and ``fsync``'d, then ``os.replace`` over the target: a reader sees
  the old file or the new one, never half of one; the folder is fsync'd too (best effort);
- the target keeps its mode (a 0600 ``.env`` stays 0600) and, where the writer may, its owner
  and group; a new file gets ``new_mode`` less the umask;
- a target that is a symbolic link is refused with a message naming the link and where it
  points, unless the caller passes ``follow_symlinks`` (the user's explicit flag, e.g.
  ``--follow-symlinks``); then the file the link points to is replaced and the link stays;
- with ``below``, no folder between ``below`` and the target may be a symbolic link either
  (a planted ``.claude/skills/port-server -> ~/.ssh`` is refused, not written into).

Bottom layer: the standard library and ``errors`` only, cheap to import.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from port_server.errors import InvalidInput, path_error

FOLLOW_HINT = "pass --follow-symlinks to write to the file it points to"
#: The help of every command's ``--follow-symlinks``.
FOLLOW_HELP = "write through a symbolic link at the target (refused without this flag)"


def write_file(path: str | os.PathLike[str], data: str | bytes, *, new_mode: int = 0o666,
               follow_symlinks: bool = False, below: str | os.PathLike[str] | None = None,
               field: str = "path", hint: str = FOLLOW_HINT, flag: str = "") -> Path:
    """Replace ``path``'s content with ``data`` (str as UTF-8) safely; the path written.

    Raises InvalidInput (naming ``field``) for a symlink, a folder or a special file at the
    target, a symlinked folder under ``below``, or any OS error (naming the user's ``flag``,
    e.g. ``--output``, when given), and leaves nothing behind.
    """
    target = writable_target(path, follow_symlinks, below, field, hint)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        current: os.stat_result | None = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise _error(target, "cannot read it", exc, field, flag) from None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise InvalidInput(f"{target} is not a regular file; give a file path", field=field)
    mode = stat.S_IMODE(current.st_mode) if current is not None else new_mode & ~umask()
    tmp = ""
    try:
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if current is not None:  # owner first: a chown may clear mode bits
                _keep_owner(fh.fileno(), current)
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = ""
        _sync_folder(target.parent)
    except OSError as exc:
        raise _error(target, "cannot write it", exc, field, flag) from None
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target


def writable_target(path: str | os.PathLike[str], follow_symlinks: bool = False,
                    below: str | os.PathLike[str] | None = None, field: str = "path",
                    hint: str = FOLLOW_HINT) -> Path:
    """The file ``write_file`` would replace (a link's target with ``follow_symlinks``); raises
    InvalidInput for a symlink without it (so callers can refuse before they read the file)."""
    target = Path(path)
    if below is not None:
        _refuse_linked_folders(target, Path(below), field)
    if target.is_symlink():
        if not follow_symlinks:
            raise InvalidInput(
                f"{target} is a symbolic link (to {os.readlink(target)}); refusing to write"
                f" through it: remove the link, or {hint}", field=field)
        target = Path(os.path.realpath(target))
    return target


def make_dirs(path: str | os.PathLike[str], below: str | os.PathLike[str], mode: int = 0o777,
              field: str = "path", flag: str = "") -> Path:
    """``mkdir -p path`` that refuses a symbolic link among the folders under ``below``."""
    folder = Path(path)
    _refuse_linked_folders(folder / "-", Path(below), field)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as exc:
        raise _error(folder, "cannot create it", exc, field, flag) from None
    return folder


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refuse_linked_folders(target: Path, below: Path, field: str) -> None:
    """No folder strictly between ``below`` and ``target`` may be a symlink."""
    try:
        rel = target.parent.relative_to(below)
    except ValueError:
        return
    folder = below
    for part in rel.parts:
        folder = folder / part
        if folder.is_symlink():
            raise InvalidInput(
                f"{folder} is a symbolic link (to {os.readlink(folder)}); refusing to write"
                " through it: remove the link", field=field)


def _keep_owner(fd: int, current: os.stat_result) -> None:
    """The new file gets the old one's owner and group where this process may set them."""
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(fd, current.st_uid, current.st_gid)
    elif current.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            os.fchown(fd, -1, current.st_gid)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _error(path: Path, what: str, exc: OSError, field: str, flag: str = "") -> InvalidInput:
    if flag:
        return path_error(flag, path, exc)
    return InvalidInput(f"{path}: {what} ({exc.strerror or exc}); check the folder exists and"
                        " is writable", field=field)
