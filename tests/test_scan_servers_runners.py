"""Spring Boot, Puma and gunicorn config files; just, mise, go-task and Tilt tasks: each syntax,
defaults marked as defaults, and client settings that are not binds."""

from __future__ import annotations

from pathlib import Path

from port_server.scanners.app_servers import is_gunicorn_config, is_puma_config
from port_server.scanners.spring import is_spring_config
from port_server.scanners.task_runners import is_mise_file, is_taskfile
from scan2_helpers import ips, rows, scan_fixture
from scan_helpers import scan

RES = "src/main/resources"


def test_spring_properties_and_yaml() -> None:
    result = scan_fixture("spring")
    assert rows(result) == [
        (f"billing/{RES}/application.yml", 6, "spring", "spring-rsocket", 7000,
         "spring.rsocket.server.port", False),  # server.port 0 is a random port
        ("gateway/config/application-dev.yml", 10, "spring", "gateway", 8080, "server.port",
         True),  # management.server.port: ${server.port} is the same listener
        ("gateway/config/application-dev.yml", 19, "spring", "gateway", 8180, "server.port",
         False),  # second YAML document, dotted key
        (f"orders/{RES}/application.properties", 3, "spring", "orders", 8081, "server.port",
         True),
        (f"orders/{RES}/application.properties", 5, "spring", "orders-management", 9081,
         "management.server.port", False),
    ]  # not: datasource/redis/kafka/mail/rabbitmq/eureka ports, commented keys, grpc port 0
    assert ips(result, "orders/")[8081] == "127.0.0.1"
    assert "${PORT:8081}" in result.claims[-2].note


def test_spring_file_names() -> None:
    for name in (f"{RES}/application.properties", f"{RES}/application-dev.yml",
                 "config/application.yaml", f"{RES}/bootstrap.yml"):
        assert is_spring_config(name), name
    assert not is_spring_config("config/application.rb")
    assert not is_spring_config("app/applications.yml")


def test_puma_port_bind_ssl_bind_and_fetch_defaults() -> None:
    result = scan_fixture("servers")
    assert rows(result, "config/") == [
        ("config/puma.rb", 6, "puma", "puma", 3000, "port", True),
        ("config/puma.rb", 7, "puma", "puma", 3443, "ssl_bind", True),
        ("config/puma/production.rb", 2, "puma", "puma", 9292, "bind", True),
        ("config/puma/production.rb", 3, "puma", "puma", 9443, "bind", False),
    ]  # not: the commented port, unix:// binds, threads/workers numbers
    assert ips(result, "config/puma.rb") == {3000: "0.0.0.0", 3443: "127.0.0.1"}


def test_puma_assignment_then_interpolated_bind(tmp_path: Path) -> None:
    result = scan(tmp_path, {"config/puma.rb": (
        'PORT=ENV.fetch("PORT", 3000)\nbind "tcp://0.0.0.0:#{PORT}"\n'
        "bind \"tcp://#{ENV.fetch('BIND', '127.0.0.1')}:#{ENV.fetch('PORT') { 3001 }}\"\n")})
    assert [(c.host_port, c.host_ip, c.extra["default"]) for c in result.claims] == [
        (3000, "0.0.0.0", True), (3001, "127.0.0.1", True)]
    assert is_puma_config("config/puma.rb") and not is_puma_config("lib/pumas.rb")


def test_gunicorn_bind_forms() -> None:
    result = scan_fixture("servers")
    assert rows(result, "gunicorn") + rows(result, "deploy/") == [
        ("gunicorn.conf.py", 5, "gunicorn", "gunicorn", 8000, "bind", True),
        ("deploy/gunicorn_config.py", 4, "gunicorn", "gunicorn", 5005, "bind", True),
        ("deploy/gunicorn_config.py", 4, "gunicorn", "gunicorn", 5006, "bind", True),
    ]  # not: os.environ["PORT"] with no default (api/gunicorn.py), statsd_host, unix sockets
    assert ips(result, "deploy/") == {5005: "127.0.0.1", 5006: "::1"}
    assert is_gunicorn_config("gunicorn.conf.py") and not is_gunicorn_config("gunicorn.md")


def test_justfile_recipes_parameters_variables_and_shebang() -> None:
    result = scan_fixture("runners")
    assert rows(result, "justfile") == [
        ("justfile", 13, "just", "api", 8010, "api", False),
        ("justfile", 16, "just", "serve-docs", 8000, "serve-docs", True),  # port="8000"
        ("justfile", 20, "just", "db", 5433, "db", False),  # continued lines
        ("justfile", 25, "just", "web", 3000, "web", True),  # exported env_var_or_default
        ("justfile", 34, "just", "dev", 4005, "dev", True),  # shebang recipe, ${DEV_PORT:-4005}
        ("justfile", 37, "just", "cache", 6390, "cache", False),  # set dotenv-load
    ]  # not: echo/curl text, docker build


def test_mise_tasks_and_env() -> None:
    result = scan_fixture("runners")
    assert rows(result, "mise") == [
        ("mise.toml", 11, "mise", "dev", 5175, "dev", False),
        ("mise.toml", 14, "mise", "api:serve", 8020, "api:serve", False),  # [env] API_PORT
        ("mise.toml", 16, "mise", "web", 3010, "web", False),  # PORT in the task's env
        ("mise.toml", 20, "mise", "db", 5434, "db", False),
        ("mise.toml", 32, "mise", "storybook", 6007, "storybook", False),
    ]  # not: [env] DB_PORT alone, psql -p $DB_PORT (a client)
    assert is_mise_file(".mise.toml") and is_mise_file("mise.local.toml")
    assert is_mise_file(".config/mise.toml") and not is_mise_file("promise.toml")


def test_mise_env_alone_is_not_a_bind(tmp_path: Path) -> None:
    result = scan(tmp_path, {".mise.toml": "[env]\nDB_HOST='localhost'\nDB_PORT='5432'\n"
                                           "[tools]\ngo = '1.22'\n"})
    assert result.claims == [] and result.problems == []


def test_taskfile_go_templates_and_defaults() -> None:
    result = scan_fixture("runners")
    assert rows(result, "Taskfile") == [
        ("Taskfile.yml", 16, "taskfile", "api", 8030, "api", False),  # -port {{.API_PORT}}
        ("Taskfile.yml", 22, "taskfile", "ui", 5176, "ui", True),  # | default 5176
        ("Taskfile.yml", 28, "taskfile", "db", 5436, "db", True),  # default "5436" .PG_PORT
        ("Taskfile.yml", 35, "taskfile", "web", 3020, "web", False),  # env PORT
    ]  # not: echo, psql, {{.CLI_ARGS}}, a var from `sh:`
    assert is_taskfile("Taskfile.yml") and is_taskfile("taskfile.dist.yaml")
    assert not is_taskfile("tasks.yml")


def test_tiltfile_port_forwards_and_local_resources() -> None:
    result = scan_fixture("runners")
    assert rows(result, "tilt/") == [
        ("tilt/Tiltfile", 7, "tilt", "api", 8040, "port_forwards", True),  # os.getenv default
        ("tilt/Tiltfile", 8, "tilt", "db", 5437, "port_forwards", False),
        ("tilt/Tiltfile", 9, "tilt", "web", 3030, "port_forwards", False),
        ("tilt/Tiltfile", 10, "tilt", "web", 9000, "port_forwards", False),
        ("tilt/Tiltfile", 13, "tilt", "storybook", 6008, "storybook", False),
        ("tilt/Tiltfile", 15, "tilt", "docs", 8041, "docs", False),
        ("tilt/Tiltfile", 16, "tilt", "worker", 8042, "serve_env", False),
    ]  # not: links, a commented resource, local_resource without serve_cmd
    assert ips(result, "tilt/")[3030] == "0.0.0.0"


def test_unparseable_files_are_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "Tiltfile": "k8s_resource('x', port_forwards=[8000\n",
        "mise.toml": "[tasks\n",
        "gunicorn.conf.py": "bind = \n",
        "Taskfile.yml": "tasks: [\n",
        "Procfile": "web: rails s -p 3300\n",
    })
    assert sorted(p.file for p in result.problems) == [
        "Taskfile.yml", "Tiltfile", "gunicorn.conf.py", "mise.toml"]
    assert [c.host_port for c in result.claims] == [3300]


def test_helm_resource_and_spring_boot_1_management_port(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "Tiltfile": "helm_resource('pg', 'bitnami/postgresql', port_forwards=['5438:5432'])\n",
        "application.properties": "server.port=8083\nmanagement.port=8084\n",
    })
    assert [(c.kind, c.service, c.host_port) for c in result.claims] == [
        ("tilt", "pg", 5438), ("spring", "spring", 8083), ("spring", "spring-management", 8084)]


def test_spring_yaml_with_maven_tokens_or_broken_yaml(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "a/application.yml": "info:\n  version: @project.version@\nserver:\n  port: 8085\n",
        "b/application.yml": "server:\n  port: 8086 # web\n  bad: [unclosed\nmanagement:\n"
                             "  server:\n    port: 8087\n",
    })
    assert [(c.file, c.line, c.host_port) for c in result.claims] == [
        ("a/application.yml", 4, 8085), ("b/application.yml", 2, 8086),
        ("b/application.yml", 6, 8087)]
    assert result.problems == []


def test_just_exported_port_parameter(tmp_path: Path) -> None:
    result = scan(tmp_path, {"justfile": (
        "export PORT := env_var_or_default(\"PORT\", \"3000\")\n"
        "build:\n  npm run build\n"  # a global export is every recipe's: no claim per recipe
        "web $PORT=\"4000\":\n  node server.js\n"
        "rails $PORT=\"3100\":\n  bin/rails server\n")})
    assert [(c.line, c.service, c.host_port, c.extra.get("default")) for c in result.claims] == [
        (4, "web", 4000, True), (6, "rails", 3100, True)]


def test_quarkus_and_micronaut_keys_in_the_same_files(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "q/src/main/resources/application.properties":
            "quarkus.application.name=orders\nquarkus.http.port=8089\n"
            "quarkus.datasource.jdbc.url=jdbc:postgresql://localhost:5432/x\n",
        "m/src/main/resources/application.yml":
            "micronaut:\n  application:\n    name: demo\n  server:\n    port: 8090\n"})
    assert [(c.service, c.host_port, c.extra["source"]) for c in result.claims] == [
        ("demo", 8090, "micronaut.server.port"), ("orders", 8089, "quarkus.http.port")]


def test_mise_task_argument_defaults(tmp_path: Path) -> None:
    result = scan(tmp_path, {"mise.toml": (
        "[tasks.dev]\n"
        "run = 'vite --port {{option(name=\"port\", default=\"5186\")}}'\n"
        "[tasks.serve]\n"
        "run = 'python -m http.server {{arg(name=\"port\")}}'\n")})
    assert [(c.service, c.host_port, c.extra.get("default")) for c in result.claims] == [
        ("dev", 5186, True)]


def test_taskfile_dotenv(tmp_path: Path) -> None:
    taskfile = "version: '3'\n%stasks:\n  api:\n    cmds:\n      - go run . -port {{.API_PORT}}\n"
    write = {".env": "API_PORT=8095\n"}
    with_dotenv = scan(tmp_path / "a", {**write, "Taskfile.yml": taskfile % "dotenv: ['.env']\n"})
    without = scan(tmp_path / "b", {**write, "Taskfile.yml": taskfile % ""})
    assert [(c.kind, c.host_port) for c in with_dotenv.claims] == [("env", 8095),
                                                                    ("taskfile", 8095)]
    assert [(c.kind, c.host_port) for c in without.claims] == [("env", 8095)]


def test_kubectl_port_forward_binds_its_local_ports(tmp_path: Path) -> None:
    result = scan(tmp_path, {"justfile": (
        "forward:\n  kubectl -n dev port-forward svc/api 8096:80 9230 --address 0.0.0.0\n"
        "pods:\n  kubectl get pods -o wide\n"
        "random:\n  kubectl port-forward pod/x :80\n")})
    assert [(c.host_port, c.container_port, c.host_ip) for c in result.claims] == [
        (8096, 80, "0.0.0.0"), (9230, 9230, "0.0.0.0")]


def test_tilt_port_forwards_from_a_variable(tmp_path: Path) -> None:
    result = scan(tmp_path, {"Tiltfile": (
        "FORWARDS = ['8097:80', 9231]\nk8s_resource('api', port_forwards=FORWARDS)\n"
        "def svc(name, port):\n    k8s_resource(name, port_forwards=port)\n")})
    assert [(c.service, c.host_port, c.line) for c in result.claims] == [
        ("api", 8097, 2), ("api", 9231, 2)]  # a function's parameter is not guessed
