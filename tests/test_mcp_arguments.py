"""MCP tool arguments are checked by jsonschema against each tool's own schema, one line each."""

from __future__ import annotations

from typing import Any

import pytest

from port_server.errors import InvalidInput
from port_server.mcp_server import TOOLS, check_arguments

SPEC = {t.name: t for t in TOOLS}


@pytest.mark.parametrize("tool, args, message", [
    ("check_port", {}, "port: field required"),
    ("check_port", {"port": True}, "port: must be an integer"),
    ("check_port", {"port": "80"}, "port: must be an integer"),
    ("check_port", {"port": 0}, "port: 0 is out of range"),
    ("check_port", {"port": 80, "host": "x"}, "host: unknown argument"),
    ("allocate", {"service": "bad name"}, "service: 'bad name' is not a valid name"),
    ("release", {"id": -1}, "id: -1 is out of range"),
    ("scan", {"state": "sideways"}, "state: 'sideways' does not match"),
])
def test_bad_arguments_are_one_line_naming_the_argument(tool: str, args: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_arguments(SPEC[tool], args)
    assert caught.value.message.startswith(message), caught.value.message
    assert "\n" not in caught.value.message


def test_every_tool_accepts_its_own_minimal_arguments() -> None:
    for tool in TOOLS:
        required = tool.schema.get("required", [])
        sample = {"service": "web", "port": 8080}
        check_arguments(tool, {name: sample[name] for name in required})
