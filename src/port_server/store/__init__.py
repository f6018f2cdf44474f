"""Storage backends behind one small interface (``base.Store``); ``open_store`` picks one by URL."""

from __future__ import annotations

from port_server.errors import InvalidInput
from port_server.store.base import Store


def open_store(url: str) -> Store:
    """``sqlite:///path/registry.db`` (the default) or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from port_server.store.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from port_server.store.postgres import PostgresStore  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as exc:  # the optional extra is not installed
            raise InvalidInput(
                "store: PostgreSQL support needs the postgres extra: pip install '.[postgres]'"
                f" in the port-server clone ({exc})", field="store") from None
        store: Store = PostgresStore(url)
        return store
    raise InvalidInput(
        "store: unsupported URL; use sqlite:///path/to/registry.db or postgresql://...",
        field="store")


__all__ = ["Store", "open_store"]
