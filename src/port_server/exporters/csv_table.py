"""Allocations as RFC 4180 CSV: a header row, every field, safe to open in a spreadsheet.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return
before one) as a formula, so such text cells get a leading ``'``, which makes them plain text.
Numbers are written as numbers: a port or pid is never negative, so it needs no guard.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from port_server.fields import ALLOCATION_FIELDS
from port_server.models import Allocation

#: Every Allocation field, in the dataclass's order (the wire order).
CSV_COLUMNS: tuple[str, ...] = tuple(ALLOCATION_FIELDS)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` ready for a CSV cell: None -> "", bool -> true/false, risky text -> '-prefixed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(allocs: Iterable[Allocation], columns: tuple[str, ...] = CSV_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for alloc in allocs:
        data = alloc.to_dict()
        writer.writerow([safe_cell(data[c]) for c in columns])
    return buf.getvalue()
