"""Scanners: pure functions over models that find ports (project files, live sockets)."""
