"""The HTTP side: ``create_app(service, settings)`` builds the ASGI app; ``daemon`` runs it."""
