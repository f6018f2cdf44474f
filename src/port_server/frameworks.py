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
)

BY_NAME: dict[str, Framework] = {f.name: f for f in FRAMEWORKS}
