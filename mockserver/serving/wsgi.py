"""The app as production servers load it, in each worker process.

``mockserver serve`` forks its workers and hands each its settings in memory
(serving/boot.py). To run the app under another WSGI server, give the
settings as JSON in the ``MOCKSERVER_SETTINGS`` environment variable and load
``mockserver.serving.wsgi:app_from_environment`` as a factory (bench/servers.py
does); every worker builds its own app from them, sharing the state file.
"""

import os
from typing import TYPE_CHECKING, Any

from mockserver.config import SETTINGS_VARIABLE, Settings

if TYPE_CHECKING:
    from mockserver.serving.context import Loaded


def worker_app(settings: Settings, loaded: "Loaded | None" = None) -> Any:
    """The WSGI app of a worker: the pipeline, behind the reloader with ``--watch``."""
    from mockserver.serving.app import create_app, create_worker_app

    if settings.watch:
        from mockserver.serving.reload import ReloadingApp

        return ReloadingApp(settings, create_app)
    return create_worker_app(settings, loaded)


def app_from_environment() -> Any:
    """The WSGI app of a worker, from the settings in ``MOCKSERVER_SETTINGS``."""
    text = os.environ.get(SETTINGS_VARIABLE)
    return worker_app(Settings.from_json(text) if text else Settings())
