"""Writing project files (``.env``, the compose override) the safe way.

A random temporary name in the target's folder (``mkstemp``), fsync, rename over the target:
a reader never sees half a file, the target keeps its mode, and a symlink at the target is
refused rather than followed (replacing it would write somewhere the user did not name).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from port_server.errors import InvalidInput


def write_text(path: Path, text: str, field: str = "path") -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically; InvalidInput when it cannot."""
    import tempfile

    if path.is_symlink():
        raise InvalidInput(f"{path} is a symbolic link; portctl does not write through links,"
                           " replace it with a file", field=field)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644 & ~_umask()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it ({exc.strerror or exc})", field=field) from None
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = ""
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write it ({exc.strerror or exc}); check the folder"
                           " exists and is writable", field=field) from None
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
