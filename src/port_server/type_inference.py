"""``--type auto``: pick a pool from a service's name. Off unless a caller asks for "auto".

The table lives here and nowhere else. Users extend it in the config file; their words are tried
before the built-in ones, so they can also override a built-in word::

    [type_inference]
    db = ["cockroach", "clickhouse"]
    web = ["astro"]

A word matches when a part of the service name (split on ``-``, ``_``, ``.`` and spaces) starts
with it: ``postgresql`` and ``my-postgres`` match ``postgres``, ``nextjs`` matches ``next``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: The value of ``type`` that asks for inference.
AUTO = "auto"

#: pool name -> words that put a service in it; the first pool with a matching word wins.
DEFAULT_TYPE_RULES: dict[str, tuple[str, ...]] = {
    "db": ("postgres", "mysql", "mariadb", "redis", "mongo"),
    "monitoring": ("grafana", "prometheus"),
    "ml": ("vllm", "ollama", "triton"),
    "api": ("api",),
    "web": ("web", "frontend", "next", "vite"),
}

_SPLIT = re.compile(r"[-_.\s]+")


Rules = tuple[tuple[str, tuple[str, ...]], ...]

#: The built-in rules in the order they are tried.
DEFAULT_RULES: Rules = tuple(DEFAULT_TYPE_RULES.items())


def rules_from_config(extra: Mapping[str, Any]) -> Rules:
    """The config file's ``[type_inference]`` rules, tried first, then the built-in ones."""
    table = extra.get("type_inference") or {}
    user: list[tuple[str, tuple[str, ...]]] = []
    if isinstance(table, Mapping):
        for pool, words in table.items():
            if isinstance(words, str):
                words = [words]
            if isinstance(words, list | tuple):
                user.append((str(pool), tuple(str(w).lower() for w in words if str(w))))
    return (*user, *DEFAULT_RULES)


def infer_type(service: str, rules: Rules = DEFAULT_RULES) -> str:
    """The pool for ``service``, or "" (the default pool) when no word matches."""
    parts = [p for p in _SPLIT.split(service.lower()) if p]
    for pool, words in rules:
        if any(part.startswith(word) for part in parts for word in words):
            return pool
    return ""
