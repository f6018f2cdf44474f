"""--type auto: the built-in table, the config-file extension, and the service applying it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from port_server.errors import InvalidInput
from port_server.models import AllocationRequest
from port_server.service import RegistryService
from port_server.settings import Settings
from port_server.store.sqlite import SQLiteStore
from port_server.type_inference import DEFAULT_TYPE_RULES, infer_type, rules_from_config


@pytest.mark.parametrize(("name", "pool"), [
    ("postgres", "db"), ("my-postgresql", "db"), ("mysql", "db"), ("redis-cache", "db"),
    ("mongodb", "db"), ("grafana", "monitoring"), ("prometheus", "monitoring"),
    ("my-api", "api"), ("api", "api"), ("web", "web"), ("frontend", "web"),
    ("nextjs", "web"), ("vite_dev", "web"), ("vllm", "ml"), ("ollama", "ml"),
    ("triton.server", "ml"), ("worker", ""), ("rapid", ""),
])
def test_builtin_table(name: str, pool: str) -> None:
    assert infer_type(name) == pool


def test_config_words_come_first_and_extend() -> None:
    rules = rules_from_config({"type_inference": {"db": ["cockroach"], "ml": "api-gateway",
                                                  "web": ["redis"]}})
    assert infer_type("cockroach-1", rules) == "db"
    assert infer_type("redis", rules) == "web"  # the user's word overrides the built-in one
    assert infer_type("grafana", rules) == "monitoring"
    assert set(DEFAULT_TYPE_RULES) <= {pool for pool, _ in rules}


def test_service_resolves_auto(fresh_store: SQLiteStore, settings: Settings) -> None:
    cfg = replace(settings, probe_os=False,
                  extra={"type_inference": {"monitoring": ["uptime"]}})
    svc = RegistryService(fresh_store, cfg)
    a = svc.allocate(AllocationRequest("app", "dev", "postgres", type="auto")).allocation
    assert a.type == "db" and 5000 <= a.port <= 5999
    b = svc.allocate(AllocationRequest("app", "dev", "uptime-kuma", type="auto")).allocation
    assert b.type == "monitoring" and 9000 <= b.port <= 9099
    c = svc.allocate(AllocationRequest("app", "dev", "worker", type="auto")).allocation
    assert c.type == "" and 3000 <= c.port <= 9999
    updated = svc.update(c.id, {"type": "auto"})
    assert updated.type == "" and updated.port == c.port


def test_config_naming_an_unknown_pool_is_a_clear_error(fresh_store: SQLiteStore,
                                                        settings: Settings) -> None:
    cfg = replace(settings, probe_os=False, extra={"type_inference": {"gpu": ["cuda"]}})
    svc = RegistryService(fresh_store, cfg)
    with pytest.raises(InvalidInput, match="unknown pool 'gpu'"):
        svc.allocate(AllocationRequest("app", "dev", "cuda-runner", type="auto"))
    assert svc.list() == []
