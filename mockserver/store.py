"""Where created resources live, behind a small interface.

Handlers only talk to :class:`Store`; the in-memory implementation here is
what a single process needs, and a persistent one can take its place without
a handler noticing.
"""

import copy
import threading
from typing import Any, Protocol

App = dict[str, Any]


class SlugTaken(Exception):
    """An app with this slug already exists in the deployment."""


class Store(Protocol):
    def insert_app(self, app: App) -> None:
        """Store a new app whole, or raise SlugTaken and store nothing."""
        ...

    def get_app(self, app_slug: str) -> App | None: ...

    def list_apps(self) -> list[App]:
        """Every live app, newest first."""
        ...


class MemoryStore:
    """Apps in a dict, guarded by a lock so threaded servers stay consistent."""

    def __init__(self) -> None:
        self._apps: dict[str, App] = {}
        self._lock = threading.Lock()

    def insert_app(self, app: App) -> None:
        with self._lock:
            if app["app_slug"] in self._apps:
                raise SlugTaken(app["app_slug"])
            self._apps[app["app_slug"]] = copy.deepcopy(app)

    def get_app(self, app_slug: str) -> App | None:
        with self._lock:
            app = self._apps.get(app_slug)
            return copy.deepcopy(app) if app is not None else None

    def list_apps(self) -> list[App]:
        with self._lock:
            return [copy.deepcopy(app) for app in reversed(self._apps.values())]
