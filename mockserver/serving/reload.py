"""``--watch``: rebuild the app when openapi.yaml or the fixtures change.

The WSGI callable below stands in front of the Flask app. At most twice a
second it compares the files' sizes and modification times with what it
last loaded; on a change it builds a new app from the same settings. The
state lives in the state file, so it is kept. A broken edit keeps the last
good app serving and says what is wrong, once per edit.
"""

import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from mockserver.backend.fixtures import FixtureError
from mockserver.config import Settings
from mockserver.contract.spec import SpecError
from mockserver.state.store import StoreError

CHECK_INTERVAL = 0.5
Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(paths: Iterable[Path]) -> Snapshot:
    """Name, size and modification time of every file (missing ones count too)."""
    found = []
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                found.append((str(file), -1, -1))
                continue
            if file.is_file():
                found.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


class ReloadingApp:
    def __init__(self, settings: Settings, build: Callable[[Settings], Flask]) -> None:
        self._settings = settings
        self._build = build
        self._watched = (settings.spec_path, settings.fixtures_dir)
        self._seen = snapshot(self._watched)
        self.app = build(settings)
        self._next_check = time.monotonic() + CHECK_INTERVAL
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if time.monotonic() >= self._next_check:
            self._reload_if_changed()
        return self.app(environ, start_response)

    def _reload_if_changed(self) -> None:
        with self._lock:
            self._next_check = time.monotonic() + CHECK_INTERVAL
            current = snapshot(self._watched)
            if current == self._seen:
                return
            self._seen = current
            try:
                new_app = self._build(self._settings)
            except (SpecError, FixtureError, StoreError) as error:
                print(
                    f"mockserver: not reloaded, still serving the last good version:\n{error}",
                    file=sys.stderr,
                    flush=True,
                )
                return
            old_context = self.app.extensions["mockserver"]
            self.app = new_app
            print("mockserver: reloaded openapi.yaml and fixtures", flush=True)
            old_context.store.close()
            old_context.journal.close()
