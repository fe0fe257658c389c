"""The app as production servers load it, in each worker process.

``mockserver serve`` puts its settings in the ``MOCKSERVER_SETTINGS``
environment variable (JSON) before starting the workers; every worker builds
its own app from them, sharing the state file.
"""

import os
from typing import Any

from mockserver.config import SETTINGS_VARIABLE, Settings
from mockserver.serving.app import create_app
from mockserver.serving.reload import ReloadingApp


def app_from_environment() -> Any:
    """The WSGI app of a worker: Flask's, behind the reloader with ``--watch``."""
    text = os.environ.get(SETTINGS_VARIABLE)
    settings = Settings.from_json(text) if text else Settings()
    return ReloadingApp(settings, create_app) if settings.watch else create_app(settings)
