"""The app as production servers load it, in each worker process.

``mockserver serve`` puts its settings in the ``MOCKSERVER_SETTINGS``
environment variable (JSON) before starting the workers; every worker builds
its own app from them, sharing the state file.
"""

import os

from flask import Flask

from mockserver.app import create_app
from mockserver.config import Settings

SETTINGS_VARIABLE = "MOCKSERVER_SETTINGS"


def app_from_environment() -> Flask:
    text = os.environ.get(SETTINGS_VARIABLE)
    return create_app(Settings.from_json(text) if text else Settings())
