"""mockserver: a contract-faithful stand-in for the Wacht API-auth endpoints.

The contract is ``openapi.yaml``; :func:`create_app` builds a Flask app that
serves it, validating every request against it and answering from fixtures.
"""

__version__ = "0.1.0"

from mockserver.app import create_app
from mockserver.config import Settings

__all__ = ["Settings", "__version__", "create_app"]
