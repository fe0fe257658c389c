"""``--watch``: rebuild the app when openapi.yaml or the fixtures change.

The WSGI callable below stands in front of the Flask app. A watcher thread
(watchfiles: inotify/FSEvents through Rust's ``notify``, the watcher uvicorn
and others use) is told of every change; it then builds a new app from the
same settings and swaps it in, so no request ever waits for a reload or
polls the disk. The state lives in the state file, so it is kept, but a
scheme or demo app edited in the fixtures is put into it (and into every
session's) unless it was changed through the API (backend/refresh.py); the
log says what was applied and what was kept. A broken edit keeps the last
good app serving and says what is wrong, once per edit.

The spec's folder is watched (not the file: editors often save by renaming
a new file over the old one, which ends a watch on the file itself), without
recursion, as it is often the whole repository; the fixtures folder is
watched recursively.
"""

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import watchfiles
from flask import Flask

from mockserver.backend.fixtures import FixtureError
from mockserver.backend.refresh import apply_fixture_edits
from mockserver.config import Settings
from mockserver.contract.spec import SpecError
from mockserver.state.store import StoreError

# How often the watcher wakes without changes (ms): it bounds how long
# stopping takes, and the first wake says the watch is in place.
_WAKE_MS = 100


class ReloadingApp:
    def __init__(self, settings: Settings, build: Callable[[Settings], Flask]) -> None:
        self._settings = settings
        self._build = build
        self.app = build(settings)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._attempts = threading.Condition()
        # Reloads tried so far (good or refused), for whoever waits on one.
        self.attempts = 0
        spec = Path(settings.spec_path).resolve()
        fixtures = Path(settings.fixtures_dir).resolve()
        self._watchers = [
            self._watch(spec.parent, lambda path: Path(path) == spec, recursive=False),
            self._watch(fixtures, lambda path: True, recursive=True),
        ]
        # At most one wake (0.1 s): an edit made once the server answers is seen.
        self.wait_until_watching()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)

    @property
    def watching(self) -> bool:
        """Whether every watch is in place (changes from now on are seen)."""
        return all(ready.is_set() for _thread, ready in self._watchers)

    def wait_until_watching(self, timeout: float = 10.0) -> bool:
        return all(ready.wait(timeout) for _thread, ready in self._watchers)

    def wait_for_attempts(self, count: int, timeout: float = 15.0) -> bool:
        """Wait until ``count`` reloads have been tried; False on timeout."""
        with self._attempts:
            return self._attempts.wait_for(lambda: self.attempts >= count, timeout)

    def close(self) -> None:
        """Stop watching (the app keeps serving as it is)."""
        self._stop.set()
        for thread, _ready in self._watchers:
            thread.join(timeout=5)

    def _watch(
        self, folder: Path, wanted: Callable[[str], bool], recursive: bool
    ) -> tuple[threading.Thread, threading.Event]:
        ready = threading.Event()

        def run() -> None:
            for changes in watchfiles.watch(
                folder,
                watch_filter=lambda _change, path: wanted(path),
                recursive=recursive,
                stop_event=self._stop,
                rust_timeout=_WAKE_MS,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                ready.set()
                if changes:
                    self.reload()

        thread = threading.Thread(target=run, name=f"mockserver-watch {folder}", daemon=True)
        thread.start()
        return thread, ready

    def reload(self) -> None:
        """Build the app anew and serve it, or say why not and keep the old one."""
        with self._lock:
            try:
                self._swap(self._build(self._settings))
            except (SpecError, FixtureError, StoreError) as error:
                self._say(f"not reloaded, still serving the last good version:\n{error}")
            except Exception as error:  # the watcher must outlive any broken edit
                self._say(
                    "not reloaded, still serving the last good version: "
                    f"{type(error).__name__}: {error}"
                )
            with self._attempts:  # after the swap: a waiter sees the new app
                self.attempts += 1
                self._attempts.notify_all()

    def _swap(self, new_app: Flask) -> None:
        old_context = self.app.extensions["mockserver"]
        applied = self._apply_fixture_edits(old_context.fixtures, new_app)
        self.app = new_app
        print("mockserver: reloaded openapi.yaml and fixtures", flush=True)
        for line in applied:
            print(f"mockserver: --watch: {line}", flush=True)
        old_context.store.close()
        old_context.journal.close()
        old_context.sessions.close()

    @staticmethod
    def _apply_fixture_edits(old_fixtures: Any, new_app: Flask) -> list[str]:
        """Edited schemes and apps into the default session and every live one."""
        context = new_app.extensions["mockserver"]
        now = context.now()
        applied = apply_fixture_edits(old_fixtures, context.fixtures, context, now)
        for name, session in new_app.extensions["mockserver.sessions"].registry.each_live():
            lines = apply_fixture_edits(old_fixtures, context.fixtures, session, now)
            applied += [f"session {name}: {line}" for line in lines]
        return applied

    @staticmethod
    def _say(message: str) -> None:
        print(f"mockserver: {message}", file=sys.stderr, flush=True)
