"""`portctl mcp` end to end: the MCP SDK's own client talks to it over stdio, to a real server."""

from __future__ import annotations

import json
from typing import Any

import anyio

from conftest import BIN, ServerProc, free_port, require_module

mcp = require_module("mcp", "pip install '.[mcp]' (make test installs it)")


async def _session_calls(server: ServerProc, calls: list[tuple[str, dict[str, Any]]]
                         ) -> tuple[list[Any], list[Any]]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=str(BIN / "portctl"), args=["mcp"],
                                   env=server.env, cwd=str(server.tmp))
    results = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        for name, args in calls:
            results.append(await session.call_tool(name, args))
    return tools, results


def run_calls(server: ServerProc, calls: list[tuple[str, dict[str, Any]]]
              ) -> tuple[list[Any], list[Any]]:
    return anyio.run(_session_calls, server, calls)


def test_tools_and_a_session_of_calls(server: ServerProc) -> None:
    """One session (starting the SDK costs seconds): schemas, the happy path and the errors."""
    first = server.portctl("allocate", "--app", "a", "--instance", "i", "--service", "db",
                           "--json")
    held = json.loads(first.stdout)["port"]
    cli = server.portctl("allocate", "--app", "b", "--instance", "i", "--service", "db",
                         "--port", str(held))
    assert cli.returncode == 1
    tools, results = run_calls(server, [
        ("allocate", {"app": "myapp", "instance": "dev", "service": "web"}),
        ("allocate", {"app": "myapp", "instance": "dev", "service": "web"}),
        ("list_allocations", {"app": "myapp"}),
        ("check_port", {"port": held}),
        ("release", {"app": "myapp", "instance": "dev"}),
        ("list_allocations", {"app": "myapp"}),
        ("allocate", {"app": "b", "instance": "i", "service": "db", "port": held}),
        ("allocate", {"app": "bad name", "service": "web"}),
        ("release", {}),
        ("release", {"id": 999}),
        ("check_port", {"port": 70000}),
    ])
    alloc, again, listed, check, release, after, taken, bad, empty, unknown, big = results

    by_name = {t.name: t for t in tools}
    assert set(by_name) >= {"allocate", "release", "list_allocations", "check_port"}
    for tool in tools:
        assert tool.description and len(tool.description) > 30
        assert tool.input_schema["type"] == "object"
        for prop in tool.input_schema["properties"].values():
            assert prop.get("description"), tool.name
    assert by_name["allocate"].input_schema["required"] == ["service"]
    assert by_name["check_port"].input_schema["required"] == ["port"]

    assert not alloc.is_error
    port = alloc.structured_content["port"]
    assert alloc.structured_content["created"] is True
    assert json.loads(alloc.content[0].text)["port"] == port
    assert again.structured_content["created"] is False
    assert again.structured_content["port"] == port
    assert [a["port"] for a in listed.structured_content["allocations"]] == [port]
    assert check.structured_content["available"] is False
    assert check.structured_content["holder"]["app"] == "a"
    assert not release.is_error
    assert [a["id"] for a in release.structured_content["released"]] == [
        alloc.structured_content["id"]]
    assert after.structured_content["allocations"] == []
    # a domain error from the server comes back as a tool error with the CLI's message
    assert taken.is_error
    assert cli.stderr.strip() == f"error: {taken.content[0].text}"
    assert bad.is_error and "app: 'bad name' is not a valid name" in bad.content[0].text
    assert empty.is_error and "never releases everything" in empty.content[0].text
    assert unknown.is_error and "999" in unknown.content[0].text
    assert big.is_error and "port: 70000 is out of range" in big.content[0].text


def test_project_tools(server: ServerProc) -> None:
    """scan_project -> register -> write_env -> scan, on a compose project, in one session."""
    web = free_port()
    project = server.tmp / "shop"
    project.mkdir()
    (project / "docker-compose.yml").write_text(
        f'services:\n  web:\n    image: nginx\n    ports:\n      - "{web}:80"\n'
        '  mail:\n    image: mailhog\n    ports:\n      - "1025"\n')
    (project / ".env").write_text("# keep me\nOTHER=1\n")
    tools, (scanned, dry, registered, again, env, live, missing) = run_calls(server, [
        ("scan_project", {"dir": "shop"}),
        ("register", {"dir": "shop", "app": "shop", "instance": "dev", "dry_run": True}),
        ("register", {"dir": "shop", "app": "shop", "instance": "dev"}),
        ("register", {"dir": "shop", "app": "shop", "instance": "dev"}),
        ("write_env", {"app": "shop", "instance": "dev", "file": "shop/.env",
                       "vars": {"web": "SHOP_WEB_PORT"}}),
        ("scan", {"app": "shop"}),
        ("scan_project", {"dir": "no-such-dir"}),
    ])
    assert {"scan", "scan_project", "register", "write_env"} <= {t.name for t in tools}
    claims = scanned.structured_content["claims"]
    assert [(c["service"], c["host_port"]) for c in claims] == [("web", web)]  # not 1025
    assert [p["status"] for p in dry.structured_content["ports"]] == ["would register"]
    assert [p["status"] for p in registered.structured_content["ports"]] == ["registered"]
    assert [p["status"] for p in again.structured_content["ports"]] == [
        "already registered to this project"]
    listed = server.client().list()
    assert [(a.app, a.instance, a.port) for a in listed] == [("shop", "dev", web)]
    assert env.structured_content["values"] == {"SHOP_WEB_PORT": web}
    assert (project / ".env").read_text() == f"# keep me\nOTHER=1\nSHOP_WEB_PORT={web}\n"
    assert not live.is_error
    rows = [r for r in live.structured_content["rows"] if r.get("port") == web]
    assert rows and rows[0]["state"] == "down", live.content[0].text[:400]
    assert missing.is_error and "is not a directory" in missing.content[0].text


def test_unreachable_server_is_a_tool_error(server: ServerProc) -> None:
    env = {**server.env, "PORT_SERVER_ADDR": "127.0.0.1:1"}
    offline = ServerProc(tmp=server.tmp, port=1, env=env, args=[])
    _, (result,) = run_calls(offline, [("list_allocations", {})])
    assert result.is_error and "cannot reach port-server" in result.content[0].text
