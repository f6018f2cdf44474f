"""Front-end dev-server configs, read as text (``js_config``) or JSON, never run.

Which file belongs to which framework, and which objects' ``port`` binds there, comes from the
shared table in ``port_server.frameworks`` (``config_files``, ``port_keys``): ``vite.config.*``
(``server``/``preview``; SvelteKit and Remix configure vite there too), ``astro.config.*``
(``server``), ``nuxt.config.*`` (``devServer``; Nuxt 2's ``server``), ``webpack*.js`` /
``rspack*`` and ``vue.config.*`` (``devServer``), ``rsbuild.config.*`` (``server``).
``angular.json`` / ``workspace.json``: each project's dev-server target (``serve``),
``options.port`` and its ``configurations``. A ``port`` inside ``proxy`` or ``hmr`` is not the
server's bind; proxy targets are URLs the dev server connects to.
"""

from __future__ import annotations

import posixpath
import re
from functools import cache
from typing import Any

from port_server.frameworks import FRAMEWORKS, Framework
from port_server.models import PortClaim
from port_server.scanners.base import SourceFile, base_name, claim, folder_of, valid_port
from port_server.scanners.js_config import Config, Property, call_arguments, read_config
from port_server.scanners.js_eval import evaluate

_NOT_A_BIND = frozenset({"proxy", "hmr", "watch", "plugins", "optimizeDeps", "test"})
_VITE_MODE_FILES = (".env", ".env.local", ".env.development", ".env.development.local")
_IP = re.compile(r"^[\d.:]+$")


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], Framework], ...]:
    out = []
    for fw in FRAMEWORKS:
        for glob in fw.config_files:
            regex = re.escape(glob).replace(r"\*", "[^/]*")
            regex = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(?:" + m.group(1).replace(",", "|")
                           + ")", regex)
            out.append((re.compile(regex + "$"), fw))
    return tuple(out)


def claim_kind(fw: Framework) -> str:
    """The claim's kind: the framework's first word (``webpack-dev-server`` -> ``webpack``)."""
    return fw.name.split("-")[0]


#: Every kind ``scan_js_config`` gives its claims.
JS_KINDS = tuple(sorted({claim_kind(fw) for fw in FRAMEWORKS if fw.port_keys}))


def _framework(rel: str) -> Framework | None:
    name = base_name(rel)
    return next((fw for rx, fw in _patterns() if rx.match(name)), None)


def is_js_config(rel: str) -> bool:
    fw = _framework(rel)
    return fw is not None and bool(fw.port_keys)


def is_angular_workspace(rel: str) -> bool:
    """angular.json (and Nx's workspace.json / per-project project.json)."""
    return base_name(rel) in ("angular.json", ".angular.json", "workspace.json", "project.json")


def scan_js_config(src: SourceFile) -> list[PortClaim]:
    fw = _framework(src.rel)
    if fw is None:
        return []
    config = read_config(src.text)
    env = _env_lookup(src, config)
    claims: list[PortClaim] = []
    seen: set[int] = set()
    for prop, key in _binding_ports(config, fw.port_keys):
        result = evaluate(prop.value, config, env)
        port = valid_port(result.value)
        if port is None or port in seen:
            continue  # vite's server and preview sharing one object: one listener
        seen.add(port)
        host = _host(prop, config, env)
        service = fw.name if key in ("server", "devServer") else f"{fw.name}-{key}"
        claims.append(claim(src, prop.line, claim_kind(fw), service, port, f"{key}.port",
                            host_ip=host if _IP.match(host) else "", default=result.default,
                            note=f"default of the {key}.port expression" if result.default
                            else "", host_var=result.variable))
    return claims


def _binding_ports(config: Config, keys: tuple[str, ...]) -> list[tuple[Property, str]]:
    out: list[tuple[Property, str]] = []
    for prop in config.ports:
        if not prop.path or _NOT_A_BIND & set(prop.path):
            continue
        last = prop.path[-1]
        if last in keys:
            out.append((prop, last))
        elif last.startswith("="):  # const serverOptions = {port: 5300}; server: serverOptions
            for path, name in config.aliases.items():
                if name == last[1:] and path[-1] in keys and not _NOT_A_BIND & set(path):
                    out.append((prop, path[-1]))
    return out


def _host(prop: Property, config: Config, env: Any) -> str:
    tokens = prop.siblings.get("host")
    if not tokens:
        return ""
    return evaluate(tokens, config, env).value or ""


def _env_lookup(src: SourceFile, config: Config) -> Any:
    """Names bound to ``loadEnv(mode, dir)`` read the .env files vite loads in development."""
    loaders = {name for name, tokens in config.consts.items()
               if tokens and tokens[0].text == "loadEnv"}
    values: dict[str, str] | None = None

    def lookup(obj: str, var: str) -> str | None:
        """The variable's value; for ``var == ""``, "" when ``obj`` is a loadEnv object."""
        nonlocal values
        if obj not in loaders:
            return None
        if values is None:
            values = _load_env_files(src, _env_dir(config, loaders))
        return values.get(var) if var else ""

    return lookup


def _env_dir(config: Config, loaders: set[str]) -> str:
    """The folder ``loadEnv(mode, DIR)`` reads, relative to the config: a string, a ``const``
    string, or ``path.resolve(__dirname, '..')``; anything else (``process.cwd()``) is the
    config's own folder, where vite runs."""
    for name in sorted(loaders):
        args = call_arguments(config.consts[name][2:])
        if len(args) < 2:
            continue
        arg = args[1]
        if len(arg) == 1 and arg[0].kind == "name" and arg[0].text in config.consts:
            arg = config.consts[arg[0].text]
        strings = [t.text[1:-1] for t in arg if t.kind == "string" and "${" not in t.text]
        if strings and (len(arg) == 1 or any(t.text == "__dirname" for t in arg)):
            return "/".join(strings)
    return ""


def _load_env_files(src: SourceFile, env_dir: str) -> dict[str, str]:
    from port_server.scanners.env_file import parse_dotenv

    folder = posixpath.normpath(posixpath.join(folder_of(src.rel), env_dir or "."))
    if folder.startswith(".."):
        return {}
    values: dict[str, str] = {}
    for name in _VITE_MODE_FILES:
        text = src.read(name if folder == "." else f"{folder}/{name}")
        if text is not None:
            values.update(parse_dotenv(text))
    return values


def scan_angular(src: SourceFile) -> list[PortClaim]:
    from port_server.scanners.jsonc import JObject, parse

    data = parse(src.text)
    projects = data.get("projects") if isinstance(data, JObject) else None
    if isinstance(data, JObject) and isinstance(data.get("targets"), JObject):
        projects = {str(data.get("name", "app")): data}  # an Nx project.json
    if not isinstance(projects, dict):
        return []
    claims: list[PortClaim] = []
    for project, spec in projects.items():
        if not isinstance(spec, JObject):
            continue
        targets = spec.get("architect", spec.get("targets"))
        if not isinstance(targets, JObject):
            continue
        for target, body in targets.items():
            if not isinstance(body, JObject):
                continue
            builder = str(body.get("builder", body.get("executor", "")))
            if target != "serve" and "dev-server" not in builder:
                continue
            claims.extend(_angular_target(src, project, target, body))
    return claims


def _angular_target(src: SourceFile, project: str, target: str, body: Any) -> list[PortClaim]:
    from port_server.scanners.jsonc import JObject

    blocks: list[tuple[str, Any]] = [("options", body.get("options"))]
    configurations = body.get("configurations")
    if isinstance(configurations, JObject):
        blocks += [(f"configurations.{k}", v) for k, v in configurations.items()]
    out: list[PortClaim] = []
    for where, block in blocks:
        if not isinstance(block, JObject) or "port" not in block:
            continue
        port = valid_port(block["port"])
        if port is None or any(c.host_port == port for c in out):
            continue
        host = str(block.get("host", ""))
        out.append(claim(src, block.line_of["port"], "angular", project, port,
                         f"{target}.{where}.port", host_ip=host if _IP.match(host) else ""))
    return out
