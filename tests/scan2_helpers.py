"""Helpers for the tests of the newer scanners: scan a fixture folder under tests/fixtures/scan2
and compare (file, line, kind, service, port, source key, default) rows."""

from __future__ import annotations

from pathlib import Path

from port_server.scanners.project import ScanResult, scan_project

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scan2"

Row = tuple[str, int, str, str, int | None, str, bool]


def scan_fixture(name: str) -> ScanResult:
    result = scan_project(FIXTURES / name, environ={})
    assert result.problems == []
    return result


def rows(result: ScanResult, prefix: str = "") -> list[Row]:
    """The claims of files under ``prefix`` that state a port, as rows, in scan order."""
    return [(c.file, c.line, c.kind, c.service, c.host_port, str(c.extra.get("source", "")),
             bool(c.extra.get("default"))) for c in result.claims
            if c.file.startswith(prefix) and c.host_port is not None]


def ips(result: ScanResult, prefix: str = "") -> dict[int | None, str]:
    return {c.host_port: c.host_ip for c in result.claims if c.file.startswith(prefix)}
