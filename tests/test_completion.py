"""Shell completion: generated from the parser, names from the server, silent when it is down.

bash is exercised for real: the script is loaded into bash and its function is called the way
bash calls it on <TAB>.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import ServerProc, require_tool
from port_server.cli import build_parser
from port_server.cli.completion import _options, _subcommands


def _complete(server: ServerProc, words: list[str], env: dict[str, str] | None = None
              ) -> list[str]:
    """What bash would offer for the command line ``words`` (the last word is being typed)."""
    script = server.portctl("completion", "bash").stdout
    quoted = " ".join(f"'{w}'" for w in words)
    program = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1};"
               " _portctl_complete; printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "-c", program], env={**server.env, **(env or {})},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_bash_completes_commands_flags_and_names(server: ServerProc) -> None:
    for app, inst in (("shop", "dev"), ("shipping", "main"), ("blog", "dev")):
        assert server.portctl("allocate", "--app", app, "--instance", inst,
                              "--service", "web").returncode == 0
    assert _complete(server, ["portctl", "al"]) == ["allocate"]
    assert "doctor" in _complete(server, ["portctl", ""])
    assert "__complete" not in _complete(server, ["portctl", ""])
    assert _complete(server, ["portctl", "allocate", "--ser"]) == ["--service"]
    assert _complete(server, ["portctl", "run", "--eph"]) == ["--ephemeral"]
    assert _complete(server, ["portctl", "completion", "z"]) == ["zsh"]
    assert sorted(_complete(server, ["portctl", "list", "--app", "sh"])) == ["shipping", "shop"]
    assert _complete(server, ["portctl", "release", "--instance", ""]) == ["dev", "main"]
    assert _complete(server, ["portctl", "--addr", "x", "skill", "i"]) == ["install"]


def test_names_are_fast_and_silent_when_the_server_is_down(server: ServerProc) -> None:
    down = {"PORT_SERVER_ADDR": "127.0.0.1:1"}
    start = time.monotonic()
    r = server.portctl("__complete", "names", "--field", "app", env=down)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert time.monotonic() - start < 5
    assert _complete(server, ["portctl", "list", "--app", ""], env=down) == []
    assert "__complete" not in server.portctl("--help").stdout


def test_every_command_and_flag_is_in_every_script(server: ServerProc) -> None:
    parser = build_parser()
    scripts = {shell: server.portctl("completion", shell).stdout
               for shell in ("bash", "zsh", "fish")}
    commands = _subcommands(parser)
    assert {"allocate", "run", "doctor", "skill", "completion", "mcp"} <= set(commands)
    for name, (_, sub) in commands.items():
        for script in scripts.values():
            assert name in script
            for flag, _, _ in _options(sub):
                assert flag[2:] in script
    assert "complete -F _portctl_complete portctl" in scripts["bash"].replace("-o default ", "")
    assert "bashcompinit" in scripts["zsh"]
    assert "__complete names --field service" in scripts["fish"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_script_parses_in_its_shell(server: ServerProc, shell: str) -> None:
    exe = require_tool(shell, f"apt-get install {shell}")
    script = server.portctl("completion", shell).stdout
    r = subprocess.run([exe, "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_fish_completes_commands_and_names(server: ServerProc, tmp_path: Path) -> None:
    exe = require_tool("fish", "apt-get install fish")
    assert server.portctl("allocate", "--app", "fishapp", "--instance", "dev",
                          "--service", "web").returncode == 0
    script = tmp_path / "portctl.fish"
    script.write_text(server.portctl("completion", "fish").stdout)

    def complete(line: str) -> list[str]:
        r = subprocess.run([exe, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
                           env=server.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return [w.split("\t")[0] for w in r.stdout.splitlines()]

    assert "allocate" in complete("portctl al")
    assert complete("portctl list --app fish") == ["fishapp"]
    assert "--ephemeral" in complete("portctl run --eph")


def test_bash_script_has_no_syntax_errors(server: ServerProc) -> None:
    script = server.portctl("completion", "bash").stdout
    r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
