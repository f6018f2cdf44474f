"""``port-server install-service``: a systemd user unit so the server comes back after a reboot.

Writes ``$XDG_CONFIG_HOME/systemd/user/port-server.service`` and enables it with
``systemctl --user``. Where systemd's user manager is not available (containers, macOS, CI) it
still writes the unit, says how to enable it, and exits 0; ``--print`` only prints the unit.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

UNIT_NAME = "port-server.service"
#: Server flags passed through to ExecStart (the same flags as plain ``port-server``).
PASSED_FLAGS = ("host", "port", "db", "store", "config", "host_id", "log_level")


AddFlags = Callable[[argparse.ArgumentParser], None]


def build_parser(add_server_flags: AddFlags) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="port-server install-service",
        description="Write a systemd user unit for port-server and enable it (systemctl --user"
                    " enable --now). Flags after it are passed to the server.")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="only print the unit; write and enable nothing")
    p.add_argument("--no-enable", action="store_true",
                   help="write the unit but do not run systemctl")
    add_server_flags(p)
    return p


def unit_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "systemd" / "user"


def exec_start(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "port_server.server.daemon"]
    for name in PASSED_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            if name in ("db", "config"):
                value = str(Path(value).expanduser().resolve())
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def unit_text(args: argparse.Namespace, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    # The server reads these at start-up; a unit does not inherit the login shell's environment.
    keep = [k for k in ("PORT_SERVER_HOME", "PORT_SERVER_STORE", "PORT_SERVER_CONFIG",
                        "PORT_SERVER_HOST_ID", "XDG_DATA_HOME", "XDG_CONFIG_HOME") if env.get(k)]
    environment = "".join(f"Environment={shlex.quote(f'{k}={env[k]}')}\n" for k in keep)
    return (
        "[Unit]\n"
        "Description=port-server: the port registry (allocates host ports that never collide)\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={shlex.join(exec_start(args))}\n"
        f"{environment}"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _systemctl(*args: str) -> tuple[bool, str]:
    exe = shutil.which("systemctl")
    if exe is None:
        return False, "systemctl not found"
    try:
        proc = subprocess.run([exe, "--user", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    text = (proc.stderr or proc.stdout).strip().splitlines()
    return proc.returncode == 0, text[-1] if text else f"exit code {proc.returncode}"


def run(argv: Sequence[str]) -> int:
    """``port-server install-service [--print] [--no-enable] [server flags]``."""
    from port_server.server.daemon_args import add_server_flags

    args = build_parser(add_server_flags).parse_args(argv)
    text = unit_text(args)
    if args.print_only:
        sys.stdout.write(text)
        return 0
    path = unit_dir() / UNIT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    from port_server.errors import PortServerError
    from port_server.safe_write import write_file

    try:
        write_file(path, text, new_mode=0o644)
    except PortServerError as exc:
        print(f"port-server install-service: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {path}")
    how = (f"enable it with: systemctl --user daemon-reload && systemctl --user enable --now"
           f" {UNIT_NAME}\n(and `loginctl enable-linger $USER` to start it at boot without a"
           " login)")
    if args.no_enable:
        print(how)
        return 0
    ok, why = _systemctl("daemon-reload")
    if ok:
        ok, why = _systemctl("enable", "--now", UNIT_NAME)
    if ok:
        print(f"enabled and started {UNIT_NAME} (systemctl --user status {UNIT_NAME})")
    else:
        print(f"systemd user manager not available here ({why}); the unit is written, {how}")
    return 0
