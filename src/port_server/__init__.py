"""port-server: a port registry that hands out host ports that never collide."""

__version__ = "0.1.0"
