"""One table of dev-server frameworks: how to recognise each, its default port, how to pass a port.

Shared by ``portctl run`` (which passes the allocated port the way each tool expects, because many
ignore ``$PORT``) and by the project scanners (which report a framework's default port when a config
file or command names the framework but no port). Users extend the table from the config file.

``match`` is a sequence of words that must appear, in order, at the start of the command once
wrappers (``npx``, ``npm exec``, ``python -m``, ``bundle exec``...) are stripped; ``port_args`` is
appended to the command with ``{port}`` replaced (``{host}`` is the loopback address).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str
    match: tuple[tuple[str, ...], ...]
    default_port: int | None
    port_args: tuple[str, ...]
    #: Set when the tool takes the address as one positional argument (``runserver 127.0.0.1:N``).
    positional: bool = False
    #: Config files the project scanners read for this framework (glob on the file name), and
    #: the objects whose ``port`` binds there (``server`` -> ``server.port``).
    config_files: tuple[str, ...] = ()
    port_keys: tuple[str, ...] = ()


def _fw(name: str, match: str, default_port: int | None, port_args: str,
        positional: bool = False, config: str = "", keys: str = "") -> Framework:
    return Framework(name, tuple(tuple(m.split()) for m in match.split("|")), default_port,
                     tuple(port_args.split()), positional, tuple(config.split()),
                     tuple(keys.split()))


_JS = "{js,mjs,cjs,ts,mts,cts}"


#: name, commands that start it ("|" between alternatives), default port, how to pass the port.
FRAMEWORKS: tuple[Framework, ...] = (
    _fw("vite", "vite|vite dev|vite serve|vite preview", 5173, "--port {port} --strictPort",
        config=f"vite.config.{_JS}", keys="server preview"),
    _fw("sveltekit", "svelte-kit dev", 5173, "--port {port} --strictPort"),
    _fw("remix", "remix vite:dev", 5173, "--port {port} --strictPort"),
    _fw("astro", "astro dev|astro preview", 4321, "--port {port}",
        config=f"astro.config.{_JS}", keys="server"),
    _fw("angular", "ng serve", 4200, "--port {port}", config="angular.json"),
    _fw("nuxt", "nuxt dev|nuxi dev", 3000, "--port {port}", config=f"nuxt.config.{_JS}",
        keys="devServer server"),
    _fw("next", "next dev|next start", 3000, "--port {port}"),
    _fw("webpack-dev-server", "webpack serve|webpack-dev-server", 8080, "--port {port}",
        config=f"webpack*.{_JS} rspack*.{_JS}", keys="devServer"),
    _fw("vue-cli", "vue-cli-service serve", 8080, "--port {port}", config=f"vue.config.{_JS}",
        keys="devServer"),
    _fw("rsbuild", "rsbuild dev|rsbuild preview", 3000, "--port {port}",
        config=f"rsbuild.config.{_JS}", keys="server"),
    _fw("storybook", "storybook dev|start-storybook", 6006, "-p {port}"),
    _fw("expo", "expo start", 8081, "--port {port}"),
    _fw("rails", "rails server|rails s", 3000, "-p {port}"),
    _fw("puma", "puma", 3000, "-p {port}"),
    _fw("django", "manage.py runserver|django-admin runserver", 8000, "{host}:{port}",
        positional=True),
    _fw("flask", "flask run", 5000, "--port {port}"),
    _fw("uvicorn", "uvicorn", 8000, "--port {port}"),
    _fw("gunicorn", "gunicorn", 8000, "--bind {host}:{port}"),
    _fw("hugo", "hugo server|hugo serve", 1313, "--port {port}"),
    _fw("jekyll", "jekyll serve|jekyll s", 4000, "--port {port}"),
    _fw("mkdocs", "mkdocs serve", 8000, "--dev-addr {host}:{port}"),
    _fw("php", "php -S", 8000, "{host}:{port}", positional=True),
    _fw("http.server", "http.server", 8000, "{port}", positional=True),
    _fw("spring-boot", "spring-boot:run|bootRun", 8080, "--server.port={port}"),
    _fw("laravel", "artisan serve", 8000, "--port {port}"),
)

BY_NAME: dict[str, Framework] = {f.name: f for f in FRAMEWORKS}


#: Words that only launch the real tool: stripped before matching (``npx vite`` is ``vite``).
WRAPPERS: tuple[tuple[str, ...], ...] = (
    ("npm", "exec"), ("pnpm", "exec"), ("pnpm", "dlx"), ("yarn", "exec"), ("yarn", "dlx"),
    ("bundle", "exec"), ("poetry", "run"), ("uv", "run"), ("pipenv", "run"), ("pdm", "run"),
    ("hatch", "run"), ("npx",), ("bunx",), ("pnpx",), ("node",), ("python", "-m"),
    ("python3", "-m"), ("python",), ("python3",), ("ruby",), ("php",),
)
#: Options that already choose the port: when the command has one, nothing is added.
PORT_OPTIONS = ("--port", "-p", "--bind", "-b", "--dev-addr", "-a", "--server.port",
                "--listen")
LOOPBACK = "127.0.0.1"


def _base(word: str) -> str:
    name = word.rsplit("/", 1)[-1]
    return name if not name.startswith("python3.") else "python3"


def strip_wrappers(argv: list[str]) -> int:
    """Index of the first word of the real tool in ``argv`` (``npx --yes vite`` -> 2)."""
    i = 0
    while i < len(argv):
        word = _base(argv[i])
        for wrapper in WRAPPERS:
            if word == wrapper[0] and tuple(argv[i + 1:i + len(wrapper)]) == wrapper[1:]:
                if wrapper[0] == "php" and argv[i + 1:i + 2] == ["-S"]:
                    return i  # php -S is the tool itself
                i += len(wrapper)
                while i < len(argv) and argv[i].startswith("-") and argv[i] != "-S":
                    i += 1  # the wrapper's own options: npx --yes, node --inspect
                break
        else:
            return i
    return i


def _match_at(argv: list[str], start: int, words: tuple[str, ...]) -> int | None:
    """Index after the last matched word when ``words`` match ``argv[start:]``: the first word
    at ``start``, the others in order after it (options may sit between: ``flask --app x run``)."""
    if start >= len(argv) or _base(argv[start]) != words[0]:
        return None
    i = start + 1
    for word in words[1:]:
        while i < len(argv) and argv[i] != word:
            i += 1
        if i == len(argv):
            return None
        i += 1
    return i


@dataclass(frozen=True)
class Detected:
    framework: Framework
    #: Where the port arguments go: right after the matched words for positional ones.
    insert_at: int


def detect(argv: list[str], table: tuple[Framework, ...] = FRAMEWORKS) -> Detected | None:
    """The framework ``argv`` starts (the longest match wins: ``vite preview`` over ``vite``)."""
    start = strip_wrappers(argv)
    best: tuple[int, Detected] | None = None
    for fw in table:
        for words in fw.match:
            end = _match_at(argv, start, words)
            if end is not None and (best is None or len(words) > best[0]):
                best = (len(words), Detected(fw, end))
    return best[1] if best else None


def has_port(argv: list[str], found: Detected) -> bool:
    """True when the command already says which port (an option, or the positional address)."""
    if found.framework.positional:
        following = argv[found.insert_at:found.insert_at + 1]
        return bool(following) and not following[0].startswith("-")
    options = {*PORT_OPTIONS, *found.framework.port_args[:1]}
    return any(a in options or a.split("=", 1)[0] in options for a in argv)


def with_port(argv: list[str], found: Detected, port: int | str,
              host: str = LOOPBACK) -> list[str]:
    """``argv`` with the framework's port arguments: options appended, positionals inserted."""
    extra = [a.replace("{port}", str(port)).replace("{host}", host)
             for a in found.framework.port_args]
    if found.framework.positional:
        return [*argv[:found.insert_at], *extra, *argv[found.insert_at:]]
    return [*argv, *extra]


def from_config(table: object) -> tuple[Framework, ...]:
    """Frameworks from the config file's ``[frameworks.NAME]`` tables (``match``, ``port_args``,
    optional ``default_port`` and ``positional``); raises ValueError naming the bad key."""
    if not table:
        return ()
    if not isinstance(table, dict):
        raise ValueError("frameworks: must be a table of [frameworks.NAME] tables")
    out = []
    for name, spec in table.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("match"), str) \
                or not isinstance(spec.get("port_args"), str):
            raise ValueError(f"frameworks.{name}: needs match = \"cmd words\" and port_args ="
                             " \"--port {port}\"")
        unknown = set(spec) - {"match", "port_args", "default_port", "positional"}
        if unknown:
            raise ValueError(f"frameworks.{name}.{sorted(unknown)[0]}: unknown key; use match,"
                             " port_args, default_port, positional")
        if "{port}" not in spec["port_args"]:
            raise ValueError(f"frameworks.{name}.port_args: must contain {{port}}")
        default = spec.get("default_port")
        if default is not None and (not isinstance(default, int) or not 0 < default < 65536):
            raise ValueError(f"frameworks.{name}.default_port: must be a port number")
        out.append(_fw(str(name), spec["match"], default, spec["port_args"],
                       bool(spec.get("positional", False))))
    return tuple(out)
