"""Exporters: pure functions from allocations (or name -> port maps, or proxy routes) to text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from port_server.exporters import nginx_conf
from port_server.exporters.compose_override import compose_override
from port_server.exporters.csv_table import to_csv
from port_server.exporters.derived_env import render as render_derived
from port_server.exporters.env_file import render_env

#: name -> function producing the exported text; plugins would add entries here.
EXPORTERS: dict[str, Callable[..., Any]] = {
    "csv": to_csv,
    "env": render_env,
    "nginx": nginx_conf.render,
    "compose-override": compose_override,
    "derived-env": render_derived,
}
