"""Host ports in shell command lines (npm scripts, Makefile recipes, shell scripts).

Finds ``docker run -p H:C`` (and podman/nerdctl), ``--port N`` / ``--port=N`` / ``-p N`` of any tool
that is not a client (``psql -p 5433`` connects, it does not bind), ``PORT=N cmd``,
``runserver [host:]N``, gunicorn/hypercorn ``--bind host:N``, ``php -S host:N``,
``python -m http.server N``, ``serve -l N``, ``--inspect=host:N``, ``--server.port N`` and
``kubectl port-forward svc/x 8080:80`` (the local side).
Look-alikes that are not ports stay out: ``docker compose -p NAME``, ``mkdir -p``, ``tsc -p DIR``,
``npx -p PKG``, ``wait-on tcp:3000``, ``playwright codegen localhost:3000``.
A quoted argument that is itself a command (``concurrently "vite --port 3000"``) is scanned too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from port_server.scanners.interpolate import UNRESOLVED
from port_server.scanners.port_spec import PortSpecError, parse_range, parse_short


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Tools whose port flag names a port to connect to, or whose -p means something else.
CLIENT_TOOLS = _words("""
psql pg_dump pg_dumpall pg_restore pg_isready pg_basebackup createdb dropdb createuser dropuser
mysql mysqldump mysqladmin mariadb mariadb-dump redis-cli valkey-cli mongo mongosh mongodump
mongorestore mongoimport mongoexport cqlsh clickhouse-client influx nats grpcurl rabbitmqadmin
ssh scp sftp sshpass ftp lftp telnet nc ncat netcat socat curl wget http https xh ab wrk hey
wait-on wait-for-it wait-for-it.sh wait-for start-server-and-test start-test server-test
tsc mkdir cp mv rm ln chmod chown install rsync tar zip unzip patch git xargs parallel nice head
tail sort cut read echo printf mocha kubectl helm lsof fuser kill killall pkill ss netstat nmap
ps top htop strace gdb perf renice taskset pidstat py-spy pmap prlimit
docker-compose podman-compose ssh-keygen openssl jq yq sed awk grep
""")
#: Leading words that run the next word as the real command.
WRAPPERS = _words("sudo env nohup time exec command npx bunx pnpx yarn pnpm npm bun cross-env "
                  "cross-env-shell dotenv env-cmd")
DOCKER_LIKE = _words("docker podman nerdctl finch")
BIND_TOOLS = _words("gunicorn hypercorn daphne waitress-serve granian")
HOST_FLAGS = _words("--host -H --hostname -a --address --bind-address --ip")
PORT_FLAGS = _words("--port -p --http-port --server.port --listen-port -port")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_HOSTPORT = re.compile(r"^(?:(?:[a-z]+://)?(\[[0-9a-fA-F:.]+\]|[\w.-]*):)?(\d{1,5})/?$")
_SEPARATORS = _words("&& || ; | & ( ) ;; |& $ ` >& <& > < >> 2> 1> &>")
_PRE_SPLIT = re.compile(r"\$\(|`")
_DOCKER_SHORT_P = re.compile(r"^-[dit]+p$")


@dataclass(frozen=True)
class CommandPort:
    host_port: int
    container_port: int | None
    protocol: str
    host_ip: str
    tool: str


def tokenize(command: str) -> list[str]:
    text = _PRE_SPLIT.sub(" ; ", command)
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&")
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError:  # unbalanced quotes (prose in an echo): fall back to words
        return text.replace('"', " ").replace("'", " ").split()


def segments(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for tok in tokens:
        if tok in _SEPARATORS or (tok and set(tok) <= set("();<>|&")):
            out.append([])
        else:
            out[-1].append(tok)
    return [s for s in out if s]


def scan_command(command: str, _depth: int = 0) -> list[CommandPort]:
    """Every fixed host port the command line binds, in order."""
    found: list[CommandPort] = []
    for seg in segments(tokenize(command)):
        found.extend(_scan_segment(seg, _depth))
    return found


def _scan_segment(seg: list[str], depth: int) -> list[CommandPort]:
    found: list[CommandPort] = []
    words = list(seg)
    while words:  # leading assignments and wrappers
        m = _ASSIGNMENT.match(words[0])
        if m:
            if m.group(1).upper() == "PORT" and (port := _port(m.group(2))):
                found.append(CommandPort(port, None, "tcp", "", "PORT="))
            elif " " in m.group(2) and depth < 2:  # OUT="$(docker run -p 80:80 img)"
                found.extend(scan_command(m.group(2), depth + 1))
            words.pop(0)
        elif _tool_name(words[0]) in WRAPPERS or words[0] in ("run", "exec", "--", "set"):
            words.pop(0)
            while words and words[0].startswith("-") and words[0] != "--":
                flag = words.pop(0)
                if flag in ("-p", "--package", "-e", "-f", "--env", "-c") and words:
                    words.pop(0)  # npx -p PKG, dotenv -e FILE
        else:
            break
    if not words:
        return found
    tool = _tool_name(words[0])
    args = words[1:]
    if depth < 2:  # a quoted argument that is a command of its own
        for arg in args:
            if " " in arg and ("--port" in arg or "-p " in arg or "PORT=" in arg
                               or "docker" in arg):
                found.extend(scan_command(arg, depth + 1))
    if tool in ("kubectl", "oc") and "port-forward" in args:
        return found + _port_forward(args, tool)
    if tool in CLIENT_TOOLS:
        return found
    if tool in DOCKER_LIKE:
        return found + _docker_ports(args, tool)
    found.extend(_flag_ports(tool, args))
    return found


def _tool_name(word: str) -> str:
    return word.rsplit("/", 1)[-1].lower()


def _port(text: str) -> int | None:
    text = text.strip().strip("'\"")
    if not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= 65535 else None


def _option_value(args: list[str], i: int, names: frozenset[str] | tuple[str, ...]
                  ) -> tuple[str | None, int]:
    """If args[i] is one of ``names`` (``--x V`` or ``--x=V``), its value and the next index."""
    arg = args[i]
    for name in names:
        if arg == name:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None, i + 1  # a flag with no value here (vite --host --port 5173)
            return args[i + 1], i + 2
        if arg.startswith(name + "=") and name.startswith("-"):
            return arg[len(name) + 1:], i + 1
    return None, i + 1


def _docker_ports(args: list[str], tool: str) -> list[CommandPort]:
    positional = [a for a in args if not a.startswith("-")]
    sub = positional[:2]
    if not sub or sub[0] not in ("run", "create", "container") or (
            sub[0] == "container" and sub[1:2] not in (["run"], ["create"])):
        return []
    out: list[CommandPort] = []
    i = 0
    while i < len(args):
        arg = args[i]
        value: str | None = None
        if arg in ("-p", "--publish"):
            value, i = (args[i + 1] if i + 1 < len(args) else None), i + 2
        elif arg.startswith(("--publish=", "-p=")):
            value, i = arg.split("=", 1)[1], i + 1
        elif arg.startswith("-p") and len(arg) > 2 and arg[2].isdigit():
            value, i = arg[2:], i + 1
        elif _DOCKER_SHORT_P.match(arg):  # -dp 8080:80: boolean short flags, then -p
            value, i = (args[i + 1] if i + 1 < len(args) else None), i + 2
        else:
            i += 1
        if value is None or UNRESOLVED in value:
            continue
        try:
            mappings = parse_short(value)
        except PortSpecError:
            continue
        out.extend(CommandPort(m.host_port, m.container_port, m.protocol, m.host_ip,
                               f"{tool} run") for m in mappings if m.host_port is not None)
    return out


def _port_forward(args: list[str], tool: str) -> list[CommandPort]:
    """``kubectl port-forward RESOURCE [LOCAL:]REMOTE... [--address IP]``: the local ports."""
    out: list[CommandPort] = []
    address = ""
    positional: list[str] = []
    i = args.index("port-forward") + 1
    while i < len(args):
        arg = args[i]
        if arg == "--address" and i + 1 < len(args):
            address, i = args[i + 1], i + 2
            continue
        if arg.startswith("--address="):
            address = arg.split("=", 1)[1]
        elif arg in ("-n", "--namespace", "--context", "--pod-running-timeout") and \
                i + 1 < len(args):
            i += 1
        elif not arg.startswith("-"):
            positional.append(arg)
        i += 1
    ip = address.split(",")[0] if address and address != "localhost" else ""
    for spec in positional[1:]:  # the first one names the pod or service
        local, _, remote = spec.partition(":")
        port, target = _port(local), _port(remote) if remote else _port(local)
        if port is not None:
            out.append(CommandPort(port, target, "tcp", ip, f"{tool} port-forward"))
    return out


def _flag_ports(tool: str, args: list[str]) -> list[CommandPort]:
    ports: list[tuple[int, str]] = []
    host_ip = ""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in HOST_FLAGS or any(arg.startswith(f + "=") for f in HOST_FLAGS
                                    if f.startswith("--")):
            value, i = _option_value(args, i, HOST_FLAGS)
            hit = _hostport(value) if value and ":" in value else None
            if hit and hit[0]:  # mkdocs -a 0.0.0.0:8000
                ports.append((hit[1], hit[0]))
            elif value and UNRESOLVED not in value and re.match(r"^[\w.:\[\]-]+$", value) and (
                    "." in value or ":" in value or value == "localhost"):
                host_ip = value
            continue
        if arg in PORT_FLAGS or any(arg.startswith(f + "=") for f in PORT_FLAGS):
            value, nxt = _option_value(args, i, PORT_FLAGS)
            i = nxt
            if value is None:
                continue
            if ":" in value and tool not in ("serve",):  # -p 8080:80 of a container tool
                hit = _hostport(value)
                if hit:
                    ports.append((hit[1], hit[0]))
                continue
            if (port := _port(value)) is not None:
                ports.append((port, ""))
            continue
        if arg.startswith("--inspect") and "=" in arg:
            hit = _hostport(arg.split("=", 1)[1])
            if hit:
                ports.append((hit[1], hit[0]))
        elif (arg in ("-b", "--bind") and tool in BIND_TOOLS) or arg.startswith("--bind=") or (
                arg in ("-l", "--listen") and tool in ("serve", "waitress-serve")) or (
                arg in ("-S",) and tool.startswith("php")) or arg in ("-a", "--dev-addr") or (
                arg.startswith("--dev-addr=")):
            value, i = _option_value(args, i, (arg.split("=")[0],))
            hit = _hostport(value) if value else None
            if hit and (arg != "-a" or ":" in (value or "")):
                ports.append((hit[1], hit[0]))
            continue
        elif arg == "runserver" and i + 1 < len(args) and not args[i + 1].startswith("-"):
            hit = _hostport(args[i + 1])
            if hit:
                ports.append((hit[1], hit[0]))
        elif arg == "http.server" and i > 0 and args[i - 1] == "-m":
            for rest in args[i + 1:]:
                if (port := _port(rest)) is not None:
                    ports.append((port, ""))
                    break
        i += 1
    return [CommandPort(port, None, "tcp", ip or host_ip, tool) for port, ip in ports]


def _hostport(text: str) -> tuple[str, int] | None:
    """'0.0.0.0:8000' -> ('0.0.0.0', 8000); '8000' -> ('', 8000); 'unix:/x' -> None."""
    if UNRESOLVED in text:
        return None
    m = _HOSTPORT.match(text.strip().strip("'\""))
    if m is None:
        return None
    port = _port(m.group(2))
    if port is None:
        return None
    return (m.group(1) or "").strip("[]"), port


__all__ = ["CommandPort", "parse_range", "scan_command"]
