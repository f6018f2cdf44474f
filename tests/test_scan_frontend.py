"""Front-end dev-server configs read as text (vite, SvelteKit, astro, nuxt, webpack, vue-cli) and
angular.json: the server's own port, never a proxy target, HMR socket or plugin option."""

from __future__ import annotations

from pathlib import Path

from port_server.frameworks import BY_NAME
from port_server.scanners.frontend import is_angular_workspace, is_js_config
from scan2_helpers import ips, rows, scan_fixture
from scan_helpers import scan


def test_vite_loadenv_default_preview_and_look_alikes() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "app/vite.config") == [
        # parseInt(env.VITE_DEV_PORT ?? '5180'): loadEnv reads .env.development -> 5190
        ("app/vite.config.ts", 13, "vite", "vite", 5190, "server.port", False),
        ("app/vite.config.ts", 21, "vite", "vite-preview", 4174, "preview.port", False),
    ]  # not: the plugin's port, hmr.port, proxy targets or a proxy entry's port, comments
    assert ips(result, "app/vite.config")[5190] == "0.0.0.0"


def test_vite_default_when_env_file_is_missing(tmp_path: Path) -> None:
    result = scan(tmp_path, {"vite.config.js": """
        export default defineConfig(({ mode }) => {
          const env = loadEnv(mode, '../env')
          return { server: { port: Number(env.PORT || 5181) } }
        })
        """})
    assert [(c.host_port, c.extra.get("default")) for c in result.claims] == [(5181, True)]


def test_sveltekit_shorthand_shared_by_server_and_preview() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "kit/") == [("kit/vite.config.js", 8, "vite", "vite", 5300,
                                     "server.port", False)]


def test_astro_function_form_default_and_host() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "site/") == [("site/astro.config.mjs", 7, "astro", "astro", 4400,
                                      "server.port", True)]
    assert ips(result, "site/")[4400] == "127.0.0.1"


def test_nuxt_dev_server() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "shop/") == [("shop/nuxt.config.ts", 5, "nuxt", "nuxt", 3005,
                                      "devServer.port", False)]


def test_webpack_merge_member_assignment_and_vue_cli() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "legacy/") == [
        ("legacy/webpack.common.js", 4, "webpack", "webpack-dev-server", 9010, "devServer.port",
         False),
        ("legacy/webpack.dev.js", 10, "webpack", "webpack-dev-server", 8085, "devServer.port",
         True),
    ]
    assert rows(result, "admin/") == [("admin/vue.config.js", 3, "vue", "vue-cli", 8090,
                                       "devServer.port", False)]


def test_angular_serve_targets_per_project() -> None:
    result = scan_fixture("frontend")
    assert rows(result, "ng/") == [
        ("ng/angular.json", 11, "angular", "shop", 4300, "serve.options.port", False),
        ("ng/angular.json", 14, "angular", "shop", 4310, "serve.configurations.e2e.port", False),
        ("ng/angular.json", 21, "angular", "admin", 4320, "serve-ssr.options.port", False),
    ]  # not the build target's options.port


def test_config_file_names_come_from_the_frameworks_table() -> None:
    assert "vite.config.{js,mjs,cjs,ts,mts,cts}" in BY_NAME["vite"].config_files
    for name in ("vite.config.ts", "web/vite.config.mts", "astro.config.mjs", "nuxt.config.ts",
                 "webpack.config.js", "build/webpack.dev.js", "vue.config.js",
                 "rspack.config.ts"):
        assert is_js_config(name), name
    for name in ("vitest.config.ts", "vite.config.ts.bak", "webpack.md", "next.config.js"):
        assert not is_js_config(name), name
    assert is_angular_workspace("frontend/angular.json")


def test_unresolvable_ports_are_left_out(tmp_path: Path) -> None:
    result = scan(tmp_path, {"vite.config.ts": """
        export default defineConfig({
          server: { port: process.env.PORT, host: true },
          preview: { port: isCI ? 4173 : 4174 },
        })
        """, "webpack.config.js": "module.exports = { devServer: { port: getPort() } }"})
    assert result.claims == [] and result.problems == []


def test_tokenizer_copes_with_regex_template_and_unclosed_text(tmp_path: Path) -> None:
    result = scan(tmp_path, {"vite.config.js": (
        "const re = /[\"'`]/g; const t = `a ${b} c`;\n"
        "export default { server: { port: 5182 } }\n"
        "const broken = 'unterminated\n")})
    assert [c.host_port for c in result.claims] == [5182] and result.problems == []


def test_env_files_outside_the_project_or_through_symlinks_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".env.development").write_text("VITE_PORT=6001\n")
    project = tmp_path / "project"
    config = """
        export default defineConfig(({ mode }) => {
          const env = loadEnv(mode, %s)
          return { server: { port: Number(env.VITE_PORT) || 5183 } }
        })
        """
    scan(project, {"a/vite.config.js": config % "'../..'",  # leaves the project
                   "b/vite.config.js": config % "process.cwd()"})
    (project / "b" / ".env.development").symlink_to(outside / ".env.development")
    result = scan(project)
    assert [(c.file, c.host_port, c.extra.get("default")) for c in result.claims] == [
        ("a/vite.config.js", 5183, True), ("b/vite.config.js", 5183, True)]


def test_env_ternary_shorthand_object_and_nx_project(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "a/vite.config.ts": "export default { server: { port: process.env.PORT ?"
                            " parseInt(process.env.PORT) : 5184 } }\n",
        "b/webpack.config.js": "const devServer = { port: 8091 }\nmodule.exports = { devServer }\n",
        "c/project.json": '{"name": "web", "targets": {"serve": {"executor":'
                          ' "@nx/vite:dev-server", "options": {"port": 4211}}}}',
    })
    assert [(c.file, c.host_port, bool(c.extra.get("default"))) for c in result.claims] == [
        ("a/vite.config.ts", 5184, True), ("b/webpack.config.js", 8091, False),
        ("c/project.json", 4211, False)]


def test_load_env_folder_forms(tmp_path: Path) -> None:
    config = """
        import path from 'node:path'
        const root = %s
        export default defineConfig(({ mode }) => {
          const env = loadEnv(mode, %s, '')
          return { server: { port: Number(env.WEB_PORT) || 5185 } }
        })
        """
    result = scan(tmp_path, {
        ".env": "WEB_PORT=5191\n",
        "a/vite.config.ts": config % ("'..'", "path.resolve(__dirname, '..')"),
        "b/vite.config.ts": config % ("'..'", "root"),
        "c/vite.config.ts": config % ("'..'", "process.cwd()"),  # c/ has no .env: the default
    })
    assert [(c.file, c.host_port, c.extra.get("host_var")) for c in result.claims
            if c.kind == "vite"] == [("a/vite.config.ts", 5191, "WEB_PORT"),
                                     ("b/vite.config.ts", 5191, "WEB_PORT"),
                                     ("c/vite.config.ts", 5185, "WEB_PORT")]
