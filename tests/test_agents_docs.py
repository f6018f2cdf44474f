"""The agents features are documented: every command has help and a docs entry, every MCP tool
is in the docs' table, and the Makefile has the skill target the skill itself mentions."""

from __future__ import annotations

from pathlib import Path

from conftest import documentation
from port_server.cli import build_parser
from port_server.cli.completion import _subcommands
from port_server.mcp_server import TOOLS

REPO = Path(__file__).resolve().parent.parent
README = documentation()
AGENT_COMMANDS = ("run", "doctor", "skill", "completion", "mcp")


def test_commands_have_help_and_readme_entries() -> None:
    commands = _subcommands(build_parser())
    for name in AGENT_COMMANDS:
        text, sub = commands[name]
        assert text and sub.description, name
        assert f"portctl {name}" in README, name
    assert "port-server install-service" in README
    assert "portctl skill install --global" in README


def test_every_mcp_tool_is_in_the_readme_table() -> None:
    for tool in TOOLS:
        assert f"| `{tool.name}` |" in README, tool.name
    assert '"args": ["mcp"]' in README


def test_make_install_skill_target_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "install-skill:" in makefile
    assert "make install-skill" in (REPO / "src/port_server/skill/references/WORKFLOW.md"
                                    ).read_text()
