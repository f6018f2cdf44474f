"""``portctl mcp``: the registry as MCP tools over stdio, with the official ``mcp`` SDK (extra).

Every tool goes through the same RegistryClient as the CLI, so the server's checks and messages
apply unchanged: a domain error comes back as an MCP tool error (``isError``) whose text is the
message the CLI prints after ``error:``. Tools are declared with an explicit JSON schema each, in
``TOOLS``; arguments are checked against it here because the low-level SDK server does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from port_server import __version__
from port_server.client import RegistryClient
from port_server.errors import InvalidInput, PortServerError
from port_server.models import AllocationFilter, AllocationRequest

_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def _props(**props: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return {name: {**schema, "description": text} for name, (schema, text) in props.items()}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """A tool's input schema: an object with exactly these properties."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_FILTER = _props(
    app=(_NAME, "application name"),
    instance=(_NAME, "instance: worktree, branch or environment"),
    service=(_NAME, "service name, e.g. web, api, postgres"),
    port=(_PORT, "port number"),
)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[RegistryClient, dict[str, Any]], Any]


def _allocate(client: RegistryClient, args: dict[str, Any]) -> Any:
    app, instance = _identity(args, None)
    result = client.allocate(AllocationRequest(
        app=app, instance=instance, service=args["service"], port=args.get("port"),
        type=args.get("type", ""), force=bool(args.get("force", False)),
        note=args.get("note", ""), http=args.get("http"), path=_worktree()))
    return {**result.allocation.to_dict(), "created": result.created}


def _worktree() -> str:
    from port_server.workflows.identity import git_worktree

    return git_worktree()


def _release(client: RegistryClient, args: dict[str, Any]) -> Any:
    if "id" in args:
        if len(args) > 1:
            raise InvalidInput("id cannot be combined with app/instance/service/port", field="id")
        alloc = client.release_id(int(args["id"]))
        return {"released": [alloc.to_dict()] if alloc else []}
    flt = AllocationFilter(**{k: args.get(k) for k in ("app", "instance", "service", "port")})
    if flt.is_empty():
        raise InvalidInput("release needs id or at least one of app, instance, service, port"
                           " (it never releases everything)", field="filter")
    return {"released": [a.to_dict() for a in client.release(flt)]}


def _list(client: RegistryClient, args: dict[str, Any]) -> Any:
    flt = AllocationFilter(**{k: args.get(k) for k in ("app", "instance", "service", "port")})
    return {"allocations": [a.to_dict() for a in client.list(flt)]}


def _check(client: RegistryClient, args: dict[str, Any]) -> Any:
    return client.check_port(int(args["port"])).to_dict()


def _identity(args: dict[str, Any], folder: Any) -> tuple[str, str]:
    from port_server.workflows.project import identity

    return identity(args.get("app"), args.get("instance"), folder)


def _folder(args: dict[str, Any]) -> Any:
    from port_server.workflows.project import project_dir

    return project_dir(str(args.get("dir") or ".")).resolve()


def _scan(client: RegistryClient, args: dict[str, Any]) -> Any:
    return client.scan_json(state=args.get("state"), app=args.get("app"),
                            port_range=args.get("port_range"),
                            details=bool(args.get("details", False)))


def _scan_project(client: RegistryClient, args: dict[str, Any]) -> Any:
    from port_server.scanners.project import scan_project

    return scan_project(_folder(args)).to_dict()


def _register(client: RegistryClient, args: dict[str, Any]) -> Any:
    from port_server.scanners.project import scan_project
    from port_server.workflows.project import register

    folder = _folder(args)
    app, instance = _identity(args, folder)
    result = scan_project(folder)
    done = register(client, folder, app, instance, bool(args.get("dry_run")), result=result)
    return {"app": app, "instance": instance, "ports": done.outcomes,
            "problems": [p.to_dict() for p in [*result.problems, *result.notes]]}


def _write_env(client: RegistryClient, args: dict[str, Any]) -> Any:
    from port_server.workflows.env import env_values
    from port_server.workflows.project import (
        parse_var_overrides,
        project_path,
        write_env_file,
    )

    overrides = parse_var_overrides([f"{k}={v}" for k, v in (args.get("vars") or {}).items()])
    app, instance = _identity(args, project_path(".").resolve())
    path = project_path(str(args.get("file") or ".env"))
    values = env_values(client, app, instance, overrides, path.resolve().parent)
    if values:
        write_env_file(path, values)
    return {"file": str(path.resolve()), "app": app, "instance": instance, "values": values}


_STATES = {"type": "string", "pattern": r"^(ok|down|unregistered|conflict|orphan)(,(ok|down|"
                                        r"unregistered|conflict|orphan))*$"}
_DIR = {"type": "string"}
_DIR_ARG = (_DIR, "project directory (default: the MCP server's working directory)")
_IDENTITY = {k: v for k, v in _FILTER.items() if k in ("app", "instance")}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "allocate",
        "Allocate a host port for app/instance/service that collides with nothing registered or"
        " bound on this machine. Idempotent: asking again returns the same port. Use it instead of"
        " choosing or hard-coding a port. The answer's proxy_url, when set, is the service's"
        " stable HTTPS name through port-server's proxy. app/instance default to the git"
        " repository and the worktree's folder name of the directory the MCP server runs in.",
        _object({**_FILTER, **_props(
             port=(_PORT, "ask for this exact port (omit to auto-assign)"),
             type=({"type": "string"}, "pool to auto-assign from: web, api, db, ml, monitoring,"
                                       " dynamic (default: the default pool)"),
             force=({"type": "boolean"}, "register an explicit port even if a running process"
                                         " already has it bound"),
             note=({"type": "string"}, "free-text note stored with the allocation"),
             http=({"type": "boolean"}, "an HTTP service: proxy_url in the answer is its stable"
                                        " https://SERVICE.INSTANCE.APP.localhost name (default:"
                                        " true for the web, api and monitoring pools)"))},
                "service"),
        _allocate),
    ToolSpec(
        "release",
        "Release allocations: by id, or by a filter of app/instance/service/port (at least one;"
        " it never releases everything). Returns the released allocations.",
        _object({**_FILTER, **_props(id=({"type": "integer", "minimum": 1}, "allocation id"))}),
        _release),
    ToolSpec(
        "list_allocations",
        "List allocations, optionally filtered by app, instance, service or port.",
        _object(_FILTER),
        _list),
    ToolSpec(
        "check_port",
        "Is a port free? Returns available (false when it is registered or bound by any process"
        " on this machine), the registered holder and the processes holding it.",
        _object(_props(port=(_PORT, "the port to check")), "port"),
        _check),
    ToolSpec(
        "scan",
        "Live scan: every listening TCP and bound UDP socket on this machine joined with the"
        " registry, one row per port: ok (registered and listening), down (registered, nothing"
        " listens), unregistered (listening, not registered), conflict. Use it to see what is"
        " really running before choosing or debugging ports.",
        _object(_props(
            state=(_STATES, "only these states, comma-separated: ok,down,unregistered,conflict"),
            app=(_NAME, "only ports registered to this app"),
            port_range=({"type": "string", "pattern": r"^\d+-\d+$"},
                        "only ports in this range, e.g. 3000-3999"),
            details=({"type": "boolean"}, "add pid, process, user, command line, container"))),
        _scan),
    ToolSpec(
        "scan_project",
        "Find the host ports a project declares without changing anything: docker compose"
        " \"host:container\" ports, package.json scripts, .env *_PORT variables, Makefiles and"
        " scripts, dev containers, Procfiles, vite/astro/nuxt/webpack/angular configs, Spring"
        " Boot, puma/gunicorn config, just/mise/Taskfile/Tilt tasks, each with file and line"
        " and the key that sets it. Container-only ports are left out; nothing is run.",
        _object(_props(dir=_DIR_ARG)),
        _scan_project),
    ToolSpec(
        "register",
        "Register every host port a project declares (what scan_project finds) under"
        " app/instance, each with its explicit port. Idempotent. A port held by another app or"
        " bound by an unrelated process is reported as a conflict and not registered.",
        _object({**_IDENTITY, **_props(
            dir=_DIR_ARG, dry_run=({"type": "boolean"}, "report what would happen, change"
                                                         " nothing"))}),
        _register),
    ToolSpec(
        "write_env",
        "Write NAME=port lines for app/instance's allocations into a .env file (default .env"
        " in the MCP server's working directory). Only those lines change; every other byte is"
        " kept. NAME: the variable the compose file next to it references for that port, else"
        " the service upper-cased plus _PORT (web -> WEB_PORT), as `portctl up` names it."
        " Derived values ([env] templates) are written too.",
        _object({**_IDENTITY, **_props(
            file=(_DIR, "the .env file to update or create (default .env)"),
            vars=({"type": "object", "additionalProperties": {"type": "string"}},
                  "variable name per service, e.g. {\"postgres\": \"PG_PORT\"}"))}),
        _write_env),
)

def check_arguments(spec: ToolSpec, args: dict[str, Any]) -> None:
    """``args`` validated against the tool's JSON schema by ``jsonschema`` (what the MCP SDK
    itself uses); the first problem becomes one line naming the argument and the fix."""
    from jsonschema import Draft202012Validator

    problems = sorted(Draft202012Validator(spec.schema).iter_errors(args),
                      key=lambda e: (e.validator != "required", [str(p) for p in e.path]))
    if not problems:
        return
    err = problems[0]
    props: dict[str, Any] = spec.schema["properties"]
    if err.validator == "required":
        name = str(err.message).split("'")[1]
        raise InvalidInput(f"{name}: field required", field=name)
    if err.validator == "additionalProperties":
        name = next(n for n in args if n not in props)
        raise InvalidInput(f"{name}: unknown argument; use: {', '.join(props)}", field=name)
    name = str(err.path[0]) if err.path else "arguments"
    value, prop = args.get(name), props.get(name, {})
    if err.validator == "type":
        kind = str(err.validator_value)
        raise InvalidInput(f"{name}: must be a{'n' if kind[0] in 'aeiou' else ''} {kind}",
                           field=name)
    if err.validator in ("minimum", "maximum"):
        raise InvalidInput(f"{name}: {value} is out of range; use a number from"
                           f" {prop.get('minimum')} to {prop.get('maximum', 'up')}", field=name)
    if err.validator == "pattern" and prop.get("pattern") == _NAME["pattern"]:
        raise InvalidInput(f"{name}: {value!r} is not a valid name; use 1-63 letters, digits,"
                           " '.', '_' or '-', starting with a letter or digit", field=name)
    raise InvalidInput(f"{name}: {err.message}", field=name)


def call_tool(addr: str | None, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
    """Run one tool: (ok, result or error message). Blocking; the server runs it in a thread."""
    spec = next((t for t in TOOLS if t.name == name), None)
    if spec is None:
        return False, f"unknown tool {name!r}; tools: {', '.join(t.name for t in TOOLS)}"
    try:
        check_arguments(spec, args)
        with RegistryClient(addr) as client:
            return True, spec.run(client, args)
    except PortServerError as exc:
        return False, exc.message


def build_server(addr: str | None) -> Any:
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.schema)
            for t in TOOLS])

    async def call(ctx: Any, params: Any) -> Any:
        args = dict(params.arguments or {})
        ok, result = await anyio.to_thread.run_sync(call_tool, addr, params.name, args)
        if not ok:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(result))], is_error=True)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(result, indent=2))],
            structured_content=result)

    return Server("port-server", version=__version__,
                  instructions="Allocate host ports from the port-server registry instead of"
                               " choosing them: allocate, list_allocations, check_port, release;"
                               " scan shows what really listens; scan_project, register and"
                               " write_env bring an existing project's ports into the registry.",
                  on_list_tools=list_tools, on_call_tool=call)


def main(addr: str | None = None) -> int:
    """Serve MCP on stdin/stdout until the client closes the connection."""
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(addr)

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)
    return 0
