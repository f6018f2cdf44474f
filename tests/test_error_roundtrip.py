"""Every error class survives the trip server -> JSON -> client as the same class (by code)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import AppTransport
from port_server import errors
from port_server.client import RegistryClient
from port_server.errors import PortServerError
from port_server.server.app import create_app
from port_server.service import RegistryService
from port_server.settings import Settings

ALL = errors._all_subclasses(PortServerError)


@pytest.fixture
def client(service: RegistryService, settings: Settings) -> Iterator[RegistryClient]:
    app = create_app(service, settings)

    def raise_by_code(code: str) -> Any:
        cls = errors.error_class_for(code)
        raise cls(f"{code} raised on purpose", detail={"code": code}, number=7)

    app.add_api_route("/test/raise/{code}", raise_by_code, methods=["GET"])
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as tc:
        yield RegistryClient("127.0.0.1:1", transport=AppTransport(tc))


def test_every_public_error_class_lives_in_errors_py() -> None:
    import port_server.cli
    import port_server.server.app  # noqa: F401  (import every layer's classes)

    def walk(cls: type[PortServerError]) -> list[type[PortServerError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    outside = [f"{c.__module__}.{c.__name__}" for c in walk(PortServerError)
               if c.__module__ != "port_server.errors" and not c.__name__.startswith("_")
               and c.__module__.startswith("port_server")]
    assert outside == [], "move these to errors.py (one tree, one place)"


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in ALL]
    assert len(codes) == len(set(codes)), codes
    assert len(ALL) >= 25  # the tree really was walked


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.code)
def test_error_class_round_trips_through_the_client(client: RegistryClient,
                                                    cls: type[PortServerError]) -> None:
    with pytest.raises(PortServerError) as caught:
        client.call("GET", f"/test/raise/{cls.code}")
    err = caught.value
    assert type(err) is cls
    assert err.message == f"{cls.code} raised on purpose"
    assert err.extra["detail"] == {"code": cls.code}
    assert err.extra["number"] == 7
    assert err.exit_code == cls.exit_code
