"""Pages for people: interactive API docs (/docs) and the request inspector.

Registered by the app factory; both read what the server already has (the
spec being served, the admin journal) and need nothing from the network.
"""

from flask import Flask

from mockserver.config import Settings
from mockserver.handlers import Context
from mockserver.spec import Spec


def register_ui(app: Flask, spec: Spec, context: Context, settings: Settings) -> None:
    """Add the browser pages to ``app`` (placeholder until they exist)."""
