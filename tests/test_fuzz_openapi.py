"""Property-based fuzzing of the API from its own OpenAPI document, with every schemathesis check.

Drives schemathesis's hypothesis strategies directly (its pytest plugin does not support the
pytest version we run), one strategy per operation, both valid and invalid inputs. Every check
runs on every answer: no 5xx, status codes and content types as documented, responses valid
against their schemas, schema-valid requests accepted and schema-invalid ones refused, 405 with
Allow. So the document is exact: what it allows the server accepts, and nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode

from conftest import free_port
from port_server.server.app import create_app
from port_server.service import RegistryService
from port_server.settings import load_settings
from port_server.store.sqlite import SQLiteStore


def test_no_server_errors(tmp_path: Path) -> None:
    cfg = load_settings(env={"PORT_SERVER_HOME": str(tmp_path), "HOME": str(tmp_path)},
                        config_path=tmp_path / "none.toml")
    # schemathesis's ASGI client sends Host: testserver; allow it past the rebinding guard.
    cfg = replace(cfg, security=replace(cfg.security, allowed_hosts=("testserver",)))
    # POST /v1/proxy/start may start Caddy (when installed): free ports, stopped below.
    cfg = replace(cfg, proxy=replace(cfg.proxy, https_port=free_port(), http_port=free_port()))
    store = SQLiteStore(tmp_path / "registry.db")
    app = create_app(RegistryService(store, cfg), cfg)
    try:
        load_all_checks()
        checks = list(CHECKS.get_all())
        assert len(checks) >= 12, checks
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        seen: list[tuple[str, str, int]] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)

                @given(case=strategy)
                @settings(max_examples=30, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck))
                def check(case: Any) -> None:
                    response = case.call()
                    seen.append((case.method, case.path, response.status_code))
                    case.validate_response(response, checks=checks)

                try:
                    check()
                except Unsatisfiable:
                    # An operation without parameters or body has no invalid input to generate.
                    assert mode == GenerationMode.NEGATIVE
    finally:
        app.state.proxy.stop()
        store.close()
    statuses = {status for _, _, status in seen}
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
