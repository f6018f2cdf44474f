"""Real OS users for tests where identity matters: throwaway users (created with useradd, removed
afterwards; root needed, else one skip line naming root) and running code as one of them."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from conftest import ServerProc, require_root, require_tool


@contextmanager
def throwaway_users(count: int, prefix: str = "pst") -> Iterator[list[pwd.struct_passwd]]:
    """``count`` fresh OS users without a home or a login shell; removed on exit."""
    require_root("create throwaway OS users (useradd)")
    useradd = require_tool("useradd", "apt-get install passwd", paths=("/usr/sbin/useradd",))
    userdel = require_tool("userdel", "apt-get install passwd", paths=("/usr/sbin/userdel",))
    tag = secrets.token_hex(3)
    names = [f"{prefix}{tag}{chr(ord('a') + i)}" for i in range(count)]
    created: list[str] = []
    try:
        for name in names:
            subprocess.run([useradd, "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            created.append(name)
        yield [pwd.getpwnam(n) for n in names]
    finally:
        for name in created:
            subprocess.run([userdel, name], capture_output=True)


def run_as(user: pwd.struct_passwd, fn: Callable[[], object]) -> str:
    """Run ``fn()`` in a forked child running as ``user``; what it returned, as text."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        result: object = "child failed"
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            result = fn()
        finally:
            os.write(write_fd, str(result).encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        out = fh.read()
    os.waitpid(child, 0)
    return out


def portctl_as(srv: ServerProc | dict[str, str], user: pwd.struct_passwd | None,
               *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real portctl code as ``user`` (root when None) in a forked child that drops to
    that uid, so the server sees that uid on the connection. (Not via the executable: this
    machine's interpreter lives under /root, which other users cannot enter.)"""
    import stat  # noqa: F401  (pre-import what the child needs: it may not read /root later)
    import traceback

    from port_server import cli
    from port_server.cli import output, security  # noqa: F401
    from port_server.client import RegistryClient  # noqa: F401
    from port_server.workflows import identity  # noqa: F401

    cli.build_parser()  # imports every command module now, while /root is readable
    env = dict(srv.env if isinstance(srv, ServerProc) else srv)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(out_r)
            os.close(err_r)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.environ.clear()
            os.environ.update({**env, "HOME": "/"})
            os.chdir("/")
            if user is not None:
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
            code = cli.main(list(args))
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as fh_out, os.fdopen(err_r) as fh_err:
        stdout, stderr = fh_out.read(), fh_err.read()
    _, status = os.waitpid(pid, 0)
    return subprocess.CompletedProcess(list(args), os.waitstatus_to_exitcode(status), stdout,
                                       stderr)


