"""The CSV exporter: RFC 4180, a header with every field, and no spreadsheet formulas."""

from __future__ import annotations

import csv
import io
from dataclasses import fields

from port_server.exporters.csv_table import CSV_COLUMNS, safe_cell, to_csv
from port_server.models import Allocation


def alloc(**kw: object) -> Allocation:
    base: dict[str, object] = {"id": 1, "app": "a", "instance": "i", "service": "s",
                               "port": 3000, "created_at": "2026-01-01T00:00:00Z"}
    base.update(kw)
    return Allocation(**base)  # type: ignore[arg-type]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_header_has_every_field_in_order() -> None:
    text = to_csv([])
    assert text == ",".join(f.name for f in fields(Allocation)) + "\r\n"
    assert CSV_COLUMNS[:5] == ("id", "app", "instance", "service", "port")


def test_rfc4180_quoting_round_trips_through_the_csv_module() -> None:
    note = 'has, a comma and "quotes"\nand a second line'
    rows = parse(to_csv([alloc(note=note, owner="louis", protected=True, pid=None)]))
    assert len(rows) == 1
    row = rows[0]
    assert row["note"] == note
    assert row["port"] == "3000"
    assert row["protected"] == "true"
    assert row["pid"] == ""
    assert row["owner"] == "louis"


def test_formula_injection_cells_become_text() -> None:
    risky = {"owner": "=HYPERLINK(\"http://evil\")", "note": "+1+1", "status": "-2",
             "url": "@SUM(A1)", "environment": "\t=1"}
    rows = parse(to_csv([alloc(**risky)]))
    for name, value in risky.items():
        assert rows[0][name] == "'" + value, name
    assert safe_cell("plain") == "plain"
    assert safe_cell(8080) == 8080
    assert safe_cell("a=b") == "a=b"


def test_lines_end_with_crlf() -> None:
    text = to_csv([alloc(), alloc(id=2, port=3001, service="t")])
    assert text.count("\r\n") == 3
    assert "\n" not in text.replace("\r\n", "")
